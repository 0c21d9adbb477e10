"""``python -m bench``: run the benchmarks (see ``--help``)."""

from bench.cli import main

raise SystemExit(main())
