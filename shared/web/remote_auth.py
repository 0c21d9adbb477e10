"""Bearer authentication for the services that do not own the tokens (metrics, notifications).

Tokens live in the goals service (stored hashed there). Another service authenticates a
request by asking the goals service who the caller's own token belongs to
(``GET /v1/tokens/self`` with that token), and remembers the answer by the token's SHA-256
for ``ttl_seconds`` (``OKR_AUTH_CACHE_SECONDS``, default 30 s), since these services answer
at a rate the goals service should not have to follow.

A remembered answer is trusted only while the process knows that no token was revoked since
it was remembered. One daemon thread per process (:class:`RevocationWatch`, started by the
first request, so after gunicorn forks its workers) polls the goals service's revocation feed
(``GET /v1/tokens/revocations``, a generation that changes with every revocation) every
:data:`POLL_SECONDS`. When the generation changes, every answer remembered before is
forgotten. When the last poll that succeeded began more than :data:`TRUST_SECONDS` ago (the
feed is slow, down or refuses), nothing remembered is trusted: every request asks the goals
service. So a revoked token is refused within :data:`TRUST_SECONDS` of the revocation,
whatever fails, by every process that the goals service itself tells it is revoked (its
own processes hear revocations at once: ``services/goals/adapters/token_cache.py``).

Unknown tokens are remembered for at most 5 s whatever the feed says (a revocation cannot
make one valid), so a typo does not hammer the goals service.

When the goals service cannot be asked, requests get ``503`` with ``Retry-After``: the
services never guess who a caller is.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

import requests
from flask import Flask, Response, g, request

from shared.config import AuthSettings
from shared.identity import Caller  # defined there, still importable from here
from shared.observability.metrics import HANDLED_ERRORS
from shared.web.problems import problem

log = logging.getLogger(__name__)

NEGATIVE_TTL_SECONDS = 5.0


class AuthorityUnavailable(Exception):
    """The goals service could not be asked who a token belongs to."""


#: How often each process asks the goals service whether tokens were revoked.
POLL_SECONDS = 0.25
#: What a process remembers is trusted only while a poll that began this recently succeeded.
TRUST_SECONDS = 1.0
#: A watch that no request consulted for this long stops polling; the next request starts it.
IDLE_SECONDS = 30.0
REVOCATIONS_PATH = "/v1/tokens/revocations"


class RevocationWatch:
    """Whether tokens were revoked, as the goals service's revocation feed tells.

    :meth:`epoch` is a number that changes whenever the feed's generation changes (and
    whenever the watch starts anew), or None while nothing remembered may be trusted: the
    last poll that succeeded began more than ``trust_seconds`` ago, so a revocation
    committed since may not have been seen. An answer remembered under one epoch may be
    trusted while :meth:`epoch` returns that same number.

    The polling thread is a daemon started by the first :meth:`epoch` of each process
    (never at import, never before gunicorn forks: the arbiter serves no requests), and it
    stops after ``idle_seconds`` without one. It never counts errors itself: a request that
    finds :attr:`failing` true does (:func:`install_authentication`).
    """

    def __init__(self, feed_url: str, poll_seconds: float = POLL_SECONDS,
                 trust_seconds: float = TRUST_SECONDS, idle_seconds: float = IDLE_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.feed_url = feed_url
        self.poll_seconds = poll_seconds
        self.trust_seconds = trust_seconds
        self.idle_seconds = idle_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._epoch = 0
        self._generation: int | None = None
        self._confirmed_at = float("-inf")  # when the last poll that succeeded began
        self._used_at = float("-inf")
        self._failing = False
        self._pid: int | None = None  # the process whose thread polls; None when none does
        self._stop = threading.Event()

    def epoch(self) -> int | None:
        """The current epoch, or None if what was remembered may not be trusted now."""
        self._used_at = self._clock()
        self._ensure_polling()
        with self._lock:
            trusted = self._clock() - self._confirmed_at <= self.trust_seconds
            return self._epoch if trusted else None

    @property
    def failing(self) -> bool:
        """Whether the last poll failed (so this process asks the goals service per request)."""
        return self._failing

    def close(self) -> None:
        """Stop polling and trust nothing remembered; the next :meth:`epoch` starts again."""
        with self._lock:
            self._stop.set()
            self._pid = None
            self._confirmed_at = float("-inf")

    def _ensure_polling(self) -> None:
        """Start this process's polling thread, unless it runs; the request that starts it
        waits for its first answer (at most ``trust_seconds``), so it may remember."""
        pid = os.getpid()
        if self._pid == pid:
            return
        with self._lock:
            if self._pid == pid:
                return
            self._pid = pid
            # Whatever was remembered before this moment may have missed a revocation.
            self._epoch += 1
            self._generation = None
            self._confirmed_at = float("-inf")
            self._failing = False
            self._stop = stop = threading.Event()
            first_poll = threading.Event()
            threading.Thread(target=self._poll, args=(stop, first_poll),
                             name="okr-auth-revocations", daemon=True).start()
        first_poll.wait(self.trust_seconds)

    def _poll(self, stop: threading.Event, first_poll: threading.Event) -> None:
        with requests.Session() as session:
            while not stop.is_set():
                began = self._clock()
                try:
                    generation = self._ask(session)
                except Exception as error:  # any failure: remembered answers go untrusted
                    self._failed(error)
                else:
                    self._heard(generation, began, stop)
                first_poll.set()
                if began - self._used_at > self.idle_seconds:
                    self._stand_down(stop)
                    return
                stop.wait(max(0.0, self.poll_seconds - (self._clock() - began)))

    def _ask(self, session: requests.Session) -> int:
        # A poll slower than trust_seconds could not vouch for anything anyway.
        response = session.get(self.feed_url, timeout=self.trust_seconds)
        response.raise_for_status()
        generation = response.json()["generation"]
        if not isinstance(generation, int) or isinstance(generation, bool):
            raise TypeError(f"the revocation feed answered {generation!r}")
        return generation

    def _heard(self, generation: int, began: float, stop: threading.Event) -> None:
        with self._lock:
            if stop.is_set():  # closed while this poll was on its way
                return
            if generation != self._generation:
                self._generation = generation
                self._epoch += 1
            self._confirmed_at = began
            if self._failing:
                log.info("hearing token revocations from %s again", self.feed_url)
            self._failing = False

    def _failed(self, error: Exception) -> None:
        if not self._failing:
            log.warning("cannot hear token revocations from %s (asking the goals service on "
                        "every request until it answers again): %s", self.feed_url, error)
        self._failing = True

    def _stand_down(self, stop: threading.Event) -> None:
        with self._lock:
            if self._stop is stop:
                self._pid = None
                self._confirmed_at = float("-inf")


_WATCHES: dict[str, RevocationWatch] = {}
_WATCHES_LOCK = threading.Lock()


def revocation_watch(goals_url: str) -> RevocationWatch:
    """The process's one watch of the goals service at ``goals_url``."""
    feed_url = goals_url.rstrip("/") + REVOCATIONS_PATH
    with _WATCHES_LOCK:
        return _WATCHES.setdefault(feed_url, RevocationWatch(feed_url))


