"""Bearer authentication for the services that do not own the tokens (metrics, notifications).

Tokens live in the goals service (stored hashed there). Another service authenticates a
request by asking the goals service who the caller's own token belongs to
(``GET /v1/tokens/self`` with that token), and caches the answer by the token's SHA-256 for
``ttl_seconds``. So a revoked token stops working in the goals service at once and in the
other services within the TTL (``OKR_AUTH_CACHE_SECONDS``, default 30 s); unknown tokens
are remembered for at most 5 s, so a typo does not hammer the goals service.

When the goals service cannot be asked, requests get ``503`` with ``Retry-After``: the
services never guess who a caller is.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

import requests
from flask import Flask, Response, g, request

from shared.config import AuthSettings
from shared.observability.metrics import HANDLED_ERRORS
from shared.web.problems import problem

NEGATIVE_TTL_SECONDS = 5.0


@dataclass(frozen=True)
class Caller:
    """Who sent a request, as the goals service knows the token."""

    name: str
    role: str  # "admin" | "head" | "viewer"
    department: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def may_write_for(self, department: str | None) -> bool:
        """Admins write anything; heads only what belongs to their own department."""
        if self.is_admin:
            return True
        return self.role == "head" and department is not None and department == self.department


class AuthorityUnavailable(Exception):
    """The goals service could not be asked who a token belongs to."""


class TokenIntrospector:
    """Asks the goals service who a bearer token belongs to; caches answers for a while."""

    def __init__(self, goals_url: str, ttl_seconds: float = 30.0, timeout: float = 2.0,
                 max_entries: int = 10_000) -> None:
        self.url = goals_url.rstrip("/") + "/v1/tokens/self"
        self.ttl_seconds = ttl_seconds
        self.timeout = timeout
        self.max_entries = max_entries
        self._cache: OrderedDict[str, tuple[float, Caller | None]] = OrderedDict()
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
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None and cached[0] > now:
                return cached[1]
        caller = self._ask(token)
        ttl = self.ttl_seconds if caller is not None else min(self.ttl_seconds,
                                                              NEGATIVE_TTL_SECONDS)
        with self._lock:
            self._cache[key] = (now + ttl, caller)
            self._cache.move_to_end(key)
            while len(self._cache) > self.max_entries:
                self._cache.popitem(last=False)
        return caller

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
        body = response.json()
        return Caller(name=body["name"], role=body["role"], department=body.get("department"))


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
