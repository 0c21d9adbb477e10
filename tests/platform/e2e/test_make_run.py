"""``make run`` end to end: the launcher starts the platform, starts again a process that
dies while the others go on, and Ctrl-C stops every process. (``make demo`` beside it, and
the README's tour, run in ``tests/platform/docs/test_readme_tour.py``.)

The launcher is started exactly as ``make run`` does (``.venv/bin/python -m tools.run``
from the repository root), in a session of its own, on free ports and a temporary data
folder.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port

REPOSITORY = Path(__file__).resolve().parents[3]
LAUNCHER = (sys.executable, "-m", "tools.run")
TOKEN = "e2e-admin-token-0123456789abcdef"
SERVICES = ("goals", "metrics", "notifications")
STARTUP_SECONDS = 300  # a deadline: about 25 s on 2 cores, minutes when they are busy
SHUTDOWN_SECONDS = 20
RESTART_SECONDS = 60  # a loaded 2-core machine takes 15 s to boot a consumer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


# -- processes, from /proc (psutil is not a dependency) -------------------------------------------

def _stat(pid: int) -> tuple[str, int, int, int] | None:
    """(state, parent pid, session id, start time) of a live process, else None."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2:].split()  # the command name may hold spaces
    return fields[0], int(fields[1]), int(fields[3]), int(fields[19])


def _all_processes() -> dict[int, tuple[str, int, int, int]]:
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            table[int(entry.name)] = stat
    return table


def _family(root: int) -> set[tuple[int, int]]:
    """(pid, start time) of ``root``, its descendants and the members of its session."""
    table = _all_processes()
    members = {pid for pid, (_, _, session, _) in table.items() if session == root}
    members.add(root)
    grew = True
    while grew:
        children = {pid for pid, (_, parent, _, _) in table.items() if parent in members}
        grew = not children <= members
        members |= children
    return {(pid, table[pid][3]) for pid in members if pid in table}


def _alive(processes: set[tuple[int, int]]) -> set[tuple[int, int]]:
    """Those still running (a zombie has finished; a reused pid is another process)."""
    alive = set()
    for pid, started in processes:
        stat = _stat(pid)
        if stat is not None and stat[0] != "Z" and stat[3] == started:
            alive.add((pid, started))
    return alive


def _session_members(session: int) -> list[int]:
    listed = subprocess.run(["ps", "-o", "pid=,stat=", "-s", str(session)],
                            capture_output=True, text=True, check=False).stdout.split("\n")
    return [int(line.split()[0]) for line in listed
            if line.strip() and not line.split()[1].startswith("Z")]


# -- the launcher --------------------------------------------------------------------------------

@dataclass
class Platform:
    process: subprocess.Popen[bytes]
    url: str
    env: dict[str, str]
    output: list[str] = field(default_factory=list)

    def service_url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.env[f'OKR_{service.upper()}_PORT']}"

    def text(self) -> str:
        return "".join(self.output)


