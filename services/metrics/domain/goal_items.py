"""The goal items as the metrics read model takes them from ``okr.goals.v1``.

Each carries the version the goals service gave it: 1 when created, +1 on every change
(a check-in included). A deletion carries the last version the item had.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class InvalidGoalItem(ValueError):
    """The item breaks a rule of the contract: the consumer dead-letters the event."""


class ObjectiveKind(StrEnum):
    DEPARTMENT = "department"
    COLLECTIVE = "collective"


class Measure(StrEnum):
    INCREASE = "increase"
    DECREASE = "decrease"
    BOOLEAN = "boolean"


class Aggregation(StrEnum):
    CHECK_INS = "check_ins"
    SUM = "sum"


class ItemType(StrEnum):
    OBJECTIVE = "objective"
    KEY_RESULT = "key_result"


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise InvalidGoalItem(message)


def _finite(*values: float) -> bool:
    return all(math.isfinite(value) for value in values)


@dataclass(frozen=True, slots=True)
class CycleState:
    key: str
    version: int
    starts_on: date
    ends_on: date

    def __post_init__(self) -> None:
        _require(self.ends_on >= self.starts_on, "a cycle cannot end before it starts")


@dataclass(frozen=True, slots=True)
class ObjectiveState:
    id: str
    version: int
    cycle: str
    kind: ObjectiveKind
    departments: tuple[str, ...]
    title: str = ""
    archived: bool = False
    owner: str = ""


@dataclass(frozen=True, slots=True)
class KeyResultState:
    """A key result; ``current`` is the latest checked-in value (None: no check-in, so start).

    ``last_checkin_at`` is in POSIX seconds. A summing key result's ``current`` is ignored:
    the read model adds up its contributors instead.
    """

    id: str
    version: int
    objective_id: str
    measure: Measure
    start: float
    target: float
    weight: float = 1.0
    aggregation: Aggregation = Aggregation.CHECK_INS
    current: float | None = None
    confidence: float | None = None
    last_checkin_at: float | None = None
    title: str = ""
    unit: str = ""
    # the latest check-ins (POSIX seconds, value, version), oldest first: loaded from the
    # read model; events carry only the latest, which the graph adds (``forecast.merged``)
    history: tuple[tuple[float, float, int], ...] = ()

    def __post_init__(self) -> None:
        # Built once per event by the metrics consumer: the checks are written out, and
        # ``x - x == 0.0`` is math.isfinite(x) without a call (inf - inf and NaN give NaN).
        start, target, weight, current, confidence = (
            self.start, self.target, self.weight, self.current, self.confidence)
        if not (start - start == 0.0 and target - target == 0.0 and weight - weight == 0.0):
            raise InvalidGoalItem("numbers must be finite")
        if current is not None and not current - current == 0.0:
            raise InvalidGoalItem("current must be finite")
        if target == start:
            raise InvalidGoalItem("target must differ from start")
        if weight < 0.0:
            raise InvalidGoalItem("weight must not be negative")
        if confidence is not None and not 0.0 <= confidence <= 1.0:
            raise InvalidGoalItem("confidence must be between 0 and 1")


@dataclass(frozen=True, slots=True)
class ContributionState:
    """A roll-up edge: the child's progress (or, into a summing key result, its value)."""

    id: str
    version: int
    child_type: ItemType
    child_id: str
    parent_type: ItemType
    parent_id: str
    weight: float = 1.0

    def __post_init__(self) -> None:
        _require(_finite(self.weight) and self.weight >= 0.0,
                 "weight must be finite and not negative")
        _require(not (self.child_type is ItemType.OBJECTIVE
                      and self.parent_type is ItemType.KEY_RESULT),
                 "an objective contributes to objectives only")


@dataclass(frozen=True, slots=True)
class LinkState:
    """A link from one department's item to another's: kept beside the roll-up graph,
    not part of it."""

    id: str
    version: int
    kind: str
    from_type: str
    from_id: str
    from_department: str
    to_type: str
    to_id: str
    to_department: str
