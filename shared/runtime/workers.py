"""Run a service's background loops until SIGTERM or SIGINT, then stop them cleanly."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType

from prometheus_client import start_http_server

from shared.observability.metrics import HANDLED_ERRORS

log = logging.getLogger(__name__)

Loop = Callable[[threading.Event], None]
"""A background loop: runs until the event is set, then returns."""


Prepare = Callable[[threading.Event], "dict[str, Loop] | None"]
"""Makes the loops once the process may run them (say, after waiting for a lease, serving
its metrics meanwhile); None when the event was set while it waited."""


def run_until_signalled(service: str, loops: dict[str, Loop] | Prepare,
                        metrics_port: int | None, metrics_host: str = "127.0.0.1") -> int:
    """Start each loop in a thread; on SIGTERM/SIGINT ask them to stop and wait for them.

    A loop that dies with an exception stops the others, and the process exits non-zero,
    so the process supervisor restarts it. ``loops`` may be a function that makes them,
    called after the signal handlers and the metrics server are up.
    """
    stop = threading.Event()
    failed: list[str] = []

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    if metrics_port:
        start_http_server(metrics_port, addr=metrics_host)
        log.info("worker metrics on %s:%d", metrics_host, metrics_port)

    def _guard(name: str, loop: Loop) -> None:
        try:
            loop(stop)
        except Exception:
            HANDLED_ERRORS.labels(service, f"{name}_crashed").inc()
            log.exception("%s crashed", name)
            failed.append(name)
            stop.set()

    if callable(loops):
        made = loops(stop)
        if made is None:
            log.info("stopped before starting")
            return 0
        loops = made
    threads = [threading.Thread(target=_guard, args=(name, loop), name=name, daemon=True)
               for name, loop in loops.items()]
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        stop.wait(0.5)
        if stop.is_set():
            for thread in threads:
                thread.join(timeout=30)
            break
    log.info("stopped", extra={"failed": failed})
    return 1 if failed else 0
