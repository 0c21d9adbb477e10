"""The whole platform as ``make run`` starts it, with the console, for the console's tests.

One platform for the package (``python -m tools.run`` on free ports and a fresh data
folder: the embedded broker, every process of the Procfile), seeded through the goals API
with a small organisation: a collective target of sales and marketing in a cycle running
today, each department's objective contributing to it, a production objective that sales'
objective is ``supplied_by``, and a head-of-sales token. Roll-ups come from the real
metrics consumer.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import free_port
from tests.support.browser import browser, chromium, pytest_runtest_makereport  # noqa: F401

REPOSITORY = Path(__file__).resolve().parents[2]
SERVICES = ("goals", "metrics", "notifications")
STARTUP_SECONDS = 300  # a deadline, not a timing: a busy machine takes minutes
ROLLUP_SECONDS = 120
ADMIN_TOKEN = "console-tests-admin-token-0123456789"


@dataclass
class Seeded:
    cycle: str
    target_id: str
    sales_objective_id: str
    sales_key_result_id: str
    marketing_objective_id: str
    marketing_key_result_id: str
    production_objective_id: str
    sales_head_token: str
    sales_head_token_id: str


@dataclass
class Platform:
    urls: dict[str, str]
    console_url: str
    admin_token: str
    data_dir: Path
    output: list[str] = field(default_factory=list)
    seeded: Seeded | None = None

    def api(self, service: str, method: str, path: str, token: str | None = None,
            **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {token or self.admin_token}",
                   **kwargs.pop("headers", {})}
        return requests.request(method, self.urls[service] + path, headers=headers,
                                timeout=30, **kwargs)

    def create(self, path: str, body: dict[str, Any], token: str | None = None) -> Any:
        response = self.api("goals", "POST", path, token, json=body)
        assert response.status_code in (200, 201), (path, response.status_code, response.text)
        return response.json()


def wait_until(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout} s: {what}")


@pytest.fixture(scope="package")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    data_dir = tmp_path_factory.mktemp("console") / "data"
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("OKR_", "PROMETHEUS_MULTIPROC"))}
    env.update(OKR_DATA_DIR=str(data_dir), OKR_KAFKA_PORT=str(free_port()),
               OKR_ADMIN_TOKEN=ADMIN_TOKEN, OKR_CONSOLE_PORT=str(free_port()),
               PYTHONUNBUFFERED="1")
    for service in SERVICES:
        env[f"OKR_{service.upper()}_PORT"] = str(free_port())
        env[f"OKR_{service.upper()}_WORKER_METRICS_PORT"] = str(free_port())
    process = subprocess.Popen([sys.executable, "-m", "tools.run"], cwd=REPOSITORY, env=env,
                               start_new_session=True, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output: list[str] = []

    def _collect() -> None:
        assert process.stdout is not None
        for line in iter(process.stdout.readline, b""):
            output.append(line.decode(errors="replace"))

    threading.Thread(target=_collect, daemon=True).start()
    urls = {service: f"http://127.0.0.1:{env[f'OKR_{service.upper()}_PORT']}"
            for service in SERVICES}
    console_url = f"http://127.0.0.1:{env['OKR_CONSOLE_PORT']}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not all(_healthy(url) for url in [*urls.values(), console_url]):
            assert process.poll() is None, "make run exited:\n" + "".join(output)
            assert time.monotonic() < deadline, "make run not up:\n" + "".join(output)
            time.sleep(0.5)
        platform = Platform(urls, console_url, ADMIN_TOKEN, data_dir, output)
        platform.seeded = _seed(platform)
        yield platform
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)  # Ctrl-C
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@pytest.fixture(scope="package")
def seeded(platform: Platform) -> Seeded:
    assert platform.seeded is not None
    return platform.seeded


def _healthy(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=5).status_code == 200
    except requests.RequestException:
        return False


def _seed(platform: Platform) -> Seeded:
    today = date.today()
    cycle = "CONSOLE-1"
    platform.create("/v1/cycles", {"key": cycle, "name": "Console test cycle",
                                   "starts_on": (today - timedelta(days=30)).isoformat(),
                                   "ends_on": (today + timedelta(days=60)).isoformat()})

    def objective(kind: str, departments: list[str], title: str) -> str:
        return str(platform.create("/v1/objectives", {
            "cycle": cycle, "kind": kind, "departments": departments, "owner": "Owner",
            "title": title})["id"])

    def key_result(objective_id: str, title: str, target: float, unit: str) -> str:
        return str(platform.create(f"/v1/objectives/{objective_id}/key-results", {
            "title": title, "measure": "increase", "start": 0, "target": target,
            "unit": unit})["id"])

    target = objective("collective", ["sales", "marketing"], "Grow new-customer revenue")
    sales = objective("department", ["sales"], "Win new enterprise customers")
    marketing = objective("department", ["marketing"], "Fill the pipeline with qualified leads")
    production = objective("department", ["production"], "Deliver onboarding capacity")
    sales_kr = key_result(sales, "Enterprise deals closed", 20, "deals")
    marketing_kr = key_result(marketing, "Qualified leads", 400, "leads")
    production_kr = key_result(production, "Onboarding slots ready", 50, "slots")
    for child in (sales, marketing):
        platform.create("/v1/contributions", {"child_type": "objective", "child_id": child,
                                              "parent_type": "objective", "parent_id": target})
    platform.create("/v1/links", {"kind": "supplied_by", "from_type": "objective",
                                  "from_id": sales, "to_type": "objective",
                                  "to_id": production})
    for kr, value in ((sales_kr, 6), (marketing_kr, 240), (production_kr, 5)):
        platform.create(f"/v1/key-results/{kr}/check-ins", {"value": value, "confidence": 0.8})
    minted = platform.create("/v1/tokens", {"name": "Head of sales", "role": "head",
                                            "department": "sales"})

    def _target_rolled_up() -> bool:
        response = platform.api("metrics", "GET", f"/v1/rollups/{target}?depth=1")
        if response.status_code != 200:
            return False
        children = [c for c in response.json().get("children", [])
                    if c.get("type") == "objective" and c.get("progress") is not None]
        return len(children) == 2

    wait_until(_target_rolled_up, ROLLUP_SECONDS, "the target rolled up with both parts")
    return Seeded(cycle, target, sales, sales_kr, marketing, marketing_kr, production,
                  minted["token"], minted["id"])
