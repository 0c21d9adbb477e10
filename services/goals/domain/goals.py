"""Objectives, key results and check-ins: the goals every roll-up is made of."""

from __future__ import annotations

import math
import uuid
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from services.goals.domain.errors import InvalidInput
from services.goals.domain.state import serialise_state

MAX_TITLE = 200
MAX_DESCRIPTION = 4000
MAX_OWNER = 100
MAX_UNIT = 20
MAX_NOTE = 2000

CLOCK_SKEW = timedelta(minutes=5)
"""How far in the future a check-in's ``observed_at`` may lie: the sender's clock may run
ahead of ours by this much."""
EARLIEST_OBSERVATION = datetime(2000, 1, 1, tzinfo=UTC)
"""The earliest ``observed_at`` taken: the start of the calendar every service accepts
(``shared/web/boundary.py``, ``EARLIEST_DATE``). Not checked against the cycle: a figure
observed before the cycle began (a baseline) is history too."""


def _now() -> datetime:
    return datetime.now(UTC)


def _new_id() -> str:
    return str(uuid.uuid4())


def _text(value: str, field_name: str, maximum: int, minimum: int = 1) -> str:
    value = value.strip()
    if not minimum <= len(value) <= maximum:
        raise InvalidInput(f"must be {minimum} to {maximum} characters", field_name)
    return value


