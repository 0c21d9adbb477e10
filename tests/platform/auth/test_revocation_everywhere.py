"""A revoked token is refused by every service within a second (issue 12, item 5).

The metrics and notification services remember who a token belongs to (so they need not
ask the goals service on every request) only while their revocation watch hears the goals
service's revocation feed. Everything here runs on real HTTP servers: the goals service
(on each engine), the metrics and notification services as their own apps build them.
"""

from __future__ import annotations

import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from services.goals.bootstrap import bootstrap as goals_bootstrap
from services.goals.config import GoalsConfig
from services.goals.entrypoints.api.app import create_app as goals_app
from services.goals.service_layer.reference_data import seed_default_departments
from services.metrics.bootstrap import bootstrap as metrics_bootstrap
from services.metrics.config import MetricsConfig
from services.metrics.entrypoints.api.app import create_app as metrics_app
from services.metrics.entrypoints.cli import MIGRATIONS as METRICS_MIGRATIONS
from services.notifications.bootstrap import bootstrap as notifications_bootstrap
from services.notifications.config import NotificationsConfig
from services.notifications.entrypoints.api.app import create_app as notifications_app
from services.notifications.entrypoints.cli import MIGRATIONS as NOTIFICATIONS_MIGRATIONS
from shared.web.remote_auth import (
    RevocationWatch,
    TokenIntrospector,
    current_caller,
    install_authentication,
    revocation_watch,
)
from tests.conftest import ADMIN_TOKEN, free_port
from tests.support.databases import SqliteDatabases
from tests.support.processes import children

__all__ = ["children"]

WITHIN_SECONDS = 1.0


class Served:
    """A WSGI app on a real threaded HTTP server; counts the requests it got per path."""

    def __init__(self, app: Flask) -> None:
        self.asked: Counter[str] = Counter()
        wsgi_app = app.wsgi_app

        def counting(environ: dict[str, Any], start_response: Any) -> Any:
            self.asked[environ["PATH_INFO"]] += 1
            return wsgi_app(environ, start_response)

        app.wsgi_app = counting  # type: ignore[method-assign]
        self._server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=10)


class GoalsService(Served):
    def mint(self, role: str, department: str | None = None) -> tuple[str, str]:
        """A new token: its id and its secret."""
        answer = requests.post(f"{self.url}/v1/tokens", timeout=5, headers=_bearer(ADMIN_TOKEN),
                               json={"name": f"{role} {uuid.uuid4()}", "role": role,
                                     "department": department})
        assert answer.status_code == 201, answer.text
        return answer.json()["id"], answer.json()["token"]

    def revoke(self, token_id: str) -> None:
        answer = requests.delete(f"{self.url}/v1/tokens/{token_id}", timeout=5,
                                 headers=_bearer(ADMIN_TOKEN))
        assert answer.status_code == 204, answer.text


@dataclass
class Platform:
    goals: GoalsService
    metrics: Served
    notifications: Served


@pytest.fixture
def goals_service(goals_database_url: str, tmp_path: Path) -> Iterator[GoalsService]:
    """The goals service on this test's engine (on PostgreSQL with its token cache on)."""
    config = GoalsConfig.from_env({"OKR_DATA_DIR": str(tmp_path),
                                   "OKR_GOALS_DATABASE_URL": goals_database_url,
                                   "OKR_ADMIN_TOKEN": ADMIN_TOKEN})
    goals = goals_bootstrap(config)
    seed_default_departments(goals.unit_of_work())
    served = GoalsService(goals_app(config, goals))
    yield served
    served.stop()
    revocation_watch(served.url).close()
    goals.close()


@pytest.fixture
def platform(goals_service: GoalsService, sqlite_databases: SqliteDatabases,
             tmp_path: Path) -> Iterator[Platform]:
    """The metrics and notification services (on SQLite) in front of ``goals_service``, each
    built by its own ``create_app`` from its configuration, as in production."""
    environ = {"OKR_DATA_DIR": str(tmp_path), "OKR_GOALS_URL": goals_service.url,
               "OKR_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
               "OKR_METRICS_DATABASE_URL": sqlite_databases.new(
                   "metrics", METRICS_MIGRATIONS, tmp_path),
               "OKR_NOTIFICATIONS_DATABASE_URL": sqlite_databases.new(
                   "notifications", NOTIFICATIONS_MIGRATIONS, tmp_path)}
    metrics = metrics_bootstrap(MetricsConfig.from_env(environ))
    notifications = notifications_bootstrap(NotificationsConfig.from_env(environ))
    served = Platform(goals_service, Served(metrics_app(container=metrics)),
                      Served(notifications_app(container=notifications)))
    yield served
    served.metrics.stop()
    served.notifications.stop()
    metrics.engine.dispose()
    notifications.engine.dispose()


