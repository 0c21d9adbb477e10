"""Who a bearer token stands for, remembered per process while it hears revocations.

Every authenticated request looked its token up in the database: a round trip and a query,
about a seventh of what a check-in costs. A process now remembers the principals of the
tokens it has seen, each for at most ``OKR_TOKEN_CACHE_SECONDS``, and trusts what it
remembers only while a thread of its own is ``LISTEN``\\ ing for revocations on a
connection it has proved alive in the last :data:`LIVENESS_SECONDS`.

A revocation commits a ``NOTIFY`` on :data:`CHANNEL` with its transaction (see
``TokenRepository.save``), and every process that hears one forgets every token it
remembers. So a revoked token is refused at once by the process that revoked it, and by
every other as soon as the notification arrives (milliseconds). If a process's listening
connection breaks, the process forgets everything and trusts nothing it remembers until it
listens again; a break nobody reports (a silent network failure) is noticed by the next
probe, so what a process remembers is never trusted for longer than
:data:`LIVENESS_SECONDS` without proof that it would have heard a revocation.

A lookup that raced a revocation cannot put a revoked token back: it remembers its answer
only if no revocation was heard since it began (a generation number).

PostgreSQL only: SQLite has no notifications, and its lookups are local file reads.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

import psycopg
from sqlalchemy import Connection, Engine
from sqlalchemy.engine import make_url

from services.goals.domain.access import Principal
from shared.observability.metrics import HANDLED_ERRORS
from shared.persistence.dialects import is_postgresql, notify_on_commit

log = logging.getLogger(__name__)

CHANNEL = "okr_tokens_revoked"
LISTENER_NAME = "okr-goals-token-revocations"

#: What the process remembers is trusted only this long after its listening connection
#: last proved alive; the listener proves it every :data:`PROBE_SECONDS`.
LIVENESS_SECONDS = 3.0
PROBE_SECONDS = 1.0
#: How long one wait for notifications lasts before the listener checks it was stopped.
WAIT_SECONDS = 0.1

#: At most this many tokens are remembered; the oldest is forgotten first.
MAX_ENTRIES = 10_000

#: The listener stops (and its connection closes) after this long without a lookup; the
#: next lookup starts it again.
IDLE_SECONDS = 30.0


class TokenCache:
    def __init__(self, engine: Engine, service: str, ttl_seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        url = make_url(engine.url).set(drivername="postgresql")
        self._dsn = url.render_as_string(hide_password=False)
        self._service = service
        self._ttl = ttl_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[Principal, float]] = {}
        self._generation = 0
        self._alive_at = float("-inf")
        self._used_at = float("-inf")
        self._pid: int | None = None
        self._stop = threading.Event()

    # -- the request path ---------------------------------------------------------------

    def lookup(self, token_hash: str) -> tuple[Principal | None, int]:
        """The principal remembered for ``token_hash``, if it may be trusted, and the
        generation to hand :meth:`remember` after looking the token up instead."""
        now = self._clock()
        self._used_at = now
        self._ensure_listening()
        with self._lock:
            generation = self._generation
            if now - self._alive_at > LIVENESS_SECONDS:
                return None, generation
            entry = self._entries.get(token_hash)
            if entry is None or entry[1] <= now:
                return None, generation
            return entry[0], generation

    def remember(self, token_hash: str, principal: Principal, generation: int) -> None:
        """Remember a token looked up in the database, unless a revocation was heard since
        the lookup began (``generation``) or the listener cannot vouch for it."""
        now = self._clock()
        with self._lock:
            if generation != self._generation or now - self._alive_at > LIVENESS_SECONDS:
                return
            if len(self._entries) >= MAX_ENTRIES:
                del self._entries[next(iter(self._entries))]
            self._entries[token_hash] = (principal, now + self._ttl)

    def forget_all(self) -> None:
        """A token was revoked (here or, through a notification, anywhere)."""
        with self._lock:
            self._generation += 1
            self._entries.clear()

    @property
    def listening(self) -> bool:
        """Whether what this process remembers may be trusted now."""
        return self._clock() - self._alive_at <= LIVENESS_SECONDS

    def close(self) -> None:
        """Stop listening and trust nothing remembered (the container is going away)."""
        self._stop.set()
        self._heard(alive=False, revoked=True)

    # -- the listener -------------------------------------------------------------------

    def _ensure_listening(self) -> None:
        """Start the listener in this process (lazily: gunicorn forks after the app is made,
        and a thread does not survive a fork)."""
        pid = os.getpid()
        if self._pid == pid:
            return
        with self._lock:
            if self._pid == pid:
                return
            self._pid = pid
            self._entries.clear()
            self._generation += 1
            self._alive_at = float("-inf")
            threading.Thread(target=self._listen, name="okr-token-revocations",
                             daemon=True).start()

    def _listen(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._dsn, autocommit=True, connect_timeout=5,
                                     application_name=LISTENER_NAME) as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    # Anything remembered before this moment may have missed a revocation.
                    self._heard(alive=True, revoked=True)
                    probed = self._clock()
                    while not self._stop.is_set():
                        # short waits, so a closed cache lets its connection go at once
                        for _ in connection.notifies(timeout=WAIT_SECONDS):
                            self._heard(alive=True, revoked=True)
                        if self._clock() - probed < PROBE_SECONDS:
                            continue
                        connection.execute("SELECT 1")
                        probed = self._clock()
                        self._heard(alive=True, revoked=False)
                        if probed - self._used_at > IDLE_SECONDS:
                            self._stop_listening()
                            return
            except psycopg.Error as error:
                self._heard(alive=False, revoked=True)
                if self._stop.is_set():
                    return
                HANDLED_ERRORS.labels(self._service, "token_revocations_listener").inc()
                log.warning("not listening for token revocations (tokens are looked up on "
                            "every request until it listens again): %s", str(error).strip())
                self._stop.wait(PROBE_SECONDS)

    def _stop_listening(self) -> None:
        with self._lock:
            self._pid = None  # the next lookup starts a listener again
            self._alive_at = float("-inf")
            self._generation += 1
            self._entries.clear()

    def _heard(self, *, alive: bool, revoked: bool) -> None:
        with self._lock:
            if revoked:
                self._generation += 1
                self._entries.clear()
            trusted = alive and not self._stop.is_set()
            self._alive_at = self._clock() if trusted else float("-inf")


def notify_revoked(connection: Connection, token_id: str) -> None:
    """Tell every goals process, when this transaction commits, that a token was revoked."""
    notify_on_commit(connection, CHANNEL, token_id)


def token_cache_for(engine: Engine, service: str, ttl_seconds: float) -> TokenCache | None:
    """A token cache for a PostgreSQL database with a positive time to live, else None."""
    if ttl_seconds <= 0 or not is_postgresql(engine):
        return None
    return TokenCache(engine, service, ttl_seconds)
