"""The README's tour works as written, twice, from any folder; ``make demo`` works beside it,
again and again, and reports what the API then shows; every route the README and docs/ show
exists.

One platform for the module, started as ``make run`` starts it (``python -m tools.run``:
the embedded broker, every process of the Procfile, SQLite files and a generated admin token
in a temporary data folder, every port a free one). The tour's shell blocks are taken from
``README.md`` as written and run with bash, curl and jq from folders other than the
repository, finding the platform through the ``platform.env`` that ``make run`` writes;
``make demo`` runs in between. The routes are checked against each service's own
``/openapi.json``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import free_port

REPOSITORY = Path(__file__).resolve().parents[3]
README = REPOSITORY / "README.md"
PAGES = [README, *sorted((REPOSITORY / "docs").glob("*.md"))]
SERVICES = ("goals", "metrics", "notifications")
STARTUP_SECONDS = 300  # a deadline: about 25 s on 2 idle cores, minutes on busy ones
DEMO_RECIPIENT = "Head of sales (demo)"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@dataclass
class Platform:
    urls: dict[str, str]
    data_dir: Path
    token: str
    routes: dict[str, set[str]]
    """Each service's OpenAPI paths, parameters written ``{}``."""
    output: list[str] = field(default_factory=list)

    def text(self) -> str:
        return "".join(self.output)


def _template(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path)


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """``make run`` on free ports and a fresh data folder; stopped with Ctrl-C at the end."""
    data_dir = tmp_path_factory.mktemp("readme-tour") / "data"
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("OKR_", "PROMETHEUS_MULTIPROC"))}
    env.update(OKR_DATA_DIR=str(data_dir), OKR_KAFKA_PORT=str(free_port()),
               PYTHONUNBUFFERED="1")
    for service in SERVICES:  # every port a free one: a `make run` may be going already
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
    try:
        _wait_until_up(process, output, urls, data_dir)
        token = (data_dir / "admin-token").read_text().strip()
        routes = {service: _openapi_paths(url) for service, url in urls.items()}
        yield Platform(urls, data_dir, token, routes, output)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)  # Ctrl-C
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    assert not (data_dir / "platform.env").exists(), "make run left its platform.env behind"


def _wait_until_up(process: subprocess.Popen[bytes], output: list[str],
                   urls: dict[str, str], data_dir: Path) -> None:
    """Every API answers its health check, and ``make run`` has said where it listens."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        assert process.poll() is None, "make run exited:\n" + "".join(output)
        if (data_dir / "platform.env").exists() and all(_healthy(url) for url in urls.values()):
            return
        time.sleep(0.5)
    raise AssertionError(f"make run not up in {STARTUP_SECONDS} s:\n" + "".join(output))


def _healthy(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=5).status_code == 200
    except requests.RequestException:
        return False


def _openapi_paths(url: str) -> set[str]:
    response = requests.get(f"{url}/openapi.json", timeout=10)
    assert response.status_code == 200, response.text
    return {_template(path) for path in response.json()["paths"]}


def _section(text: str, heading: str) -> str:
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else None]


def tour() -> str:
    """The shell blocks of the README's "A short tour", in order."""
    blocks = re.findall(r"^```sh\n(.*?)^```", _section(README.read_text(), "A short tour"),
                        re.MULTILINE | re.DOTALL)
    assert len(blocks) >= 5
    return "\n".join(blocks)


def _run_tour(platform: Platform, folder: Path) -> list[str]:
    """The tour as a reader runs it: from ``folder``, knowing only the data folder that
    ``make run`` printed; its stdout lines. A refusal fails the test with the problem."""
    folder.mkdir()
    env = {name: value for name, value in os.environ.items() if not name.startswith("OKR_")}
    env.update(OKR_DATA_DIR=str(platform.data_dir), WEBHOOK_PORT=str(free_port()))
    shell = subprocess.Popen(["bash", "-e", "-o", "pipefail", "-c", tour()], env=env,
                             cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, start_new_session=True)
    try:
        stdout, stderr = shell.communicate(timeout=120)
    finally:  # the webhook receiver it starts, should the tour stop before its last block
        with contextlib.suppress(ProcessLookupError):
            os.killpg(shell.pid, signal.SIGKILL)
        shell.wait(timeout=10)
    assert shell.returncode == 0, stdout + stderr
    assert "refused" not in stderr, stderr
    return stdout.splitlines()


