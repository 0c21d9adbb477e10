"""Every event the services emit during the test suite is checked against its JSON Schema.

Each service writes its events through :meth:`shared.persistence.outbox.Outbox.row` (the
single place an event becomes an outbox row, whether appended alone or in bulk), so the
suite watches that method for the whole session: an event whose ``data`` breaks its schema
fails the test that emitted it, and a run of the whole suite fails when some event type of
the contract was never emitted (its schema would then be checked by nothing).

Events emitted by child processes (gunicorn workers, killed consumers) are not seen here;
the same code paths run in-process elsewhere in the suite.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shared.cloudevents import CloudEvent
from shared.contract import EventType
from shared.contract.schemas import InvalidEventData, UndocumentedEventType, validate_event_data
from shared.persistence.outbox import Outbox


@dataclass
class EmittedEvents:
    counts: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _original: Callable[..., dict[str, Any]] | None = None

    def install(self) -> None:
        original = Outbox.row
        self._original = original
        watcher = self

        def row(outbox: Outbox, event: CloudEvent, key: str) -> dict[str, Any]:
            watcher.check(event)
            return original(outbox, event, key)

        Outbox.row = row  # type: ignore[method-assign]

    def uninstall(self) -> None:
        if self._original is not None:
            Outbox.row = self._original  # type: ignore[method-assign]

    def check(self, event: CloudEvent) -> None:
        problem = None
        try:
            validate_event_data(event.type, event.data)
        except (InvalidEventData, UndocumentedEventType) as error:
            problem = f"{event.type} {event.id}: {error}"
        with self._lock:
            self.counts[event.type] += 1
            if problem:
                self.violations.append(problem)

    def violations_since(self, mark: int) -> list[str]:
        with self._lock:
            return self.violations[mark:]

    def never_emitted(self) -> list[str]:
        return sorted(t.value for t in EventType if self.counts[t.value] == 0)
