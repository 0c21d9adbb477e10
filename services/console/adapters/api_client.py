"""The console's only way to the platform: the goals and metrics public HTTP APIs, called
with the signed-in person's own bearer token.

Every answer is JSON or a problem document (RFC 9457). A 401 means the token is no longer
good (revoked, or never was): :class:`SignedOut`, which ends the console's session. Any
other refusal (4xx) is :class:`Refused`, carrying the API's own words (``detail``, and
the ``errors`` of a validation failure) for the page to show. The token never appears in
an exception's text, a URL or a log line.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

#: The APIs' largest page (docs/api.md#pagination).
MAX_PAGE_SIZE = 100
#: What a bearer token can be: an HTTP header carries visible ASCII only.
VISIBLE_ASCII = re.compile(r"[\x21-\x7e]{1,512}")


class SignedOut(Exception):
    """The API refused the token (401): the person must sign in again."""


class Unavailable(Exception):
    """The API could not be reached or failed (5xx, timeout); ``service`` says which."""

    def __init__(self, service: str, what: str) -> None:
        super().__init__(what)
        self.service = service


class CoolOff:
    """The APIs that did not answer in time lately, in this process, so that a hung service
    holds one wave of requests for the timeout, not every thread of the console for as long
    as it hangs:

    * one that timed out is not asked again for ``seconds``;
    * while a call to it has waited more than ``suspect_after`` seconds without an answer,
      it is not asked either (the requests that come meanwhile would each wait the whole
      timeout, and together take every thread, ``/healthz``'s too).

    Either way the call is :class:`Unavailable` at once. A refused connection is quick
    anyway and is not remembered."""

    def __init__(self, seconds: float, suspect_after: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.suspect_after = suspect_after
        self._clock = clock
        self._until: dict[str, float] = {}
        self._waiting: dict[str, dict[int, float]] = {}  # service -> call -> began at
        self._calls = itertools.count()
        self._lock = threading.Lock()

    def begin(self, service: str) -> int:
        """Register a call about to be made (its ticket), or :class:`Unavailable`."""
        with self._lock:
            now = self._clock()
            until = self._until.get(service)
            if until is not None and now >= until:
                del self._until[service]
                until = None
            waiting = self._waiting.setdefault(service, {})
            stuck = any(now - began > self.suspect_after for began in waiting.values())
            if until is None and not stuck:
                ticket = next(self._calls)
                waiting[ticket] = now
                return ticket
        raise Unavailable(service, f"the {service} API did not answer in time a moment ago"
                                   if until is not None else
                                   f"the {service} API has not answered a call for more than "
                                   f"{self.suspect_after:g} s")

    def end(self, service: str, ticket: int, timed_out: bool) -> None:
        with self._lock:
            self._waiting.get(service, {}).pop(ticket, None)
            if timed_out:
                self._until[service] = self._clock() + self.seconds


@dataclass
class Refused(Exception):
    """The API refused the request (4xx other than 401), in its own words."""

    status: int
    detail: str
    errors: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status}: {self.detail}"

    def in_words(self) -> str:
        """The detail, followed by each field's messages (a 422's ``errors``)."""
        parts = [self.detail]
        for name, messages in _field_messages(self.errors):
            parts.append(f"{name}: {'; '.join(messages)}")
        return " ".join(part for part in parts if part)


def _field_messages(errors: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, list[str]]]:
    for name, value in errors.items():
        if isinstance(value, Mapping):
            yield from _field_messages(value, f"{prefix}{name}.")
        elif isinstance(value, list):
            yield f"{prefix}{name}", [str(message) for message in value]
        else:
            yield f"{prefix}{name}", [str(value)]


@dataclass(frozen=True)
class Answer:
    body: Any
    headers: Mapping[str, str]

    @property
    def version(self) -> int | None:
        """The item's version, read from its ``ETag`` (``"7"``), to send back with
        :meth:`ApiClient.patch`; None without a strong ETag naming a version."""
        return version_of(self.headers.get("ETag"))


def version_of(etag: str | None) -> int | None:
    found = re.fullmatch(r'"([0-9]{1,19})"', etag or "")
    return int(found.group(1)) if found else None


def if_match(version: int) -> str:
    """The ``If-Match`` of an item's version: its strong ETag, quoted (docs/api.md,
    Concurrency): ``7`` → ``"7"``."""
    return f'"{version}"'


class ApiClient:
    """One API (goals, metrics or notifications) as one person: ``base_url`` with ``token``.

    ``http`` is the process's ``requests.Session`` (connections are pooled across
    requests); the tests wrap it to count the calls a page makes.
    """

    def __init__(self, http: requests.Session, base_url: str, token: str,
                 timeout: float = 10.0, service: str = "goals",
                 cool_off: CoolOff | None = None) -> None:
        if not VISIBLE_ASCII.fullmatch(token):
            raise SignedOut()  # not a token at all: no header can carry it
        self.service = service
        self._http = http
        self._base_url = base_url
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self._timeout = timeout
        self._cool_off = cool_off

    def get(self, path: str, **params: Any) -> Answer:
        return self._send("GET", path, params=params)

    def post(self, path: str, body: Mapping[str, Any],
             headers: Mapping[str, str] | None = None) -> Answer:
        return self._send("POST", path, json=body, headers=headers)

    def patch(self, path: str, body: Mapping[str, Any], version: int) -> Answer:
        """Change an item read at ``version``: ``Refused`` 412 if it changed since."""
        return self._send("PATCH", path, json=body, headers={"If-Match": if_match(version)})

    def delete(self, path: str, version: int) -> Answer:
        """Remove an item read at ``version``: ``Refused`` 412 if it changed since."""
        return self._send("DELETE", path, headers={"If-Match": if_match(version)})

    def get_all(self, path: str, limit: int = 10 * MAX_PAGE_SIZE, **params: Any) -> list[Any]:
        """Every item of a paginated list, up to ``limit``, in pages of 100."""
        items: list[Any] = []
        page = 1
        while len(items) < limit:
            answer = self.get(path, page=page, page_size=MAX_PAGE_SIZE, **params)
            items.extend(answer.body)
            if len(answer.body) < MAX_PAGE_SIZE:
                break
            page += 1
        return items[:limit]

    def _send(self, method: str, path: str, headers: Mapping[str, str] | None = None,
              **kwargs: Any) -> Answer:
        ticket = None if self._cool_off is None else self._cool_off.begin(self.service)
        timed_out = False
        try:
            response = self._http.request(method, self._base_url + path,
                                          headers={**self._headers, **(headers or {})},
                                          timeout=self._timeout, **kwargs)
        except requests.RequestException as error:
            timed_out = isinstance(error, requests.Timeout)
            raise Unavailable(self.service, f"{method} {self._base_url}{path.split('?')[0]}: "
                                            f"{type(error).__name__}") from None
        finally:
            if self._cool_off is not None and ticket is not None:
                self._cool_off.end(self.service, ticket, timed_out)
        if response.status_code == 401:
            raise SignedOut()
        if response.status_code >= 500:
            raise Unavailable(self.service, f"{method} {self._base_url}{path}: "
                                            f"{response.status_code}")
        body = _json(response)
        if response.status_code >= 400:
            document = body if isinstance(body, dict) else {}
            errors = document.get("errors")
            raise Refused(response.status_code,
                          str(document.get("detail") or document.get("title")
                              or response.reason or "refused"),
                          errors if isinstance(errors, dict) else {})
        return Answer(body, response.headers)


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
