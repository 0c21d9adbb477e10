"""Webhooks signed the Standard Webhooks way, sent over connections pinned to checked addresses.

Headers: ``webhook-id`` (the delivery id, the same on every retry), ``webhook-timestamp``
(Unix seconds of this attempt) and ``webhook-signature``: ``v1,`` and the base64
HMAC-SHA256, keyed with the base64-decoded part of the ``whsec_`` secret, of
``{id}.{timestamp}.{body}``. A 2xx answer is a delivery; 408, 425, 429 and 5xx, timeouts,
connection errors and a host that cannot be resolved are retried; any other answer, or a
target that resolves to a refused address, fails the delivery for good. Redirects are not
followed.

The target's host is resolved once per attempt, every address it resolves to is checked
against the target policy, and the request connects to a checked address: the host name
only goes into the ``Host`` header and, over HTTPS, into SNI and the certificate check.
Resolving again to connect would let a name that answered with a public address at the
check answer with an internal one a moment later (DNS rebinding). Connections are kept
alive per thread, per address and host name. Certificates are checked against certifi's
bundle, or ``OKR_NOTIFICATIONS_CA_BUNDLE``. Slack and Teams incoming webhooks go the same
way (``ChatSender``), with their own payloads and no signature.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import socket
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import certifi
import urllib3
from urllib3.exceptions import HTTPError

from services.notifications.domain.errors import InvalidInput
from services.notifications.domain.messages import Message
from services.notifications.domain.outcomes import Outcome
from services.notifications.domain.subscriptions import SECRET_PREFIX, Subscription
from services.notifications.domain.targets import TargetPolicy, check_webhook_url

RETRIED_STATUSES = frozenset({408, 425, 429})
USER_AGENT = "okr-notifications/1"

#: Connection pools a sending thread keeps (one per address, port and host name).
KEPT_POOLS = 64
#: An answer's body is read (so its connection can be reused) up to this size, else the
#: connection is closed.
DRAINED_BYTES = 64 * 1024

Resolver = Callable[..., Sequence[tuple[Any, ...]]]
"""``socket.getaddrinfo``'s signature."""


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


class UnresolvedHost(Exception):
    """The host name could not be resolved now (maybe only for now)."""


