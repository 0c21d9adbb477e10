"""``shared/contract/asyncapi.yaml`` documents every topic, event type and dead-letter header."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

import shared.messaging.dead_letters
from shared.contract import TOPIC_OF, EventType, Topic
from shared.contract.schemas import DOCUMENTED_EVENT_TYPES


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    text = resources.files("shared.contract").joinpath("asyncapi.yaml").read_text("utf-8")
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


def _channel(document: dict[str, Any], address: str) -> dict[str, Any]:
    (channel,) = [c for c in document["channels"].values() if c["address"] == address]
    return channel


def _resolve(document: dict[str, Any], reference: str) -> Any:
    node: Any = document
    for part in reference.removeprefix("#/").split("/"):
        node = node[part]
    return node


def _messages_of(document: dict[str, Any], address: str) -> dict[str, dict[str, Any]]:
    """The channel's messages by name (the event type)."""
    messages = [_resolve(document, m["$ref"])
                for m in _channel(document, address)["messages"].values()]
    return {message["name"]: message for message in messages}


def _references(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [ref for key, value in node.items()
                for ref in ([value] if key == "$ref" else _references(value))]
    if isinstance(node, list):
        return [ref for value in node for ref in _references(value)]
    return []


def test_document_is_asyncapi_3_and_names_every_topic_and_its_dead_letter_topic(
    document: dict[str, Any]
) -> None:
    assert document["asyncapi"].startswith("3.")
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert addresses == {t.value for t in Topic} | {t.dead_letter for t in Topic}


def test_every_event_type_is_a_message_of_its_topic(document: dict[str, Any]) -> None:
    for topic in Topic:
        assert set(_messages_of(document, topic.value)) == {
            t.value for t, of in TOPIC_OF.items() if of is topic}


@pytest.mark.parametrize("event_type", sorted(DOCUMENTED_EVENT_TYPES), ids=str)
def test_goals_event_references_its_json_schema_and_explains_its_key(
    document: dict[str, Any], event_type: EventType
) -> None:
    message = _messages_of(document, Topic.GOALS.value)[event_type.value]
    envelope, specific = message["payload"]["allOf"]
    assert envelope == {"$ref": "#/components/schemas/CloudEvent"}
    assert specific["properties"]["type"] == {"const": event_type.value}
    reference = specific["properties"]["data"]["$ref"]
    assert reference == f"./schemas/{event_type.value}.json"
    assert resources.files("shared.contract").joinpath(reference.removeprefix("./")).is_file()
    assert message["bindings"]["kafka"]["key"]["description"]


def test_every_internal_reference_resolves(document: dict[str, Any]) -> None:
    internal = [ref for ref in _references(document) if ref.startswith("#/")]
    assert internal
    for reference in internal:
        assert _resolve(document, reference) is not None, reference


def test_dead_letter_headers_are_the_ones_the_consumer_writes(document: dict[str, Any]) -> None:
    source = Path(shared.messaging.dead_letters.__file__).read_text(encoding="utf-8")
    written = set(re.findall(r'"(okr-dlq-[a-z-]+)"', source))
    headers = document["components"]["schemas"]["DeadLetterHeaders"]
    assert written
    assert set(headers["required"]) == set(headers["properties"]) == written
    for topic in Topic:
        assert set(_messages_of(document, topic.dead_letter)) == {"dead-letter"}