def _check_tour_output(out: list[str]) -> None:
    assert '{"kind":"supplied_by","from_department":"sales","to_department":"production"}' in out
    assert '{"value":180000,"confidence":0.7,"current":180000}' in out
    assert ('[{"title":"Grow new-customer revenue","kind":"collective",'
            '"departments":["marketing","sales"]},{"title":"sales-sourced new business",'
            '"kind":"department","departments":["sales"]}]') in out
    assert '[{"child_type":"objective","weight":1},{"child_type":"objective","weight":1}]' in out
    assert ('[{"kind":"supplied_by","from_department":"sales",'
            '"note":"new customers need onboarding capacity"}]') in out
    assert '[{"value":180000,"author":"Head of sales","source":"system"}]' in out
    assert ('{"recipient":"Head of sales","department":"sales","channel":"webhook",'
            '"has_secret":true}') in out
    assert 'ETag: "1"' in [line.strip() for line in out]
    assert '{"title":"Win 40 new customers","version":2}' in out
    assert '[{"actor":"Head of sales","action":"okr.objective.updated"},' \
           '{"actor":"Head of sales","action":"okr.objective.created"}]' in out
    batch = [line for line in out if line.startswith('{"index":')]
    assert batch == ['{"index":0,"status":201}', '{"index":1,"status":404}']


def _run_demo(platform: Platform) -> dict[str, Any]:
    """``make demo`` as a reader runs it from the repository; its JSON report."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("OKR_")}
    env["OKR_DATA_DIR"] = str(platform.data_dir)  # it finds the URLs in platform.env there
    demo = subprocess.run(["make", "-s", "demo", "DEMO_ARGS=--webhook-wait 5"], cwd=REPOSITORY,
                          env=env, capture_output=True, text=True, timeout=240, check=False)
    assert demo.returncode == 0, demo.stdout + demo.stderr + platform.text()[-5000:]
    report: dict[str, Any] = json.loads(demo.stdout.strip().splitlines()[-1])
    assert f"created: {report['created']['objectives']} objectives" in demo.stderr
    # the target's explanation (docs/explain.md): its gap, forecast and why; the
    # dependencies it can have at risk are sales' links to production and finance
    assert "  explain: gap " in demo.stderr and "    forecast: " in demo.stderr, demo.stderr
    depends = [line for line in demo.stderr.splitlines() if "    depends on " in line]
    assert all("depends on production 'Deliver onboarding capacity" in line
               or "depends on finance 'Fund growth" in line for line in depends), depends
    return report


class Api:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {platform.token}"

    def get(self, path: str, service: str = "goals", paged: bool = True, **params: Any) -> Any:
        """``paged``: a list (a page of 100); one item's route takes no ``page_size``."""
        response = self.session.get(self.platform.urls[service] + path, timeout=10,
                                    params={"page_size": 100, **params} if paged else params)
        assert response.status_code == 200, response.text
        return response.json()

    def total(self, path: str) -> int:
        response = self.session.get(self.platform.urls["goals"] + path, timeout=10,
                                    params={"page_size": 1})
        assert response.status_code == 200, response.text
        return int(json.loads(response.headers["X-Pagination"])["total"])

    def seeded_from(self, target: str) -> dict[str, int]:
        """What the API shows of a demo target's organisation, walked from the target: its
        contributions, the objectives they come from and the objectives those link to, their
        key results and check-ins."""
        contributions = self.get("/v1/contributions", parent_id=target)
        target_krs = [kr["id"] for kr in self.get(f"/v1/objectives/{target}/key-results")]
        for kr in target_krs:
            contributions += self.get("/v1/contributions", parent_id=kr)
        children = {c["child_id"] for c in contributions if c["child_type"] == "objective"}
        links = {link["id"]: link for child in children
                 for link in self.get("/v1/links", item_id=child) if link["from_id"] == child}
        objectives = {target} | children | {link["to_id"] for link in links.values()}
        key_results = [kr["id"] for objective in objectives
                       for kr in self.get(f"/v1/objectives/{objective}/key-results")]
        return {"objectives": len(objectives), "key_results": len(key_results),
                "contributions": len(contributions), "links": len(links),
                "check_ins": sum(self.total(f"/v1/key-results/{kr}/check-ins")
                                 for kr in key_results)}

    def demo_tokens(self) -> list[dict[str, Any]]:
        return [token for token in self.get("/v1/tokens")
                if token["name"].endswith(" (demo)")]


@pytest.mark.skipif(not (shutil.which("curl") and shutil.which("jq")),
                    reason="the tour needs curl and jq (make tools installs them)")
