"""``python -m bench``: run the benchmarks (see ``--help``).

``python -m bench checkins [...]`` runs the check-in benchmarks (``bench/checkins.py``).
"""

import sys

if sys.argv[1:2] == ["checkins"]:
    from bench.checkins import main as checkins_main

    raise SystemExit(checkins_main(sys.argv[2:]))

from bench.cli import main

raise SystemExit(main())
