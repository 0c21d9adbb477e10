"""The key-result families of ``/metrics``, rendered again only where the read model was
written since the last scrape.

A process keeps the key results' lines of its last scrape (:class:`RenderedRows`) with the
serial of the read model's latest write it had seen (``read_model_writes``: each write of
objectives and key results takes the next serial and stamps its rows with it). A scrape
reads and renders again only the key results written since (their rows, or their
objectives', carry a later serial), so it costs what changed rather than the read model,
and is byte for byte what a render from nothing would be (see :func:`key_result_families`).
"""

from __future__ import annotations

import threading
from operator import itemgetter
from typing import Any

from sqlalchemy import BigInteger, Connection, Select, bindparam, func, or_, select, true

from services.metrics.adapters import tables
from services.metrics.adapters.exposition_labels import (
    TEXT_LABEL_LIMITS,
    escape,
    needs_escaping,
    owners,
    text_label,
)
from services.metrics.domain.progress import reported

#: the key-result families, in the order of the lines :func:`_key_result_lines` returns
KEY_RESULT_FAMILIES = ("okr_key_result_info", "okr_key_result_progress_ratio",
                       "okr_key_result_value", "okr_key_result_target_value",
                       "okr_key_result_confidence_ratio",
                       "okr_key_result_last_checkin_timestamp_seconds")