def test_revoked_token_is_refused_by_metrics_and_notifications_within_a_second(
        platform: Platform) -> None:
    token_id, secret = platform.goals.mint("head", "sales")
    reads = {"metrics": f"{platform.metrics.url}/v1/rollups",
             "notifications": f"{platform.notifications.url}/v1/subscriptions"}
    _hear_revocations(platform.goals.url)
    for url in reads.values():
        for _ in range(3):
            answer = requests.get(url, headers=_bearer(secret), timeout=5)
            assert answer.status_code == 200, answer.text
    # remembered: each service asked the goals service for fewer than its 3 requests
    assert platform.goals.asked["/v1/tokens/self"] < 6

    platform.goals.revoke(token_id)
    revoked_at = time.monotonic()
    for service, url in reads.items():
        refused = _wait_for(lambda url=url: requests.get(  # type: ignore[misc]
            url, headers=_bearer(secret), timeout=5).status_code == 401, timeout=5)
        elapsed = refused - revoked_at
        assert elapsed < WITHIN_SECONDS, f"{service} accepted a revoked token for {elapsed:.2f} s"
    time.sleep(max(0.0, revoked_at + WITHIN_SECONDS - time.monotonic()))
    for url in reads.values():
        assert requests.get(url, headers=_bearer(secret), timeout=5).status_code == 401


@pytest.mark.parametrize("goals_database_url", ["sqlite"], indirect=True)
def test_every_gunicorn_worker_refuses_a_revoked_token_within_a_second(
        goals_service: GoalsService, children: Any, tmp_path: Path) -> None:
    """``okr-metrics serve``: two worker processes, each remembering callers on its own."""
    port = free_port()
    server = children([str(Path(sys.executable).with_name("okr-metrics")), "serve",
                       "--workers", "2"],
                      {"OKR_DATA_DIR": str(tmp_path), "OKR_METRICS_PORT": str(port),
                       "OKR_GOALS_URL": goals_service.url, "OKR_LOG_JSON": "false",
                       "OKR_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}"},
                      "metrics-api")
    rollups = f"http://127.0.0.1:{port}/v1/rollups"
    deadline = time.monotonic() + 60
    while not _answers(rollups):
        assert server.alive() and time.monotonic() < deadline, server.output()
        time.sleep(0.1)
    token_id, secret = goals_service.mint("viewer")

    def status() -> int:  # a new connection each time, so either worker may answer
        return requests.get(rollups, timeout=5,
                            headers={**_bearer(secret), "Connection": "close"}).status_code

    assert [status() for _ in range(20)] == [200] * 20
    # remembered: once per worker on a machine that keeps up; fewer asks than requests always
    assert 1 <= goals_service.asked["/v1/tokens/self"] < 20

    goals_service.revoke(token_id)
    revoked_at = time.monotonic()
    refused = _wait_for(lambda: status() == 401, timeout=5)
    assert refused - revoked_at < WITHIN_SECONDS
    # the first refusal came from one worker; a second after the revocation, from all
    time.sleep(max(0.0, revoked_at + WITHIN_SECONDS - time.monotonic()))
    assert [status() for _ in range(20)] == [401] * 20


@pytest.mark.handled_errors("auth_authority_unavailable", "auth_revocation_feed")
def test_remembered_callers_are_not_trusted_once_the_goals_service_is_gone(
        platform: Platform) -> None:
    _, secret = platform.goals.mint("viewer")
    rollups = f"{platform.metrics.url}/v1/rollups"
    _hear_revocations(platform.goals.url)
    for _ in range(3):
        assert requests.get(rollups, headers=_bearer(secret), timeout=5).status_code == 200
    assert platform.goals.asked["/v1/tokens/self"] < 3  # an answer was remembered

    platform.goals.stop()  # neither the feed nor /v1/tokens/self answers now
    gone_at = time.monotonic()
    refused = _wait_for(lambda: requests.get(rollups, headers=_bearer(secret),
                                             timeout=5).status_code == 503, timeout=5)
    assert refused - gone_at < WITHIN_SECONDS + 0.5
    answer = requests.get(rollups, headers=_bearer(secret), timeout=5)
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "5"