def test_the_tour_and_make_demo_run_again_and_again_beside_each_other(
    platform: Platform, tmp_path: Path
) -> None:
    api = Api(platform)
    _check_tour_output(_run_tour(platform, tmp_path / "first"))

    first = _run_demo(platform)  # after the tour: its target has the same title
    seeded = api.seeded_from(first["target"])
    assert {kind: first["created"][kind] for kind in seeded} == seeded
    assert seeded["objectives"] > 1 and seeded["links"] > 0 and seeded["check_ins"] > 0
    assert not any(first["reused"].values()), first
    assert first["weeks_played"] == [1, first["weeks_elapsed"]]
    tokens = api.demo_tokens()
    assert len(tokens) == first["created"]["tokens"] > 0

    _check_tour_output(_run_tour(platform, tmp_path / "second"))

    second = _run_demo(platform)
    assert second["target"] == first["target"]
    again = api.seeded_from(second["target"])
    assert {kind: again[kind] for kind in ("objectives", "key_results", "contributions",
                                           "links")} == {
        kind: second["reused"][kind] for kind in ("objectives", "key_results", "contributions",
                                                  "links")} == {
        kind: seeded[kind] for kind in ("objectives", "key_results", "contributions", "links")}
    assert again["check_ins"] == seeded["check_ins"] + second["created"]["check_ins"]
    # only weeks that passed since the first run are played (none, unless a week turned)
    assert second["created"]["check_ins"] == 0 or second["weeks_played"][0] > 1
    assert {kind: second["created"][kind] for kind in ("objectives", "key_results",
                                                       "contributions", "links", "tokens")} \
        == dict.fromkeys(("objectives", "key_results", "contributions", "links", "tokens"), 0)
    assert second["reused"]["tokens"] == len(tokens) and second["tokens_revoked"] == 0
    assert api.demo_tokens() == tokens  # reused: none minted, none left behind
    # the demo's receiver stopped with it, and so did its subscription
    assert [s for s in api.get("/v1/subscriptions", "notifications", recipient=DEMO_RECIPIENT)
            if s["recipient"] == DEMO_RECIPIENT] == []

    rollup = api.get(f"/v1/rollups/{first['target']}", "metrics", paged=False,
                     depth=3)
    assert rollup["progress"] > 0
    assert {link["to_department"] for link in rollup["links"]} & {"finance", "production"}
    exposition = requests.get(platform.urls["metrics"] + "/metrics", timeout=10).text
    progress = [line for line in exposition.splitlines()
                if line.startswith("okr_objective_progress_ratio{")
                and f'objective_id="{first["target"]}"' in line]
    # once per owning department (docs/metrics.md: no joined label values)
    assert {line.split('department="')[1].split('"')[0] for line in progress} == {
        "marketing", "sales"}, exposition[:2000]
    assert all(float(line.rsplit(" ", 1)[1]) > 0 for line in progress)


# -- every route shown in the README and docs/ exists ----------------------------------------

#: How a page names each service's base URL.
_BASES = {
    r"\$G|\$\{G\}|(?:localhost|127\.0\.0\.1):8081": "goals",
    r"\$M|(?:localhost|127\.0\.0\.1):8082": "metrics",
    r"\$N|(?:localhost|127\.0\.0\.1):8083": "notifications",
}
_PARAMETER = re.compile(r"^(?:\$\w+|\$\{\w+\}|[A-Z][A-Z_]*)$")  # $SALES_KR, SUBSCRIPTION_ID


def shown_requests(text: str) -> Iterator[tuple[str, str]]:
    """(service, path template) of every URL a page shows, e.g. ``$G/v1/objectives/$O``."""
    for pattern, service in _BASES.items():
        for match in re.finditer(rf"(?:{pattern})(/v1/[^\s\"'?`\\)]*)", text):
            segments = match.group(1).rstrip("/").split("/")
            yield service, "/".join("{}" if _PARAMETER.match(s) else s for s in segments)


def documented_routes(text: str) -> Iterator[tuple[str, str]]:
    """(service, path template) of every route in the tables of api.md, by section."""
    for service in SERVICES:
        section = _section(text, next(line[3:] for line in text.splitlines()
                                      if line.lower().startswith(f"## {service} service")))
        for row in re.findall(r"^\|(.*?)\|", section, re.MULTILINE):
            for path in re.findall(r"`(/v1/[^`]*)`", row):
                yield service, _template(path)


def test_every_route_the_pages_show_exists(platform: Platform) -> None:
    shown = {(page.name, service, path) for page in PAGES
             for service, path in shown_requests(page.read_text())}
    shown |= {("api.md", service, path)
              for service, path in documented_routes((REPOSITORY / "docs/api.md").read_text())}
    assert len({path for _, _, path in shown}) > 20
    assert {(page, service, path) for page, service, path in shown
            if path not in platform.routes[service]} == set()


def test_a_route_that_does_not_exist_is_noticed() -> None:
    assert set(shown_requests('curl $G/v1/objectives/$O/key-results "$N/v1/nothing?x=1"')) == {
        ("goals", "/v1/objectives/{}/key-results"), ("notifications", "/v1/nothing")}
