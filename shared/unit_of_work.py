"""The unit-of-work port every service's own extends with the repositories it exposes.

A use case runs as ``with uow: ...; uow.commit()``: what it changes and the events it
publishes commit together or not at all. The SQLAlchemy side is
:mod:`shared.persistence.unit_of_work` (metrics, notifications) and the goals service's
adapters.
"""

from __future__ import annotations

from types import TracebackType
from typing import Protocol, Self

from shared.cloudevents import CloudEvent


class UnitOfWork(Protocol):
    def __enter__(self) -> Self: ...

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None: ...

    def commit(self) -> None: ...

    def publish(self, events: list[tuple[CloudEvent, str]]) -> None:
        """Add (event, Kafka key) pairs to the outbox, in this unit's transaction."""
