"""Child processes of a test (a relay, a consumer, gunicorn, Prometheus), logs kept in files."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


class Child:
    """One child process started by a test, its output kept in a log file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.args = args
        self.log = log
        self._log_file = log.open("wb")
        self.process = subprocess.Popen(args, env=env, cwd=ROOT, stdout=self._log_file,
                                        stderr=subprocess.STDOUT)

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill9(self) -> None:
        """SIGKILL: no handler runs, nothing is flushed, nothing is committed."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        assert self.process.returncode == -signal.SIGKILL

    def terminate(self, timeout: float = 30) -> int:
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log_file.close()
        return self.process.returncode

    def output(self) -> str:
        self._log_file.flush()
        return self.log.read_text(errors="replace")[-4000:]


@pytest.fixture
def children(tmp_path: Path) -> Iterator[Callable[[list[str], dict[str, str], str], Child]]:
    """Start child processes; any still running when the test ends is stopped."""
    started: list[Child] = []
    base = {name: value for name, value in os.environ.items() if not name.startswith("OKR_")}

    def start(args: list[str], env: dict[str, str], name: str) -> Child:
        child = Child(args, {**base, "PYTHONUNBUFFERED": "1", **env},
                      tmp_path / f"{name}-{len(started)}.log")
        started.append(child)
        return child

    yield start
    for child in started:
        child.terminate(timeout=10)
