"""deploy/grafana: provisioning points at the compose Prometheus and the mounted
dashboards; the dashboard is valid JSON with unique panel ids, a PromQL query on every
panel, every query parsed by Prometheus's own parser, and only metric names that exist;
every query on the read model honours the cycle and department filters, and objectives
and key results are shown by name."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.platform.deploy.conftest import (
    AGREED_METRICS,
    DEPLOY,
    check_promql,
    read_model_metric_names,
    unknown_metric_names,
)

GRAFANA = DEPLOY / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
#: What the dashboard must show: collective targets, departments, links, check-in activity
#: and the platform's health.
SHOWN_METRICS = {
    "okr_objective_info",
    "okr_objective_owner_info",
    "okr_key_result_info",
    "okr_key_result_value",
    "okr_key_result_target_value",
    "okr_objective_forecast_ratio",
    "okr_objective_gap_ratio",
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


#: Read-model families that carry no department label: a query filters them by department
#: through ``okr_objective_owner_info`` (or another family that has one).
WITHOUT_DEPARTMENT = {"okr_objective_info", "okr_key_result_info",
                      "okr_objective_forecast_ratio"}


def _names_in(expression: str) -> set[str]:
    return set(re.findall(r"\bokr_[a-z0-9_]+", expression))


def test_every_read_model_query_honours_the_cycle_and_department_filters(
        dashboard: dict[str, Any]) -> None:
    """Platform-health panels aside, every query filters on ``$cycle`` and ``$department``,
    and every selector of a family that has both labels uses both."""
    read_model = read_model_metric_names() | AGREED_METRICS
    checked = 0
    for panel in panels_of(dashboard):
        for target in panel.get("targets", []):
            expression = target["expr"]
            if not _names_in(expression) & read_model:
                continue
            checked += 1
            assert "$cycle" in expression and "$department" in expression, panel["title"]
            for name, selector in re.findall(r"\b(okr_[a-z0-9_]+)(\{[^}]*\})?", expression):
                if name in read_model and name not in WITHOUT_DEPARTMENT | {"okr_links"}:
                    assert "$cycle" in selector and "$department" in selector, (
                        panel["title"], name, expression)
                if name == "okr_links":
                    assert "$cycle" in selector and "_department=~\"$department\"" in selector, (
                        panel["title"], expression)
    assert checked >= 20


def test_variables_list_every_owning_department_and_cycle(dashboard: dict[str, Any]) -> None:
    """The department variable lists owners of objectives (a department that only co-owns a
    shared target is in it), never a joined value; the cycle variable every cycle."""
    variables = {v["name"]: v["query"]["query"] for v in dashboard["templating"]["list"]}
    assert variables["department"] == "label_values(okr_objective_owner_info, department)"
    assert variables["cycle"] == "label_values(okr_objective_info, cycle)"


def test_department_tables_name_objectives_and_key_results(dashboard: dict[str, Any]) -> None:
    """A table of the department's objectives and one of its key results, by title (joined
    from the _info families), with the key results' values in their unit."""
    tables = {panel["title"]: " ".join(t["expr"] for t in panel["targets"])
              for panel in panels_of(dashboard) if panel["type"] == "table"}
    objectives = tables["Objectives of $department"]
    assert "okr_objective_owner_info" in objectives
    assert "group_left(title" in objectives
    key_results = tables["Key results of $department's objectives"]
    assert "group_left(title, unit" in key_results
    assert {"okr_key_result_value", "okr_key_result_target_value"} <= _names_in(key_results)


def test_collective_target_panels_are_named_and_count_each_target_once(
        dashboard: dict[str, Any]) -> None:
    """A collective target has a series per owning department: panels of collective targets
    reduce to one per objective before counting or plotting, and show titles."""
    for panel in panels_of(dashboard):
        if not panel["title"].startswith("Collective targets"):
            continue
        for target in panel.get("targets", []):
            expression = target["expr"]
            if "okr_objective_progress_ratio" in expression or "okr_objective_status" in expression:
                assert "max by (objective_id" in expression, panel["title"]
            if panel["type"] != "stat":
                assert "group_left(title" in expression, panel["title"]