def checked_addresses(host: str, port: int, policy: TargetPolicy,
                      resolve: Resolver = socket.getaddrinfo) -> tuple[list[str], str | None]:
    """Resolve ``host`` now: its addresses, and why one of them may not be called (or None).

    Raises :class:`UnresolvedHost` when it cannot be resolved."""
    try:
        infos = resolve(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:  # UnicodeError: a label the IDNA codec refuses
        raise UnresolvedHost(f"cannot resolve {host}: {error}") from error
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    for address in addresses:
        reason = policy.refusal(ipaddress.ip_address(address))
        if reason:
            return addresses, f"{host} resolves to a refused address: {reason}"
    if not addresses:
        raise UnresolvedHost(f"cannot resolve {host}: no address")
    return addresses, None


def refused_address(host: str, port: int, policy: TargetPolicy) -> str | None:
    """Resolve ``host`` now; why it may not be called (refused or unresolvable), or None."""
    try:
        return checked_addresses(host, port, policy)[1]
    except UnresolvedHost as error:
        return str(error)


class WebhookSender:
    def __init__(self, policy: TargetPolicy, timeout_seconds: float,
                 ca_bundle: str | None = None, resolve: Resolver = socket.getaddrinfo) -> None:
        self.policy = policy
        self.timeout = urllib3.Timeout(connect=min(timeout_seconds, 3.0), read=timeout_seconds)
        self._ca_bundle = ca_bundle or certifi.where()
        self._resolve = resolve
        self._local = threading.local()

    def _pool(self, scheme: str, address: str, port: int,
              host: str) -> urllib3.HTTPConnectionPool:
        """A kept-alive pool of this thread connecting to ``address``, speaking to ``host``."""
        pools: dict[tuple[str, str, int, str], urllib3.HTTPConnectionPool] | None = \
            getattr(self._local, "pools", None)
        if pools is None:
            pools = self._local.pools = {}
        key = (scheme, address, port, host)
        pool = pools.get(key)
        if pool is None:
            if len(pools) >= KEPT_POOLS:
                pools.pop(next(iter(pools))).close()
            common: dict[str, Any] = {"maxsize": 1, "timeout": self.timeout, "retries": False,
                                      "block": False}
            if scheme == "https":
                pool = urllib3.HTTPSConnectionPool(
                    address, port, cert_reqs="CERT_REQUIRED", ca_certs=self._ca_bundle,
                    server_hostname=host, assert_hostname=host, **common)
            else:
                pool = urllib3.HTTPConnectionPool(address, port, **common)
            pools[key] = pool
        return pool

    def body_and_headers(self, delivery_id: str, message: Message,
                         subscription: Subscription) -> tuple[bytes, dict[str, str]]:
        """The body and the Standard Webhooks headers that sign it."""
        now = datetime.now(UTC)
        body = message.webhook_body(now)
        timestamp = int(now.timestamp())
        assert subscription.secret is not None
        return body, {
            "webhook-id": delivery_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature(subscription.secret, delivery_id, timestamp, body),
        }

    def send(self, delivery_id: str, message: Message, subscription: Subscription) -> Outcome:
        url = subscription.target
        try:
            host = check_webhook_url(url, self.policy)
        except InvalidInput as error:
            return Outcome.give_up(str(error))
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        port = parts.port if parts.port is not None else (443 if scheme == "https" else 80)
        try:
            addresses, refusal = checked_addresses(host, port, self.policy, self._resolve)
        except UnresolvedHost as error:
            return Outcome.retry(str(error))
        if refusal:
            return Outcome.give_up(refusal)
        body, signed = self.body_and_headers(delivery_id, message, subscription)
        # as the name goes on the wire (Host, SNI, the certificate's name): IDNA, in ASCII
        # (a raw non-ASCII name cannot be written in a header; ``check_webhook_url`` has
        # made sure it encodes)
        host = host.encode("idna").decode("ascii")
        named = f"[{host}]" if ":" in host else host
        headers = {
            "Host": named if parts.port is None else f"{named}:{parts.port}",
            "User-Agent": USER_AGENT,
            "Content-Type": "application/json",
            **signed,
        }
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            response = self._pool(scheme, addresses[0], port, host).urlopen(
                "POST", target, body=body, headers=headers, redirect=False, retries=False,
                preload_content=False, assert_same_host=False)
        except HTTPError as error:
            return Outcome.retry(f"{type(error).__name__}: {error}")
        status = response.status
        _release(response)
        if 200 <= status < 300:
            return Outcome.delivered()
        if status >= 500 or status in RETRIED_STATUSES:
            return Outcome.retry(f"receiver answered {status}")
        return Outcome.give_up(f"receiver answered {status}")


class ChatSender(WebhookSender):
    """A Slack or Teams incoming webhook: the same checked, pinned connection and retry
    rules, the chat's own payload (``domain/chat.py``), no signature (the URL is the
    secret). ``webhook-id`` still names the delivery, the same on every retry."""

    def __init__(self, policy: TargetPolicy, timeout_seconds: float,
                 payload: Callable[[Message, str | None], dict[str, Any]],
                 console_url: str | None = None, ca_bundle: str | None = None,
                 resolve: Resolver = socket.getaddrinfo) -> None:
        super().__init__(policy, timeout_seconds, ca_bundle, resolve)
        self.payload = payload
        self.console_url = console_url

    def body_and_headers(self, delivery_id: str, message: Message,
                         subscription: Subscription) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(self.payload(message, self.console_url), ensure_ascii=False,
                          separators=(",", ":")).encode()
        return body, {"webhook-id": delivery_id}


def _release(response: urllib3.BaseHTTPResponse) -> None:
    """Read a short answer to the end so its connection is reused; close on a long one."""
    try:
        remaining = response.length_remaining
        if remaining is not None and remaining <= DRAINED_BYTES:
            response.drain_conn()
            response.release_conn()
        else:
            response.close()
    except HTTPError:
        response.close()
