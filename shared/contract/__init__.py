"""The public event contract: topic names and event types, defined here and nowhere else.

Other internal systems subscribe to these topics, so names never change within a version:
additive changes (a new event type, a new optional field) stay in ``v1``; anything else is
a new type or a new topic.

Beside these names: the JSON Schemas of every event's ``data`` (``schemas/``, referenced by
``asyncapi.yaml``), and one typed decoder per consumed topic that both consumers use
(:mod:`shared.contract.goal_events`, :mod:`shared.contract.rollup_events`), held equal to
the schemas by ``tests/platform/contract/test_typed_decoders.py``.
"""

from __future__ import annotations

from enum import StrEnum


class Topic(StrEnum):
    GOALS = "okr.goals.v1"
    ROLLUPS = "okr.rollups.v1"
    NOTIFICATIONS = "okr.notifications.v1"

    @property
    def dead_letter(self) -> str:
        """Where consumers of this topic put messages they cannot process."""
        return dead_letter_topic(self.value)


def dead_letter_topic(topic: str) -> str:
    return f"{topic}.dlq"


class EventType(StrEnum):
    # okr.goals.v1: the brief's contract ...
    OBJECTIVE_CREATED = "okr.objective.created"
    OBJECTIVE_UPDATED = "okr.objective.updated"
    OBJECTIVE_DELETED = "okr.objective.deleted"
    KEY_RESULT_CREATED = "okr.key_result.created"
    KEY_RESULT_UPDATED = "okr.key_result.updated"
    KEY_RESULT_DELETED = "okr.key_result.deleted"
    KEY_RESULT_CHECKED_IN = "okr.key_result.checked_in"
    CONTRIBUTION_ADDED = "okr.contribution.added"
    CONTRIBUTION_REMOVED = "okr.contribution.removed"
    LINK_CREATED = "okr.link.created"
    LINK_REMOVED = "okr.link.removed"
    # ... and additive types for the reference data every goal event refers to.
    DEPARTMENT_CREATED = "okr.department.created"
    DEPARTMENT_UPDATED = "okr.department.updated"
    CYCLE_CREATED = "okr.cycle.created"
    CYCLE_UPDATED = "okr.cycle.updated"
    # okr.rollups.v1
    ROLLUP_CHANGED = "okr.rollup.changed"
    OBJECTIVE_STATUS_CHANGED = "okr.objective.status_changed"
    # okr.notifications.v1
    NOTIFICATION_DELIVERED = "okr.notification.delivered"
    NOTIFICATION_FAILED = "okr.notification.failed"


TOPIC_OF: dict[EventType, Topic] = {
    EventType.OBJECTIVE_CREATED: Topic.GOALS,
    EventType.OBJECTIVE_UPDATED: Topic.GOALS,
    EventType.OBJECTIVE_DELETED: Topic.GOALS,
    EventType.KEY_RESULT_CREATED: Topic.GOALS,
    EventType.KEY_RESULT_UPDATED: Topic.GOALS,
    EventType.KEY_RESULT_DELETED: Topic.GOALS,
    EventType.KEY_RESULT_CHECKED_IN: Topic.GOALS,
    EventType.CONTRIBUTION_ADDED: Topic.GOALS,
    EventType.CONTRIBUTION_REMOVED: Topic.GOALS,
    EventType.LINK_CREATED: Topic.GOALS,
    EventType.LINK_REMOVED: Topic.GOALS,
    EventType.DEPARTMENT_CREATED: Topic.GOALS,
    EventType.DEPARTMENT_UPDATED: Topic.GOALS,
    EventType.CYCLE_CREATED: Topic.GOALS,
    EventType.CYCLE_UPDATED: Topic.GOALS,
    EventType.ROLLUP_CHANGED: Topic.ROLLUPS,
    EventType.OBJECTIVE_STATUS_CHANGED: Topic.ROLLUPS,
    EventType.NOTIFICATION_DELIVERED: Topic.NOTIFICATIONS,
    EventType.NOTIFICATION_FAILED: Topic.NOTIFICATIONS,
}
"""The one topic each event type is published on (written out: names are not parsed)."""

GOALS_SOURCE = "/okr/goals"
METRICS_SOURCE = "/okr/metrics"
NOTIFICATIONS_SOURCE = "/okr/notifications"

SOURCE_OF: dict[Topic, str] = {
    Topic.GOALS: GOALS_SOURCE,
    Topic.ROLLUPS: METRICS_SOURCE,
    Topic.NOTIFICATIONS: NOTIFICATIONS_SOURCE,
}
"""The CloudEvents ``source`` of the one service that publishes each topic.

Consumers refuse (dead-letter) an event whose ``source`` is not its topic's producer. This
is a guard against mistakes and careless integrators, not against an attacker who can write
to the topic (anyone can write any ``source``): in production, Kafka ACLs let only the
producing service's principal write each topic (``docker-compose.yml``, ``deploy/k8s``).
"""

ALL_TOPICS: tuple[str, ...] = tuple(t.value for t in Topic) + tuple(
    t.dead_letter for t in Topic
)
