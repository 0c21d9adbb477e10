"""E-mail through a real SMTP server (aiosmtpd) that requires a login with the credentials
from the environment."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from services.notifications.adapters.email import EmailSender
from services.notifications.config import SmtpSettings
from services.notifications.domain.digests import build_digest
from services.notifications.domain.messages import DIGEST_TYPE, Message
from services.notifications.domain.subscriptions import Channel, DeliveryMode
from shared.contract import EventType
from tests.conftest import free_port
from tests.notifications.builders import notice, subscription


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.logins: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 OK"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str,
                     data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            b"okr", b"s3cret")
        if ok:
            self.logins.append(data.login.decode())
        return AuthResult(success=ok)


@pytest.fixture
def login_smtp() -> Iterator[tuple[int, Inbox]]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(),
                            authenticator=inbox.authenticate, auth_required=True,
                            auth_require_tls=False)
    controller.start()
    yield controller.port, inbox
    controller.stop()


def _settings(port: int, password: str) -> SmtpSettings:
    return SmtpSettings.from_env({
        "OKR_SMTP_HOST": "127.0.0.1", "OKR_SMTP_PORT": str(port), "OKR_SMTP_USERNAME": "okr",
        "OKR_SMTP_PASSWORD": password, "OKR_SMTP_FROM": "okr@example.org"})


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_digest_email_logs_in_with_credentials_from_the_environment(
    login_smtp: tuple[int, Inbox]
) -> None:
    port, inbox = login_smtp
    head = subscription(channel=Channel.EMAIL, target="head@example.org", secret=None,
                        mode=DeliveryMode.DIGEST, filters=None)
    digest = Message(DIGEST_TYPE, build_digest([
        notice(event_type=EventType.KEY_RESULT_CHECKED_IN.value, summary=f"check-in {i}")
        for i in range(3)]))
    outcome = EmailSender(_settings(port, "s3cret")).send("d-1", digest, head)

    assert outcome.ok, outcome.reason
    assert inbox.logins == ["okr"]
    (envelope,) = inbox.messages
    assert envelope.rcpt_tos == ["head@example.org"]
    text = envelope.content.decode()
    assert "Subject: OKR digest: 3 change(s)" in text and "Collective target: Grow revenue" in text
