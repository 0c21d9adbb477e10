"""The three APIs as ``make run`` starts them, for the tests of what they serve to people.

``okr-goals serve``, ``okr-metrics serve`` and ``okr-notifications serve`` run as real
gunicorn processes on free ports, with SQLite files in a data folder and the admin token
kept in ``$OKR_DATA_DIR/admin-token``; no broker (the APIs only write to their outboxes).
One platform serves every test of this folder.
The browser fixture of ``tests/support/browser.py`` is available to every test here.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.conftest import free_port
from tests.support.browser import browser, chromium, pytest_runtest_makereport  # noqa: F401

REPOSITORY = Path(__file__).resolve().parents[3]
ADMIN_TOKEN = "readme-tour-admin-token-0123456789"
SERVICES = ("goals", "metrics", "notifications")
STARTUP_SECONDS = 90


@dataclass
class Platform:
    urls: dict[str, str]
    data_dir: Path
    routes: dict[str, set[str]]
    """Each service's OpenAPI paths, parameters written ``{}``."""


def path_template(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path)


@pytest.fixture(scope="package")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    data_dir = tmp_path_factory.mktemp("platform")
    (data_dir / "admin-token").write_text(ADMIN_TOKEN + "\n")
    ports = {service: free_port() for service in SERVICES}
    env = {name: value for name, value in os.environ.items() if not name.startswith("OKR_")}
    env.update({
        "OKR_DATA_DIR": str(data_dir), "OKR_ADMIN_TOKEN": ADMIN_TOKEN, "OKR_HOST": "127.0.0.1",
        "OKR_LOG_JSON": "false", "OKR_GOALS_URL": f"http://127.0.0.1:{ports['goals']}",
        # no broker: the APIs only write to their outboxes; make sure none is reached
        "OKR_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
        **{f"OKR_{service.upper()}_PORT": str(port) for service, port in ports.items()},
        **{f"OKR_{service.upper()}_HTTP_WORKERS": "1" for service in SERVICES},
    })
    children = []
    for service in SERVICES:
        log = (data_dir / f"{service}.log").open("wb")
        command = str(Path(sys.executable).with_name(f"okr-{service}"))
        children.append((subprocess.Popen([command, "serve"], env=env, cwd=REPOSITORY,
                                          stdout=log, stderr=subprocess.STDOUT,
                                          start_new_session=True), log))
    urls = {service: f"http://127.0.0.1:{port}" for service, port in ports.items()}
    try:
        routes = {service: _openapi_paths(url, data_dir / f"{service}.log")
                  for service, url in urls.items()}
        yield Platform(urls, data_dir, routes)
    finally:
        for child, _ in children:
            if child.poll() is None:
                child.send_signal(signal.SIGQUIT)  # gunicorn: quick shutdown of its workers
        for child, log in children:
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)  # the session it was started in
                child.wait(timeout=10)
            log.close()


def _openapi_paths(url: str, log: Path) -> set[str]:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        try:
            response = requests.get(f"{url}/openapi.json", timeout=10)
            if response.status_code == 200:
                return {path_template(path) for path in response.json()["paths"]}
        except (requests.ConnectionError, requests.Timeout):
            pass  # still starting (a busy machine may take seconds to import the app)
        time.sleep(0.2)
    raise AssertionError(f"{url} did not start:\n{log.read_text(errors='replace')[-3000:]}")
