"""What the deployment tests share: the repository's paths, the agreed processes, the tools.

The tools (``docker-compose``, ``promtool``, ``psql``) are real binaries found on PATH;
``make test`` installs them (``tests/support/install-tools.sh``). A missing one fails the
test that needs it, never skips it: an unvalidated deployment file is a broken one.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from services.metrics.adapters.exposition import FAMILIES

REPOSITORY = Path(__file__).resolve().parents[3]
DEPLOY = REPOSITORY / "deploy"
COMPOSE_FILE = REPOSITORY / "docker-compose.yml"


@dataclass(frozen=True)
class Process:
    """One kind of process of the platform, as agreed between the services."""

    name: str  # the docker-compose service, Kubernetes Deployment and Prometheus job
    command: tuple[str, ...]
    port: int  # HTTP port of an API, metrics port of a worker
    is_api: bool

    @property
    def service(self) -> str:
        return self.name.split("-")[0]


PROCESSES = (
    Process("goals-api", ("okr-goals", "serve"), 8081, True),
    Process("goals-relay", ("okr-goals", "relay"), 9181, False),
    Process("metrics-api", ("okr-metrics", "serve"), 8082, True),
    Process("metrics-consumer", ("okr-metrics", "consume"), 9182, False),
    Process("notifications-api", ("okr-notifications", "serve"), 8083, True),
    Process("notifications-worker", ("okr-notifications", "worker"), 9183, False),
)
SERVICES = ("goals", "metrics", "notifications")


def tool(name: str) -> str:
    """The path of a binary the test needs, or a failure that says how to get it."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"`{name}` is not on PATH; `make tools` (tests/support/install-tools.sh) "
                    f"installs it from Debian's packages")
    return path


def run_tool(args: list[str], *, cwd: Path = REPOSITORY, env: dict[str, str] | None = None,
             timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


# -- metric names ----------------------------------------------------------------------------

#: The product metrics of the public contract (the product brief's table, repeated in the
#: README): dashboards and alerts are built on these names.
CONTRACT_METRICS = frozenset({
    "okr_objective_progress_ratio",
    "okr_objective_expected_progress_ratio",
    "okr_objective_status",
    "okr_objective_forecast_ratio",
    "okr_objective_gap_ratio",
    "okr_key_result_progress_ratio",
    "okr_key_result_confidence_ratio",
    "okr_department_progress_ratio",
    "okr_department_alignment_ratio",
    "okr_key_result_last_checkin_timestamp_seconds",
    "okr_links",
    "okr_checkins_total",
    "okr_events_consumed_total",
    "okr_consumer_lag_messages",
    "okr_outbox_pending_events",
})
SERIES_SUFFIXES = ("_bucket", "_count", "_sum", "_created")
METRIC_NAME = re.compile(r"\bokr_[a-z0-9_]+")
DEFINED_NAME = re.compile(r"[\"'](okr_[a-z0-9_]+)[\"']")


def plumbing_metric_names() -> set[str]:
    """Names the shared library defines (``shared/observability/``), read from its source."""
    names: set[str] = set()
    for module in (REPOSITORY / "shared" / "observability").glob("*.py"):
        names.update(DEFINED_NAME.findall(module.read_text()))
    return names


#: Families agreed between the branches of issues 13 and 15 (the forecast and the gap per
#: owning department of a collective target) that the dashboard shows; the metrics
#: service's exposition defines them once the "explain" work is merged.
AGREED_METRICS = frozenset({"okr_objective_forecast_ratio", "okr_objective_gap_ratio"})


def read_model_metric_names() -> set[str]:
    """The families of the metrics service's ``/metrics`` read model (its exposition)."""
    return {name for name, _, _ in FAMILIES}


def unknown_metric_names(expressions: list[str]) -> set[str]:
    """``okr_*`` names used in PromQL that neither the contract, the read model's exposition
    nor the library defines."""
    known = (CONTRACT_METRICS | AGREED_METRICS | read_model_metric_names()
             | plumbing_metric_names())
    unknown: set[str] = set()
    for expression in expressions:
        for name in METRIC_NAME.findall(expression):
            base = name
            for suffix in SERIES_SUFFIXES:
                if name.endswith(suffix) and name.removesuffix(suffix) in known:
                    base = name.removesuffix(suffix)
            if base not in known:
                unknown.add(name)
    return unknown


def check_promql(expressions: dict[str, str], workdir: Path) -> subprocess.CompletedProcess[str]:
    """``promtool check rules`` on the expressions written as recording rules: it parses
    every expression with Prometheus's own PromQL parser."""
    rules = {"groups": [{"name": "expressions", "rules": [
        {"record": f"check:expression_{index}", "expr": expression}
        for index, expression in enumerate(expressions.values())]}]}
    path = workdir / "expressions.yml"
    path.write_text(yaml.safe_dump(rules))
    return run_tool([tool("promtool"), "check", "rules", str(path)])
