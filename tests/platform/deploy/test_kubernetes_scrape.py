"""deploy/k8s/prometheus-scrape.yaml: the cluster's scrape jobs pass ``promtool check config``,
and, applied to the pods and Services of the manifests (every replica of every Deployment),
they scrape each process's own metrics on every pod and the metrics service's read model
exactly once, however many replicas the metrics API runs.

Kubernetes service discovery is simulated from the manifests (the targets and ``__meta_*``
labels Prometheus documents for the ``pod`` and ``service`` roles); the jobs' relabelling
rules are applied as Prometheus applies them (``keep``, ``drop``, ``replace``; anchored
regular expressions; ``$1`` references).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.platform.deploy.conftest import PROCESSES, run_tool, tool
from tests.platform.deploy.test_kubernetes import DOCUMENTS, named

METRICS_API_PORT = 8082
READ_MODEL_PATHS = {"/metrics", "/metrics/read-model"}  # what serves the read model


def scrape_configs() -> list[dict[str, Any]]:
    config_map = named("ConfigMap", "okr-prometheus-scrape")
    jobs: list[dict[str, Any]] = yaml.safe_load(config_map["data"]["scrape-configs.yml"])
    return jobs


def _meta(name: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


def discovered(documents: list[dict[str, Any]], role: str) -> list[dict[str, str]]:
    """The targets Kubernetes discovery gives a job of ``role`` for these manifests."""
    targets: list[dict[str, str]] = []
    if role == "pod":
        for document in documents:
            if document["kind"] != "Deployment":
                continue
            template = document["spec"]["template"]
            name = document["metadata"]["name"]
            for replica in range(document["spec"].get("replicas", 1)):
                labels = {"__meta_kubernetes_pod_name": f"{name}-{replica}",
                          "__meta_kubernetes_namespace": document["metadata"]["namespace"]}
                for key, value in template["metadata"].get("annotations", {}).items():
                    labels[f"__meta_kubernetes_pod_annotation_{_meta(key)}"] = value
                for key, value in template["metadata"].get("labels", {}).items():
                    labels[f"__meta_kubernetes_pod_label_{_meta(key)}"] = value
                address = f"10.0.{len(targets)}.{replica + 1}"
                for container in template["spec"]["containers"]:
                    for port in container.get("ports", []):
                        targets.append({**labels,
                                        "__address__": f"{address}:{port['containerPort']}"})
    elif role == "service":
        for document in documents:
            if document["kind"] != "Service":
                continue
            name, namespace = document["metadata"]["name"], document["metadata"]["namespace"]
            for port in document["spec"]["ports"]:
                labels = {"__meta_kubernetes_service_name": name,
                          "__meta_kubernetes_namespace": namespace,
                          "__meta_kubernetes_service_port_name": port.get("name", ""),
                          "__address__": f"{name}.{namespace}.svc:{port['port']}"}
                for key, value in document["metadata"].get("annotations", {}).items():
                    labels[f"__meta_kubernetes_service_annotation_{_meta(key)}"] = value
                targets.append(labels)
    else:
        raise AssertionError(f"role {role} is not simulated")
    return targets


def relabel(labels: dict[str, str], rules: list[dict[str, Any]]) -> dict[str, str] | None:
    """Prometheus's relabelling of one target; None when a rule drops it."""
    labels = dict(labels)
    for rule in rules:
        action = rule.get("action", "replace")
        value = rule.get("separator", ";").join(
            labels.get(name, "") for name in rule.get("source_labels", []))
        match = re.fullmatch(rule.get("regex", "(.*)"), value)
        if (action == "keep" and match is None) or (action == "drop" and match is not None):
            return None
        if action == "replace" and match is not None:
            template = re.sub(r"\$\{?(\d+)\}?", r"\\g<\1>", rule.get("replacement", "$1"))
            result = match.expand(template)
            if result:
                labels[rule["target_label"]] = result
            else:
                labels.pop(rule["target_label"], None)
        elif action not in {"keep", "drop", "replace"}:
            raise AssertionError(f"action {action} is not simulated")
    return labels


@dataclass(frozen=True)
class Target:
    job: str
    address: str
    path: str
    instance: str


def targets(documents: list[dict[str, Any]]) -> list[Target]:
    found = []
    for job in scrape_configs():
        for discovery in job["kubernetes_sd_configs"]:
            for labels in discovered(documents, discovery["role"]):
                kept = relabel({"job": job["job_name"], **labels},
                               job.get("relabel_configs", []))
                if kept is not None:
                    found.append(Target(
                        kept["job"], kept["__address__"],
                        kept.get("__metrics_path__", job.get("metrics_path", "/metrics")),
                        kept.get("instance", kept["__address__"])))
    return found