def _request(url: str, token: str | None = None, method: str = "GET",
             body: dict[str, Any] | None = None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def _start(data_dir: Path) -> Platform:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("OKR_", "PROMETHEUS_MULTIPROC"))}
    env.update(OKR_DATA_DIR=str(data_dir), OKR_KAFKA_PORT=str(free_port()),
               OKR_CONSOLE_PORT=str(free_port()),
               OKR_ADMIN_TOKEN=TOKEN, PYTHONUNBUFFERED="1")
    for service in SERVICES:  # every port on a free one: a `make run` may be going already
        env[f"OKR_{service.upper()}_PORT"] = str(free_port())
        env[f"OKR_{service.upper()}_WORKER_METRICS_PORT"] = str(free_port())
    process = subprocess.Popen(LAUNCHER, cwd=REPOSITORY, env=env,
                               start_new_session=True, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    platform = Platform(process, f"http://127.0.0.1:{env['OKR_GOALS_PORT']}", env)

    def _collect() -> None:
        assert process.stdout is not None
        for line in iter(process.stdout.readline, b""):
            platform.output.append(line.decode(errors="replace"))

    threading.Thread(target=_collect, daemon=True).start()
    return platform


def _wait_until_up(platform: Platform) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        assert platform.process.poll() is None, "the launcher exited:\n" + platform.text()
        try:
            health, _ = _request(platform.url + "/healthz")
            listed, departments = _request(platform.url + "/v1/departments", TOKEN)
        except OSError:
            time.sleep(0.3)
            continue
        if health == 200 and listed == 200:
            assert {d["key"] for d in departments} == {"sales", "marketing", "finance",
                                                       "production"}
            return
        time.sleep(0.3)
    pytest.fail(f"not up within {STARTUP_SECONDS} s:\n" + platform.text())


def _wait_for_banner(platform: Platform) -> str:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        text = platform.text()
        if "OKR platform is up" in text and "stop:" in text:
            return text
        time.sleep(0.2)
    pytest.fail("no banner:\n" + platform.text())


def _interrupt_and_wait(platform: Platform) -> None:
    """Ctrl-C to the launcher's process group; every process it started must end."""
    session = platform.process.pid
    started = _family(session)
    assert len(started) >= 4, started  # launcher, broker, API, relay...
    os.killpg(session, signal.SIGINT)
    deadline = time.monotonic() + SHUTDOWN_SECONDS
    try:
        while time.monotonic() < deadline:
            if platform.process.poll() is not None and not _alive(started) \
                    and not _session_members(session):
                return
            time.sleep(0.2)
        left = _alive(started)
        pytest.fail(f"still running {SHUTDOWN_SECONDS} s after Ctrl-C: {sorted(left)} "
                    f"(session: {_session_members(session)})\n" + platform.text())
    finally:
        for pid, _ in _alive(started):
            os.kill(pid, signal.SIGKILL)
        if platform.process.poll() is None:
            platform.process.kill()
        platform.process.wait(timeout=10)


def _supervised(platform: Platform) -> dict[str, list[int]]:
    """The pids the supervisor logged starting for each Procfile process, oldest first."""
    started: dict[str, list[int]] = {}
    for name, pid in re.findall(r"supervisor\s+\| (\S+) started \(pid (\d+)\)", platform.text()):
        started.setdefault(name, []).append(int(pid))
    return started


def _wait_until_restarted(platform: Platform, names: set[str]) -> dict[str, list[int]]:
    deadline = time.monotonic() + RESTART_SECONDS
    while time.monotonic() < deadline:
        started = _supervised(platform)
        if all(len(started[name]) == 2 for name in names):
            return started
        time.sleep(0.2)
    pytest.fail(f"{names} not started again:\n" + platform.text())


def _wait_for_progress(platform: Platform, objective: str, expected: float) -> None:
    url = f"{platform.service_url('metrics')}/v1/rollups/{objective}"
    deadline = time.monotonic() + RESTART_SECONDS
    rollup: Any = None
    while time.monotonic() < deadline:
        try:
            status, rollup = _request(url, TOKEN)
        except OSError:
            status = 0
        if status == 200 and rollup["progress"] == pytest.approx(expected):
            return
        time.sleep(0.3)
    pytest.fail(f"roll-up of {objective} never showed {expected}: {rollup}\n" + platform.text())


def _restart_check(platform: Platform) -> None:
    """kill -9 a worker and an API: both come back and work, the others keep their pids."""
    status, objective = _request(platform.url + "/v1/objectives", TOKEN, "POST",
                                 {"cycle": "2026-Q4", "kind": "department",
                                  "departments": ["sales"], "owner": "Head of sales",
                                  "title": "Outlive a crash"})
    assert status == 201, objective
    status, key_result = _request(f"{platform.url}/v1/objectives/{objective['id']}/key-results",
                                  TOKEN, "POST", {"title": "Deals", "measure": "increase",
                                                  "start": 0, "target": 1000, "unit": "EUR"})
    assert status == 201, key_result
    before = _supervised(platform)
    assert all(len(pids) == 1 for pids in before.values()), before
    killed = {"metrics-consumer", "goals-api"}
    for name in killed:
        os.kill(before[name][0], signal.SIGKILL)

    after = _wait_until_restarted(platform, killed)
    for name in killed:
        assert (f"{name} (pid {before[name][0]}) was killed by SIGKILL after"
                in platform.text()), platform.text()
    assert "restarting in 1 s, at " in platform.text()
    _wait_until_up(platform)  # the goals API answers again
    status, check_in = _request(f"{platform.url}/v1/key-results/{key_result['id']}/check-ins",
                                TOKEN, "POST", {"value": 250, "confidence": 0.8})
    assert status == 201, check_in
    _wait_for_progress(platform, objective["id"], 0.25)  # the new consumer applied it
    others = set(before) - killed
    assert others >= {"goals-relay", "metrics-api", "notifications-worker", "broker"}
    assert {name: after[name] for name in others} == {name: before[name] for name in others}
    assert all(_stat(after[name][0]) is not None for name in others)


@pytest.fixture
def platforms() -> Iterator[list[Platform]]:
    """Every launcher a test starts; any still running at the end is killed with its family."""
    started: list[Platform] = []
    yield started
    for platform in started:
        if platform.process.poll() is None:
            family = _family(platform.process.pid)
            for pid, _ in _alive(family):
                os.kill(pid, signal.SIGKILL)
            platform.process.wait(timeout=10)


def test_make_run_serves_keeps_its_data_restarts_what_dies_and_stops_on_ctrl_c(
    tmp_path: Path, platforms: list[Platform]
) -> None:
    platforms.append(first := _start(tmp_path))
    _wait_until_up(first)
    banner = _wait_for_banner(first)
    assert first.url in banner
    assert TOKEN in banner
    assert f"{first.url}/v1/departments" in banner

    status, cycle = _request(first.url + "/v1/cycles", TOKEN, "POST",
                             {"key": "2026-Q4", "starts_on": "2026-10-01",
                              "ends_on": "2026-12-31"})
    assert status == 201, cycle
    _interrupt_and_wait(first)

    platforms.append(second := _start(tmp_path))
    _wait_until_up(second)
    status, kept = _request(second.url + "/v1/cycles/2026-Q4", TOKEN)
    assert status == 200, kept
    assert (kept["starts_on"], kept["ends_on"]) == ("2026-10-01", "2026-12-31")
    status, departments = _request(second.url + "/v1/departments", TOKEN)
    assert len(departments) == 4  # seeding again created no duplicates
    _restart_check(second)
    _interrupt_and_wait(second)
