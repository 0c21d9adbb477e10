"""Server-side sessions: the cookie carries only a random session id; what the session
holds (the person's API token, who it stands for, the CSRF token, flashed messages) stays
in this console process's memory.

Why in memory: the console keeps no data beyond sessions, and it runs as one gunicorn
process with threads (``okr-console serve``), so one dictionary behind a lock sees every
request. A restart signs everybody out, which costs a sign-in, nothing else. Several
processes or replicas would each see only their own sessions: scaling out needs a shared
store (docs/console.md).

The store is bounded: signed-in sessions and anonymous ones (a visitor who opened the
sign-in form has a CSRF token) are kept apart, each up to ``max_sessions``; when one is
full, expired sessions are dropped, then the oldest, so a flood of anonymous visitors
cannot push out people who signed in. One token holds at most ``max_per_token`` signed-in
sessions: signing in once more with it ends that token's oldest session, so one token
signed in over and over cannot push out anybody else's (the store knows a session's token
only by a keyed hash of it). Each session has a fixed end (``expires_at``),
never extended by use; an expired session is deleted when it is next asked for.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask, Request
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.datastructures import CallbackDict
from werkzeug.wrappers import Response

#: What a session id looks like in the cookie: 32 random bytes, URL-safe base64.
SESSION_ID = re.compile(r"[A-Za-z0-9_-]{43}")


@dataclass
class _Kept:
    data: dict[str, Any]
    expires_at: float
    owner: str | None = None
    """The keyed hash of a signed-in session's token (its data's ``token``)."""


class SessionStore:
    """Sessions by id, bounded, thread-safe. Ids are kept hashed (SHA-256), so the store's
    keys are not cookies one could replay; the sessions of one token are found by an HMAC
    of the token under a key made per store, never by the token."""

    def __init__(self, max_sessions: int, clock: Callable[[], float] = time.time,
                 max_per_token: int = 5) -> None:
        if max_sessions < 1:
            raise ValueError("max_sessions must be at least 1")
        if max_per_token < 1:
            raise ValueError("max_per_token must be at least 1")
        self._max = max_sessions
        self._max_per_token = max_per_token
        self._owner_key = secrets.token_bytes(32)
        #: The signed-in sessions' keys of each token (by its keyed hash), oldest first.
        self._by_owner: dict[str, OrderedDict[str, None]] = {}
        self._clock = clock
        self._lock = threading.Lock()
        self._signed_in: OrderedDict[str, _Kept] = OrderedDict()
        self._anonymous: OrderedDict[str, _Kept] = OrderedDict()

    @staticmethod
    def new_id() -> str:
        return secrets.token_urlsafe(32)

    def load(self, session_id: str) -> tuple[dict[str, Any] | None, bool]:
        """The session's data (a copy), or None; and whether it was there but expired (it
        is then deleted)."""
        key = _key(session_id)
        with self._lock:
            for kept_in in (self._signed_in, self._anonymous):
                kept = kept_in.get(key)
                if kept is None:
                    continue
                if kept.expires_at <= self._clock():
                    self._drop(kept_in, key)
                    return None, True
                return dict(kept.data), False
        return None, False

    def save(self, session_id: str, data: dict[str, Any], expires_at: float,
             signed_in: bool, new: bool = True) -> bool:
        """Keep ``data`` under ``session_id``. With ``new`` false, only if the session is
        still kept: a request that read a session which was deleted meanwhile (signed out
        in another tab, expired, dropped) must not bring it back when it ends. Whether it
        was kept."""
        key = _key(session_id)
        kept_in, other = ((self._signed_in, self._anonymous) if signed_in
                          else (self._anonymous, self._signed_in))
        owner = self._owner(data.get("token")) if signed_in else None
        with self._lock:
            was_other = self._drop(other, key) is not None
            if not new and not was_other and key not in kept_in:
                return False
            if key in kept_in:
                self._forget_owner(key, kept_in[key].owner)
            elif len(kept_in) >= self._max:
                self._make_room(kept_in)
            if owner is not None:
                same_token = self._by_owner.setdefault(owner, OrderedDict())
                while len(same_token) >= self._max_per_token:  # that token's oldest ends
                    oldest = next(iter(same_token))
                    self._drop(self._signed_in, oldest)
                    same_token.pop(oldest, None)
                self._by_owner.setdefault(owner, OrderedDict())[key] = None
            kept_in[key] = _Kept(dict(data), expires_at, owner)
            return True

    def delete(self, session_id: str) -> None:
        key = _key(session_id)
        with self._lock:
            self._drop(self._signed_in, key)
            self._drop(self._anonymous, key)

    def __contains__(self, session_id: object) -> bool:
        if not isinstance(session_id, str):
            return False
        key = _key(session_id)
        with self._lock:
            return key in self._signed_in or key in self._anonymous

    def counts(self) -> tuple[int, int]:
        """How many sessions are kept: (signed in, anonymous), expired ones included."""
        with self._lock:
            return len(self._signed_in), len(self._anonymous)

    def _make_room(self, kept_in: OrderedDict[str, _Kept]) -> None:
        """Drop expired sessions from the oldest end, then the oldest: sessions of a kind
        are kept in the order they were made, and each kind lives a fixed time, so the
        expired ones are at that end (and any other is deleted when next asked for)."""
        now = self._clock()
        while kept_in and next(iter(kept_in.values())).expires_at <= now:
            self._drop(kept_in, next(iter(kept_in)))
        while len(kept_in) >= self._max:
            self._drop(kept_in, next(iter(kept_in)))

    def _drop(self, kept_in: OrderedDict[str, _Kept], key: str) -> _Kept | None:
        """Remove a session, and it from its token's (the lock is held)."""
        kept = kept_in.pop(key, None)
        if kept is not None:
            self._forget_owner(key, kept.owner)
        return kept

    def _forget_owner(self, key: str, owner: str | None) -> None:
        if owner is None:
            return
        same_token = self._by_owner.get(owner)
        if same_token is not None:
            same_token.pop(key, None)
            if not same_token:
                del self._by_owner[owner]

    def _owner(self, token: object) -> str | None:
        if not isinstance(token, str) or not token:
            return None
        return hmac.new(self._owner_key, token.encode("utf-8", "replace"),
                        hashlib.sha256).hexdigest()


