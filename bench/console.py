"""``python -m bench console``: the console's collective-targets page with many objectives.

Starts the platform as ``make run`` does (``python -m tools.run`` on free ports, a fresh
data folder), creates ``--objectives`` collective targets in one cycle through the goals
API, waits until the metrics service has rolled up every one, signs a head of sales in to
the console and times ``GET /targets`` (``--requests`` times, one after another) beside
the baseline measured in the same run: the metrics API call that page makes
(``GET /v1/rollups?kind=collective``, one page), with the same token. Reports p50 and p95
of both, their ratio, and how many API calls the page made (counted by the console's
in-process twin, whose HTTP client is wrapped: the same calls for 1 target as for all).

``--profile N`` also renders the page N times in that in-process twin under cProfile and
says where its time goes: waiting for the APIs (in the request's thread, and for the call
made at once on the console's pool), parsing their JSON, rendering the template, and the
rest (Flask, the session), with the functions that cost most.
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


def run(objectives: int, count: int, profile: int = 0) -> int:
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
        profiled = _profile(goals, metrics, token, profile) if profile else ""
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
    if profiled:
        print(profiled)
    return 0


def _twin(goals: str, metrics: str, token: str, http: requests.Session) -> Any:
    """The console in this process (the same app), signed in as ``token``."""
    from services.console.config import ConsoleConfig
    from services.console.entrypoints.web.app import create_app

    app = create_app(ConsoleConfig.from_env({"OKR_GOALS_URL": goals, "OKR_METRICS_URL": metrics}),
                     http)
    client = app.test_client()
    with client.session_transaction() as session:
        session.update(token=token, role="head", department="sales", name="bench",
                       signed_in_at=time.time())
    return client


def _profile(goals: str, metrics: str, token: str, count: int) -> str:
    """Where the page's time goes, over ``count`` renders of the in-process twin."""
    import cProfile
    import io
    import pstats

    client = _twin(goals, metrics, token, requests.Session())
    client.get("/targets?cycle=BENCH")  # warm (templates compiled, connections open)
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for _ in range(count):
        client.get("/targets?cycle=BENCH").close()
    profiler.disable()
    wall = (time.perf_counter() - started) * 1000 / count
    stats = pstats.Stats(profiler)

    def cumulative_ms(file_part: str, function: str) -> float:
        found = [row[3] for (file, _, name), row in stats.stats.items()  # type: ignore[attr-defined]
                 if name == function and file_part in file]
        return max(found, default=0.0) * 1000 / count

    # cProfile sees the request's own thread: a call made on the console's pool shows as
    # the time the request waits for its Future
    parts = {"waiting for the APIs in the request's thread": cumulative_ms("sessions.py",
                                                                           "send"),
             "waiting for the calls made at once (Future.result)": cumulative_ms("_base.py",
                                                                                 "result"),
             "parsing their JSON (Response.json)": cumulative_ms("models.py", "json"),
             "rendering the template (render_template)": cumulative_ms("templating.py",
                                                                       "render_template")}
    lines = [f"  profile of {count} in-process renders: {fmt(wall)} ms a page (with the "
             "profiler's overhead)"]
    lines += [f"    {what:<52} {fmt(ms)} ms" for what, ms in parts.items()]
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(12)
    lines.append("  the 12 functions with the most time of their own:")
    lines += ["    " + line for line in text.getvalue().splitlines()
              if line.strip() and not line.startswith(("   Ordered", "         "))][-13:]
    return "\n".join(lines)


def _calls_per_page(goals: str, metrics: str, token: str) -> list[str]:
    calls: list[str] = []

    class Counting(requests.Session):
        def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> Any:
            calls.append(f"{method} {str(url).split('?')[0].split('/', 3)[-1]}")
            return super().request(method, url, *args, **kwargs)

    client = _twin(goals, metrics, token, Counting())
    calls.clear()
    client.get("/targets?cycle=BENCH")
    return calls


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench console", description=__doc__)
    parser.add_argument("--objectives", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="also profile N in-process renders of the page (0: do not)")
    args = parser.parse_args(argv)
    return run(args.objectives, args.requests, args.profile)


if __name__ == "__main__":
    sys.exit(main())
