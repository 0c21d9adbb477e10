"""Fixtures on real parts: a Tansu broker per test, SQLite and PostgreSQL databases."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from services.goals.adapters import tables as goals_tables
from services.goals.bootstrap import Goals, bootstrap
from services.goals.config import GoalsConfig
from services.goals.entrypoints.api.app import create_app
from services.goals.entrypoints.cli import MIGRATIONS as GOALS_MIGRATIONS
from services.goals.service_layer.reference_data import seed_default_departments
from shared.config import KafkaSettings, RelaySettings
from shared.observability.metrics import HANDLED_ERRORS
from tests.support.databases import PostgresDatabases, SqliteDatabases, require_postgres
from tests.support.emitted_events import EmittedEvents
from tests.support.kafka import ExternalBroker, external_bootstrap, reset_external_broker
from tests.support.server_lock import ServerLock
from tools.embedded_broker import EmbeddedBroker

ADMIN_TOKEN = "test-admin-token-0123456789"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "handled_errors(*kinds): okr_handled_errors_total kinds this test expects")


# -- every emitted event matches its schema, and every schema is exercised ------------------

EMITTED = EmittedEvents()


def pytest_sessionstart(session: pytest.Session) -> None:
    EMITTED.install()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    EMITTED.uninstall()
    config = session.config
    worker_output = getattr(config, "workeroutput", None)
    if worker_output is not None:  # a pytest-xdist worker: the controller adds the counts up
        worker_output["emitted_event_types"] = dict(EMITTED.counts)
        return
    whole_suite = (config.args_source is pytest.Config.ArgsSource.TESTPATHS
                   and not config.option.keyword and not config.option.markexpr)
    if not whole_suite or exitstatus != pytest.ExitCode.OK:
        return
    never = EMITTED.never_emitted()
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if never:
        if reporter is not None:
            reporter.write_line(
                "event contract: these event types were never emitted by the suite, so "
                f"nothing checked them against their schemas: {', '.join(never)}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    elif reporter is not None:
        reporter.write_line(f"event contract: {sum(EMITTED.counts.values())} emitted events of "
                            f"all {len(EMITTED.counts)} types matched their schemas")


@pytest.fixture(autouse=True)
def emitted_events_match_their_schemas() -> Iterator[None]:
    """Fail a test during which a service emitted an event that breaks its JSON Schema."""
    mark = len(EMITTED.violations)
    yield
    broken = EMITTED.violations_since(mark)
    assert not broken, "events that break their schema: " + "; ".join(broken)


# -- errors that were swallowed must be expected ---------------------------------------------

def handled_error_counts() -> dict[tuple[str, ...], float]:
    counts: dict[tuple[str, ...], float] = {}
    for metric in HANDLED_ERRORS.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total"):
                counts[(sample.labels["service"], sample.labels["kind"])] = sample.value
    return counts


#: Kinds any test may meet on a loaded machine, each handled by design: a consumer whose
#: poll came later than ``max_poll_interval_ms`` (2 s here, for Tansu's quick joins) is put
#: out of its group and its commit refused; its records come back to whoever owns the
#: partition and the processed-event ledger drops what was applied. The exactly-once tests
#: check that outcome, not this count. A batch that has used half of that interval is cut
#: short (``consumer_batch_cut``) to keep the consumer in its group, and polled again.
TOLERATED_HANDLED_ERRORS = frozenset({"consumer_commit_failed", "consumer_batch_cut"})


@pytest.fixture(autouse=True)
def no_unexpected_handled_errors(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test during which an error was caught and counted that it did not expect."""
    before = handled_error_counts()
    yield
    marker = request.node.get_closest_marker("handled_errors")
    allowed = set(marker.args) if marker else set()
    allowed |= TOLERATED_HANDLED_ERRORS
    after = handled_error_counts()
    unexpected = {key: after[key] - before.get(key, 0) for key in after
                  if after[key] > before.get(key, 0) and key[1] not in allowed}
    assert not unexpected, f"unexpected handled errors: {unexpected}"


