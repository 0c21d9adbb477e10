"""Serve a service's WSGI app with gunicorn, replacing the current process (``okr-* serve``)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

WORKER_CLASS = "shared.runtime.http_worker.BoundedThreadWorker"


def exec_gunicorn(service: str, wsgi_app: str, host: str, port: int, workers: str,
                  threads: int = 4) -> None:
    """Exec gunicorn on ``host:port`` with ``workers`` processes of ``threads`` threads each.

    The worker is gunicorn's threaded one, hardened against slow and half-open clients and
    answering gunicorn's own errors as problem documents (``http_worker``). Kept-alive
    connections idle for 2 s are closed; each worker holds at most 1,000 connections.

    With several workers, ``/metrics`` must add up every worker's counters, so each gets
    a ``PROMETHEUS_MULTIPROC_DIR`` unless the operator set one.
    """
    if int(workers) > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix=f"okr-{service}-metrics-")
    gunicorn = Path(sys.executable).with_name("gunicorn")
    args = [str(gunicorn), "--bind", f"{host}:{port}", "--workers", workers,
            "--worker-class", WORKER_CLASS, "--threads", str(threads), "--keep-alive", "2",
            "--worker-connections", "1000", "--graceful-timeout", "10",
            "--no-control-socket", wsgi_app]
    os.execv(args[0], args)
