"""``python -m bench console``: the console's collective-targets page with many objectives.

Starts the platform as ``make run`` does (``python -m tools.run`` on free ports, a fresh
data folder), creates ``--objectives`` collective targets in one cycle through the goals
API, waits until the metrics service has rolled up every one, signs a head of sales in to
the console and times ``GET /targets`` (``--requests`` times, one after another) beside
the baseline measured in the same run: the metrics API call that page makes
(``GET /v1/rollups?kind=collective``, one page), with the same token. Reports p50 and p95
of both, their ratio, and how many API calls the page made (counted by the console's
in-process twin, whose HTTP client is wrapped: the same calls for 1 target as for all).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import requests

from bench.common import fmt, free_port, log, percentile, ratio

REPOSITORY = Path(__file__).resolve().parents[1]
ADMIN_TOKEN = "bench-console-admin-token-0123456789"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
TARGET_P95_MS = 200.0


def _timed(action: Callable[[], requests.Response], count: int) -> list[float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        response = action()
        times.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return times


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"not within {timeout} s: {what}")
        time.sleep(0.5)


def _healthy(url: str) -> bool:
    try:
        return requests.get(url + "/healthz", timeout=5).status_code == 200
    except requests.RequestException:
        return False


def run(objectives: int, count: int) -> int:
    data_dir = Path(tempfile.mkdtemp(prefix="okr-bench-console-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OKR_", "PROMETHEUS_"))}
    env.update(OKR_DATA_DIR=str(data_dir), OKR_ADMIN_TOKEN=ADMIN_TOKEN,
               OKR_KAFKA_PORT=str(free_port()), OKR_CONSOLE_PORT=str(free_port()))
    for service in ("goals", "metrics", "notifications"):
        env[f"OKR_{service.upper()}_PORT"] = str(free_port())
        env[f"OKR_{service.upper()}_WORKER_METRICS_PORT"] = str(free_port())
    goals = f"http://127.0.0.1:{env['OKR_GOALS_PORT']}"
    metrics = f"http://127.0.0.1:{env['OKR_METRICS_PORT']}"
    console = f"http://127.0.0.1:{env['OKR_CONSOLE_PORT']}"
    log(f"starting the platform in {data_dir}")
    platform_log = (data_dir / "platform.log").open("wb")
    log(f"the platform's log: {data_dir / 'platform.log'}")
    process = subprocess.Popen([sys.executable, "-m", "tools.run"], cwd=REPOSITORY, env=env,
                               start_new_session=True, stdin=subprocess.DEVNULL,
                               stdout=platform_log, stderr=subprocess.STDOUT)
    try:
        _wait(lambda: all(_healthy(url) for url in (goals, metrics, console)), 600,
              "the platform up")
        admin = requests.Session()
        admin.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
        today = date.today()
        admin.post(goals + "/v1/cycles", json={
            "key": "BENCH", "starts_on": (today - timedelta(days=30)).isoformat(),
            "ends_on": (today + timedelta(days=60)).isoformat()}, timeout=30).raise_for_status()
        log(f"creating {objectives} collective targets")
        for index in range(objectives):
            admin.post(goals + "/v1/objectives", json={
                "cycle": "BENCH", "kind": "collective", "departments": ["sales", "marketing"],
                "owner": "CEO", "title": f"Target {index:04d}"}, timeout=30).raise_for_status()
        head = admin.post(goals + "/v1/tokens", json={"name": "Head of sales", "role": "head",
                                                       "department": "sales"}, timeout=30)
        head.raise_for_status()
        token = head.json()["token"]

        def rolled_up() -> bool:
            answer = admin.get(metrics + "/v1/rollups", params={
                "cycle": "BENCH", "kind": "collective", "page_size": 1}, timeout=30)
            return answer.ok and json.loads(
                answer.headers.get("X-Pagination", "{}")).get("total") == objectives

        _wait(rolled_up, 900, f"{objectives} targets rolled up")
        browser = requests.Session()
        form = browser.get(console + "/sign-in", timeout=30).text
        found = CSRF.search(form)
        assert found
        browser.post(console + "/sign-in", data={"token": token, "csrf_token": found.group(1)},
                     timeout=30).raise_for_status()
        api = requests.Session()
        api.headers["Authorization"] = f"Bearer {token}"
        calls = _calls_per_page(goals, metrics, token)
        for _ in range(5):  # warm both
            browser.get(console + "/targets?cycle=BENCH", timeout=30)
            api.get(metrics + "/v1/rollups", params={"cycle": "BENCH", "kind": "collective",
                                                     "page_size": 25}, timeout=30)
        log(f"timing {count} pages and {count} baseline calls")
        page = _timed(lambda: browser.get(console + "/targets?cycle=BENCH", timeout=30), count)
        baseline = _timed(lambda: api.get(metrics + "/v1/rollups", params={
            "cycle": "BENCH", "kind": "collective", "page_size": 25}, timeout=30), count)
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        platform_log.close()
    page_p95, base_p95 = percentile(page, 0.95), percentile(baseline, 0.95)
    print(f"console /targets with {objectives} collective targets, {count} requests")
    verdict = "met" if page_p95 < TARGET_P95_MS else "NOT met"
    print(f"  page      p50 {fmt(percentile(page, 0.5))} ms  p95 {fmt(page_p95)} ms"
          f"  (goal: p95 < {TARGET_P95_MS:.0f} ms: {verdict})")
    print(f"  baseline  p50 {fmt(percentile(baseline, 0.5))} ms  p95 {fmt(base_p95)} ms"
          "  (GET /v1/rollups, the page's own metrics call)")
    print(f"  ratio page/baseline at p95: {fmt(ratio(page_p95, base_p95), 2)}")
    print(f"  API calls per page: {len(calls)} ({', '.join(calls)})")
    return 0


def _calls_per_page(goals: str, metrics: str, token: str) -> list[str]:
    from services.console.config import ConsoleConfig
    from services.console.entrypoints.web.app import create_app

    calls: list[str] = []

    class Counting(requests.Session):
        def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> Any:
            calls.append(f"{method} {str(url).split('?')[0].split('/', 3)[-1]}")
            return super().request(method, url, *args, **kwargs)

    app = create_app(ConsoleConfig.from_env({"OKR_GOALS_URL": goals, "OKR_METRICS_URL": metrics}),
                     Counting())
    client = app.test_client()
    with client.session_transaction() as session:
        session.update(token=token, role="head", department="sales", name="bench",
                       signed_in_at=time.time())
    calls.clear()
    client.get("/targets?cycle=BENCH")
    return calls


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench console", description=__doc__)
    parser.add_argument("--objectives", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=100)
    args = parser.parse_args(argv)
    return run(args.objectives, args.requests)


if __name__ == "__main__":
    sys.exit(main())
