"""deploy/k8s: every document of every manifest is valid against the Kubernetes schemas
(kubernetes-validate, strict: unknown fields fail), and the manifests say what the
platform needs: probes, replicas, migration Jobs, secret references, no root."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.platform.deploy.conftest import DEPLOY, PROCESSES, SERVICES, Process

KUBERNETES_VERSION = "1.30"
MANIFESTS = sorted((DEPLOY / "k8s").glob("*.yaml"))


def documents_of(path: Path) -> list[dict[str, Any]]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document]


DOCUMENTS = [document for path in MANIFESTS for document in documents_of(path)]


def named(kind: str, name: str) -> dict[str, Any]:
    matches = [document for document in DOCUMENTS
               if document["kind"] == kind and document["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind} {name}: {len(matches)} found"
    return matches[0]


def pod_specs() -> list[tuple[str, dict[str, Any]]]:
    return [(document["metadata"]["name"], document["spec"]["template"]["spec"])
            for document in DOCUMENTS if document["kind"] in {"Deployment", "Job"}]


def only_container(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return dict(container)


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda path: path.name)
def test_every_document_is_valid_for_kubernetes(path: Path) -> None:
    documents = documents_of(path)
    assert documents
    for document in documents:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_the_validation_rejects_a_misspelt_field() -> None:
    deployment = copy.deepcopy(named("Deployment", "goals-api"))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("process", PROCESSES, ids=lambda process: process.name)
def test_every_process_is_a_deployment_with_its_command_probes_and_service(
        process: Process) -> None:
    container = only_container(named("Deployment", process.name))
    assert tuple(container["command"]) == process.command
    (port,) = container["ports"]
    assert port["containerPort"] == process.port
    if process.is_api:
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port["name"]}
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port["name"]}
    else:
        assert container["livenessProbe"]["httpGet"] == {"path": "/metrics", "port": port["name"]}
    service = named("Service", process.name)
    labels = named("Deployment", process.name)["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == port["name"]


def test_scaling_notification_workers_out_and_one_metrics_consumer() -> None:
    assert named("Deployment", "notifications-worker")["spec"]["replicas"] >= 2
    consumer = named("Deployment", "metrics-consumer")["spec"]
    assert consumer["replicas"] == 1
    assert consumer["strategy"] == {"type": "Recreate"}  # never two during a rollout
    assert named("Deployment", "goals-relay")["spec"]["replicas"] >= 2  # standby for the lease


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_has_a_migration_job(service: str) -> None:
    job = named("Job", f"{service}-migrate")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == [f"okr-{service}", "migrate"]


def test_every_pod_runs_as_non_root_without_privileges_and_with_resources() -> None:
    for name, spec in pod_specs():
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        for container in spec["containers"]:
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, name
            assert container["securityContext"]["capabilities"]["drop"] == ["ALL"], name
            resources = container["resources"]
            assert {"cpu", "memory"} <= resources["requests"].keys(), name
            assert {"cpu", "memory"} <= resources["limits"].keys(), name


def test_secrets_are_referenced_never_committed() -> None:
    assert not [document for document in DOCUMENTS if document["kind"] == "Secret"]
    for name, spec in pod_specs():
        service = name.split("-")[0]
        for container in spec["containers"]:
            for variable in container.get("env", []):
                assert "value" not in variable, (name, variable["name"])
                reference = variable["valueFrom"]["secretKeyRef"]
                assert reference["name"] == f"okr-{service}", (name, variable["name"])
            (source,) = container["envFrom"]
            assert source["configMapRef"]["name"] == named("ConfigMap", "okr-config")[
                "metadata"]["name"]


def test_every_namespaced_document_is_in_the_platform_namespace() -> None:
    namespace = named("Namespace", "okr")["metadata"]["name"]
    for document in DOCUMENTS:
        if document["kind"] != "Namespace":
            assert document["metadata"]["namespace"] == namespace, document["metadata"]["name"]
