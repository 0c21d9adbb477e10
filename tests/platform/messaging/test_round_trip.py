"""A write through the API reaches Kafka as exactly one complete CloudEvent."""

from __future__ import annotations

from services.goals.bootstrap import Goals
from shared.cloudevents import REQUIRED_ATTRIBUTES, parse_event
from shared.config import KafkaSettings
from shared.contract import Topic
from tests.conftest import ApiClient
from tests.support.kafka import event_documents, read_topic


def test_created_cycle_reaches_the_topic_as_one_cloudevent(
    api: ApiClient, goals: Goals, kafka_settings: KafkaSettings, run_in_background
) -> None:
    run_in_background(goals.relay().run)
    response = api.post("/v1/cycles", json={"key": "2026-Q4", "starts_on": "2026-10-01",
                                             "ends_on": "2026-12-31"})
    assert response.status_code == 201, response.json

    records = [r for r in read_topic(kafka_settings, Topic.GOALS, expect=1)
               if r.key == b"2026-Q4"]
    assert len(records) == 1
    document = event_documents(records)[0]
    assert set(REQUIRED_ATTRIBUTES) | {"data"} <= set(document)
    event = parse_event(records[0].value)
    assert event.type == "okr.cycle.created"
    assert event.subject == "cycle/2026-Q4"
    assert event.data["starts_on"] == "2026-10-01"
    assert event.data["version"] == 1
    assert dict(records[0].headers)["ce_id"] == event.id.encode()