@pytest.mark.handled_errors("auth_revocation_feed")
def test_without_the_revocation_feed_every_request_asks_the_goals_service(
        goals_service: GoalsService) -> None:
    token_id, secret = goals_service.mint("viewer")
    deaf = RevocationWatch(f"http://127.0.0.1:{free_port()}/v1/tokens/revocations")
    client = _protected_app(TokenIntrospector(goals_service.url, watch=deaf)).test_client()
    for _ in range(3):
        assert client.get("/v1/whoami", headers=_bearer(secret)).status_code == 200
    assert deaf.failing
    assert goals_service.asked["/v1/tokens/self"] == 3  # nothing remembered was trusted

    goals_service.revoke(token_id)
    assert client.get("/v1/whoami", headers=_bearer(secret)).status_code == 401
    deaf.close()


def test_an_answer_that_raced_a_revocation_is_not_remembered(
        goals_service: GoalsService, monkeypatch: pytest.MonkeyPatch) -> None:
    other_id, _ = goals_service.mint("viewer")
    _, secret = goals_service.mint("viewer")
    introspector = TokenIntrospector(goals_service.url, watch=RevocationWatch(
        f"{goals_service.url}/v1/tokens/revocations", poll_seconds=0.05))
    ask = introspector._ask

    def ask_while_a_token_is_revoked(token: str) -> Any:
        answer = ask(token)  # answered before the revocation below
        epoch = introspector.watch.epoch()
        goals_service.revoke(other_id)
        _wait_for(lambda: introspector.watch.epoch() not in (None, epoch), timeout=5)
        monkeypatch.undo()
        assert introspector.caller_for("another request meanwhile") is None
        return answer

    monkeypatch.setattr(introspector, "_ask", ask_while_a_token_is_revoked)
    assert introspector.caller_for(secret) is not None
    assert goals_service.asked["/v1/tokens/self"] == 2
    assert introspector.caller_for(secret) is not None
    assert goals_service.asked["/v1/tokens/self"] == 3  # the raced answer was not trusted
    assert introspector.caller_for(secret) is not None
    assert goals_service.asked["/v1/tokens/self"] == 3  # the answer after it was
    introspector.watch.close()


def test_the_revocation_feed_changes_with_each_revocation_and_needs_no_token(
        goals_service: GoalsService) -> None:
    feed = f"{goals_service.url}/v1/tokens/revocations"
    before = requests.get(feed, timeout=5)
    assert before.status_code == 200
    assert before.headers["Cache-Control"] == "no-store"
    assert set(before.json()) == {"generation"}  # no token ids, names or hashes
    token_id, _ = goals_service.mint("viewer")
    assert requests.get(feed, timeout=5).json() == before.json()  # minting is no revocation
    goals_service.revoke(token_id)
    after = requests.get(feed, timeout=5).json()
    assert after != before.json()
    goals_service.revoke(token_id)  # revoking again changes nothing that anyone remembers
    assert requests.get(feed, timeout=5).json() == after


def _protected_app(introspector: TokenIntrospector) -> Flask:
    app = Flask("protected")
    install_authentication(app, introspector, service="test")

    @app.get("/v1/whoami")
    def whoami() -> object:
        return {"name": current_caller().name}

    return app


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 401
    except requests.RequestException:
        return False


def _hear_revocations(goals_url: str) -> None:
    """Wait until this process's watch of ``goals_url`` has heard the revocation feed.

    Until then nothing may be remembered; a loaded machine can take longer than the trust
    window for a request's first poll, and a poll starved for that long forgets again, so
    the tests above count answers remembered as "fewer asks than requests", not exactly.
    """
    watch = revocation_watch(goals_url)
    _wait_for(lambda: watch.epoch() is not None, timeout=10)


def _wait_for(condition: Callable[[], bool], timeout: float) -> float:
    """When ``condition`` first held (monotonic clock); fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout} s"
        time.sleep(0.02)
    return time.monotonic()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
