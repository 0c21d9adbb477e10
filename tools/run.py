"""``make run`` (``python -m tools.run``): the whole platform on one machine, on embedded defaults.

Starts an embedded Tansu broker (unless ``OKR_KAFKA_BOOTSTRAP_SERVERS`` names one),
checks that every port it will listen on is free (else it stops and names the variable
to set; a worker's metrics port follows its API port unless set), migrates each
service's SQLite database in ``OKR_DATA_DIR``, runs every process of
``deploy/local/Procfile`` under :mod:`tools.supervisor` (one log stream; a process that
dies is started again, with backoff), prints where everything listens and how to
authenticate, and on Ctrl-C (or SIGTERM) stops every process it started.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from shared.config import env_int, env_str
from tools.supervisor import read_procfile, supervise

REPOSITORY = Path(__file__).resolve().parents[1]
PROCFILE = REPOSITORY / "deploy" / "local" / "Procfile"


@dataclass(frozen=True)
class LocalService:
    name: str
    port_variable: str
    default_port: int
    worker_metrics_variable: str
    processes: tuple[str, ...]
    migrate: tuple[str, ...]


SERVICES = (
    LocalService("goals", "OKR_GOALS_PORT", 8081, "OKR_GOALS_WORKER_METRICS_PORT",
                 ("goals-api", "goals-relay"), ("okr-goals", "migrate")),
    LocalService("metrics", "OKR_METRICS_PORT", 8082, "OKR_METRICS_WORKER_METRICS_PORT",
                 ("metrics-api", "metrics-consumer"), ("okr-metrics", "migrate")),
    LocalService("notifications", "OKR_NOTIFICATIONS_PORT", 8083,
                 "OKR_NOTIFICATIONS_WORKER_METRICS_PORT",
                 ("notifications-api", "notifications-worker"), ("okr-notifications", "migrate")),
)
#: A worker's metrics port not set is its service's API port plus this (8081 -> 9181, the
#: services' own defaults), so a second platform with moved API ports moves these too.
WORKER_METRICS_PORT_OFFSET = 1100


def assign_ports(env: dict[str, str]) -> dict[str, int]:
    """The port of every service's API and worker metrics, by the variable that sets it;
    each worker metrics variable not set is derived from its API port and written to ``env``
    so the worker listens there."""
    ports = {}
    for service in SERVICES:
        api_port = env_int(service.port_variable, service.default_port, env)
        metrics_port = env_int(service.worker_metrics_variable,
                               api_port + WORKER_METRICS_PORT_OFFSET, env)
        env[service.worker_metrics_variable] = str(metrics_port)
        ports[service.port_variable] = api_port
        ports[service.worker_metrics_variable] = metrics_port
    return ports


def port_problem(ports: dict[str, int]) -> str | None:
    """What keeps ``make run`` from listening on ``ports`` (by variable): one out of range,
    given twice, or taken on this machine; the message names the variable to set."""
    seen: dict[int, str] = {}
    for variable, port in ports.items():
        if not 0 < port < 65536:
            return f"port {port} is not a TCP port: set {variable}"
        if port in seen:
            return f"port {port} is given to both {seen[port]} and {variable}: set one of them"
        seen[port] = variable
        if not _port_free(port):
            return f"port {port} is taken: set {variable}"
    return None


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _admin_token(env: dict[str, str], data_dir: Path) -> tuple[str, str]:
    """``OKR_ADMIN_TOKEN``, else one generated once and kept in the data folder."""
    if env.get("OKR_ADMIN_TOKEN"):
        return env["OKR_ADMIN_TOKEN"], "from OKR_ADMIN_TOKEN"
    path = data_dir / "admin-token"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32) + "\n")
        path.chmod(0o600)
    return path.read_text().strip(), f"generated, kept in {path}"


def _wait_healthy(url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.3)
    return False


def main() -> int:
    env = dict(os.environ)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    data_dir = Path(env_str("OKR_DATA_DIR", str(REPOSITORY / ".okr-data"), env)).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    env["OKR_DATA_DIR"] = str(data_dir)
    env.setdefault("OKR_LOG_JSON", "false")
    env.setdefault("PYTHONUNBUFFERED", "1")  # a print shows in the log stream when it happens
    env.setdefault("OKR_KAFKA_MAX_POLL_INTERVAL_MS", "3000")
    # A laptop platform: webhooks to receivers on this machine are what one tries first
    # (`make demo` runs one). Deployments keep loopback targets refused.
    env.setdefault("OKR_NOTIFICATIONS_ALLOW_LOOPBACK_TARGETS", "true")
    # A status must hold this long before it is sent at once; short, so the demo shows one.
    env.setdefault("OKR_NOTIFICATIONS_SETTLE_SECONDS", "3")
    token, token_origin = _admin_token(env, data_dir)
    env["OKR_ADMIN_TOKEN"] = token

    processes: list[str] = []
    if env.get("OKR_KAFKA_BOOTSTRAP_SERVERS"):
        kafka = env["OKR_KAFKA_BOOTSTRAP_SERVERS"] + " (given, none started)"
    else:
        port = env_int("OKR_KAFKA_PORT", 9092, env)
        if (problem := port_problem({"OKR_KAFKA_PORT": port})) is not None:
            print(f"{problem}, or OKR_KAFKA_BOOTSTRAP_SERVERS to use a running broker",
                  file=sys.stderr)
            return 2
        env["OKR_KAFKA_BOOTSTRAP_SERVERS"] = f"127.0.0.1:{port}"
        kafka = f"127.0.0.1:{port} (embedded Tansu, memory only)"
        processes.append("broker")

    ports = assign_ports(env)
    if (problem := port_problem(ports)) is not None:
        print(problem, file=sys.stderr)
        return 2
    urls = {}
    for service in SERVICES:
        port = ports[service.port_variable]
        print(f"migrating the {service.name} database ...", file=sys.stderr, flush=True)
        subprocess.run(service.migrate, env=env, check=True)
        urls[service.name] = f"http://127.0.0.1:{port}"
        processes.extend(service.processes)

    def _announce() -> None:
        ready = all(_wait_healthy(url + "/healthz", 60) for url in urls.values())
        lines = ["", "OKR platform " + ("is up" if ready else "did not become healthy in 60 s")]
        lines += [f"  {name:<14} {url}   (API docs: {url}/docs)" for name, url in urls.items()]
        lines += [f"  {'kafka':<14} {kafka}",
                  f"  {'data':<14} {data_dir}",
                  f"  authenticate:  Authorization: Bearer {token}   ({token_origin})",
                  f"  try:           curl -H 'Authorization: Bearer {token}' "
                  f"{urls['goals']}/v1/departments",
                  "  stop:          Ctrl-C", ""]
        print("\n".join(lines), file=sys.stderr, flush=True)

    threading.Thread(target=_announce, daemon=True).start()
    entries = [entry for entry in read_procfile(PROCFILE) if entry.name in processes]
    return supervise(entries, env, REPOSITORY, sys.stdout, stop_last=("broker",))


if __name__ == "__main__":
    sys.exit(main())
