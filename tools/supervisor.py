"""Run the processes of a Procfile as one platform: one log stream, a process that dies is
started again, Ctrl-C stops them all.

Each line ``name: command`` of the Procfile is one supervised process, started in a process
group of its own: a terminal's Ctrl-C reaches only the supervisor, which then stops the
processes itself, and whatever a process forked (gunicorn's workers) goes with it. Their
output is merged into one stream, each line prefixed with the time and the process name.

A process that exits while the supervisor is not stopping is logged (its exit code, or the
signal that killed it) and started again after a :class:`~shared.messaging.backoff.Backoff`
delay: 1 s, doubling up to 30 s while it keeps dying within 30 s of its start, so a process
that cannot start does not spin. The other processes go on.

On SIGINT or SIGTERM every process group gets SIGTERM (the broker last, once the others
have ended); whatever still runs 15 s later (or at a second Ctrl-C) gets SIGKILL.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO

from shared.messaging.backoff import Backoff

FIRST_RESTART_SECONDS = 1.0
MAX_RESTART_SECONDS = 30.0
STABLE_SECONDS = 30.0
"""A run at least this long counts as a success: the next restart waits the first delay."""
STOP_SECONDS = 15.0
"""gunicorn's graceful timeout (10 s) and a margin."""

SUPERVISOR = "supervisor"


@dataclass(frozen=True)
class ProcfileEntry:
    name: str
    command: tuple[str, ...]


def read_procfile(path: Path) -> list[ProcfileEntry]:
    """The ``name: command`` lines of a Procfile; blank lines and ``#`` comments skipped."""
    entries = []
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, command = line.partition(":")
            entries.append(ProcfileEntry(name.strip(), tuple(shlex.split(command))))
    return entries


class LogStream:
    """Lines of every process on one stream: ``HH:MM:SS name | text``."""

    def __init__(self, out: IO[str], names: Iterable[str]) -> None:
        self._out = out
        self._width = max(len(name) for name in [SUPERVISOR, *names])
        # Reentrant: the signal handler logs, and may run while the main thread is logging.
        self._lock = threading.RLock()

    def line(self, name: str, text: str) -> None:
        with self._lock:
            self._out.write(f"{time.strftime('%H:%M:%S')} {name:<{self._width}} | {text}\n")
            self._out.flush()

    def copy(self, name: str, pipe: IO[bytes]) -> None:
        with pipe:
            for raw in iter(pipe.readline, b""):
                self.line(name, raw.decode(errors="replace").rstrip("\n"))


def exit_reason(returncode: int) -> str:
    if returncode < 0:
        return f"was killed by {signal.Signals(-returncode).name}"
    return f"exited with code {returncode}"


class Supervised:
    """One Procfile process, started again whenever it dies until ``stopping`` is set."""

    def __init__(self, entry: ProcfileEntry, env: Mapping[str, str], cwd: Path, log: LogStream,
                 stopping: threading.Event) -> None:
        self.entry = entry
        self._env = dict(env)
        self._cwd = cwd
        self._log = log
        self._stopping = stopping
        self._backoff = Backoff(FIRST_RESTART_SECONDS, MAX_RESTART_SECONDS)
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self.thread = threading.Thread(target=self._run, name=entry.name, daemon=True)

    def _start(self) -> subprocess.Popen[bytes] | None:
        with self._lock:  # no start after stop() has looked for a process to stop
            if self._stopping.is_set():
                return None
            process = subprocess.Popen(self.entry.command, cwd=self._cwd, env=self._env,
                                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, process_group=0)
            self._process = process
        assert process.stdout is not None
        threading.Thread(target=self._log.copy, args=(self.entry.name, process.stdout),
                         daemon=True).start()
        self._log.line(SUPERVISOR, f"{self.entry.name} started (pid {process.pid})")
        return process

    def _run(self) -> None:
        name = self.entry.name
        while (process := self._start()) is not None:
            started = time.monotonic()
            returncode = process.wait()
            ran = time.monotonic() - started
            self._signal_group(process.pid, signal.SIGKILL)  # what it forked and left behind
            if self._stopping.is_set():
                self._log.line(SUPERVISOR, f"{name} (pid {process.pid}) stopped: "
                                           f"{exit_reason(returncode)}")
                return
            if ran >= STABLE_SECONDS:
                self._backoff.reset()
            delay = self._backoff.next_delay()
            at = time.strftime("%H:%M:%S", time.localtime(time.time() + delay))
            self._log.line(SUPERVISOR, f"{name} (pid {process.pid}) {exit_reason(returncode)} "
                                       f"after {ran:.1f} s; restarting in {delay:.0f} s, at {at}")
            if self._stopping.wait(delay):
                return

    def send(self, signum: signal.Signals) -> None:
        with self._lock:
            process = self._process
        if process is not None and process.poll() is None:
            self._signal_group(process.pid, signum)

    @staticmethod
    def _signal_group(pid: int, signum: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signum)


def supervise(entries: list[ProcfileEntry], env: Mapping[str, str], cwd: Path, out: IO[str],
              stop_last: Iterable[str] = ()) -> int:
    """Run every entry until SIGINT or SIGTERM, then stop them all; 0 once all have ended.

    The entries named in ``stop_last`` (the broker the others talk to) are stopped once the
    others have ended, so those can still commit and leave their groups on the way out.
    """
    log = LogStream(out, [entry.name for entry in entries])
    stopping = threading.Event()
    requested = threading.Event()
    forced = threading.Event()

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        if requested.is_set():
            forced.set()
        requested.set()
        log.line(SUPERVISOR, f"received {signal.Signals(signum).name}, stopping every process")

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    processes = [Supervised(entry, env, cwd, log, stopping) for entry in entries]
    for supervised in processes:
        supervised.thread.start()
    while not requested.wait(0.5):
        pass

    stopping.set()
    last = set(stop_last)
    for wave in ([s for s in processes if s.entry.name not in last],
                 [s for s in processes if s.entry.name in last]):
        for supervised in wave:
            supervised.send(signal.SIGTERM)
        deadline = time.monotonic() + STOP_SECONDS
        while any(s.thread.is_alive() for s in wave) and time.monotonic() < deadline:
            if forced.wait(0.1):
                break
        for supervised in wave:
            if supervised.thread.is_alive():
                log.line(SUPERVISOR, f"{supervised.entry.name} still running: SIGKILL")
                supervised.send(signal.SIGKILL)
    for supervised in processes:
        supervised.thread.join(timeout=5)
    return 0


def main() -> int:
    """``python -m tools.supervisor PROCFILE [NAME ...]``: run a Procfile (or some of its
    processes) from the current folder."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("procfile", type=Path)
    parser.add_argument("names", nargs="*", help="the processes to run (default: all)")
    arguments = parser.parse_args()
    entries = [entry for entry in read_procfile(arguments.procfile)
               if not arguments.names or entry.name in arguments.names]
    return supervise(entries, os.environ, Path.cwd(), sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
