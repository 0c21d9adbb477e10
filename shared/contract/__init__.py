"""The public event contract: topic names and event types, defined here and nowhere else.

Other internal systems subscribe to these topics, so names never change within a version:
additive changes (a new event type, a new optional field) stay in ``v1``; anything else is
a new type or a new topic.
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
    **{
        event_type: Topic.GOALS
        for event_type in EventType
        if event_type.value.split(".")[1]
        in {"objective", "key_result", "contribution", "link", "department", "cycle"}
        and event_type is not EventType.OBJECTIVE_STATUS_CHANGED
    },
    EventType.ROLLUP_CHANGED: Topic.ROLLUPS,
    EventType.OBJECTIVE_STATUS_CHANGED: Topic.ROLLUPS,
    EventType.NOTIFICATION_DELIVERED: Topic.NOTIFICATIONS,
    EventType.NOTIFICATION_FAILED: Topic.NOTIFICATIONS,
}

ALL_TOPICS: tuple[str, ...] = tuple(t.value for t in Topic) + tuple(
    t.dead_letter for t in Topic
)
