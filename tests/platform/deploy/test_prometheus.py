"""deploy/prometheus: the scrape config covers every process; the alert rules pass
``promtool check`` and their unit tests, which prove each alert fires when it should and
stays quiet when it should not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.platform.deploy.conftest import DEPLOY, PROCESSES, run_tool, tool, unknown_metric_names

PROMETHEUS = DEPLOY / "prometheus"
REQUIRED_ALERTS = {
    "OkrCollectiveTargetOffTrack",
    "OkrConsumerLagHigh",
    "OkrOutboxBacklogHigh",
    "OkrOutboxBacklogGrowing",
    "OkrDeadLettersIncreasing",
    "OkrTargetDown",
}


def load(name: str) -> Any:
    return yaml.safe_load((PROMETHEUS / name).read_text())


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in load("alerts.yml")["groups"] for rule in group["rules"]
            if "alert" in rule]


def test_scrape_config_passes_promtool_check_config() -> None:
    result = run_tool([tool("promtool"), "check", "config", str(PROMETHEUS / "prometheus.yml")])
    assert result.returncode == 0, result.stdout + result.stderr


def test_scrape_config_covers_every_process_on_its_port() -> None:
    targets: dict[str, set[str]] = {}
    for job in load("prometheus.yml")["scrape_configs"]:
        found = targets.setdefault(job["job_name"], set())
        for discovery in job.get("dns_sd_configs", []):
            found.update(f"{name}:{discovery['port']}" for name in discovery["names"])
        for static in job.get("static_configs", []):
            found.update(static["targets"])
    for process in PROCESSES:
        assert targets.get(process.name) == {f"{process.name}:{process.port}"}, process.name
    assert targets["metrics-read-model"] == {"metrics-api:8082"}
    assert set(targets) == {process.name for process in PROCESSES} | {
        "prometheus", "metrics-read-model"}


def test_the_read_model_is_scraped_once_however_many_metrics_api_replicas() -> None:
    """Every metrics-api replica (found by DNS) for its process metrics only; the read model
    from one address that the compose DNS resolves to one replica, once."""
    jobs = {job["job_name"]: job for job in load("prometheus.yml")["scrape_configs"]}
    assert jobs["metrics-api"]["metrics_path"] == "/metrics/process"
    assert "dns_sd_configs" in jobs["metrics-api"]
    read_model = [job for job in jobs.values()
                  if job.get("metrics_path") == "/metrics/read-model"]
    assert [job["job_name"] for job in read_model] == ["metrics-read-model"]
    assert "dns_sd_configs" not in read_model[0]
    assert [static["targets"] for static in read_model[0]["static_configs"]] == [
        ["metrics-api:8082"]]
    # nothing else scrapes the metrics API's full /metrics (process + read model)
    assert all(job.get("metrics_path", "/metrics") != "/metrics"
               for name, job in jobs.items() if name.startswith("metrics-api"))


def test_alert_rules_pass_promtool_check_rules() -> None:
    result = run_tool([tool("promtool"), "check", "rules", str(PROMETHEUS / "alerts.yml")])
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rules_pass_their_promtool_unit_tests() -> None:
    result = run_tool([tool("promtool"), "test", "rules", "alerts_test.yml"], cwd=PROMETHEUS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_unit_tests_fail_when_an_alert_fires_too_early(tmp_path: Path) -> None:
    hasty = (PROMETHEUS / "alerts.yml").read_text().replace("for: 30m", "for: 5m")
    (tmp_path / "alerts.yml").write_text(hasty)
    (tmp_path / "alerts_test.yml").write_text((PROMETHEUS / "alerts_test.yml").read_text())
    result = run_tool([tool("promtool"), "test", "rules", "alerts_test.yml"], cwd=tmp_path)
    assert result.returncode != 0
    assert "OkrCollectiveTargetOffTrack" in result.stdout + result.stderr


def test_every_alert_is_tested_both_firing_and_quiet() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in load("alerts_test.yml")["tests"]:
        for check in case["alert_rule_test"]:
            (firing if check["exp_alerts"] else quiet).add(check["alertname"])
    names = {rule["alert"] for rule in alert_rules()}
    assert names >= REQUIRED_ALERTS
    assert firing == names
    assert quiet == names


def test_collective_target_alert_watches_the_off_track_status() -> None:
    rule = next(rule for rule in alert_rules() if rule["alert"] == "OkrCollectiveTargetOffTrack")
    assert rule["expr"].replace(" ", "") == \
        'okr_objective_status{kind="collective",status="off_track"}==1'
    assert rule["for"] in {"15m", "30m", "1h"}


def test_alerts_use_only_metric_names_the_platform_exports() -> None:
    expressions = [rule["expr"] for rule in alert_rules()]
    assert not unknown_metric_names(expressions)
