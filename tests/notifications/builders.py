"""Notices and subscriptions for the notification tests, with sensible defaults."""

from __future__ import annotations

import base64
import os
import uuid
from datetime import UTC, datetime
from typing import Any

from services.notifications.domain.notices import Notice
from services.notifications.domain.subscriptions import (
    Channel,
    DeliveryMode,
    Filters,
    Subscription,
)
from shared.cloudevents import CloudEvent
from shared.contract import EventType
from tests.support.contract_events import new_event

AT = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


def notice(**overrides: Any) -> Notice:
    values: dict[str, Any] = {
        "event_id": str(uuid.uuid4()), "event_type": EventType.OBJECTIVE_STATUS_CHANGED.value,
        "objective_id": "target-1", "title": "Grow revenue", "kind": "collective",
        "departments": ("marketing", "sales"), "occurred_at": AT, "summary": "changed",
        "status": "off_track", "previous_status": "on_track", "settled": True}
    values.update(overrides)
    return Notice(**values)


def subscription(**overrides: Any) -> Subscription:
    filters = overrides.pop("filters", None)
    values: dict[str, Any] = {
        "recipient": "head of sales", "department": "sales", "channel": Channel.WEBHOOK,
        "target": "https://hooks.example.org/okr", "secret": new_secret(),
        "filters": Filters.from_dict(filters), "mode": DeliveryMode.IMMEDIATE,
        "digest_interval_seconds": 3600, "created_by": "admin", "now": AT}
    values.update(overrides)
    return Subscription.new(**values)


def status_changed(objective_id: str, status: str, previous: str | None = "on_track", *,
                   kind: str = "collective", departments: tuple[str, ...] = ("marketing", "sales"),
                   title: str = "Grow revenue") -> CloudEvent:
    return new_event(EventType.OBJECTIVE_STATUS_CHANGED, "/okr/metrics",
                     f"objective/{objective_id}", {
                         **_rollup(objective_id, status, kind, departments, title),
                         "previous_status": previous})


def rollup_changed(objective_id: str, status: str, *, kind: str = "collective",
                   departments: tuple[str, ...] = ("marketing", "sales"),
                   title: str = "Grow revenue") -> CloudEvent:
    return new_event(EventType.ROLLUP_CHANGED, "/okr/metrics", f"objective/{objective_id}",
                     _rollup(objective_id, status, kind, departments, title))


def _rollup(objective_id: str, status: str, kind: str, departments: tuple[str, ...],
            title: str) -> dict[str, Any]:
    return {"objective_id": objective_id, "title": title, "cycle": "2026-Q4", "kind": kind,
            "departments": list(departments), "progress": 0.42, "attainment": 0.42,
            "expected_progress": 0.5, "status": status, "confidence": 0.7,
            "changed_at": "2026-11-27T04:00:00Z", "cause_event_id": str(uuid.uuid4())}


def objective_created(objective_id: str, *, kind: str = "department",
                      departments: tuple[str, ...] = ("sales",),
                      title: str = "Sales objective") -> CloudEvent:
    return new_event(EventType.OBJECTIVE_CREATED, "/okr/goals", f"objective/{objective_id}", {
        "id": objective_id, "cycle": "2026-Q4", "kind": kind, "departments": list(departments),
        "owner": "Sam", "title": title, "description": "", "status": "active", "version": 1,
        "created_at": "2026-11-27T04:00:00Z", "updated_at": "2026-11-27T04:00:00Z"})


def link_created(from_department: str, from_id: str, to_id: str,
                 to_department: str) -> CloudEvent:
    link_id = str(uuid.uuid4())
    return new_event(EventType.LINK_CREATED, "/okr/goals", f"link/{link_id}", {
        "id": link_id, "kind": "supplied_by", "from_type": "objective", "from_id": from_id,
        "from_department": from_department, "to_type": "objective", "to_id": to_id,
        "to_department": to_department, "note": "", "created_by": "head", "version": 1,
        "created_at": "2026-11-27T04:00:00Z"})


def checked_in(objective_id: str, key_result_id: str, value: float) -> CloudEvent:
    return new_event(EventType.KEY_RESULT_CHECKED_IN, "/okr/goals",
                     f"key_result/{key_result_id}", {
                         "check_in": {"key_result_id": key_result_id, "value": value,
                                      "confidence": 0.6, "note": "", "author": "crm",
                                      "source": "system", "id": str(uuid.uuid4()),
                                      "created_at": "2026-11-27T04:00:00Z"},
                         "key_result": {
                             "id": key_result_id, "objective_id": objective_id,
                             "title": "Revenue", "measure": "increase", "start": 0.0,
                             "target": 1_000_000.0, "unit": "EUR", "weight": 1.0,
                             "aggregation": "check_ins", "current": value, "confidence": 0.6,
                             "last_checkin_at": "2026-11-27T04:00:00Z", "version": 2,
                             "created_at": "2026-11-01T09:00:00Z",
                             "updated_at": "2026-11-27T04:00:00Z"}})


def key_result_created(objective_id: str, key_result_id: str,
                       title: str = "Units shipped") -> CloudEvent:
    return new_event(EventType.KEY_RESULT_CREATED, "/okr/goals", f"key_result/{key_result_id}", {
        "id": key_result_id, "objective_id": objective_id, "title": title,
        "measure": "increase", "start": 0.0, "target": 100.0, "unit": "units", "weight": 1.0,
        "aggregation": "check_ins", "current": 0.0, "confidence": None,
        "last_checkin_at": None, "version": 1, "created_at": "2026-11-01T09:00:00Z",
        "updated_at": "2026-11-01T09:00:00Z"})


def link_to_key_result(from_department: str, from_id: str, key_result_id: str,
                       to_department: str) -> CloudEvent:
    link_id = str(uuid.uuid4())
    return new_event(EventType.LINK_CREATED, "/okr/goals", f"link/{link_id}", {
        "id": link_id, "kind": "depends_on", "from_type": "objective", "from_id": from_id,
        "from_department": from_department, "to_type": "key_result", "to_id": key_result_id,
        "to_department": to_department, "note": "", "created_by": "head", "version": 1,
        "created_at": "2026-11-27T04:00:00Z"})


def at(event: CloudEvent, when: datetime) -> CloudEvent:
    """The same event, as if it happened at ``when`` (its CloudEvents ``time``)."""
    from dataclasses import replace

    return replace(event, time=when)
