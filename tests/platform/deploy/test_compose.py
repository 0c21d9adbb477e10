"""docker-compose.yml: valid for docker-compose, every agreed process, health checks, start
order and secrets from the environment. No Docker engine is needed: `config` only reads."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.platform.deploy.conftest import (
    COMPOSE_FILE,
    PROCESSES,
    REPOSITORY,
    SERVICES,
    Process,
    run_tool,
    tool,
)

#: Every secret the operator must provide; docker-compose refuses to run without them.
SECRETS = {
    "OKR_ADMIN_TOKEN": "admin-token-for-tests",
    "OKR_POSTGRES_PASSWORD": "postgres-password-for-tests",
    "OKR_GOALS_DB_PASSWORD": "goals-password-for-tests",
    "OKR_METRICS_DB_PASSWORD": "metrics-password-for-tests",
    "OKR_NOTIFICATIONS_DB_PASSWORD": "notifications-password-for-tests",
    "GRAFANA_ADMIN_PASSWORD": "grafana-password-for-tests",
    "OKR_SMTP_HOST": "smtp.example.test",
    "OKR_SMTP_FROM": "okr@example.test",
    "OKR_KAFKA_ADMIN_PASSWORD": "kafka-admin-password-for-tests",
    "OKR_KAFKA_GOALS_PASSWORD": "kafka-goals-password-for-tests",
    "OKR_KAFKA_METRICS_PASSWORD": "kafka-metrics-password-for-tests",
    "OKR_KAFKA_NOTIFICATIONS_PASSWORD": "kafka-notifications-password-for-tests",
    "OKR_KAFKA_INTEGRATOR_PASSWORD": "kafka-integrator-password-for-tests",
}
REQUIRED_VARIABLE = re.compile(r"\$\{([A-Z0-9_]+):\?")


def compose(args: list[str], environment: dict[str, str], tmp_path: Path) -> Any:
    # An empty --env-file: an operator's .env in the checkout must not change the outcome.
    env_file = tmp_path / "empty.env"
    env_file.write_text("")
    base = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
    return run_tool([tool("docker-compose"), "--env-file", str(env_file), "-f",
                     str(COMPOSE_FILE), *args], env={**base, **environment})


@pytest.fixture(scope="module")
def resolved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The compose file as docker-compose resolves it (anchors, merges, variables)."""
    result = compose(["config"], SECRETS, tmp_path_factory.mktemp("compose"))
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """Target -> source of a service's volumes (docker-compose 1.29 prints them short)."""
    found = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        found[target] = source
    return found


def service_of(resolved: dict[str, Any], process: Process) -> dict[str, Any]:
    assert process.name in resolved["services"], f"{process.name} missing from docker-compose.yml"
    return resolved["services"][process.name]


def test_compose_file_passes_docker_compose_config(tmp_path: Path) -> None:
    result = compose(["config", "-q"], SECRETS, tmp_path)
    assert result.returncode == 0, result.stderr


def test_compose_refuses_to_run_without_the_operators_secrets(tmp_path: Path) -> None:
    result = compose(["config", "-q"], {}, tmp_path)
    assert result.returncode != 0
    assert "deploy/env.example" in result.stderr  # the message says where to look


def test_every_secret_is_required_from_the_environment_and_listed_in_the_example() -> None:
    required = set(REQUIRED_VARIABLE.findall(COMPOSE_FILE.read_text()))
    assert required == set(SECRETS)
    example = (REPOSITORY / "deploy" / "env.example").read_text()
    assert {line.split("=")[0] for line in example.splitlines()
            if line and not line.startswith("#")} == set(SECRETS)


def test_every_process_runs_from_the_one_image_with_its_command(
        resolved: dict[str, Any]) -> None:
    images = set()
    for process in PROCESSES:
        service = service_of(resolved, process)
        assert tuple(service["command"]) == process.command
        assert Path(service["build"]["context"]) == REPOSITORY
        images.add(service["image"])
    assert len(images) == 1


def test_every_process_has_a_health_check_on_its_own_port(resolved: dict[str, Any]) -> None:
    for process in PROCESSES:
        probe = " ".join(service_of(resolved, process)["healthcheck"]["test"])
        path = "/readyz" if process.is_api else "/metrics"
        assert f"localhost:{process.port}{path}" in probe, (process.name, probe)


def test_processes_start_after_their_migration_and_the_broker(resolved: dict[str, Any]) -> None:
    for process in PROCESSES:
        depends_on = service_of(resolved, process)["depends_on"]
        assert depends_on[f"{process.service}-migrate"] == {
            "condition": "service_completed_successfully"}, process.name
        assert depends_on["kafka"] == {"condition": "service_healthy"}, process.name
        if process.service != "goals":  # tokens are checked with the goals API
            assert depends_on["goals-api"] == {"condition": "service_healthy"}, process.name


def test_each_migration_runs_once_after_postgres_is_healthy(resolved: dict[str, Any]) -> None:
    for name in SERVICES:
        migrate = resolved["services"][f"{name}-migrate"]
        assert migrate["command"] == [f"okr-{name}", "migrate"]
        assert migrate["restart"] == "no"
        assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name in ("kafka", "postgres", "prometheus", "grafana"):
        assert "healthcheck" in resolved["services"][name], name


