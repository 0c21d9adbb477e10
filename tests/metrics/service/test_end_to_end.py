"""End to end on real parts: goals API -> relay -> Tansu -> metrics consumer -> read model ->
roll-up API and /metrics on gunicorn -> a real Prometheus server answering PromQL, scraping
the API as a deployment of replicas does (process metrics and read model apart), naming
collective targets by title and finding a shared target under each owning department."""

from __future__ import annotations

import json
import re
import shutil
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
import requests

from services.goals.bootstrap import Goals
from services.goals.service_layer.reference_data import seed_default_departments
from services.metrics.bootstrap import Metrics
from services.metrics.config import MetricsConfig
from tests.conftest import ADMIN_TOKEN, ApiClient, free_port
from tests.metrics.conftest import (
    metrics_environment,
    okr_metrics,
    wait_for,
    wait_http,
)
from tests.platform.deploy.conftest import REPOSITORY
from tests.platform.deploy.test_grafana import panels_of

pytestmark = pytest.mark.timeout(120)

PROMETHEUS_CONFIG = """global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: okr-metrics
    metrics_path: /metrics/process
    scrape_interval: 1s
    scrape_timeout: 1s
    static_configs:
      - targets: ["{target}"]
  - job_name: okr-metrics-read-model
    metrics_path: /metrics/read-model
    scrape_interval: 1s
    scrape_timeout: 1s
    static_configs:
      - targets: ["{target}"]
"""
#: The collective targets' titles with their progress (one series per target, however
#: many departments own it).
COLLECTIVE_TARGETS = ('max by (objective_id) (okr_objective_progress_ratio{kind="collective"}) '
                      '* on(objective_id) group_left(title) okr_objective_info')
#: Every objective a department owns, by name, shared targets included.
OWNED_BY = ('okr_objective_info * on(objective_id) group_left(department) '
            'okr_objective_owner_info{{department="{department}"}}')


def _created(response: Any) -> dict[str, Any]:
    assert response.status_code == 201, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def _dashboard_queries(department: str) -> dict[str, str]:
    """Every query of the Grafana dashboards, as Grafana sends it with "All" cycles and
    the given department (a regular expression)."""
    values = {"cycle": ".*", "department": department, "__rate_interval": "1m"}
    queries = {}
    for path in sorted((REPOSITORY / "deploy" / "grafana" / "dashboards").glob("*.json")):
        for panel in panels_of(json.loads(path.read_text())):
            for target in panel.get("targets", []):
                queries[f"{panel['title']} / {target['refId']}"] = re.sub(
                    r"\$\{?([A-Za-z_]\w*)\}?", lambda m: values[m.group(1)], target["expr"])
    return queries


def _promql(base: str, query: str) -> list[dict[str, Any]]:
    response = requests.get(f"{base}/api/v1/query", params={"query": query}, timeout=5)
    if response.status_code != 200:
        return []
    result: list[dict[str, Any]] = response.json()["data"]["result"]
    return result


@pytest.mark.skipif(shutil.which("prometheus") is None,
                    reason="prometheus is installed by tests/support/install-tools.sh")
