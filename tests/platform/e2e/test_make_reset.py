"""``make reset`` (``python -m tools.run --reset``) deletes the local data and nothing else,
only when confirmed and never under a running platform; ``platform.env`` says where a
running ``make run`` listens, for the tour and ``make demo``, whatever its folder is called.

The launcher is run as ``make reset`` runs it, in a subprocess, on a temporary data folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tools.run import read_platform_env, write_platform_env

REPOSITORY = Path(__file__).resolve().parents[3]
LOCAL_DATA = ("goals.db", "goals.db-wal", "goals.db-shm", "goals.db.okr-relay-goals.lock",
              "metrics.db", "metrics.db-wal", "notifications.db", "demo-state.json")
KEPT = ("admin-token", "notes.txt", "goals.sqlite")


def _reset(data_dir: Path, *options: str) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("OKR_")}
    env["OKR_DATA_DIR"] = str(data_dir)
    return subprocess.run([sys.executable, "-m", "tools.run", "--reset", *options],
                          cwd=REPOSITORY, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "data with a space"
    folder.mkdir()
    for name in LOCAL_DATA + KEPT:
        (folder / name).write_text(name)
    return folder


def test_reset_deletes_the_databases_and_the_demo_record_and_keeps_the_rest(
    data_dir: Path
) -> None:
    done = _reset(data_dir, "--yes")
    assert done.returncode == 0, done.stderr
    assert sorted(path.name for path in data_dir.iterdir()) == sorted(KEPT)
    assert f"deleted {len(LOCAL_DATA)} file(s)" in done.stderr


def test_reset_without_confirmation_deletes_nothing(data_dir: Path) -> None:
    refused = _reset(data_dir)  # no terminal to ask on, no --yes
    assert refused.returncode == 2
    assert "--yes" in refused.stderr
    assert sorted(path.name for path in data_dir.iterdir()) == sorted(LOCAL_DATA + KEPT)


@pytest.fixture
def healthy_server() -> Iterator[str]:
    class Health(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/healthz" else 404)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_reset_refuses_while_the_platform_answers(data_dir: Path, healthy_server: str) -> None:
    write_platform_env(data_dir, {"goals": healthy_server, "metrics": healthy_server,
                                  "notifications": healthy_server})
    refused = _reset(data_dir, "--yes")
    assert refused.returncode == 2
    assert f"the platform is running ({healthy_server})" in refused.stderr
    assert all((data_dir / name).exists() for name in LOCAL_DATA)


def test_platform_env_is_read_back_and_sourced_by_the_shell_alike(data_dir: Path) -> None:
    urls = {"goals": "http://127.0.0.1:18081", "metrics": "http://127.0.0.1:18082",
            "notifications": "http://127.0.0.1:18083"}
    path = write_platform_env(data_dir, urls)
    expected = {f"OKR_{name.upper()}_URL": url for name, url in urls.items()}
    expected["OKR_DATA_DIR"] = str(data_dir)
    assert read_platform_env(data_dir) == expected
    names = " ".join(f'"${name}"' for name in expected)
    shell = subprocess.run(["bash", "-c", f'. "$1"; printf "%s\\n" {names}', "bash", str(path)],
                           capture_output=True, text=True, timeout=30, check=True)
    assert shell.stdout.splitlines() == list(expected.values())
    assert read_platform_env(data_dir / "nowhere") == {}


def test_a_second_run_on_a_data_folder_in_use_refuses_and_leaves_platform_env(
        data_dir: Path, healthy_server: str) -> None:
    """A second ``make run`` on the folder of one that answers would migrate and serve the
    same SQLite files and take over (then delete) ``platform.env``: it refuses instead."""
    from tests.conftest import free_port

    path = write_platform_env(data_dir, {"goals": healthy_server, "metrics": healthy_server,
                                         "notifications": healthy_server})
    before = path.read_text()
    env = {name: value for name, value in os.environ.items() if not name.startswith("OKR_")}
    env.update(OKR_DATA_DIR=str(data_dir), OKR_KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{free_port()}",
               **{f"OKR_{name}_PORT": str(free_port())
                  for name in ("GOALS", "METRICS", "NOTIFICATIONS", "CONSOLE")})
    second = subprocess.run([sys.executable, "-m", "tools.run"], cwd=REPOSITORY, env=env,
                            stdin=subprocess.DEVNULL, capture_output=True, text=True,
                            timeout=120, check=False)
    assert second.returncode == 2, second.stderr
    assert f"a platform already runs on this data folder ({healthy_server}" in second.stderr
    assert path.read_text() == before
