"""The three services' APIs served over real HTTP (werkzeug, one thread per request) on
seeded databases, for the tests that walk or fuzz their OpenAPI documents.

Each seed makes the items whose members can be null actually null somewhere (a key result
never checked in, a token never revoked, an e-mail subscription without a URL, a delivery
not yet delivered...), so that comparing real answers with the documents checks the
documented nullability, not only the shapes. The fixtures serving them are in
``tests/platform/conftest.py``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import requests
from flask import Flask
from werkzeug.serving import make_server

from services.metrics.bootstrap import Metrics
from services.notifications.bootstrap import Notifications
from tests.conftest import ADMIN_TOKEN
from tests.metrics import goal_events as ge
from tests.metrics.read_model import apply_events
from tests.notifications.builders import new_secret, status_changed
from tests.notifications.receiver import WebhookReceiver
from tests.notifications.service.test_webhook_delivery import consume

AUTHORIZATION = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@dataclass
class LiveApi:
    """A service answering at ``url``; ``existing``: by path prefix, ids of seeded items."""

    url: str
    existing: dict[str, list[str]] = field(default_factory=dict)
    answers: list[tuple[str, str, requests.Response]] = field(default_factory=list)

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """A request as the admin; every answer is kept (method, path, response)."""
        headers = {**AUTHORIZATION, **kwargs.pop("headers", {})}
        response = requests.request(method, self.url + path, headers=headers, timeout=30,
                                    **kwargs)
        self.answers.append((method, path, response))
        return response

    def created(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.call("POST", path, json=body)
        assert response.status_code == 201, (path, response.text)
        document: dict[str, Any] = response.json()
        return document

    def document(self) -> dict[str, Any]:
        openapi: dict[str, Any] = requests.get(self.url + "/openapi.json", timeout=30).json()
        return openapi


@contextmanager
def served(app: Flask) -> Iterator[str]:
    """``app`` on a free port of 127.0.0.1 over real HTTP; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def seed_goals(api: LiveApi) -> None:
    """Departments, a cycle, a collective target with a summing key result, department
    goals with a key result checked in and one never checked in, a roll-up edge of each
    kind, a link, and a token (never revoked)."""
    api.created("/v1/cycles", {"key": "2026-Q4", "name": "Q4 2026", "starts_on": "2026-10-01",
                               "ends_on": "2026-12-31"})
    collective = api.created("/v1/objectives", {
        "cycle": "2026-Q4", "kind": "collective", "departments": ["sales", "marketing"],
        "owner": "ceo", "title": "Grow new revenue together"})
    summed = api.created(f"/v1/objectives/{collective['id']}/key-results", {
        "title": "New revenue", "measure": "increase", "start": 0, "target": 100_000,
        "unit": "EUR", "aggregation": "sum"})
    sales = api.created("/v1/objectives", {
        "cycle": "2026-Q4", "kind": "department", "departments": ["sales"],
        "owner": "head of sales", "title": "Close more deals"})
    revenue = api.created(f"/v1/objectives/{sales['id']}/key-results", {
        "title": "Sales-sourced revenue", "measure": "increase", "start": 0, "target": 60_000,
        "unit": "EUR"})
    pricing = api.created(f"/v1/objectives/{sales['id']}/key-results", {
        "title": "Pricing approved", "measure": "boolean"})
    finance = api.created("/v1/objectives", {
        "cycle": "2026-Q4", "kind": "department", "departments": ["finance"],
        "owner": "cfo", "title": "Fund the campaigns"})
    api.created(f"/v1/key-results/{revenue['id']}/check-ins",
                {"value": 12_000, "confidence": 0.7, "note": "first deals"})
    contribution = api.created("/v1/contributions", {
        "child_type": "key_result", "child_id": revenue["id"],
        "parent_type": "key_result", "parent_id": summed["id"]})
    api.created("/v1/contributions", {
        "child_type": "objective", "child_id": sales["id"],
        "parent_type": "objective", "parent_id": collective["id"], "weight": 2})
    link = api.created("/v1/links", {
        "kind": "funded_by", "from_type": "objective", "from_id": sales["id"],
        "to_type": "objective", "to_id": finance["id"], "note": "discount budget"})
    token = api.created("/v1/tokens", {"name": "crm", "role": "head", "department": "sales"})
    api.existing.update({
        "/v1/departments/": ["sales", "finance"], "/v1/cycles/": ["2026-Q4"],
        "/v1/objectives/": [collective["id"], sales["id"]],
        "/v1/key-results/": [summed["id"], revenue["id"], pricing["id"]],
        "/v1/contributions/": [contribution["id"]], "/v1/links/": [link["id"]],
        "/v1/tokens/": [token["id"]]})


def seed_metrics(metrics: Metrics, api: LiveApi) -> None:
    """A read model: a collective target fed by a department objective, a key result never
    checked in (no figures yet), check-ins, a link to another department, and an objective
    without key results (no data)."""
    target, sales, finance, idle = ge.new_id(), ge.new_id(), ge.new_id(), ge.new_id()
    kr_sales, kr_never, kr_finance = ge.new_id(), ge.new_id(), ge.new_id()
    apply_events(
        metrics, ge.cycle(),
        ge.objective(target, ["marketing", "sales"], title="Grow new revenue"),
        ge.objective(sales, ["sales"], title="Close more deals"),
        ge.objective(finance, ["finance"], title="Fund the campaigns"),
        ge.objective(idle, ["production"], title="Plan the new line"),
        ge.key_result(kr_sales, sales), ge.key_result(kr_never, sales),
        ge.key_result(kr_finance, finance),
        ge.contribution(ge.new_id(), "objective", sales, "objective", target, weight=2.0),
        ge.check_in(kr_sales, sales, 2, 40.0, confidence=0.9),
        ge.check_in(kr_finance, finance, 2, 10.0),
        ge.link(ge.new_id(), sales, "sales", "key_result", kr_finance, "finance",
                kind="funded_by"))
    api.existing["/v1/rollups/"] = [target, sales, finance, idle]


def seed_notifications(container: Notifications, api: LiveApi,
                       receiver: WebhookReceiver) -> None:
    """A webhook subscription (its receiver refuses, so its delivery is dead: delivered_at
    null), an e-mail subscription (url null) and one without a department."""
    hook = api.created("/v1/subscriptions", {
        "recipient": "Head of sales", "department": "sales", "channel": "webhook",
        "url": receiver.url, "secret": receiver.secret})
    mail = api.created("/v1/subscriptions", {
        "recipient": "CFO", "department": "finance", "channel": "email",
        "email": "cfo@example.org", "mode": "digest", "digest_interval_seconds": 600})
    api.created("/v1/subscriptions", {
        "recipient": "Data warehouse", "channel": "webhook",
        "url": "https://93.184.216.34/okr", "secret": new_secret(),
        "filters": {"event_types": ["okr.rollup.changed"]}})
    receiver.status = 400
    consume(container, status_changed("target-1", "off_track"))
    container.delivery_loop().run_once()
    deliveries = api.call("GET", "/v1/deliveries").json()
    assert deliveries, "the seed made no delivery"
    api.existing.update({"/v1/subscriptions/": [hook["id"], mail["id"]],
                         "/v1/deliveries/": [delivery["id"] for delivery in deliveries]})

