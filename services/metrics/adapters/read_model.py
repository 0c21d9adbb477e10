"""The read model's tables, written in bulk and loaded back into the graph (the service
layer's ``ReadModel`` port), and the processed-event log a rebuild writes.

Writes are multi-row upserts (``INSERT ... ON CONFLICT DO UPDATE``, on SQLite and
PostgreSQL alike) and one ``DELETE ... WHERE id IN (...)`` per table, so a batch of events
costs a handful of statements whatever its size.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, Select, Table, delete, func, insert, select, update

from services.metrics.adapters import tables
from services.metrics.adapters.kept_outlooks import encoded
from services.metrics.domain.attainment import objective_attainment
from services.metrics.domain.explain import Kept
from services.metrics.domain.goal_items import (
    ContributionState,
    CycleState,
    ItemType,
    LinkState,
    ObjectiveKind,
    ObjectiveState,
)
from services.metrics.domain.graph import KeyResultNode, ObjectiveNode, Window
from services.metrics.domain.rollup import RollupGraph
from shared.persistence.dialects import (
    among,
    conflict_insert,
    insert_keys_returning_new,
    is_postgresql,
    upsert,
)

CHUNK = 500  # ids per IN (...) list: far below every parameter limit
STREAM_ROWS = 10_000
LOAD_ROWS = 2_000  # key results decoded at a time by a load: its peak holds one such list


def delete_ids(connection: Connection, table: Table, ids: Iterable[str],
               column: str = "id") -> None:
    ordered = sorted(ids)
    for start in range(0, len(ordered), CHUNK):
        connection.execute(delete(table).where(table.c[column].in_(ordered[start:start + CHUNK])))


def next_write(connection: Connection) -> int:
    """The serial of a write of objectives and key results (``read_model_writes``): the
    row's lock, held until the write commits, puts the serials in the order of the
    commits."""
    writes = tables.read_model_writes
    statement = conflict_insert(connection, writes)
    serial: int = connection.execute(
        statement.values(id=1, serial=1)
        .on_conflict_do_update(index_elements=["id"], set_={"serial": writes.c.serial + 1})
        .returning(writes.c.serial)).scalar_one()
    return serial


def objective_row(graph: RollupGraph, node: ObjectiveNode, at: datetime,
                  kept: Kept | None = None, written: int | None = None) -> dict[str, Any]:
    return {"id": node.id, "version": node.version, "cycle": node.cycle,
            "kind": node.kind.value, "departments": "+".join(node.departments),
            "title": node.title, "owner": node.owner, "archived": node.archived,
            "progress": node.progress,
            "attainment": objective_attainment(graph, node), "confidence": node.confidence,
            "status": None if node.status is None else node.status.value, "updated_at": at,
            "outlook": encoded(kept), "written": written}


def key_result_row(node: KeyResultNode, title: str,
                   written: int | None = None) -> dict[str, Any]:
    """The key result's row; its window and pace only if the graph has its window on hand
    (``RollupGraph.hold_windows``): else the row keeps those it holds."""
    row = {"id": node.id, "version": node.version, "objective_id": node.objective_id,
           "title": title, "measure": node.measure.value,
           "aggregation": node.aggregation.value, "start": node.start, "target": node.target,
           "unit": node.unit, "weight": node.weight, "checked_in": node.checked_in,
           "given_confidence": node.given_confidence,
           "last_checkin_at": node.last_checkin_at, "value": node.current,
           "progress": node.progress, "attainment": node.attainment,
           "confidence": node.confidence, "written": written}
    if node.window_held:
        history = node.history
        row["check_ins"] = json.dumps(history) if history else None
        row["pace"] = node.pace
    return row


def history_of(stored: str | None) -> Window:
    """A key result's window as the column holds it (written by ``key_result_row``):
    ``[[at, value, version], ...]``; a pair ``[at, value]`` (written before the version was
    kept) reads as version 0, older than any version the goals service writes."""
    if not stored:
        return ()
    return tuple((float(point[0]), float(point[1]), int(point[2]) if len(point) > 2 else 0)
                 for point in json.loads(stored))


# -- loading -----------------------------------------------------------------------------------

def _stream(connection: Connection, table: Table) -> Iterator[Any]:
    result = connection.execution_options(yield_per=STREAM_ROWS).execute(select(table))
    for partition in result.partitions():
        yield from partition


def _driver_rows(connection: Connection, statement: Select[Any]) -> Iterator[Sequence[Any]]:
    """The rows of ``statement`` (plain columns, no parameters) in lists of
    :data:`LOAD_ROWS`, as the database driver gives them (tuples: a million rows without
    a ``Row`` each), in the connection's transaction; on PostgreSQL from a server-side
    cursor, so the process never holds more than one list."""
    sql = str(statement.compile(dialect=connection.dialect))
    driver = connection.connection.dbapi_connection
    assert driver is not None
    cursor = (driver.cursor(name="okr_metrics_load") if connection.dialect.name == "postgresql"
              else driver.cursor())
    try:
        cursor.execute(sql)
        while rows := cursor.fetchmany(LOAD_ROWS):
            yield rows
    finally:
        cursor.close()


class ReadModelRepository:
    """Writes at once, in the unit of work's transaction (nothing is queued)."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def write_items(self, graph: RollupGraph, objective_ids: set[str], key_result_ids: set[str],
                    contribution_ids: set[str], cycle_keys: set[str],
                    outlooks: dict[str, Kept] | None = None) -> None:
        """Write what the graph now holds for these items; delete the rows of those it lost.
        ``outlooks``: the objectives' kept outlooks (an objective without one has none).
        The objectives and key results written carry the serial of this write."""
        at = datetime.now(UTC)
        outlooks = outlooks or {}
        written = next_write(self.connection) if objective_ids or key_result_ids else None
        objective_rows, gone = [], []
        for objective_id in objective_ids:
            objective = graph.objective(objective_id)
            if objective is None:
                gone.append(objective_id)
            else:
                objective_rows.append(objective_row(graph, objective, at,
                                                    outlooks.get(objective_id), written))
        delete_ids(self.connection, tables.objectives, gone)
        upsert(self.connection, tables.objectives, objective_rows, ["id"])

        # a key result's title is written from the state that defined it (the graph holds
        # it until ``titles_written``), its window and pace if the graph has the window on
        # hand; rows of others keep theirs (the graph holds what the rows do)
        groups: dict[tuple[bool, bool], list[dict[str, Any]]] = {}  # by (untitled, window)
        gone = []
        for key_result_id in key_result_ids:
            key_result = graph.key_result(key_result_id)
            if key_result is None:
                gone.append(key_result_id)
            else:
                title = graph.title_of(key_result_id)
                row = key_result_row(key_result, "" if title is None else title, written)
                groups.setdefault((title is None, "pace" in row), []).append(row)
        delete_ids(self.connection, tables.key_results, gone)
        for (untitled, _), rows in groups.items():
            upsert(self.connection, tables.key_results, rows, ["id"],
                   insert_only=("title",) if untitled else ())

        contribution_rows, gone = [], []
        for contribution_id in contribution_ids:
            edge = graph.contribution(contribution_id)
            if edge is None:
                gone.append(contribution_id)
            else:
                contribution_rows.append({
                    "id": edge.id, "version": edge.version, "child_type": edge.child_type.value,
                    "child_id": edge.child_id, "parent_type": edge.parent_type.value,
                    "parent_id": edge.parent_id, "weight": edge.weight})
        delete_ids(self.connection, tables.contributions, gone)
        upsert(self.connection, tables.contributions, contribution_rows, ["id"])

        cycle_rows = []
        for key in cycle_keys:
            held = graph.cycle(key)
            if held is not None:
                version, window = held
                cycle_rows.append({"key": key, "version": version, "starts_on": window.starts_on,
                                   "ends_on": window.ends_on})
        upsert(self.connection, tables.cycles, cycle_rows, ["key"])

    def write_removals(self, removals: dict[tuple[str, str], int]) -> None:
        upsert(self.connection, tables.removed_items,
               [{"item_type": t, "item_id": i, "version": v} for (t, i), v in removals.items()],
               ["item_type", "item_id"], keep_greater="version")

    def add_check_ins(self, counts: dict[tuple[str, str], int]) -> None:
        upsert(self.connection, tables.checkin_counters,
               [{"department": d, "cycle": c, "count": n} for (d, c), n in counts.items()],
               ["department", "cycle"], add_up="count")

    def write_links(self, links: Iterable[LinkState]) -> None:
        upsert(self.connection, tables.links, [_link_row(link) for link in links], ["id"])

    def delete_links(self, link_ids: Iterable[str]) -> None:
        delete_ids(self.connection, tables.links, link_ids)

    def empty(self) -> None:
        """Delete every read-model row (a rebuild starts from nothing)."""
        for table in reversed(tables.READ_MODEL_TABLES):
            self.connection.execute(delete(table))

    def start_rebuild(self, at: datetime) -> None:
        rebuilds = tables.rebuilds
        self.connection.execute(delete(rebuilds).where(rebuilds.c.finished_at.is_(None)))
        self.connection.execute(insert(rebuilds).values(started_at=at))

    def finish_rebuild(self, at: datetime) -> None:
        rebuilds = tables.rebuilds
        self.connection.execute(update(rebuilds).where(rebuilds.c.finished_at.is_(None))
                                .values(finished_at=at))

    def unfinished_rebuild(self) -> datetime | None:
        rebuilds = tables.rebuilds
        started: datetime | None = self.connection.execute(
            select(func.min(rebuilds.c.started_at)).where(rebuilds.c.finished_at.is_(None))
        ).scalar_one()
        return started

    def windows_of(self, key_result_ids: Iterable[str]) -> dict[str, Window]:
        """The windows of these key results as written (one without a row: ``()``), in
        one query on PostgreSQL (an array parameter), in lists of :data:`CHUNK` ids
        elsewhere."""
        ids = sorted(set(key_result_ids))
        size = len(ids) if is_postgresql(self.connection) else CHUNK
        key_results = tables.key_results.c
        windows: dict[str, Window] = dict.fromkeys(ids, ())
        for start in range(0, len(ids), size or 1):
            rows = self.connection.execute(
                select(key_results.id, key_results.check_ins).where(
                    among(self.connection, key_results.id, ids[start:start + size])))
            windows.update((row.id, history_of(row.check_ins)) for row in rows)
        return windows

    def key_result_title(self, key_result_id: str) -> str | None:
        return self.connection.execute(
            select(tables.key_results.c.title).where(tables.key_results.c.id == key_result_id)
        ).scalar_one_or_none()

    def load_links(self) -> list[LinkState]:
        return [LinkState(row.id, row.version, row.kind, row.from_type, row.from_id,
                          row.from_department, row.to_type, row.to_id, row.to_department)
                for row in self.connection.execute(select(tables.links))]

    def load_graph(self, graph: RollupGraph) -> dict[str, int]:
        """Fill an empty graph from the read model; return the link versions (links are not
        part of the roll-up graph), removed links as negative versions."""
        links: dict[str, int] = {}
        connection = self.connection
        for row in _stream(connection, tables.cycles):
            graph.upsert_cycle(CycleState(row.key, row.version, _date(row.starts_on),
                                          _date(row.ends_on)))
        statuses: dict[str, str | None] = {}  # as written: the load judges them anew
        for row in _stream(connection, tables.objectives):
            graph.load_objective(ObjectiveState(
                row.id, row.version, row.cycle, ObjectiveKind(row.kind),
                tuple(row.departments.split("+")), row.title, bool(row.archived), row.owner))
            statuses[row.id] = row.status
        graph.expect_key_results(connection.execute(
            select(func.count()).select_from(tables.key_results)).scalar_one())
        key_results = tables.key_results.c
        columns = [key_results.id, key_results.version, key_results.objective_id,
                   key_results.measure, key_results.aggregation, key_results.start,
                   key_results.target, key_results.weight, key_results.unit,
                   key_results.checked_in, key_results.given_confidence,
                   key_results.last_checkin_at, key_results.pace]
        if graph.keep_titles:
            columns.append(key_results.title)
        for rows in _driver_rows(connection, select(*columns)):
            graph.load_key_results(
                [row[:13] for row in rows] if graph.keep_titles else rows,
                [row[13] for row in rows] if graph.keep_titles else None)
        graph.settle_load()
        _loaded(graph)
        for row in _stream(connection, tables.contributions):
            graph.add_contribution(ContributionState(
                row.id, row.version, ItemType(row.child_type), row.child_id,
                ItemType(row.parent_type), row.parent_id, row.weight))
        for row in connection.execute(select(tables.links.c.id, tables.links.c.version)):
            links[row.id] = row.version
        for row in _stream(connection, tables.removed_items):
            if row.item_type == "objective":
                graph.remove_objective(row.item_id, row.version)
            elif row.item_type == "key_result":
                graph.remove_key_result(row.item_id, row.version)
            elif row.item_type == "contribution":
                graph.remove_contribution(row.item_id, row.version)
            elif row.item_id not in links:
                links[row.item_id] = -row.version
        _loaded(graph)
        # Each status as its row holds it, not as the load judged it at this moment: a
        # status that time moved since it was written (the process was down, or its graph
        # was reloaded after a failed write) is then moved, written and told by the next
        # status tick, as it would have been had the graph stayed up.
        graph.restore_statuses(statuses)
        return links


def _loaded(graph: RollupGraph) -> None:
    """What the graph records for a consumer to write, which the rows loaded hold already:
    forgotten as the load goes (a million ids in a set are 30 MiB more at its peak)."""
    graph.take_touched()
    graph.take_reshaped()
    graph.titles_written()
    graph.windows_written()


class ProcessedEventLog:
    """The ids of the events a consumer group has applied (``processed_events``)."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def forget(self, consumer: str) -> None:
        processed = tables.plumbing.processed_events
        self.connection.execute(delete(processed).where(processed.c.consumer == consumer))

    def record_new(self, consumer: str, event_ids: Iterable[str], at: datetime) -> set[str]:
        return insert_keys_returning_new(
            self.connection, tables.plumbing.processed_events, "event_id",
            sorted(set(event_ids)), {"consumer": consumer, "processed_at": at})


def _link_row(link: LinkState) -> dict[str, object]:
    return {"id": link.id, "version": link.version, "kind": link.kind,
            "from_type": link.from_type, "from_id": link.from_id,
            "from_department": link.from_department, "to_type": link.to_type,
            "to_id": link.to_id, "to_department": link.to_department}


def _date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)