# -- Kafka ---------------------------------------------------------------------------------

@pytest.fixture
def broker() -> Iterator[EmbeddedBroker | ExternalBroker]:
    """A fresh Tansu broker on a free port (it starts in milliseconds).

    With ``OKR_TEST_KAFKA_BOOTSTRAP`` set: that external broker, emptied of topics and
    groups; a test that stops or restarts it is skipped (see ``tests/support/kafka.py``).
    """
    external = external_bootstrap()
    if external is not None:
        yield ExternalBroker(external)
        return
    embedded = EmbeddedBroker(free_port()).start()
    yield embedded
    embedded.stop()


@pytest.fixture
def kafka_settings(broker: EmbeddedBroker | ExternalBroker) -> KafkaSettings:
    settings = KafkaSettings(
        bootstrap_servers=broker.bootstrap_servers,
        topic_partitions=3,
        replication_factor=1,
        # Tansu makes a group join wait this long (shared/messaging/broker_quirks.py)
        max_poll_interval_ms=2_000,
        session_timeout_ms=6_000,
        request_timeout_ms=3_000,
    )
    if isinstance(broker, ExternalBroker):
        reset_external_broker(settings)
    return settings


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Under pytest-xdist a report travels to the controller as UTF-8, and the hostile
    values the tests generate (lone surrogates above all) reach the logs a report carries:
    such text is sent with the surrogates escaped, or the worker would die sending it."""
    report = yield
    if hasattr(item.config, "workerinput"):
        report.sections = [(title, _sendable(text)) for title, text in report.sections]
        if report.longrepr is not None and _sendable(str(report.longrepr)) != str(report.longrepr):
            report.longrepr = _sendable(str(report.longrepr))
    return report


def _sendable(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """Under pytest-xdist, each worker saw only its share of the emitted events."""
    EMITTED.counts.update(getattr(node, "workeroutput", {}).get("emitted_event_types", {}))


SERVER_LOCK = ServerLock.of_this_run()


def _on_postgres(node: Any) -> bool:
    """Marked ``postgres`` (the database fixtures' PostgreSQL params are), or given a
    database fixture's ``"postgresql"`` param directly (``parametrize(..., indirect=True)``
    with plain values carries no mark)."""
    if node.get_closest_marker("postgres") is not None:
        return True
    callspec = getattr(node, "callspec", None)
    return callspec is not None and any(
        isinstance(value, str) and value == "postgresql" for value in callspec.params.values())


@pytest.fixture(autouse=True)
def _postgres_server_held(request: pytest.FixtureRequest) -> Iterator[None]:
    """Under pytest-xdist: a test on PostgreSQL shares the server, one that restarts it
    has it alone (tests/support/server_lock.py)."""
    node = request.node
    if SERVER_LOCK is None or not _on_postgres(node):
        yield
    elif node.get_closest_marker("restarts_postgres") is not None:
        with SERVER_LOCK.exclusive():
            yield
    else:
        with SERVER_LOCK.shared():
            yield


# -- databases -----------------------------------------------------------------------------

@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[PostgresDatabases]:
    databases = PostgresDatabases()
    yield databases
    databases.drop_all()


@pytest.fixture(scope="session")
def sqlite_databases(tmp_path_factory: pytest.TempPathFactory) -> SqliteDatabases:
    return SqliteDatabases(tmp_path_factory.mktemp("sqlite-templates"))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def goals_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated goals database of its own, on each engine."""
    if request.param == "sqlite":
        yield request.getfixturevalue("sqlite_databases").new("goals", GOALS_MIGRATIONS, tmp_path)
        return
    require_postgres()
    databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
    url = databases.shared("goals", GOALS_MIGRATIONS)
    databases.reset(url, [table.name for table in goals_tables.metadata.sorted_tables])
    yield url


# -- the goals service -----------------------------------------------------------------------

@pytest.fixture
def relay_settings() -> RelaySettings:
    return RelaySettings(batch_size=500, fallback_poll_seconds=0.5, sqlite_poll_seconds=0.02,
                         retention_hours=24.0, topic_check_seconds=30.0)


