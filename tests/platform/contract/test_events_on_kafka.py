"""Through the relay, every goals event type reaches ``okr.goals.v1`` as its schema says."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from services.goals.bootstrap import Goals
from shared.cloudevents import KAFKA_CONTENT_TYPE, parse_event
from shared.config import KafkaSettings
from shared.contract import Topic
from shared.contract.schemas import DOCUMENTED_EVENT_TYPES, validate_event_data
from tests.platform.contract.conftest import CYCLE, Builder, Callers, Outbox
from tests.support.kafka import read_topic


def _ok(response: Any, status: int) -> Any:
    assert response.status_code == status, response.get_data(as_text=True)
    return response.get_json(silent=True)


def _every_kind_of_write(callers: Callers, build: Builder) -> None:
    """At least one write of each documented event type, as the callers who may make them."""
    admin, head = callers.admin, callers.sales_head
    _ok(admin.post("/v1/departments", json={"key": "legal", "name": "Legal"}), 201)
    _ok(admin.patch("/v1/departments/legal", json={"name": "Legal & IP"},
                    headers={"If-Match": '"1"'}), 200)
    _ok(admin.patch(f"/v1/cycles/{CYCLE}", json={"name": "Q4"}, headers={"If-Match": '"1"'}),
        200)
    objective = build.objective("sales")
    collective, finance = build.objective("sales+marketing"), build.objective("finance")
    _ok(head.patch(f"/v1/objectives/{objective['id']}", json={"owner": "Kim"},
                   headers={"If-Match": '"1"'}), 200)
    key_result = _ok(head.post(f"/v1/objectives/{objective['id']}/key-results", json={
        "title": "Deals", "measure": "increase", "start": 0, "target": 20, "unit": "deals"}),
        201)
    _ok(head.patch(f"/v1/key-results/{key_result['id']}", json={"target": 25},
                   headers={"If-Match": '"1"'}), 200)
    _ok(head.post(f"/v1/key-results/{key_result['id']}/check-ins",
                  json={"value": 4, "confidence": 0.8}), 201)
    contribution = _ok(head.post("/v1/contributions", json={
        "child_type": "objective", "child_id": objective["id"],
        "parent_type": "objective", "parent_id": collective["id"]}), 201)
    _ok(head.delete(f"/v1/contributions/{contribution['id']}"), 204)
    link = _ok(head.post("/v1/links", json={
        "kind": "funded_by", "from_type": "key_result", "from_id": key_result["id"],
        "to_type": "objective", "to_id": finance["id"]}), 201)
    _ok(head.delete(f"/v1/links/{link['id']}"), 204)
    build.contribution(objective, collective)
    build.link(finance, objective, kind="supports")
    _ok(head.delete(f"/v1/key-results/{key_result['id']}", headers={"If-Match": '"3"'}), 204)
    _ok(head.delete(f"/v1/objectives/{objective['id']}", headers={"If-Match": '"2"'}), 204)


def test_every_goals_event_reaches_kafka_valid_keyed_and_in_order(
    callers: Callers, build: Builder, goals: Goals, outbox: Outbox,
    kafka_settings: KafkaSettings, run_in_background: Any
) -> None:
    run_in_background(goals.relay().run)
    _every_kind_of_write(callers, build)
    written = outbox.since(0)

    records = read_topic(kafka_settings, Topic.GOALS, expect=len(written))

    assert sorted(record.value.decode() for record in records) == sorted(
        row.payload for row in written)
    key_of = {row.event_id: row.key for row in written}
    by_partition: dict[tuple[str, int], list[str]] = defaultdict(list)
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        event = parse_event(record.value)
        validate_event_data(event.type, event.data)
        assert record.key.decode() == key_of[event.id]
        headers = dict(record.headers)
        assert headers["content-type"] == KAFKA_CONTENT_TYPE.encode()
        assert headers["ce_id"] == event.id.encode()
        by_partition[record.key.decode(), record.partition].append(event.id)
    assert {row.event_type for row in written} == {t.value for t in DOCUMENTED_EVENT_TYPES}
    # One key, one partition, and the outbox (commit) order.
    assert len({key for key, _ in by_partition}) == len(by_partition)
    for (key, _), event_ids in by_partition.items():
        assert event_ids == [row.event_id for row in written if row.key == key]
