"""``python -m bench``: run the benchmarks (see ``--help``).

``python -m bench checkins [...]`` runs the check-in benchmarks (``bench/checkins.py``);
``python -m bench explain [...]`` the explanation's (``bench/explain.py``);
``python -m bench console [...]`` the console's collective-targets page (``bench/console.py``);
``python -m bench storage [...]`` the goals database's size a year later (``bench/storage.py``);
``python -m bench scale [...]`` a company's year, cold start and rebuild (``bench/scale.py``);
``python -m bench mixed [...]`` the platform under sustained mixed load (``bench/mixed.py``).
"""

import sys

if sys.argv[1:2] == ["checkins"]:
    from bench.checkins import main as checkins_main

    raise SystemExit(checkins_main(sys.argv[2:]))

if sys.argv[1:2] == ["explain"]:
    from bench.explain import main as explain_main

    raise SystemExit(explain_main(sys.argv[2:]))

if sys.argv[1:2] == ["console"]:
    from bench.console import main as console_main

    raise SystemExit(console_main(sys.argv[2:]))

if sys.argv[1:2] == ["storage"]:
    from bench.storage import main as storage_main

    raise SystemExit(storage_main(sys.argv[2:]))

if sys.argv[1:2] == ["scale"]:
    from bench.scale import main as scale_main

    raise SystemExit(scale_main(sys.argv[2:]))

if sys.argv[1:2] == ["mixed"]:
    from bench.mixed import main as mixed_main

    raise SystemExit(mixed_main(sys.argv[2:]))

from bench.cli import main

raise SystemExit(main())
