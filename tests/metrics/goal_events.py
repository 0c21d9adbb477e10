"""Goal events as the goals service emits them (its JSON Schemas), built for the tests."""

from __future__ import annotations

import uuid
from typing import Any

from kafka import KafkaProducer

from shared.cloudevents import CloudEvent
from shared.config import KafkaSettings
from shared.contract import EventType, Topic
from shared.messaging.kafka_clients import ensure_topics, new_producer
from tests.support.contract_events import new_event

AT = "2026-11-02T09:30:00Z"
CYCLE = "2026-Q4"


def new_id() -> str:
    return str(uuid.uuid4())


def cycle(key: str = CYCLE, version: int = 1, starts_on: str = "2026-10-01",
          ends_on: str = "2026-12-31") -> CloudEvent:
    return new_event(EventType.CYCLE_CREATED, "/okr/goals", f"cycle/{key}", {
        "key": key, "name": key, "starts_on": starts_on, "ends_on": ends_on,
        "version": version, "created_at": AT, "updated_at": AT})


def objective(objective_id: str, departments: list[str], *, version: int = 1,
              title: str = "objective", deleted: bool = False,
              owner: str = "owner", status: str = "active") -> CloudEvent:
    kind = "collective" if len(departments) > 1 else "department"
    event_type = (EventType.OBJECTIVE_DELETED if deleted else
                  EventType.OBJECTIVE_CREATED if version == 1 else EventType.OBJECTIVE_UPDATED)
    return new_event(event_type, "/okr/goals", f"objective/{objective_id}", {
        "id": objective_id, "version": version, "cycle": CYCLE, "kind": kind,
        "departments": departments, "owner": owner, "title": title, "description": "",
        "status": status, "created_at": AT, "updated_at": AT})


def key_result_data(key_result_id: str, objective_id: str, *, version: int = 1,
                    current: float | None = None, confidence: float | None = None,
                    start: float = 0.0, target: float = 100.0, weight: float = 1.0,
                    aggregation: str = "check_ins", title: str = "key result",
                    unit: str = "", checked_in_at: str = AT) -> dict[str, Any]:
    return {"id": key_result_id, "objective_id": objective_id, "version": version,
            "title": title, "measure": "increase" if target > start else "decrease",
            "start": start, "target": target, "unit": unit, "weight": weight,
            "aggregation": aggregation, "current": start if current is None else current,
            "confidence": confidence,
            "last_checkin_at": None if current is None else checked_in_at,
            "created_at": AT, "updated_at": AT}


def key_result(key_result_id: str, objective_id: str, **kwargs: Any) -> CloudEvent:
    data = key_result_data(key_result_id, objective_id, **kwargs)
    event_type = (EventType.KEY_RESULT_CREATED if data["version"] == 1
                  else EventType.KEY_RESULT_UPDATED)
    return new_event(event_type, "/okr/goals", f"key-result/{key_result_id}", data)


def key_result_deleted(key_result_id: str, objective_id: str, version: int) -> CloudEvent:
    return new_event(EventType.KEY_RESULT_DELETED, "/okr/goals", f"key-result/{key_result_id}",
                     key_result_data(key_result_id, objective_id, version=version))


def check_in(key_result_id: str, objective_id: str, version: int, value: float,
             confidence: float | None = None, **kwargs: Any) -> CloudEvent:
    data = key_result_data(key_result_id, objective_id, version=version, current=value,
                           confidence=confidence, **kwargs)
    return new_event(EventType.KEY_RESULT_CHECKED_IN, "/okr/goals",
                     f"key-result/{key_result_id}", {
                         "key_result": data,
                         "check_in": {"id": new_id(), "key_result_id": key_result_id,
                                      "value": value, "confidence": confidence, "note": "",
                                      "author": "test", "source": "person",
                                      "created_at": AT}})


def contribution(contribution_id: str, child_type: str, child_id: str, parent_type: str,
                 parent_id: str, weight: float = 1.0, removed: bool = False) -> CloudEvent:
    return new_event(
        EventType.CONTRIBUTION_REMOVED if removed else EventType.CONTRIBUTION_ADDED,
        "/okr/goals", f"contribution/{contribution_id}", {
            "id": contribution_id, "version": 1, "child_type": child_type,
            "child_id": child_id, "parent_type": parent_type, "parent_id": parent_id,
            "weight": weight, "created_by": "test", "created_at": AT})


def link(link_id: str, from_id: str, from_department: str, to_type: str, to_id: str,
         to_department: str, kind: str = "depends_on", removed: bool = False) -> CloudEvent:
    return new_event(EventType.LINK_REMOVED if removed else EventType.LINK_CREATED,
                     "/okr/goals", f"link/{link_id}", {
                         "id": link_id, "version": 1, "kind": kind, "from_type": "objective",
                         "from_id": from_id, "from_department": from_department,
                         "to_type": to_type, "to_id": to_id, "to_department": to_department,
                         "note": "", "created_by": "test", "created_at": AT})


class GoalsTopic:
    """Publishes goal events to ``okr.goals.v1`` keyed like the goals relay does."""

    def __init__(self, kafka: KafkaSettings) -> None:
        ensure_topics(kafka, "test-goals-topic-admin")
        self.producer: KafkaProducer = new_producer(kafka, "test-goals-topic")

    def send(self, *events: CloudEvent, key: str = "k", raw: bytes | None = None) -> None:
        for event in events:
            self.producer.send(Topic.GOALS.value, key=key.encode(), value=event.to_json())
        if raw is not None:
            self.producer.send(Topic.GOALS.value, key=key.encode(), value=raw)
        self.producer.flush(timeout=10)

    def close(self) -> None:
        self.producer.close(timeout=5)
