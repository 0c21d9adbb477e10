"""E-mail through a real SMTP server (aiosmtpd) that requires a login with the credentials
from the environment."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
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
        # handled=False: aiosmtpd answers a refusal itself (535); with its default it
        # would leave the client waiting for an answer the authenticator never sends.
        return AuthResult(success=ok, handled=False)


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


# -- STARTTLS: a server that requires it, with a certificate the sender must verify --------

@pytest.fixture
def tls_smtp(certificate: tuple[Path, Path]) -> Iterator[tuple[int, Inbox]]:
    """An SMTP server that refuses mail and logins before STARTTLS."""
    cert, key = certificate
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), tls_context=context,
                            require_starttls=True, authenticator=inbox.authenticate,
                            auth_required=True, auth_require_tls=True)
    controller.start()
    yield controller.port, inbox
    controller.stop()


def _tls_settings(port: int, password: str, certificate: tuple[Path, Path] | None
                  ) -> SmtpSettings:
    settings = replace(_settings(port, password), starttls=True, timeout_seconds=5.0)
    return replace(settings, ca_bundle=str(certificate[0]) if certificate else None)


def _alarm() -> tuple[Any, Message]:
    head = subscription(channel=Channel.EMAIL, target="head@example.org", secret=None)
    return head, Message(EventType.OBJECTIVE_STATUS_CHANGED.value,
                         {"summary": "Grow revenue is off track", "title": "Grow revenue",
                          "objective_id": "target-1",
                          "event_type": EventType.OBJECTIVE_STATUS_CHANGED.value})


def test_mail_goes_over_starttls_with_a_verified_certificate_and_a_login(
        tls_smtp: tuple[int, Inbox], certificate: tuple[Path, Path]) -> None:
    port, inbox = tls_smtp
    head, alarm = _alarm()
    outcome = EmailSender(_tls_settings(port, "s3cret", certificate)).send("d-1", alarm, head)
    assert outcome.ok, outcome.reason
    assert inbox.logins == ["okr"]
    assert [envelope.rcpt_tos for envelope in inbox.messages] == [["head@example.org"]]


def test_a_refused_smtp_login_is_retried_and_sends_nothing(
        tls_smtp: tuple[int, Inbox], certificate: tuple[Path, Path]) -> None:
    port, inbox = tls_smtp
    head, alarm = _alarm()
    outcome = EmailSender(_tls_settings(port, "wrong", certificate)).send("d-1", alarm, head)
    assert not outcome.ok and not outcome.permanent
    assert outcome.reason == "SMTP login refused (535)"
    assert inbox.messages == [] and inbox.logins == []


def test_a_certificate_that_does_not_verify_is_retried_and_sends_nothing(
        tls_smtp: tuple[int, Inbox]) -> None:
    port, inbox = tls_smtp
    head, alarm = _alarm()
    outcome = EmailSender(_tls_settings(port, "s3cret", None)).send("d-1", alarm, head)
    assert not outcome.ok and not outcome.permanent
    assert "CERTIFICATE_VERIFY_FAILED" in str(outcome.reason)
    assert inbox.messages == []


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_a_server_without_starttls_is_not_sent_to_in_the_clear(
        login_smtp: tuple[int, Inbox], certificate: tuple[Path, Path]) -> None:
    port, inbox = login_smtp  # offers no STARTTLS
    head, alarm = _alarm()
    outcome = EmailSender(_tls_settings(port, "s3cret", certificate)).send("d-1", alarm, head)
    assert not outcome.ok and not outcome.permanent
    assert "STARTTLS" in str(outcome.reason)
    assert inbox.messages == [] and inbox.logins == []