def test_each_service_has_its_own_postgres_database_and_role(resolved: dict[str, Any]) -> None:
    for process in PROCESSES:
        service = process.service
        url = service_of(resolved, process)["environment"][f"OKR_{service.upper()}_DATABASE_URL"]
        password = SECRETS[f"OKR_{service.upper()}_DB_PASSWORD"]
        assert url == f"postgresql://{service}:{password}@postgres:5432/{service}"
    postgres = resolved["services"]["postgres"]
    assert mounts(postgres)["/docker-entrypoint-initdb.d/10-init-databases.sh"] == str(
        REPOSITORY / "deploy/postgres/init-databases.sh")


def test_kafka_is_apache_kafka_in_kraft_mode(resolved: dict[str, Any]) -> None:
    kafka = resolved["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert kafka["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    # Every event is kept: `okr-metrics rebuild` replays okr.goals.v1 from its beginning.
    assert kafka["environment"]["KAFKA_LOG_RETENTION_MS"] == "-1"
    for process in PROCESSES:
        environment = service_of(resolved, process)["environment"]
        assert environment["OKR_KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"


def test_kafka_has_an_external_listener_for_the_host(resolved: dict[str, Any],
                                                      tmp_path: Path) -> None:
    """Clients on the host reach Kafka on localhost:19092 (docs/events.md), signed in as
    the read-only user ``integrator``; the port and the advertised name can be moved."""
    kafka = resolved["services"]["kafka"]
    environment = kafka["environment"]
    assert "EXTERNAL://:19092" in environment["KAFKA_LISTENERS"].split(",")
    advertised = environment["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert advertised == ["SASL_PLAINTEXT://kafka:9092", "EXTERNAL://localhost:19092"]
    assert "EXTERNAL:SASL_PLAINTEXT" in environment["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"]
    jaas = environment["KAFKA_LISTENER_NAME_EXTERNAL_PLAIN_SASL_JAAS_CONFIG"]
    users = set(re.findall(r'user_(\w+)="', jaas))
    assert users == {"admin", "integrator"}  # no service signs in from outside
    assert f'user_integrator="{SECRETS["OKR_KAFKA_INTEGRATOR_PASSWORD"]}"' in jaas
    assert kafka["ports"] == ["127.0.0.1:19092:19092/tcp"]  # the host alone, by default

    moved = compose(["config"], {**SECRETS, "OKR_KAFKA_EXTERNAL_PORT": "29092",
                                 "OKR_KAFKA_EXTERNAL_HOST": "kafka.example.test"}, tmp_path)
    assert moved.returncode == 0, moved.stderr
    kafka = yaml.safe_load(moved.stdout)["services"]["kafka"]
    assert "EXTERNAL://kafka.example.test:29092" in kafka["environment"][
        "KAFKA_ADVERTISED_LISTENERS"]
    assert kafka["ports"] == ["127.0.0.1:29092:19092/tcp"]
    script = (REPOSITORY / "deploy" / "kafka" / "admin.sh").read_text()
    grants = script[script.index("integrator_acls() {"):]
    assert "grant integrator Read topic okr. prefixed" in grants
    assert "Write" not in grants.split("\n}\n")[0]  # read-only
    assert "acls) acls; integrator_acls ;;" in script


def test_only_consumer_group_workers_and_standby_relays_are_replicated(
        resolved: dict[str, Any]) -> None:
    def replicas(name: str) -> int:
        return int(resolved["services"][name].get("deploy", {}).get("replicas", 1))

    assert replicas("metrics-consumer") == 1  # it holds the whole goal graph
    assert replicas("notifications-worker") >= 2
    assert replicas("goals-relay") >= 2


def test_prometheus_and_grafana_mount_the_files_of_deploy(resolved: dict[str, Any]) -> None:
    prometheus = mounts(resolved["services"]["prometheus"])
    assert prometheus["/etc/prometheus"] == str(REPOSITORY / "deploy/prometheus")
    grafana = mounts(resolved["services"]["grafana"])
    assert grafana["/etc/grafana/provisioning"] == str(REPOSITORY / "deploy/grafana/provisioning")
    assert grafana["/etc/grafana/dashboards"] == str(REPOSITORY / "deploy/grafana/dashboards")


def test_every_process_of_the_local_procfile_runs_in_compose(resolved: dict[str, Any]) -> None:
    commands = {tuple(service.get("command") or ()) for service in resolved["services"].values()}
    procfile = (REPOSITORY / "deploy/local/Procfile").read_text().splitlines()
    for line in procfile:
        name, _, command = line.partition(":")
        if not line.strip() or line.startswith("#") or name.strip() == "broker":
            continue  # the embedded broker is Apache Kafka here
        assert tuple(command.split()) in commands, f"Procfile process {name} not in compose"


def test_every_command_is_a_console_script_of_the_package() -> None:
    scripts = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())["project"]["scripts"]
    for process in PROCESSES:
        assert process.command[0] in scripts, process.command