@pytest.mark.parametrize("goals_database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("metrics_database_url", ["postgresql"], indirect=True)
def test_check_in_through_goals_api_reaches_rollup_api_metrics_and_prometheus(
        api: ApiClient, goals: Goals, metrics: Metrics, metrics_config: MetricsConfig,
        goals_server: str, processes: Any, run_in_background: Any, tmp_path: Path) -> None:
    seed_default_departments(goals.unit_of_work())
    _created(api.post("/v1/cycles", json={"key": "2026-Q4", "starts_on": "2026-10-01",
                                          "ends_on": "2026-12-31"}))
    target = _created(api.post("/v1/objectives", json={
        "cycle": "2026-Q4", "kind": "collective", "departments": ["sales", "marketing"],
        "owner": "CEO", "title": "New revenue"}))
    sales = _created(api.post("/v1/objectives", json={
        "cycle": "2026-Q4", "kind": "department", "departments": ["sales"], "owner": "Kim",
        "title": "Close deals"}))
    deals = _created(api.post(f"/v1/objectives/{sales['id']}/key-results", json={
        "title": "Deals", "measure": "increase", "start": 0, "target": 20, "unit": "deals"}))
    _created(api.post("/v1/contributions", json={
        "child_type": "objective", "child_id": sales["id"], "parent_type": "objective",
        "parent_id": target["id"]}))

    run_in_background(goals.relay().run)
    projection = metrics.projection()
    projection.load()
    run_in_background(metrics.consumer(projection).run)

    port = free_port()
    server = processes([okr_metrics(), "serve", "--workers", "2"],
                       {**metrics_environment(metrics_config), "OKR_METRICS_PORT": str(port),
                        "OKR_GOALS_URL": goals_server}, "metrics-api")
    base = f"http://127.0.0.1:{port}"
    wait_http(f"{base}/healthz", 80, server)  # gunicorn starts slowly on a loaded machine

    prometheus_port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(PROMETHEUS_CONFIG.format(target=f"127.0.0.1:{port}"))
    prometheus = processes([
        "prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{prometheus_port}"], {}, "prometheus")
    prometheus_base = f"http://127.0.0.1:{prometheus_port}"
    wait_http(f"{prometheus_base}/-/ready", 30, prometheus)

    _created(api.post(f"/v1/key-results/{deals['id']}/check-ins",
                      json={"value": 8, "confidence": 0.9}))

    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    rollup_url = f"{base}/v1/rollups/{target['id']}?depth=2"

    def rolled_up() -> bool:
        response = requests.get(rollup_url, headers=headers, timeout=5)
        return response.status_code == 200 and response.json()["progress"] == 0.4
    wait_for(rolled_up, 30, "the check-in in the roll-up API")
    tree = requests.get(rollup_url, headers=headers, timeout=5).json()
    [child] = tree["children"]
    assert child["objective_id"] == sales["id"]
    assert child["children"][0]["key_result_id"] == deals["id"]

    exposed = requests.get(f"{base}/metrics", timeout=5).text
    for department in ("marketing", "sales"):
        assert (f'okr_objective_progress_ratio{{objective_id="{target["id"]}",cycle="2026-Q4",'
                f'kind="collective",department="{department}"}} 0.4') in exposed

    query = f'okr_objective_progress_ratio{{objective_id="{target["id"]}"}}'
    wait_for(lambda: len(_promql(prometheus_base, query)) == 2, 30,
             f"Prometheus to answer {urllib.parse.quote(query)}")
    samples = _promql(prometheus_base, query)
    assert {sample["metric"]["department"] for sample in samples} == {"marketing", "sales"}
    assert {float(sample["value"][1]) for sample in samples} == {0.4}
    assert {sample["metric"]["job"] for sample in samples} == {"okr-metrics-read-model"}

    # the collective targets, by title, with their progress
    [collective] = _promql(prometheus_base, COLLECTIVE_TARGETS)
    assert collective["metric"]["title"] == "New revenue"
    assert collective["metric"]["objective_id"] == target["id"]
    assert float(collective["value"][1]) == 0.4

    # a filter on department="sales" includes the target sales co-owns, by name
    sales_objectives = {(s["metric"]["title"], s["metric"]["kind"]) for s in _promql(
        prometheus_base, OWNED_BY.format(department="sales"))}
    assert sales_objectives == {("New revenue", "collective"), ("Close deals", "department")}
    marketing = {s["metric"]["title"] for s in _promql(
        prometheus_base, OWNED_BY.format(department="marketing"))}
    assert marketing == {"New revenue"}
    assert not _promql(prometheus_base, OWNED_BY.format(department="finance"))
    shared = _promql(prometheus_base,
                     'okr_objective_progress_ratio{department="sales", kind="collective"}')
    assert [s["metric"]["objective_id"] for s in shared] == [target["id"]]
    # and the key result by its title, in its unit
    [deals_named] = _promql(prometheus_base, (
        'okr_key_result_value{department="sales"} * on(key_result_id) '
        'group_left(title, unit) okr_key_result_info'))
    assert (deals_named["metric"]["title"], deals_named["metric"]["unit"]) == ("Deals", "deals")
    assert float(deals_named["value"][1]) == 8.0

    # every dashboard query runs on these series without an error (a join whose "one" side
    # had two series per objective would fail only here, at run time), and the department's
    # tables list the target sales co-owns
    for department in (".*", "sales"):
        for name, query in _dashboard_queries(department).items():
            response = requests.get(f"{prometheus_base}/api/v1/query", params={"query": query},
                                    timeout=5)
            assert response.status_code == 200, (name, query, response.text)
            assert response.json()["status"] == "success", (name, response.text)
    objectives_table = _dashboard_queries("sales")["Objectives of $department / A"]
    assert {s["metric"]["title"] for s in _promql(prometheus_base, objectives_table)} == {
        "New revenue", "Close deals"}

    # both jobs scraped (the process job may come a scrape interval after the read model)
    wait_for(lambda: len(_promql(prometheus_base, 'up{job=~"okr-metrics.*"}')) == 2, 30,
             "Prometheus to scrape both metrics jobs")
    up = _promql(prometheus_base, 'up{job=~"okr-metrics.*"}')
    assert sorted(s["value"][1] for s in up) == ["1", "1"]
    # each read-model series once: nothing of the read model comes from the process job
    assert not _promql(prometheus_base, '{job="okr-metrics", __name__=~"okr_objective.*"}')
