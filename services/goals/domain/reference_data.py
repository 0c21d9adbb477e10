"""Reference data every goal hangs off: departments and cycles."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from services.goals.domain.errors import InvalidInput
from services.goals.domain.state import serialise_state
from shared.contract.keys import CYCLE_KEY, DEPARTMENT_KEY, DEPARTMENT_KEY_FORM

MAX_CYCLE_DAYS = 731

#: Present after the first start, as the brief requires.
DEFAULT_DEPARTMENTS = {
    "sales": "Sales",
    "marketing": "Marketing",
    "finance": "Finance",
    "production": "Production",
}


def _now() -> datetime:
    return datetime.now(UTC)


def _check_name(name: str, field_name: str = "name") -> str:
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise InvalidInput("must be 1 to 100 characters", field_name)
    return name


@dataclass
class Department:
    key: str
    name: str
    version: int = 1
    created_at: datetime = field(default_factory=_now)
    updated_at: datetime = field(default_factory=_now)

    @classmethod
    def new(cls, key: str, name: str) -> Department:
        if not DEPARTMENT_KEY.fullmatch(key):  # fullmatch: '$' would let 'sales\n' pass
            raise InvalidInput(f"must be {DEPARTMENT_KEY_FORM}", "key")
        return cls(key=key, name=_check_name(name))

    def rename(self, name: str) -> None:
        self.name = _check_name(name)
        self._touch()

    def _touch(self) -> None:
        self.version += 1
        self.updated_at = _now()

    def state(self) -> dict[str, Any]:
        return serialise_state(asdict(self))


@dataclass
class Cycle:
    key: str
    name: str
    starts_on: date
    ends_on: date
    version: int = 1
    created_at: datetime = field(default_factory=_now)
    updated_at: datetime = field(default_factory=_now)

    @classmethod
    def new(cls, key: str, starts_on: date, ends_on: date, name: str | None = None) -> Cycle:
        if not CYCLE_KEY.fullmatch(key):
            raise InvalidInput(
                "must be 1 to 40 letters, digits, '.', '_' or '-', starting with a letter or digit",
                "key",
            )
        cycle = cls(key=key, name=_check_name(name or key), starts_on=starts_on, ends_on=ends_on)
        cycle._check_dates()
        return cycle

    def change(self, *, name: str | None, starts_on: date | None, ends_on: date | None) -> None:
        if name is not None:
            self.name = _check_name(name)
        self.starts_on = starts_on or self.starts_on
        self.ends_on = ends_on or self.ends_on
        self._check_dates()
        self.version += 1
        self.updated_at = _now()

    def _check_dates(self) -> None:
        if self.ends_on <= self.starts_on:
            raise InvalidInput("must be after starts_on", "ends_on")
        if (self.ends_on - self.starts_on).days > MAX_CYCLE_DAYS:
            raise InvalidInput(f"a cycle may last at most {MAX_CYCLE_DAYS} days", "ends_on")

    def state(self) -> dict[str, Any]:
        return serialise_state(asdict(self))

