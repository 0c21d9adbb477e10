"""The console's server-side session store: fixed ends, a bound, and signed-in sessions
that a flood of anonymous visitors cannot push out (no I/O; a settable clock)."""

from __future__ import annotations

import time

import pytest
from flask import Flask, request

from services.console.adapters.sessions import SESSION_ID, ServerSideSessions, SessionStore


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_session_is_read_back_until_its_end_then_deleted() -> None:
    clock = Clock()
    store = SessionStore(10, clock)
    session_id = store.new_id()
    store.save(session_id, {"token": "secret"}, expires_at=clock.now + 60, signed_in=True)
    assert store.load(session_id) == ({"token": "secret"}, False)
    clock.now += 60
    assert store.load(session_id) == (None, True)  # expired: said once ...
    assert store.load(session_id) == (None, False)  # ... and gone
    assert store.counts() == (0, 0)


def test_a_deleted_session_is_not_read_back() -> None:
    clock = Clock()
    store = SessionStore(10, clock)
    session_id = store.new_id()
    store.save(session_id, {"token": "secret"}, clock.now + 60, signed_in=True)
    store.delete(session_id)
    assert session_id not in store
    assert store.load(session_id) == (None, False)


def test_the_store_keeps_ids_hashed_and_data_copied() -> None:
    store = SessionStore(10)
    session_id = store.new_id()
    assert SESSION_ID.fullmatch(session_id)
    data = {"token": "secret"}
    store.save(session_id, data, 2e9, signed_in=True)
    data["token"] = "changed outside"
    loaded, _ = store.load(session_id)
    assert loaded == {"token": "secret"}
    assert session_id not in repr(vars(store))


def test_a_full_store_drops_expired_sessions_first_then_the_oldest() -> None:
    clock = Clock()
    store = SessionStore(3, clock)
    ids = [store.new_id() for _ in range(5)]
    store.save(ids[0], {"n": 0}, clock.now + 10, signed_in=True)
    store.save(ids[1], {"n": 1}, clock.now + 1000, signed_in=True)
    store.save(ids[2], {"n": 2}, clock.now + 1000, signed_in=True)
    clock.now += 20  # ids[0] has expired
    store.save(ids[3], {"n": 3}, clock.now + 1000, signed_in=True)
    assert store.counts() == (3, 0)
    assert ids[1] in store and ids[2] in store and ids[3] in store
    store.save(ids[4], {"n": 4}, clock.now + 1000, signed_in=True)
    assert store.counts() == (3, 0)
    assert ids[1] not in store  # the oldest
    assert all(session_id in store for session_id in ids[2:])


def test_anonymous_visitors_cannot_push_out_signed_in_sessions() -> None:
    store = SessionStore(5)
    signed_in = [store.new_id() for _ in range(5)]
    for session_id in signed_in:
        store.save(session_id, {"token": "t"}, 2e9, signed_in=True)
    for _ in range(1000):
        store.save(store.new_id(), {"csrf_token": "c"}, 2e9, signed_in=False)
    assert store.counts() == (5, 5)
    assert all(session_id in store for session_id in signed_in)


def test_signing_in_moves_a_session_out_of_the_anonymous_ones() -> None:
    store = SessionStore(5)
    session_id = store.new_id()
    store.save(session_id, {"csrf_token": "c"}, 2e9, signed_in=False)
    store.save(session_id, {"token": "t"}, 2e9, signed_in=True)
    assert store.counts() == (1, 0)


def test_a_store_holds_at_least_one_session() -> None:
    with pytest.raises(ValueError):
        SessionStore(0)


def test_a_request_that_read_a_session_does_not_bring_it_back_after_sign_out() -> None:
    """Two requests with one cookie: one signs out while the other is still running; when
    the other ends and saves what it changed, the session stays deleted."""
    store = SessionStore(10)
    app = Flask(__name__)
    app.session_interface = ServerSideSessions(store, 3600, 600)
    session_id = store.new_id()
    store.save(session_id, {"token": "secret", "signed_in_at": time.time()}, 2e9,
               signed_in=True)
    with app.test_request_context(headers={"Cookie": f"okr_console={session_id}"}):
        app.config["SESSION_COOKIE_NAME"] = "okr_console"
        running = app.session_interface.open_session(app, request)
        assert running is not None and running["token"] == "secret"
        store.delete(session_id)  # the other request: sign-out
        running["_flashes"] = [("ok", "Checked in.")]
        response = app.response_class()
        app.session_interface.save_session(app, running, response)
    assert session_id not in store
    assert store.counts() == (0, 0)
    assert "Set-Cookie" not in response.headers


def test_one_token_signed_in_over_and_over_ends_only_its_own_oldest_sessions() -> None:
    """A token holder signing in again and again (a script) fills no more than
    ``max_per_token`` places: their own oldest session ends, nobody else's."""
    store = SessionStore(10, max_per_token=3)
    others = {token: store.new_id() for token in ("head", "admin")}
    for token, session_id in others.items():
        store.save(session_id, {"token": token}, 2e9, signed_in=True)
    flood = [store.new_id() for _ in range(100)]
    for session_id in flood:
        store.save(session_id, {"token": "viewer"}, 2e9, signed_in=True)
    assert all(session_id in store for session_id in others.values())
    assert [session_id in store for session_id in flood[-4:]] == [False, True, True, True]
    assert store.counts() == (2 + 3, 0)


def test_a_session_of_a_token_that_ended_frees_its_place_for_that_token() -> None:
    clock = Clock()
    store = SessionStore(10, clock, max_per_token=2)
    first, second, third = (store.new_id() for _ in range(3))
    store.save(first, {"token": "t"}, clock.now + 10, signed_in=True)
    store.save(second, {"token": "t"}, clock.now + 1000, signed_in=True)
    store.delete(first)  # signed out
    store.save(third, {"token": "t"}, clock.now + 1000, signed_in=True)
    assert second in store and third in store  # the signed-out one made the room
    store.save(second, {"token": "t", "_flashes": []}, clock.now + 1000, signed_in=True,
               new=False)  # saved again after a request: still one place, not two
    assert second in store and third in store
    assert store.counts() == (2, 0)


def test_a_store_holds_at_least_one_session_per_token() -> None:
    with pytest.raises(ValueError):
        SessionStore(10, max_per_token=0)
