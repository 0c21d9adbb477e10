"""deploy/grafana: provisioning points at the compose Prometheus and the mounted
dashboards; the dashboard is valid JSON with unique panel ids, a PromQL query on every
panel, every query parsed by Prometheus's own parser, and only metric names that exist."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.platform.deploy.conftest import DEPLOY, check_promql, unknown_metric_names

GRAFANA = DEPLOY / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
#: What the dashboard must show: collective targets, departments, links, check-in activity
#: and the platform's health.
SHOWN_METRICS = {
    "okr_objective_progress_ratio",
    "okr_objective_expected_progress_ratio",
    "okr_objective_status",
    "okr_department_progress_ratio",
    "okr_department_alignment_ratio",
    "okr_links",
    "okr_checkins_total",
    "okr_key_result_last_checkin_timestamp_seconds",
    "okr_consumer_lag_messages",
    "okr_outbox_pending_events",
    "okr_dead_lettered_total",
    "okr_http_requests_total",
}
VARIABLE = re.compile(r"\$\{?(\w+)\}?")
#: Values Grafana substitutes before a query reaches Prometheus.
VARIABLE_VALUES = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h"}


def panels_of(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))  # panels inside collapsed rows
    return found


def queries_of(dashboard: dict[str, Any]) -> dict[str, str]:
    """Each panel's PromQL, as Prometheus receives it (dashboard variables substituted)."""
    queries = {}
    for panel in panels_of(dashboard):
        for target in panel.get("targets", []):
            expression = VARIABLE.sub(
                lambda match: VARIABLE_VALUES.get(match.group(1), "any"), target["expr"])
            queries[f"{panel['title']} / {target['refId']}"] = expression
    return queries


@pytest.fixture(scope="module", params=DASHBOARDS, ids=lambda path: path.name)
def dashboard(request: pytest.FixtureRequest) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(request.param.read_text())
    return loaded


def test_there_is_a_dashboard() -> None:
    assert DASHBOARDS


def test_panel_ids_are_unique(dashboard: dict[str, Any]) -> None:
    ids = [panel["id"] for panel in panels_of(dashboard)]
    assert len(ids) == len(set(ids))


def test_every_panel_queries_prometheus(dashboard: dict[str, Any]) -> None:
    for panel in panels_of(dashboard):
        if panel["type"] == "row":
            continue  # a row only groups the panels below it
        assert panel.get("targets"), panel["title"]
        for target in panel["targets"]:
            assert target["expr"].strip(), panel["title"]
            assert target["datasource"]["uid"] == datasource()["uid"], panel["title"]


def test_every_query_is_valid_promql(dashboard: dict[str, Any], tmp_path: Path) -> None:
    result = check_promql(queries_of(dashboard), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_promql_check_rejects_a_broken_query(tmp_path: Path) -> None:
    result = check_promql({"broken": "sum by (service (okr_outbox_pending_events)"}, tmp_path)
    assert result.returncode != 0


def test_queries_use_only_metric_names_the_platform_exports(dashboard: dict[str, Any]) -> None:
    queries = list(queries_of(dashboard).values())
    variables = [variable["query"]["query"] for variable in dashboard["templating"]["list"]]
    assert not unknown_metric_names(queries + variables)


def test_dashboard_shows_targets_departments_links_check_ins_and_health(
        dashboard: dict[str, Any]) -> None:
    used = " ".join(queries_of(dashboard).values())
    assert {name for name in SHOWN_METRICS if re.search(rf"\b{name}\b", used)} == SHOWN_METRICS


def datasource() -> dict[str, Any]:
    provisioned = yaml.safe_load(
        (GRAFANA / "provisioning/datasources/prometheus.yml").read_text())
    (only,) = provisioned["datasources"]
    return dict(only)


def test_datasource_is_the_compose_prometheus() -> None:
    source = datasource()
    assert source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"


def test_dashboard_provider_reads_the_mounted_dashboards_folder() -> None:
    provisioned = yaml.safe_load((GRAFANA / "provisioning/dashboards/okr.yml").read_text())
    (provider,) = provisioned["providers"]
    # docker-compose.yml mounts deploy/grafana/dashboards there (checked in test_compose).
    assert provider["options"]["path"] == "/etc/grafana/dashboards"


def test_the_metric_name_check_catches_a_name_nobody_exports() -> None:
    assert unknown_metric_names(["rate(okr_made_up_total[5m])", "okr_links"]) == {
        "okr_made_up_total"}
