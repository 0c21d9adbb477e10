"""``make run`` (``python -m tools.run``): the whole platform on one machine, on embedded defaults.

Starts an embedded Tansu broker (unless ``OKR_KAFKA_BOOTSTRAP_SERVERS`` names one),
checks that every port it will listen on is free (else it stops and names the variable
to set; a worker's metrics port follows its API port unless set), migrates each
service's SQLite database in ``OKR_DATA_DIR``, runs every process of
``deploy/local/Procfile`` under :mod:`tools.supervisor` (one log stream; a process that
dies is started again, with backoff), prints where everything listens and how to
authenticate, and on Ctrl-C (or SIGTERM) stops every process it started.

While it runs, ``$OKR_DATA_DIR/platform.env`` holds the URLs it serves on and the data
folder, as shell assignments: the README's tour sources it and ``make demo`` reads it, so
both find the platform on the ports it was started with, from any folder.

``python -m tools.run --reset`` (``make reset``) deletes the local data instead: the
SQLite databases and ``make demo``'s record of what it seeded, after a confirmation
(``--yes`` skips it); never while the platform runs.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shlex
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
#: Where a running ``make run`` says where it listens (removed when it stops).
PLATFORM_ENV = "platform.env"
#: What ``make run`` keeps in the data folder besides the admin token: the SQLite databases
#: of the three services (with their write-ahead logs and lock files) and ``make demo``'s
#: record.
LOCAL_DATA = ("goals.db*", "metrics.db*", "notifications.db*", "demo-state.*")


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


def write_platform_env(data_dir: Path, urls: dict[str, str]) -> Path:
    """``platform.env`` in the data folder: the services' URLs and the folder itself, as
    shell assignments (``OKR_GOALS_URL=...``) that the README's tour sources."""
    lines = ["# written by `make run` (tools/run.py) while it runs; removed when it stops"]
    lines += [f"OKR_{name.upper()}_URL={shlex.quote(url)}" for name, url in urls.items()]
    lines.append(f"OKR_DATA_DIR={shlex.quote(str(data_dir))}")
    path = data_dir / PLATFORM_ENV
    path.write_text("\n".join(lines) + "\n")
    return path


def read_platform_env(data_dir: Path) -> dict[str, str]:
    """What a running ``make run`` wrote in ``platform.env`` (empty when none runs)."""
    try:
        text = (data_dir / PLATFORM_ENV).read_text()
    except OSError:
        return {}
    values = {}
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep and name.startswith("OKR_") and name.isidentifier():
            words = shlex.split(value)
            values[name] = words[0] if words else ""
    return values


def reset(data_dir: Path, confirmed: bool) -> int:
    """Delete the local data (``LOCAL_DATA``) in ``data_dir``, after a confirmation."""
    running = read_platform_env(data_dir).get("OKR_GOALS_URL")
    if running and _wait_healthy(running + "/healthz", 1):
        print(f"the platform is running ({running}): stop `make run` first", file=sys.stderr)
        return 2
    found = sorted(path for pattern in LOCAL_DATA for path in data_dir.glob(pattern)
                   if path.is_file())
    if not found:
        print(f"no local data in {data_dir}", file=sys.stderr)
        return 0
    print("this deletes the local data of `make run` (the admin token stays):",
          *[f"  {path}" for path in found], sep="\n", file=sys.stderr)
    if not confirmed:
        if not sys.stdin.isatty():
            print("not confirmed: run with --yes to delete without asking", file=sys.stderr)
            return 2
        if input("delete? [y/N] ").strip().lower() not in {"y", "yes"}:
            print("nothing deleted", file=sys.stderr)
            return 1
    for path in found:
        path.unlink(missing_ok=True)
    (data_dir / PLATFORM_ENV).unlink(missing_ok=True)  # a stale one, from a run that was killed
    print(f"deleted {len(found)} file(s); the next `make run` starts empty "
          "(the embedded broker keeps nothing across restarts)", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.run", description=__doc__.split("\n")[0])
    parser.add_argument("--reset", action="store_true",
                        help="delete the local data (databases, make demo's record) and exit")
    parser.add_argument("--yes", action="store_true", help="with --reset: do not ask")
    args = parser.parse_args(argv)
    env = dict(os.environ)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    data_dir = Path(env_str("OKR_DATA_DIR", str(REPOSITORY / ".okr-data"), env)).resolve()
    if args.reset:
        return reset(data_dir, args.yes)
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

    running = read_platform_env(data_dir).get("OKR_GOALS_URL")
    if running and _wait_healthy(running + "/healthz", 1):
        print(f"a platform already runs on this data folder ({running}, see "
              f"{data_dir / PLATFORM_ENV}): stop it first, or give another OKR_DATA_DIR",
              file=sys.stderr)
        return 2
    ports = assign_ports(env)
    ports["OKR_CONSOLE_PORT"] = console_port = env_int("OKR_CONSOLE_PORT", 8080, env)
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
    env.setdefault("OKR_METRICS_URL", urls["metrics"])
    env.setdefault("OKR_NOTIFICATIONS_URL", urls["notifications"])  # the console's
    processes.append("console")  # the web console: no database; sessions in its memory
    console_url = f"http://127.0.0.1:{console_port}"
    platform_env = write_platform_env(data_dir, {**urls, "console": console_url})

    def _announce() -> None:
        # the banner once every API answers; a busy machine may take minutes (said after 60 s)
        started, said = time.monotonic(), False
        while not all(_wait_healthy(url + "/healthz", 5) for url in urls.values()):
            if not said and time.monotonic() - started > 60:
                print("OKR platform: not healthy after 60 s, still waiting (see the log above)",
                      file=sys.stderr, flush=True)
                said = True
        lines = ["", "OKR platform is up"]
        lines += [f"  {name:<14} {url}   (API docs: {url}/docs)" for name, url in urls.items()]
        lines += [f"  {'console':<14} {console_url}   (sign in with a token)",
                  f"  {'kafka':<14} {kafka}",
                  f"  {'data':<14} {data_dir}",
                  f"  authenticate:  Authorization: Bearer {token}   ({token_origin})",
                  f"  tour, demo:    export OKR_DATA_DIR={shlex.quote(str(data_dir))}   "
                  f"(then they find these URLs in {platform_env.name} from any folder)",
                  f"  try:           curl -H 'Authorization: Bearer {token}' "
                  f"{urls['goals']}/v1/departments",
                  "  stop:          Ctrl-C", ""]
        print("\n".join(lines), file=sys.stderr, flush=True)

    threading.Thread(target=_announce, daemon=True).start()
    entries = [entry for entry in read_procfile(PROCFILE) if entry.name in processes]
    try:
        return supervise(entries, env, REPOSITORY, sys.stdout, stop_last=("broker",))
    finally:
        written = read_platform_env(data_dir)
        if written.get("OKR_GOALS_URL") == urls["goals"]:  # ours, not a later run's
            platform_env.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
