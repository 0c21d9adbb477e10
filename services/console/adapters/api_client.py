"""The console's only way to the platform: the goals and metrics public HTTP APIs, called
with the signed-in person's own bearer token.

Every answer is JSON or a problem document (RFC 9457). A 401 means the token is no longer
good (revoked, or never was): :class:`SignedOut`, which ends the console's session. Any
other refusal (4xx) is :class:`Refused`, carrying the API's own words (``detail``, and
the ``errors`` of a validation failure) for the page to show. The token never appears in
an exception's text, a URL or a log line.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

#: The APIs' largest page (docs/api.md#pagination).
MAX_PAGE_SIZE = 100


class SignedOut(Exception):
    """The API refused the token (401): the person must sign in again."""


class Unavailable(Exception):
    """The API could not be reached or failed (5xx, timeout)."""


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
    def version(self) -> str | None:
        """The ``ETag`` (an item's version), to send back as ``If-Match``."""
        return self.headers.get("ETag")


class ApiClient:
    """One API (goals, metrics or notifications) as one person: ``base_url`` with ``token``.

    ``http`` is the process's ``requests.Session`` (connections are pooled across
    requests); the tests wrap it to count the calls a page makes.
    """

    def __init__(self, http: requests.Session, base_url: str, token: str,
                 timeout: float = 10.0) -> None:
        self._http = http
        self._base_url = base_url
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self._timeout = timeout

    def get(self, path: str, **params: Any) -> Answer:
        return self._send("GET", path, params=params)

    def post(self, path: str, body: Mapping[str, Any],
             headers: Mapping[str, str] | None = None) -> Answer:
        return self._send("POST", path, json=body, headers=headers)

    def patch(self, path: str, body: Mapping[str, Any], if_match: str) -> Answer:
        return self._send("PATCH", path, json=body, headers={"If-Match": if_match})

    def delete(self, path: str, if_match: str) -> Answer:
        return self._send("DELETE", path, headers={"If-Match": if_match})

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
        try:
            response = self._http.request(method, self._base_url + path,
                                          headers={**self._headers, **(headers or {})},
                                          timeout=self._timeout, **kwargs)
        except requests.RequestException as error:
            raise Unavailable(f"{method} {self._base_url}{path.split('?')[0]}: "
                              f"{type(error).__name__}") from None
        if response.status_code == 401:
            raise SignedOut()
        if response.status_code >= 500:
            raise Unavailable(f"{method} {self._base_url}{path}: {response.status_code}")
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