def _key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8", "replace")).hexdigest()


class ServerSession(CallbackDict[str, Any], SessionMixin):
    """A request's view of its session; changes are saved at the end of the request."""

    def __init__(self, data: dict[str, Any] | None = None, session_id: str | None = None,
                 ended: bool = False, expired: bool = False) -> None:
        def on_update(_: Any) -> None:
            self.modified = True

        super().__init__(data or {}, on_update)
        self.session_id = session_id
        self.ended = ended
        """The cookie named a session that is no longer kept (expired or signed out)."""
        self.expired = expired
        """... because it had reached its end."""
        self.modified = False
        self.renew = False

    def renew_id(self) -> None:
        """Give the session a new id when it is saved (at sign-in: no session fixation)."""
        self.renew = True
        self.modified = True


class ServerSideSessions(SessionInterface):
    """Flask's session, kept in a :class:`SessionStore`; the cookie holds only its id.

    A signed-in session (one holding ``token``) ends ``lifetime_seconds`` after
    ``signed_in_at``; an anonymous one ``anonymous_seconds`` after it was made. The cookie
    is ``HttpOnly``, ``SameSite`` as the app says, and ``Secure`` when the app says so or
    the request came over HTTPS.
    """

    def __init__(self, store: SessionStore, lifetime_seconds: float,
                 anonymous_seconds: float) -> None:
        self.store = store
        self.lifetime_seconds = lifetime_seconds
        self.anonymous_seconds = anonymous_seconds

    def open_session(self, app: Flask, request: Request) -> ServerSession:
        sent = request.cookies.get(self.get_cookie_name(app), "")
        if not SESSION_ID.fullmatch(sent):
            return ServerSession(ended=bool(sent))
        data, expired = self.store.load(sent)
        if data is None:
            return ServerSession(ended=True, expired=expired)
        return ServerSession(data, session_id=sent)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        assert isinstance(session, ServerSession)
        name = self.get_cookie_name(app)
        domain, path = self.get_cookie_domain(app), self.get_cookie_path(app)
        if not session:
            if session.session_id is not None:
                self.store.delete(session.session_id)
            if session.session_id is not None or session.ended:
                response.delete_cookie(name, domain=domain, path=path,
                                       secure=self._secure(app),
                                       httponly=self.get_cookie_httponly(app),
                                       samesite=self.get_cookie_samesite(app))
            return
        if not session.modified:
            return
        old_id = session.session_id
        new_cookie = old_id is None or session.renew
        session_id = self.store.new_id() if new_cookie else old_id
        assert session_id is not None
        if old_id is not None and old_id != session_id:
            self.store.delete(old_id)
        data = dict(session)
        signed_in = bool(data.get("token"))
        if signed_in:
            expires_at = float(data.get("signed_in_at", time.time())) + self.lifetime_seconds
        else:
            data.setdefault("made_at", time.time())
            expires_at = float(data["made_at"]) + self.anonymous_seconds
        if not self.store.save(session_id, data, expires_at, signed_in, new=new_cookie):
            return  # deleted while this request ran (signed out meanwhile): stays deleted
        if new_cookie:
            response.set_cookie(name, session_id, domain=domain, path=path,
                                expires=int(expires_at) if signed_in else None,
                                secure=self._secure(app),
                                httponly=self.get_cookie_httponly(app),
                                samesite=self.get_cookie_samesite(app))
        response.vary.add("Cookie")

    def _secure(self, app: Flask) -> bool:
        from flask import request
        return bool(app.config["SESSION_COOKIE_SECURE"]) or (bool(request) and request.is_secure)