@pytest.fixture
def goals_config(goals_database_url: str, kafka_settings: KafkaSettings,
                 relay_settings: RelaySettings) -> GoalsConfig:
    return GoalsConfig(
        database_url=goals_database_url, kafka=kafka_settings, relay=relay_settings,
        admin_token=ADMIN_TOKEN, host="127.0.0.1", port=0, worker_metrics_port=0,
        event_source="/okr/goals", log_level="INFO", log_json=False)


@pytest.fixture
def goals(goals_config: GoalsConfig) -> Iterator[Goals]:
    container = bootstrap(goals_config)
    yield container
    container.close()


@pytest.fixture(scope="session")
def _one_goals_app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    """Building the app (its OpenAPI document above all) takes ~0.2 s: build it once."""
    directory = tmp_path_factory.mktemp("unused-goals-app")
    config = GoalsConfig.from_env({"OKR_DATA_DIR": str(directory)})
    app = create_app(config)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def goals_app(_one_goals_app: Flask, goals: Goals) -> Iterator[Flask]:
    """The goals app serving this test's container (database, broker, admin token)."""
    app = _one_goals_app
    previous = app.extensions["okr.goals"]
    app.extensions["okr.goals"] = goals
    yield app
    app.extensions["okr.goals"] = previous


class ApiClient:
    """A Flask test client that sends a bearer token and JSON."""

    def __init__(self, client: FlaskClient, token: str | None) -> None:
        self.client = client
        self.token = token

    def as_token(self, token: str | None) -> ApiClient:
        return ApiClient(self.client, token)

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = dict(kwargs.pop("headers", {}) or {})
        if self.token is not None:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        return self.client.open(path, method=method, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Any:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.request("DELETE", path, **kwargs)


@pytest.fixture
def api(goals_app: Flask) -> ApiClient:
    """The goals API as the admin."""
    return ApiClient(goals_app.test_client(), ADMIN_TOKEN)


@pytest.fixture(scope="session")
def goals_server(sqlite_databases: SqliteDatabases,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real goals service over HTTP, for the services that authenticate through it.

    Its own SQLite database and no broker: it answers ``/v1/tokens`` (mint tokens for a
    test with :func:`mint_token`) and ``/v1/tokens/self``. Yields its base URL.
    """
    directory = tmp_path_factory.mktemp("goals-server")
    database = sqlite_databases.new("goals", GOALS_MIGRATIONS, directory)
    config = GoalsConfig.from_env({"OKR_DATA_DIR": str(directory),
                                   "OKR_GOALS_DATABASE_URL": database,
                                   "OKR_ADMIN_TOKEN": ADMIN_TOKEN})
    container = bootstrap(config)
    seed_default_departments(container.unit_of_work())
    app = create_app(config, container)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
    container.close()


def mint_token(goals_url: str, role: str, department: str | None = None,
               name: str | None = None) -> str:
    """A new token of the goals service at ``goals_url`` (minted by the admin)."""
    response = requests.post(
        f"{goals_url}/v1/tokens", timeout=10,
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        json={"name": name or f"{role} of {department or 'all'}", "role": role,
              "department": department})
    assert response.status_code == 201, response.text
    secret: str = response.json()["token"]
    return secret


@pytest.fixture
def run_in_background() -> Iterator[Callable[[Callable[[threading.Event], None]], threading.Event]]:
    """Run loops (relay, consumer) in threads; stop and join them after the test."""
    started: list[tuple[threading.Thread, threading.Event]] = []

    def start(loop: Callable[[threading.Event], None]) -> threading.Event:
        stop = threading.Event()
        thread = threading.Thread(target=loop, args=(stop,), daemon=True)
        thread.start()
        started.append((thread, stop))
        return stop

    yield start
    for _, stop in started:
        stop.set()
    for thread, _ in started:
        thread.join(timeout=30)


__all__ = ["ADMIN_TOKEN", "ApiClient", "free_port", "mint_token"]