class RenderedRows:
    """The key results' lines of the last render, family by family, and the serial of the
    latest write of the read model (``read_model_writes``) it had seen; one per process,
    shared by its scrapes (one at a time through this part)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.serial: int | None = None  # None: nothing kept yet
        self.position: dict[str, int] = {}  # key result id -> its place in every family
        #: each family's lines, one entry a key result (in code point order of the ids)
        self.lines: list[list[bytes]] = [[] for _ in KEY_RESULT_FAMILIES]
        self.texts: tuple[bytes, ...] = tuple(b"" for _ in KEY_RESULT_FAMILIES)
        self.counts: list[int] = [0 for _ in KEY_RESULT_FAMILIES]  # each family's lines


def key_result_families(connection: Connection, rendered: RenderedRows
                        ) -> tuple[tuple[bytes, ...], list[int]]:
    """The text of each of :data:`KEY_RESULT_FAMILIES` (its lines, by key result id in code
    point order) and how many lines each has, kept in ``rendered`` for the next scrape.
    Only the rows written after the kept serial (the key result's or its objective's) are
    read and rendered again, with the count of all rows in the same statement; when a key
    result came or went since (a new id, or the count falls short) or the serial went back
    (the table emptied), all of them.

    Why that is exact: a write's serial is taken under the lock of ``read_model_writes``'
    row, held until it commits, so once the serial read here is S every write up to S has
    committed and the next statement sees it; a row written after S is read again at the
    next scrape."""
    with rendered.lock:
        serial = connection.execute(select(tables.read_model_writes.c.serial)).scalar() or 0
        kept = rendered.serial
        if kept is not None and serial < kept:
            kept = None
        total, changed = _key_result_rows(connection, kept)
        position = rendered.position
        every = (kept is None or len(position) != total
                 or any(row[0] not in position for row in changed))
        if every:
            rows = changed if kept is None else _key_result_rows(connection, None)[1]
            # in code point order whatever the database's collation (sorting in the
            # database by its collation costs more)
            rows.sort(key=itemgetter(0))
            rendered.position = {row[0]: place for place, row in enumerate(rows)}
            rendered.lines = ([list(family) for family in zip(
                *(_key_result_lines(*row) for row in rows), strict=True)]
                or [[] for _ in KEY_RESULT_FAMILIES])
            rendered.counts = [sum(lines.count(b"\n") for lines in family)
                               for family in rendered.lines]
        else:
            counts = rendered.counts
            for row in changed:
                place = position[row[0]]
                for index, lines in enumerate(_key_result_lines(*row)):
                    family = rendered.lines[index]
                    counts[index] += lines.count(b"\n") - family[place].count(b"\n")
                    family[place] = lines
        if every or changed:
            rendered.texts = tuple(b"".join(family) for family in rendered.lines)
        rendered.serial = serial
        return rendered.texts, list(rendered.counts)


def _key_result_statement(changed_only: bool) -> Select[Any]:
    """The key results (those written after ``:written_after`` if ``changed_only``), each
    with the count of all of them: a row of the count alone when none is."""
    k, o = tables.key_results, tables.objectives
    rows = (select(k.c.id, k.c.objective_id, o.c.cycle, o.c.departments, k.c.progress,
                   k.c.confidence, k.c.last_checkin_at, k.c.value, k.c.target, k.c.title,
                   k.c.unit, k.c.measure)
            .join(o, o.c.id == k.c.objective_id))
    if changed_only:
        after = bindparam("written_after", type_=BigInteger)
        rows = rows.where(or_(k.c.written > after, o.c.written > after))
    changed = rows.subquery("changed")
    total = (select(func.count().label("n")).select_from(k)
             .join(o, o.c.id == k.c.objective_id).subquery("total"))
    return select(total.c.n, *changed.c).select_from(total.outerjoin(changed, true()))


# built once: SQLAlchemy keeps a statement's cache key on it
_ALL, _WRITTEN_AFTER = _key_result_statement(False), _key_result_statement(True)


def _key_result_rows(connection: Connection, written_after: int | None
                     ) -> tuple[int, list[tuple[Any, ...]]]:
    """(how many key results there are, those written after ``written_after``: all of
    them if None), from one statement: the count and the rows are of one moment."""
    result = (connection.execute(_ALL) if written_after is None else
              connection.execute(_WRITTEN_AFTER, {"written_after": written_after})).all()
    return result[0][0], [tuple(row[1:]) for row in result if row[1] is not None]


def _key_result_lines(key_result_id: str, objective_id: str, cycle: str, departments: str,
                      progress: float | None, confidence: float | None, at: float | None,
                      value: float | None, target: float | None, title: str, unit: str,
                      measure: str) -> tuple[bytes, ...]:
    """A key result's lines of each of :data:`KEY_RESULT_FAMILIES` (UTF-8), from its row: the
    label string is built once (and owning department) and shared by its lines."""
    if needs_escaping(key_result_id + objective_id + cycle + departments):
        key_result_id, objective_id, cycle = (
            escape(key_result_id), escape(objective_id), escape(cycle))
    info = _key_result_info_line(key_result_id, objective_id, title, unit, measure, cycle)
    progress, confidence, value, target = (
        reported(progress), reported(confidence), reported(value), reported(target))
    # 0: never checked in (or no finite time held), so "time() - x" shows it as stale
    at = reported(at) or 0.0
    prefix = f'{{key_result_id="{key_result_id}",objective_id="{objective_id}",cycle="{cycle}"'
    progress_lines: list[str] = []
    value_lines: list[str] = []
    target_lines: list[str] = []
    confidence_lines: list[str] = []
    checkin_lines: list[str] = []
    for department in (owners(departments) if "+" in departments else [escape(departments)]):
        labels = f'{prefix},department="{department}"}} '
        if progress is not None:
            progress_lines.append(f"okr_key_result_progress_ratio{labels}{progress!r}\n")
        if value is not None:
            value_lines.append(f"okr_key_result_value{labels}{value!r}\n")
        if target is not None:
            target_lines.append(f"okr_key_result_target_value{labels}{target!r}\n")
        if confidence is not None:
            confidence_lines.append(f"okr_key_result_confidence_ratio{labels}{confidence!r}\n")
        checkin_lines.append(f"okr_key_result_last_checkin_timestamp_seconds{labels}{at!r}\n")
    return (info.encode(), "".join(progress_lines).encode(), "".join(value_lines).encode(),
            "".join(target_lines).encode(), "".join(confidence_lines).encode(),
            "".join(checkin_lines).encode())


def _key_result_info_line(key_result_id: str, objective_id: str, title: str, unit: str,
                          measure: str, cycle: str) -> str:
    """One ``okr_key_result_info`` line; the ids and cycle are escaped already."""
    return (f'okr_key_result_info{{key_result_id="{key_result_id}",objective_id="{objective_id}",'
            f'title="{text_label(title, TEXT_LABEL_LIMITS["title"])}",'
            f'unit="{text_label(unit, TEXT_LABEL_LIMITS["unit"])}",'
            f'measure="{escape(measure)}",cycle="{cycle}"}} 1\n')
