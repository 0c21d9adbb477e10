"""The consumer example of docs/events.md works, as written, against the embedded broker.

The example is taken from the page; only its bootstrap address is pointed at the test's
broker. It reads a check-in event published as the goals relay publishes one (CloudEvent
value, the platform's headers, the objective id as key), prints what it read, and the test
stops it there.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer

from shared.cloudevents import KAFKA_CONTENT_TYPE
from shared.contract import EventType, Topic
from tests.support.contract_events import new_event
from tools.embedded_broker import EmbeddedBroker

EVENTS_PAGE = Path(__file__).resolve().parents[3] / "docs" / "events.md"
AT = "2026-11-26T10:00:00Z"
OBJECTIVE = "7c1e1a2e-2b1d-4b8e-9a51-3f0c3f0b6a01"
KEY_RESULT = "0b7f7a5e-8d3c-4f7e-8a0e-5c9b1e2d3f40"

pytestmark = pytest.mark.timeout(60)


class _Read(Exception):
    """Ends the example's endless loop once it printed what it read."""


def example() -> str:
    section = EVENTS_PAGE.read_text().split("\n## Consuming as an integrator\n", 1)[1]
    block = re.search(r"^```python\n(.*?)^```", section, re.MULTILINE | re.DOTALL)
    assert block is not None
    return block.group(1)


def checked_in_event() -> Any:
    key_result = {
        "id": KEY_RESULT, "objective_id": OBJECTIVE, "title": "sales-sourced revenue",
        "measure": "increase", "start": 0, "target": 500000, "unit": "EUR", "weight": 1,
        "aggregation": "check_ins", "current": 180000, "confidence": 0.7,
        "last_checkin_at": AT, "version": 2, "created_at": AT, "updated_at": AT}
    check_in = {
        "id": "5d0c2b8e-1f3a-4c6d-9e7f-2a1b3c4d5e6f", "key_result_id": KEY_RESULT,
        "value": 180000, "confidence": 0.7, "note": "two enterprise deals closed",
        "author": "CRM sync", "source": "system", "created_at": AT}
    return new_event(EventType.KEY_RESULT_CHECKED_IN, "/okr/goals",
                     f"key-result/{KEY_RESULT}", {"key_result": key_result, "check_in": check_in})


def test_the_integrators_consumer_example_reads_a_check_in(broker: EmbeddedBroker) -> None:
    event = checked_in_event()
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap_servers, acks="all")
    producer.send(Topic.GOALS.value, key=OBJECTIVE.encode(), value=event.to_json(),
                  headers=[("content-type", KAFKA_CONTENT_TYPE.encode()),
                           ("ce_id", event.id.encode())]).get(timeout=10)
    producer.close()

    code = example()
    assert '"127.0.0.1:9092"' in code
    printed: list[tuple[Any, ...]] = []

    def print_and_stop(*values: Any) -> None:
        printed.append(values)
        raise _Read

    namespace: dict[str, Any] = {"print": print_and_stop}
    try:
        with pytest.raises(_Read):
            exec(code.replace('"127.0.0.1:9092"', repr(broker.bootstrap_servers)), namespace)
    finally:
        if "consumer" in namespace:
            namespace["consumer"].close()
    assert printed == [(event.id, KEY_RESULT, 180000)]