def read_model_scrapes(found: list[Target]) -> list[Target]:
    return [target for target in found if target.path in READ_MODEL_PATHS
            and target.address.endswith(f":{METRICS_API_PORT}")]


def test_the_scrape_jobs_pass_promtool_check_config(tmp_path: Path) -> None:
    """Debian's Prometheus is built without Kubernetes discovery, so promtool checks the jobs
    with their discovery swapped for a static target (every other field, the relabelling
    rules' regular expressions included, as written); the discovery blocks are checked
    against the fields Prometheus documents for them."""
    jobs = []
    for job in scrape_configs():
        for discovery in job["kubernetes_sd_configs"]:
            assert discovery.keys() <= {"role", "namespaces"}, job["job_name"]
            assert discovery["role"] in {"pod", "service", "endpoints", "node", "ingress"}
            assert discovery["namespaces"].keys() <= {"names", "own_namespace"}
            assert discovery["namespaces"]["names"] == ["okr"]
        static = {key: value for key, value in job.items() if key != "kubernetes_sd_configs"}
        jobs.append({**static, "static_configs": [{"targets": ["localhost:9"]}]})
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump({"global": {"scrape_interval": "15s"},
                                      "scrape_configs": jobs}))
    result = run_tool([tool("promtool"), "check", "config", str(config)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_promtool_check_catches_a_broken_relabelling_rule(tmp_path: Path) -> None:
    [job, *_] = scrape_configs()
    broken = {**{k: v for k, v in job.items() if k != "kubernetes_sd_configs"},
              "static_configs": [{"targets": ["localhost:9"]}],
              "relabel_configs": [{"source_labels": ["a"], "regex": "(unclosed"}]}
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump({"scrape_configs": [broken]}))
    assert run_tool([tool("promtool"), "check", "config", str(config)]).returncode != 0


def test_the_read_model_is_scraped_once_and_every_pod_for_its_own_metrics() -> None:
    replicas = named("Deployment", "metrics-api")["spec"]["replicas"]
    assert replicas >= 2
    found = targets(DOCUMENTS)
    [read_model] = read_model_scrapes(found)
    assert read_model.path == "/metrics/read-model"
    assert read_model.address == f"metrics-api.okr.svc:{METRICS_API_PORT}"
    assert read_model.instance == "metrics-api"  # the same series whichever replica answers
    for process in PROCESSES:
        scraped = [t for t in found if t.job == process.name]
        expected = named("Deployment", process.name)["spec"].get("replicas", 1)
        assert len({t.address for t in scraped}) == expected, process.name
        assert all(t.address.endswith(f":{process.port}") for t in scraped), process.name
    api = [t for t in found if t.job == "metrics-api"]
    assert {t.path for t in api} == {"/metrics/process"}


@pytest.mark.parametrize("replicas", [3, 5])
def test_more_replicas_add_process_scrapes_never_read_model_ones(replicas: int) -> None:
    documents = copy.deepcopy(DOCUMENTS)
    for document in documents:
        if document["kind"] == "Deployment" and document["metadata"]["name"] == "metrics-api":
            document["spec"]["replicas"] = replicas
    found = targets(documents)
    assert len(read_model_scrapes(found)) == 1
    assert len([t for t in found if t.job == "metrics-api"]) == replicas


def test_the_check_catches_pods_that_serve_the_read_model() -> None:
    """Annotating the API's pods with /metrics (process + read model) would count the read
    model once per replica: the same check sees it."""
    documents = copy.deepcopy(DOCUMENTS)
    for document in documents:
        if document["kind"] == "Deployment" and document["metadata"]["name"] == "metrics-api":
            document["spec"]["template"]["metadata"]["annotations"][
                "prometheus.io/path"] = "/metrics"
    replicas = named("Deployment", "metrics-api")["spec"]["replicas"]
    assert len(read_model_scrapes(targets(documents))) == replicas + 1


def test_the_services_are_not_annotated_for_scraping_per_endpoint() -> None:
    """A cluster Prometheus scraping annotated Services per endpoint would scrape every
    replica's /metrics; none is annotated."""
    for document in DOCUMENTS:
        if document["kind"] == "Service":
            annotations = document["metadata"].get("annotations", {})
            assert "prometheus.io/scrape" not in annotations, document["metadata"]["name"]
