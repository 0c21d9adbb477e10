"""Webhooks signed the Standard Webhooks way, sent with ``requests``.

Headers: ``webhook-id`` (the delivery id, the same on every retry), ``webhook-timestamp``
(Unix seconds of this attempt) and ``webhook-signature``: ``v1,`` and the base64
HMAC-SHA256, keyed with the base64-decoded part of the ``whsec_`` secret, of
``{id}.{timestamp}.{body}``. A 2xx answer is a delivery; 408, 425, 429 and 5xx, timeouts
and connection errors are retried; any other answer, or a target that resolves to a
refused address, fails the delivery for good. Redirects are not followed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import socket
import threading
from datetime import UTC, datetime
from urllib.parse import urlsplit

import requests

from services.notifications.domain.errors import InvalidInput
from services.notifications.domain.messages import Message
from services.notifications.domain.outcomes import Outcome
from services.notifications.domain.subscriptions import SECRET_PREFIX, Subscription
from services.notifications.domain.targets import TargetPolicy, check_webhook_url

RETRIED_STATUSES = frozenset({408, 425, 429})
USER_AGENT = "okr-notifications/1"


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def refused_address(host: str, port: int, policy: TargetPolicy) -> str | None:
    """Resolve ``host`` now; why one of its addresses may not be called, or None."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as error:
        return f"cannot resolve {host}: {error}"
    for info in infos:
        reason = policy.refusal(ipaddress.ip_address(info[4][0]))
        if reason:
            return f"{host} resolves to a refused address: {reason}"
    return None


class WebhookSender:
    def __init__(self, policy: TargetPolicy, timeout_seconds: float) -> None:
        self.policy = policy
        self.timeout = (min(timeout_seconds, 3.0), timeout_seconds)  # connect, read
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            # No proxy or .netrc from the environment: a proxy would reach targets whose
            # addresses were never checked (and looking them up costs ~1 ms per request).
            session.trust_env = False
            session.headers["User-Agent"] = USER_AGENT
            self._local.session = session
        return session

    def send(self, delivery_id: str, message: Message, subscription: Subscription) -> Outcome:
        url = subscription.target
        try:
            host = check_webhook_url(url, self.policy)
        except InvalidInput as error:
            return Outcome.give_up(str(error))
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        refusal = refused_address(host, port, self.policy)
        if refusal:
            return Outcome.give_up(refusal)
        now = datetime.now(UTC)
        body = message.webhook_body(now)
        timestamp = int(now.timestamp())
        assert subscription.secret is not None
        headers = {
            "Content-Type": "application/json",
            "webhook-id": delivery_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature(subscription.secret, delivery_id, timestamp, body),
        }
        try:
            response = self._session().post(url, data=body, headers=headers,
                                            timeout=self.timeout, allow_redirects=False)
        except requests.RequestException as error:
            return Outcome.retry(f"{type(error).__name__}: {error}")
        status = response.status_code
        response.close()
        if 200 <= status < 300:
            return Outcome.delivered()
        if status >= 500 or status in RETRIED_STATUSES:
            return Outcome.retry(f"receiver answered {status}")
        return Outcome.give_up(f"receiver answered {status}")