def finite(value: float, field_name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInput("must be a finite number", field_name)
    return float(value)


class ObjectiveKind(StrEnum):
    DEPARTMENT = "department"  # owned by one department
    COLLECTIVE = "collective"  # owned by several departments together: a collective target


class ObjectiveStatus(StrEnum):
    ACTIVE = "active"
    ARCHIVED = "archived"


@dataclass
class Objective:
    cycle: str
    kind: ObjectiveKind
    departments: list[str]
    owner: str
    title: str
    description: str = ""
    status: ObjectiveStatus = ObjectiveStatus.ACTIVE
    id: str = field(default_factory=_new_id)
    version: int = 1
    created_at: datetime = field(default_factory=_now)
    updated_at: datetime = field(default_factory=_now)

    @classmethod
    def new(cls, *, cycle: str, kind: ObjectiveKind, departments: list[str], owner: str,
            title: str, description: str = "") -> Objective:
        departments = sorted(set(departments))
        if kind is ObjectiveKind.DEPARTMENT and len(departments) != 1:
            raise InvalidInput("a department objective has exactly one department", "departments")
        if kind is ObjectiveKind.COLLECTIVE and len(departments) < 2:
            raise InvalidInput("a collective objective has at least two departments",
                               "departments")
        return cls(cycle=cycle, kind=kind, departments=departments,
                   owner=_text(owner, "owner", MAX_OWNER), title=_text(title, "title", MAX_TITLE),
                   description=_text(description, "description", MAX_DESCRIPTION, minimum=0))

    @property
    def department(self) -> str | None:
        """The owning department of a department objective; None for a collective one."""
        return self.departments[0] if self.kind is ObjectiveKind.DEPARTMENT else None

    def is_owned_by(self, department: str) -> bool:
        return department in self.departments

    def change(self, *, title: str | None = None, description: str | None = None,
               owner: str | None = None, status: ObjectiveStatus | None = None) -> None:
        if title is not None:
            self.title = _text(title, "title", MAX_TITLE)
        if description is not None:
            self.description = _text(description, "description", MAX_DESCRIPTION, minimum=0)
        if owner is not None:
            self.owner = _text(owner, "owner", MAX_OWNER)
        if status is not None:
            self.status = status
        self.version += 1
        self.updated_at = _now()

    def state(self) -> dict[str, Any]:
        return serialise_state(asdict(self))


def _flat_fields(item: Any) -> dict[str, Any]:
    """A dataclass's fields as a dict, for items whose fields are all immutable scalars
    (``asdict`` deep-copies every value, which costs more than the rest of a check-in's
    state handling)."""
    return {f.name: getattr(item, f.name) for f in fields(item)}


class Measure(StrEnum):
    INCREASE = "increase"
    DECREASE = "decrease"
    BOOLEAN = "boolean"


class Aggregation(StrEnum):
    CHECK_INS = "check_ins"  # the value comes from the key result's own check-ins
    SUM = "sum"  # the value is the sum of the key results contributing to it (same unit)


@dataclass
class KeyResult:
    objective_id: str
    title: str
    measure: Measure
    start: float
    target: float
    unit: str
    weight: float = 1.0
    aggregation: Aggregation = Aggregation.CHECK_INS
    current: float = 0.0
    confidence: float | None = None
    last_checkin_at: datetime | None = None
    observed_at: datetime | None = None  # when ``current`` was true (None: never checked in)
    id: str = field(default_factory=_new_id)
    version: int = 1
    created_at: datetime = field(default_factory=_now)
    updated_at: datetime = field(default_factory=_now)

    @classmethod
    def new(cls, *, objective_id: str, title: str, measure: Measure, start: float | None,
            target: float | None, unit: str | None, weight: float = 1.0,
            aggregation: Aggregation = Aggregation.CHECK_INS) -> KeyResult:
        if measure is Measure.BOOLEAN:
            if aggregation is Aggregation.SUM:
                raise InvalidInput("a boolean key result cannot sum others", "aggregation")
            start, target, unit = 0.0, 1.0, unit or ""
        else:
            if start is None:
                raise InvalidInput("is required for increase and decrease", "start")
            if target is None:
                raise InvalidInput("is required for increase and decrease", "target")
            if not unit or not unit.strip():
                raise InvalidInput("is required for increase and decrease", "unit")
        key_result = cls(objective_id=objective_id, title=_text(title, "title", MAX_TITLE),
                         measure=measure, start=finite(start, "start"),
                         target=finite(target, "target"),
                         unit=_text(unit, "unit", MAX_UNIT, minimum=0), weight=1.0,
                         aggregation=aggregation)
        key_result._check_range()
        key_result.weight = _weight(weight)
        key_result.current = key_result.start
        return key_result

    def _check_range(self) -> None:
        if self.target == self.start:
            raise InvalidInput("must differ from start", "target")
        if self.measure is Measure.INCREASE and self.target < self.start:
            raise InvalidInput("must be above start for an increase", "target")
        if self.measure is Measure.DECREASE and self.target > self.start:
            raise InvalidInput("must be below start for a decrease", "target")

    def change(self, *, title: str | None = None, start: float | None = None,
               target: float | None = None, unit: str | None = None,
               weight: float | None = None) -> None:
        """Change what the caller sent; the rules of :meth:`new` hold after it. The measure
        and the aggregation never change (what feeds a sum depends on them), and until the
        first check-in the current value follows the start."""
        if self.measure is Measure.BOOLEAN and (start is not None or target is not None):
            raise InvalidInput("a boolean key result always runs from 0 to 1", "target")
        if title is not None:
            self.title = _text(title, "title", MAX_TITLE)
        if start is not None:
            self.start = finite(start, "start")
        if target is not None:
            self.target = finite(target, "target")
        if unit is not None:
            self.unit = _text(unit, "unit", MAX_UNIT)
        self._check_range()
        if weight is not None:
            self.weight = _weight(weight)
        if self.last_checkin_at is None:
            self.current = self.start
        self._touch()

    def record_value(self, value: float, confidence: float | None, at: datetime,
                     observed_at: datetime | None = None) -> bool:
        """A checked-in value, recorded ``at`` and true at ``observed_at`` (default: ``at``).

        The latest observation wins: the value (and its confidence) becomes current unless
        the current value was observed later (an older figure arriving late is history
        only); of two observed at the same moment, the one recorded later wins. Either way
        the key result changes version, as every check-in does. True if the value became
        current.
        """
        value = finite(value, "value")
        if self.measure is Measure.BOOLEAN and value not in (0.0, 1.0):
            raise InvalidInput("a boolean key result takes 0 or 1 (false or true)", "value")
        if confidence is not None:
            confidence = finite(confidence, "confidence")
            if not 0.0 <= confidence <= 1.0:
                raise InvalidInput("must be between 0 and 1", "confidence")
        observed = at if observed_at is None else observed_at
        latest = self.observed_at is None or observed >= self.observed_at
        if latest:
            if confidence is not None:
                self.confidence = confidence
            self.current = value
            # the check-in's own time: a backdated figure is as old as it says, so a key
            # result whose latest figure is a month old is stale whenever it was sent
            self.last_checkin_at = observed
            self.observed_at = observed
        self._touch()
        return latest

    def _touch(self) -> None:
        self.version += 1
        self.updated_at = _now()

    def state(self) -> dict[str, Any]:
        return serialise_state(_flat_fields(self))


def _weight(weight: float) -> float:
    weight = finite(weight, "weight")
    if weight < 0:
        raise InvalidInput("must not be negative", "weight")
    return weight


class CheckInSource(StrEnum):
    PERSON = "person"
    SYSTEM = "system"  # pushed by an internal system (CRM, finance, ERP)


@dataclass
class CheckIn:
    key_result_id: str
    value: float
    confidence: float | None
    note: str
    author: str
    source: CheckInSource
    id: str = field(default_factory=_new_id)
    created_at: datetime = field(default_factory=_now)
    observed_at: datetime = None  # type: ignore[assignment]  # set by __post_init__
    """When the value was true (given by the sender); ``created_at`` unless given."""

    def __post_init__(self) -> None:
        if self.observed_at is None:
            self.observed_at = self.created_at

    @classmethod
    def new(cls, *, key_result_id: str, value: float, confidence: float | None, note: str,
            author: str, source: CheckInSource, observed_at: datetime | None = None
            ) -> CheckIn:
        """``observed_at`` may not lie in the future (beyond :data:`CLOCK_SKEW`), nor before
        :data:`EARLIEST_OBSERVATION`; it needs an offset."""
        created_at = _now()
        if observed_at is not None:
            if observed_at.utcoffset() is None:
                raise InvalidInput("must carry its UTC offset (e.g. 2026-11-02T09:30:00Z)",
                                   "observed_at")
            if observed_at < EARLIEST_OBSERVATION:
                raise InvalidInput(f"must not be before {EARLIEST_OBSERVATION.isoformat()}",
                                   "observed_at")
            if observed_at > created_at + CLOCK_SKEW:
                raise InvalidInput("must not be in the future (more than "
                                   f"{int(CLOCK_SKEW.total_seconds() // 60)} minutes ahead "
                                   "of the server's clock)", "observed_at")
            observed_at = observed_at.astimezone(UTC)  # in range: the checks above
        return cls(key_result_id=key_result_id, value=finite(value, "value"),
                   confidence=confidence, note=_text(note, "note", MAX_NOTE, minimum=0),
                   author=_text(author, "author", MAX_OWNER), source=source,
                   created_at=created_at, observed_at=observed_at or created_at)

    def state(self) -> dict[str, Any]:
        return serialise_state(_flat_fields(self))
