"""A webhook goes to the address that was checked, never to one the name resolves to later.

Real HTTP(S) receivers on loopback addresses; the name resolution is the sender's port (a
resolver function), answering as a DNS server under an attacker's control would.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from services.notifications.adapters.webhooks import WebhookSender
from services.notifications.domain.errors import InvalidInput
from services.notifications.domain.messages import Message
from services.notifications.domain.targets import TargetPolicy
from tests.notifications.builders import new_secret, subscription
from tests.notifications.receiver import WebhookReceiver

LOOPBACK = TargetPolicy(allow_loopback=True)
MESSAGE = Message(type="okr.objective.status_changed", data={"summary": "off track"})


class Resolver:
    """Answers each name with the next of its addresses (the last one again and again)."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    def __call__(self, host: str, port: int, *_: Any, **__: Any) -> list[tuple[Any, ...]]:
        self.asked.append(host)
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        queue = self.answers[host]
        address = queue.pop(0) if len(queue) > 1 else queue[0]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]


@pytest.fixture
def receivers() -> Iterator[list[WebhookReceiver]]:
    started: list[WebhookReceiver] = []
    yield started
    for receiver in started:
        receiver.stop()


def _receiver(started: list[WebhookReceiver], secret: str, host: str = "127.0.0.1",
              port: int = 0, tls: ssl.SSLContext | None = None) -> WebhookReceiver:
    receiver = WebhookReceiver(secret, host, tls)
    receiver.port = port
    started.append(receiver.start())
    return receiver


def test_the_request_goes_to_the_address_that_was_checked(
        receivers: list[WebhookReceiver]) -> None:
    secret = new_secret()
    checked = _receiver(receivers, secret, "127.0.0.1")
    rebound = _receiver(receivers, secret, "127.0.0.2", port=checked.port)
    # the name answers 127.0.0.1 when checked, then 127.0.0.2 (rebinding)
    resolver = Resolver({"hooks.rebind.test": ["127.0.0.1", "127.0.0.2"]})
    sender = WebhookSender(LOOPBACK, 5.0, resolve=resolver)
    target = f"http://hooks.rebind.test:{checked.port}/hooks/okr"

    outcome = sender.send("delivery-1", MESSAGE, subscription(target=target, secret=secret))
    assert outcome.ok, outcome.reason
    assert resolver.asked == ["hooks.rebind.test"], "resolved once, to check and to connect"
    assert checked.ids() == ["delivery-1"] and rebound.ids() == []
    (request,) = checked.received
    assert request.headers["host"] == f"hooks.rebind.test:{checked.port}"
    assert not isinstance(request.verified, Exception)

    # the next attempt resolves again, checks again, and connects where that answer says
    outcome = sender.send("delivery-2", MESSAGE, subscription(target=target, secret=secret))
    assert outcome.ok, outcome.reason
    assert rebound.ids() == ["delivery-2"] and checked.ids() == ["delivery-1"]


def test_a_name_with_any_refused_address_is_not_called(
        receivers: list[WebhookReceiver]) -> None:
    secret = new_secret()
    receiver = _receiver(receivers, secret)
    resolver = Resolver({"hooks.mixed.test": ["127.0.0.1"]})
    sender = WebhookSender(TargetPolicy(), 5.0, resolve=resolver)  # loopback refused
    outcome = sender.send("delivery-1", MESSAGE, subscription(
        target=f"http://hooks.mixed.test:{receiver.port}/hooks/okr", secret=secret))
    assert not outcome.ok and outcome.permanent
    assert "refused address" in str(outcome.reason)
    assert receiver.ids() == []


def test_a_name_that_cannot_be_resolved_now_is_retried_not_given_up() -> None:
    sender = WebhookSender(LOOPBACK, 5.0, resolve=Resolver({}))
    outcome = sender.send("delivery-1", MESSAGE, subscription(
        target="https://hooks.nowhere.test/okr"))
    assert not outcome.ok and not outcome.permanent
    assert "cannot resolve hooks.nowhere.test" in str(outcome.reason)


def test_https_is_verified_against_the_name_over_the_pinned_connection(
        receivers: list[WebhookReceiver], certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    secret = new_secret()
    receiver = _receiver(receivers, secret, tls=tls)
    resolver = Resolver({"hooks.tls.test": ["127.0.0.1"], "other.tls.test": ["127.0.0.1"]})
    sender = WebhookSender(LOOPBACK, 5.0, ca_bundle=str(cert), resolve=resolver)

    outcome = sender.send("delivery-1", MESSAGE, subscription(
        target=f"https://hooks.tls.test:{receiver.port}/hooks/okr", secret=secret))
    assert outcome.ok, outcome.reason
    assert receiver.ids() == ["delivery-1"]

    # the same address under a name its certificate does not carry: refused by TLS, retried
    outcome = sender.send("delivery-2", MESSAGE, subscription(
        target=f"https://other.tls.test:{receiver.port}/hooks/okr", secret=secret))
    assert not outcome.ok and not outcome.permanent
    assert "certificate" in str(outcome.reason).lower() or "hostname" in str(outcome.reason)
    assert receiver.ids() == ["delivery-1"]

    # and without the certificate's issuer among the trusted ones
    untrusting = WebhookSender(LOOPBACK, 5.0, resolve=resolver)
    outcome = untrusting.send("delivery-3", MESSAGE, subscription(
        target=f"https://hooks.tls.test:{receiver.port}/hooks/okr", secret=secret))
    assert not outcome.ok and "certificate" in str(outcome.reason).lower()
    assert receiver.ids() == ["delivery-1"]


def test_a_stored_url_with_port_0_is_given_up_before_any_lookup() -> None:
    """A subscription written before port 0 was refused is not called (nor its host
    resolved) on a port nobody named: it fails for good, saying why."""
    resolver = Resolver({"hooks.zero.test": ["127.0.0.1"]})
    sender = WebhookSender(LOOPBACK, 5.0, resolve=resolver)
    stored = replace(subscription(), target="http://hooks.zero.test:0/okr")  # as read back
    outcome = sender.send("delivery-1", MESSAGE, stored)
    assert not outcome.ok and outcome.permanent
    assert "port 0" in str(outcome.reason)
    assert resolver.asked == []


def test_no_path_makes_a_subscription_with_port_0() -> None:
    """Not only the API's: any code that makes or changes a subscription (an import, a
    benchmark's fixtures) meets the same refusal."""
    with pytest.raises(InvalidInput, match="port 0"):
        subscription(target="https://hooks.example.org:0/okr")
    with pytest.raises(InvalidInput, match="port 0"):
        subscription().changed(subscription().created_at,
                               target="https://hooks.example.org:0/okr")


def test_an_international_host_name_goes_on_the_wire_in_its_ascii_form(
        receivers: list[WebhookReceiver]) -> None:
    # A raw non-ASCII name in the Host header raised UnicodeEncodeError out of send(),
    # which ended the delivery loop (found by an outside attack)
    secret = new_secret()
    receiver = _receiver(receivers, secret)
    resolver = Resolver({"bücher.test": ["127.0.0.1"]})
    sender = WebhookSender(LOOPBACK, 5.0, resolve=resolver)
    target = f"http://bücher.test:{receiver.port}/hooks/okr"

    outcome = sender.send("delivery-1", MESSAGE, subscription(target=target, secret=secret))
    assert outcome.ok, outcome.reason
    (request,) = receiver.received
    assert request.headers["host"] == f"xn--bcher-kva.test:{receiver.port}"
    assert not isinstance(request.verified, Exception)