class TokenIntrospector:
    """Asks the goals service who a bearer token belongs to; remembers answers for a while,
    trusting them only while ``watch`` (by default the process's watch of that goals
    service) has heard of no revocation since."""

    def __init__(self, goals_url: str, ttl_seconds: float = 30.0, timeout: float = 2.0,
                 max_entries: int = 10_000, watch: RevocationWatch | None = None) -> None:
        self.url = goals_url.rstrip("/") + "/v1/tokens/self"
        self.ttl_seconds = ttl_seconds
        self.timeout = timeout
        self.max_entries = max_entries
        self.watch = watch or revocation_watch(goals_url)
        self._cache: OrderedDict[str, tuple[float, Caller | None]] = OrderedDict()
        self._cache_epoch: int | None = None  # the epoch every remembered caller is of
        self._lock = threading.Lock()
        self._session = requests.Session()

    @classmethod
    def from_settings(cls, settings: AuthSettings) -> TokenIntrospector:
        return cls(settings.goals_url, ttl_seconds=settings.cache_seconds)

    def caller_for(self, token: str) -> Caller | None:
        """The caller a token belongs to; None for an unknown or revoked token.

        Raises :class:`AuthorityUnavailable` when the goals service cannot answer.
        """
        key = hashlib.sha256(token.encode()).hexdigest()
        now = time.monotonic()
        epoch = self.watch.epoch() if self.ttl_seconds > 0 else None
        with self._lock:
            if epoch is not None and epoch != self._cache_epoch:  # tokens were revoked
                self._cache.clear()
                self._cache_epoch = epoch
            cached = self._cache.get(key)
            # an unknown token stays unknown whatever is revoked; a caller is trusted
            # only while no revocation can have been missed
            if cached is not None and cached[0] > now and (cached[1] is None
                                                           or epoch is not None):
                return cached[1]
        caller = self._ask(token)
        ttl = self.ttl_seconds if caller is not None else min(self.ttl_seconds,
                                                              NEGATIVE_TTL_SECONDS)
        with self._lock:
            # asked under an epoch that has passed: the answer may predate a revocation
            if caller is not None and (epoch is None or epoch != self._cache_epoch):
                return caller
            self._cache[key] = (now + ttl, caller)
            self._cache.move_to_end(key)
            while len(self._cache) > self.max_entries:
                self._cache.popitem(last=False)
        return caller

    @property
    def revocations_unheard(self) -> bool:
        """Whether answers cannot be remembered now because the revocation feed fails."""
        return self.ttl_seconds > 0 and self.watch.failing

    def forget(self) -> None:
        """Drop every cached answer (after an operator revoked tokens in bulk, in tests)."""
        with self._lock:
            self._cache.clear()

    def _ask(self, token: str) -> Caller | None:
        try:
            response = self._session.get(self.url, timeout=self.timeout,
                                         headers={"Authorization": f"Bearer {token}"})
        except requests.RequestException as error:
            raise AuthorityUnavailable(f"cannot reach the goals service: {error}") from error
        if response.status_code == 401:
            return None
        if response.status_code != 200:
            raise AuthorityUnavailable(
                f"the goals service answered {response.status_code} to {self.url}")
        try:
            body = response.json()
            return Caller(name=str(body["name"]), role=str(body["role"]),
                          department=body.get("department"),
                          token_id=_optional_text(body.get("token_id")))
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise AuthorityUnavailable(
                f"the goals service's answer to {self.url} is not a caller: {error!r}") from None


