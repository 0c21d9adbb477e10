"""The unit of work of the metrics service, and the repositories it exposes (ports).

Every write runs in one unit of work: ``with uow: ...; uow.commit()``. The consumer's batch
handler works inside the consumer runner's transaction (given its connection, the unit
begins and commits nothing: the runner commits the read model, the roll-up events and the
processed event ids together); the status tick and the rebuild open their own. Nothing is
queued: every repository call runs its statements at once, in the unit's transaction.

The SQLAlchemy implementations are in ``services/metrics/adapters`` (``unit_of_work.py``
builds them); the composition root (``bootstrap.py``) hands the service layer a
:class:`UnitOfWorkFactory`. The API's reads (``adapters/rollup_queries.py``,
``adapters/exposition.py``) are queries on the read model, outside any use case.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from sqlalchemy import Connection

from services.metrics.domain.explain import Kept
from services.metrics.domain.goal_items import LinkState
from services.metrics.domain.graph import Window
from services.metrics.domain.rollup import RollupGraph
from shared import unit_of_work


class ReadModel(Protocol):
    """The roll-up figures as the API and ``/metrics`` read them."""

    def write_items(self, graph: RollupGraph, objective_ids: set[str], key_result_ids: set[str],
                    contribution_ids: set[str], cycle_keys: set[str],
                    outlooks: dict[str, Kept] | None = None) -> None:
        """Write what the graph now holds for these items; delete the rows of those it lost;
        ``outlooks``: what each objective's outlook is told from (none: not kept)."""

    def write_removals(self, removals: dict[tuple[str, str], int]) -> None:
        """Keep (item type, id) -> the version each item was removed at (the greater)."""

    def add_check_ins(self, counts: dict[tuple[str, str], int]) -> None:
        """Add to each (department, cycle) check-in counter."""

    def write_links(self, links: Iterable[LinkState]) -> None: ...

    def delete_links(self, link_ids: Iterable[str]) -> None: ...

    def empty(self) -> None:
        """Delete every read-model row (a rebuild starts from nothing)."""

    def start_rebuild(self, at: datetime) -> None:
        """Note a rebuild started ``at`` (in place of any that stopped midway)."""

    def finish_rebuild(self, at: datetime) -> None:
        """Note that the rebuild started last has finished ``at``."""

    def unfinished_rebuild(self) -> datetime | None:
        """When the rebuild that has not finished (running, or stopped midway) started."""

    def load_graph(self, graph: RollupGraph) -> dict[str, int]:
        """Fill an empty graph; return the link versions (removed links: negative)."""

    def load_links(self) -> list[LinkState]:
        """The links held (beside the graph: the dependencies an explanation names)."""

    def key_result_title(self, key_result_id: str) -> str | None:
        """A key result's title as written (the consumer's graph does not keep it)."""

    def windows_of(self, key_result_ids: Iterable[str]) -> dict[str, Window]:
        """The check-in windows of these key results as written (the consumer's graph
        keeps only their paces), in one read; a key result without a row: ``()``."""


class ProcessedEvents(Protocol):
    """The ids of the events a consumer group has applied."""

    def forget(self, consumer: str) -> None: ...

    def record_new(self, consumer: str, event_ids: Iterable[str], at: datetime) -> set[str]:
        """Record ``event_ids`` as the group's; return those it had not recorded before."""


class UnitOfWork(unit_of_work.UnitOfWork, Protocol):
    @property
    def read_model(self) -> ReadModel: ...

    @property
    def processed(self) -> ProcessedEvents: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self, connection: Connection | None = None, *,
                 writes: bool = True) -> UnitOfWork:
        """A unit on its own transaction, or inside ``connection``'s (its owner commits);
        ``writes=False``: reads only (on SQLite no write lock is taken)."""
