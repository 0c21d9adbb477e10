"""Benchmarks of the platform, each reported as a ratio against a baseline of the same run.

``make bench`` (``python -m bench``) runs them all; ``python -m bench --help`` lists the
options (``--quick``, ``--only NAME``, ``--database``...). Results are printed as tables
and written as JSON to ``bench/results/`` (git-ignored).
"""