def _optional_text(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"token_id is not text: {value!r}")
    return value


def install_authentication(app: Flask, introspector: TokenIntrospector, service: str,
                           prefix: str = "/v1/") -> None:
    """Every request under ``prefix`` needs ``Authorization: Bearer <token>`` of a live token.

    401 (problem) without one, 503 (problem, ``Retry-After``) if the goals service cannot
    be asked; otherwise :func:`current_caller` returns the caller for the request.
    """

    @app.before_request
    def _authenticate() -> Response | None:
        if not request.path.startswith(prefix):
            return None
        scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            return _unauthorised("send 'Authorization: Bearer <token>'")
        try:
            caller = introspector.caller_for(secret.strip())
            if introspector.revocations_unheard:
                HANDLED_ERRORS.labels(service, "auth_revocation_feed").inc()
        except AuthorityUnavailable as error:
            HANDLED_ERRORS.labels(service, "auth_authority_unavailable").inc()
            response = problem(503, f"cannot authenticate now: {error}")
            response.headers["Retry-After"] = "5"
            return response
        if caller is None:
            return _unauthorised("the token is unknown or revoked")
        g.caller = caller
        return None


def current_caller() -> Caller:
    """The authenticated caller of the current request."""
    caller: Caller = g.caller
    return caller


def _unauthorised(detail: str) -> Response:
    response = problem(401, detail)
    response.headers["WWW-Authenticate"] = 'Bearer realm="okr"'
    return response
