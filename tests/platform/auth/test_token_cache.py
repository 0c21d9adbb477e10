"""Goals processes remember who tokens stand for, and forget it as soon as one is revoked.

Real PostgreSQL: each container here is what one goals process holds (its own engine, its
own cache and listener); revocations travel between them as NOTIFYs, as between gunicorn
workers and replicas.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import psycopg
import pytest
from sqlalchemy import event, update
from sqlalchemy.engine import make_url

from services.goals.adapters import tables
from services.goals.adapters.token_cache import LISTENER_NAME, TokenCache
from services.goals.bootstrap import Goals, bootstrap
from services.goals.config import GoalsConfig
from services.goals.domain.access import Principal, Role, hash_token
from services.goals.entrypoints.api.app import create_app
from services.goals.service_layer import tokens
from tests.conftest import ADMIN_TOKEN, ApiClient

pytestmark = [pytest.mark.postgres,
              pytest.mark.parametrize("goals_database_url", ["postgresql"], indirect=True)]

ADMIN = Principal(name="test admin", role=Role.ADMIN)


@pytest.fixture
def other_process(goals_config: GoalsConfig) -> Iterator[Goals]:
    """A second goals process on the same database: its own engine, cache and listener."""
    container = bootstrap(goals_config)
    yield container
    container.close()


def _cache(goals: Goals) -> TokenCache:
    assert goals.token_cache is not None, "PostgreSQL goals processes remember tokens"
    return goals.token_cache


def _mint(goals: Goals, role: Role = Role.VIEWER) -> tuple[str, str]:
    token, secret = tokens.mint_token(goals.unit_of_work(), ADMIN, "dashboard", role, None)
    return token.id, secret


def _authenticate(goals: Goals, secret: str) -> Principal | None:
    return tokens.authenticate(goals.reading(), secret, None, goals.token_cache)


def _until(condition: Callable[[], bool], what: str, seconds: float = 10.0) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < seconds, f"not {what} within {seconds} s"
        time.sleep(0.01)
    return time.monotonic() - started


def _remembered(goals: Goals, secret: str) -> None:
    """Authenticate until the process listens for revocations and remembers the token."""
    assert _authenticate(goals, secret) is not None  # starts the listener
    _until(lambda: _cache(goals).listening, "listening for revocations")
    assert _authenticate(goals, secret) is not None  # looked up, now remembered


class TokenLookups:
    """Counts the statements a process sends to the token table."""

    def __init__(self, goals: Goals) -> None:
        self.count = 0
        event.listen(goals.engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: object, _cursor: object, statement: str, *_: object) -> None:
        if "FROM api_tokens" in statement:
            self.count += 1


def test_a_token_seen_lately_is_not_looked_up_again(goals: Goals) -> None:
    _, secret = _mint(goals)
    _remembered(goals, secret)
    lookups = TokenLookups(goals)
    for _ in range(20):
        who = _authenticate(goals, secret)
        assert who is not None and who.role is Role.VIEWER
    assert lookups.count == 0
    assert _authenticate(goals, "okr_not-a-token") is None
    assert _authenticate(goals, "okr_not-a-token") is None
    assert lookups.count == 2, "unknown tokens are looked up every time, never remembered"


def test_a_revocation_by_another_process_is_heard_at_once(goals: Goals,
                                                          other_process: Goals) -> None:
    token_id, secret = _mint(goals)
    _remembered(other_process, secret)
    lookups = TokenLookups(other_process)
    assert _authenticate(other_process, secret) is not None
    assert lookups.count == 0, "the other process answers from what it remembers"

    tokens.revoke_token(goals.unit_of_work(), ADMIN, token_id)  # as `okr-goals revoke-token`
    waited = _until(lambda: _authenticate(other_process, secret) is None,
                    "refused by the other process", seconds=5.0)
    print(f"the other process refused the revoked token {waited * 1000:.0f} ms after it was "
          "revoked")
    assert _authenticate(other_process, secret) is None


def test_the_process_that_revokes_refuses_the_token_at_once(goals: Goals) -> None:
    app = create_app(goals.config, goals)
    admin = ApiClient(app.test_client(), ADMIN_TOKEN)
    minted = admin.post("/v1/tokens", json={"name": "crm", "role": "viewer"}).get_json()
    viewer = admin.as_token(minted["token"])
    assert viewer.get("/v1/departments").status_code == 200
    _until(lambda: _cache(goals).listening, "listening for revocations")
    lookups = TokenLookups(goals)
    assert viewer.get("/v1/departments").status_code == 200
    assert viewer.get("/v1/departments").status_code == 200
    assert lookups.count == 1, "remembered after one lookup"

    assert admin.delete(f"/v1/tokens/{minted['id']}").status_code == 204
    assert viewer.get("/v1/departments").status_code == 401  # no wait for the notification


def test_a_lookup_that_raced_a_revocation_is_not_remembered(goals: Goals) -> None:
    _, secret = _mint(goals)
    _remembered(goals, secret)
    cache = _cache(goals)
    token_hash = hash_token(secret)
    who = Principal(name="someone", role=Role.VIEWER)
    assert cache.lookup(token_hash)[0] is not None

    _, generation = cache.lookup(hash_token("okr_other"))  # a lookup begins ...
    cache.forget_all()                                     # ... a revocation is heard ...
    cache.remember(hash_token("okr_other"), who, generation)  # ... its answer arrives
    assert cache.lookup(hash_token("okr_other"))[0] is None
    assert cache.lookup(token_hash)[0] is None, "a revocation forgets every token"

    _, generation = cache.lookup(hash_token("okr_other"))
    cache.remember(hash_token("okr_other"), who, generation)
    assert cache.lookup(hash_token("okr_other"))[0] == who


@pytest.mark.handled_errors("token_revocations_listener")
def test_nothing_remembered_is_trusted_while_the_process_cannot_hear_revocations(
        goals: Goals) -> None:
    token_id, secret = _mint(goals)
    _remembered(goals, secret)
    url = make_url(goals.engine.url).set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False), autocommit=True) as admin:
        cut = admin.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                            "WHERE application_name = %s AND datname = current_database()",
                            (LISTENER_NAME,)).fetchone()
    assert cut is not None and cut[0] >= 1  # (listeners of closed containers may linger 1 s)
    _until(lambda: not _cache(goals).listening, "noticed the cut")

    # A revocation nobody can hear (no NOTIFY): the process must look the token up.
    with goals.engine.begin() as connection:
        connection.execute(update(tables.api_tokens).where(tables.api_tokens.c.id == token_id)
                           .values(revoked_at=tables.api_tokens.c.created_at))
    assert _authenticate(goals, secret) is None

    # Listening again, it remembers tokens again.
    _, fresh = _mint(goals)
    _until(lambda: _cache(goals).listening, "listening again")
    assert _authenticate(goals, fresh) is not None
    lookups = TokenLookups(goals)
    assert _authenticate(goals, fresh) is not None
    assert lookups.count == 0
