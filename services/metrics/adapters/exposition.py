"""``/metrics`` for the read model, rendered as Prometheus text (exposition format 0.0.4).

Building ``prometheus_client`` metric objects costs about 23 µs a series here (5 s for
100,000); this renders the lines directly from a few queries instead. Label values are
escaped as the format requires (backslash, double quote, newline). Only finite samples are
written: a figure without a finite value is left out, as "no data" is.

The series guard: at most ``max_series`` read-model series. Families are filled in order of
importance (departments and links first, then objectives, collective targets before
department objectives, then key results); what does not fit is left out and counted in
``okr_metrics_series_dropped{family=...}``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Engine, Row, and_, select
from sqlalchemy.orm import aliased

from services.metrics.adapters import tables
from services.metrics.adapters.explain_queries import explain_row
from services.metrics.domain.progress import reported
from services.metrics.domain.status import CycleWindow, expected_progress
from shared.observability.metrics import SERIES_DROPPED

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
STATUSES = ("on_track", "at_risk", "off_track", "no_data")

# name, type, help; in order of importance (the guard drops from the end)
FAMILIES: tuple[tuple[str, str, str], ...] = (
    ("okr_department_progress_ratio", "gauge",
     "Mean progress of a department's own objectives in a cycle."),
    ("okr_department_alignment_ratio", "gauge",
     "Share of a department's objectives that contribute to a collective target."),
    ("okr_checkins_total", "counter", "Check-ins applied, by owning department(s)."),
    ("okr_links", "gauge",
     "Cross-department links, by the status of the item depended on."),
    ("okr_objective_progress_ratio", "gauge", "Rolled-up progress of an objective (0..1)."),
    ("okr_objective_status", "gauge", "1 for the objective's current status, 0 otherwise."),
    ("okr_objective_expected_progress_ratio", "gauge",
     "Share of the objective's cycle elapsed."),
    ("okr_objective_forecast_ratio", "gauge",
     "A collective target's attainment (1 = target) expected at its cycle's end at the "
     "current pace; absent with too little history."),
    ("okr_objective_gap_ratio", "gauge",
     "A collective target's gap (expected progress - progress) held by each owning "
     "department; the departments' gaps add up to the target's."),
    ("okr_key_result_progress_ratio", "gauge", "Progress of a key result (0..1, clamped)."),
    ("okr_key_result_confidence_ratio", "gauge", "Latest confidence of a key result."),
    ("okr_key_result_last_checkin_timestamp_seconds", "gauge",
     "When a key result's value last changed (POSIX seconds)."),
)


def _needs_escaping(value: str) -> bool:
    return "\\" in value or '"' in value or "\n" in value


def escape(value: str) -> str:
    if _needs_escaping(value):
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


def _number(value: float) -> str:
    return repr(float(value))


@dataclass
class _Exposition:
    budget: int
    families: dict[str, list[str]] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)

    def fill(self, name: str, lines: list[str]) -> None:
        """Take up to the remaining budget of ``lines`` for ``name``."""
        taken = lines[:max(0, self.budget)]
        self.budget -= len(taken)
        self.families[name] = taken
        if len(lines) > len(taken):
            self.dropped[name] = len(lines) - len(taken)

    def render(self) -> str:
        parts: list[str] = []
        for name, kind, help_text in FAMILIES:
            parts.append(f"# HELP {name} {help_text}\n# TYPE {name} {kind}\n")
            lines = self.families.get(name, [])
            if lines:
                parts.append("".join(lines))
        parts.append(f"# HELP {SERIES_DROPPED} Read-model series left out by the series guard "
                     f"(OKR_METRICS_MAX_SERIES) at this scrape.\n# TYPE {SERIES_DROPPED} gauge\n")
        parts.append("".join(f'{SERIES_DROPPED}{{family="{name}"}} {self.dropped.get(name, 0)}\n'
                             for name, _, _ in FAMILIES))
        return "".join(parts)


def render_read_model(engine: Engine, max_series: int,
                      now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> str:
    exposition = _Exposition(max_series)
    with engine.connect() as connection:
        cycles = {row.key: expected_progress(CycleWindow(_date(row.starts_on),
                                                         _date(row.ends_on)), now())
                  for row in connection.execute(select(tables.cycles))}
        o = tables.objectives
        # collective targets first, then by id: what the guard keeps is stable
        objectives: list[Row[Any]] = sorted(
            connection.execute(select(o.c.id, o.c.cycle, o.c.kind, o.c.departments,
                                      o.c.progress, o.c.status)),
            key=lambda row: (row.kind != "collective", row.id))
        _departments(exposition, connection, objectives)
        _check_ins(exposition, connection)
        _links(exposition, connection)
        _objectives(exposition, objectives, cycles)
        _explanations(exposition, connection, objectives, now())
        _key_results(exposition, connection)
    return exposition.render()


def _departments(exposition: _Exposition, connection: Connection,
                 objectives: list[Row[Any]]) -> None:
    progress: dict[tuple[str, str], list[float]] = defaultdict(list)
    owned: dict[tuple[str, str], list[str]] = defaultdict(list)
    kind_of: dict[str, str] = {}
    for row in objectives:
        kind_of[row.id] = row.kind
        if row.kind == "department":
            key = (row.departments, row.cycle)
            owned[key].append(row.id)
            if reported(row.progress) is not None:
                progress[key].append(row.progress)
    aligned = _aligned_objectives(connection, kind_of)
    lines = [f'okr_department_progress_ratio{{department="{escape(d)}",cycle="{escape(c)}"}} '
             f"{_number(sum(values) / len(values))}\n"
             for (d, c), values in sorted(progress.items())]
    exposition.fill("okr_department_progress_ratio", lines)
    lines = [f'okr_department_alignment_ratio{{department="{escape(d)}",cycle="{escape(c)}"}} '
             f"{_number(sum(1 for i in ids if i in aligned) / len(ids))}\n"
             for (d, c), ids in sorted(owned.items())]
    exposition.fill("okr_department_alignment_ratio", lines)


def _aligned_objectives(connection: Connection, kind_of: dict[str, str]) -> set[str]:
    """Objectives that, themselves or through a key result, feed a collective target."""
    c, k = tables.contributions, tables.key_results
    child_kr, parent_kr = aliased(k), aliased(k)
    rows = connection.execute(
        select(c.c.child_type, c.c.child_id, child_kr.c.objective_id.label("child_objective"),
               c.c.parent_type, c.c.parent_id, parent_kr.c.objective_id.label("parent_objective"))
        .outerjoin(child_kr, and_(c.c.child_type == "key_result", child_kr.c.id == c.c.child_id))
        .outerjoin(parent_kr, and_(c.c.parent_type == "key_result",
                                   parent_kr.c.id == c.c.parent_id)))
    aligned = set()
    for row in rows:
        parent = row.parent_id if row.parent_type == "objective" else row.parent_objective
        child = row.child_id if row.child_type == "objective" else row.child_objective
        if child is not None and kind_of.get(parent) == "collective":
            aligned.add(child)
    return aligned


def _check_ins(exposition: _Exposition, connection: Connection) -> None:
    rows = connection.execute(select(tables.checkin_counters).order_by(
        tables.checkin_counters.c.department)).all()
    exposition.fill("okr_checkins_total", [
        f'okr_checkins_total{{department="{escape(row.department)}"}} {row.count}\n'
        for row in rows])


def _links(exposition: _Exposition, connection: Connection) -> None:
    link, o = tables.links, tables.objectives
    target, owner, k = aliased(o), aliased(o), tables.key_results
    rows = connection.execute(
        select(link.c.from_department, link.c.to_department, link.c.kind,
               target.c.status.label("objective_status"), owner.c.status.label("owner_status"))
        .outerjoin(target, and_(link.c.to_type == "objective", target.c.id == link.c.to_id))
        .outerjoin(k, and_(link.c.to_type == "key_result", k.c.id == link.c.to_id))
        .outerjoin(owner, owner.c.id == k.c.objective_id))
    counts: dict[tuple[str, str, str, str], int] = defaultdict(int)
    for row in rows:
        status = row.objective_status or row.owner_status or "no_data"
        counts[(row.from_department, row.to_department, row.kind, status)] += 1
    lines = [f'okr_links{{from_department="{escape(f)}",to_department="{escape(t)}",'
             f'kind="{escape(kind)}",status="{status}"}} {n}\n'
             for (f, t, kind, status), n in sorted(counts.items())]
    exposition.fill("okr_links", lines)


def _objectives(exposition: _Exposition, objectives: list[Row[Any]],
                cycles: dict[str, float]) -> None:
    progress_lines: list[str] = []
    status_lines: list[str] = []
    expected_lines: list[str] = []
    for row in objectives:
        labels = (f'objective_id="{escape(row.id)}",cycle="{escape(row.cycle)}",'
                  f'kind="{row.kind}",department="{escape(row.departments)}"')
        if reported(row.progress) is not None:
            progress_lines.append(f"okr_objective_progress_ratio{{{labels}}} {row.progress!r}\n")
        current = row.status or "no_data"
        status_lines.extend(f'okr_objective_status{{{labels},status="{status}"}} '
                            f"{1 if status == current else 0}\n" for status in STATUSES)
        if row.cycle in cycles:
            expected_lines.append(f"okr_objective_expected_progress_ratio{{{labels}}} "
                                  f"{_number(cycles[row.cycle])}\n")
    exposition.fill("okr_objective_progress_ratio", progress_lines)
    exposition.fill("okr_objective_status", status_lines)
    exposition.fill("okr_objective_expected_progress_ratio", expected_lines)


def _explanations(exposition: _Exposition, connection: Connection,
                  objectives: list[Row[Any]], now: datetime) -> None:
    """The forecast and the gap by department of each collective target (docs/explain.md);
    stale inputs play no part here, hence the infinite limit."""
    o = tables.objectives
    forecast_lines: list[str] = []
    gap_lines: list[str] = []
    for row in objectives:
        if row.kind != "collective":
            continue
        full = connection.execute(select(o).where(o.c.id == row.id)).first()
        if full is None:
            continue
        explanation = explain_row(connection, full, now, math.inf)
        labels = f'objective_id="{escape(row.id)}",cycle="{escape(row.cycle)}"'
        forecast = reported(explanation.forecast.attainment)
        if forecast is not None:
            forecast_lines.append(f"okr_objective_forecast_ratio{{{labels}}} {forecast!r}\n")
        gap_lines.extend(f'okr_objective_gap_ratio{{{labels},department='
                         f'"{escape(share.department)}"}} {_number(share.share)}\n'
                         for share in explanation.departments)
    exposition.fill("okr_objective_forecast_ratio", forecast_lines)
    exposition.fill("okr_objective_gap_ratio", gap_lines)


def _key_results(exposition: _Exposition, connection: Connection) -> None:
    """Three families from one query, in one pass: the label string is built once a row
    and shared by its three lines (the cost of ``/metrics`` is per series)."""
    k, o = tables.key_results, tables.objectives
    rows = connection.execute(
        select(k.c.id, k.c.objective_id, o.c.cycle, o.c.departments, k.c.progress,
               k.c.confidence, k.c.last_checkin_at)
        .join(o, o.c.id == k.c.objective_id)).all()
    # by id, in code point order whatever the database's collation (sorting in the
    # database by its collation costs more); a key, since rows compare slowly
    rows = sorted(rows, key=itemgetter(0))
    progress_lines: list[str] = []
    confidence_lines: list[str] = []
    checkin_lines: list[str] = []
    for key_result_id, objective_id, cycle, departments, progress, confidence, at in rows:
        if _needs_escaping(key_result_id + objective_id + cycle + departments):
            key_result_id, objective_id, cycle, departments = (
                escape(key_result_id), escape(objective_id), escape(cycle), escape(departments))
        labels = (f'{{key_result_id="{key_result_id}",objective_id="{objective_id}",'
                  f'cycle="{cycle}",department="{departments}"}} ')
        if reported(progress) is not None:
            progress_lines.append(f"okr_key_result_progress_ratio{labels}{progress!r}\n")
        if reported(confidence) is not None:
            confidence_lines.append(f"okr_key_result_confidence_ratio{labels}{confidence!r}\n")
        if reported(at) is not None:
            checkin_lines.append(
                f"okr_key_result_last_checkin_timestamp_seconds{labels}{at!r}\n")
    exposition.fill("okr_key_result_progress_ratio", progress_lines)
    exposition.fill("okr_key_result_confidence_ratio", confidence_lines)
    exposition.fill("okr_key_result_last_checkin_timestamp_seconds", checkin_lines)


def _date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)
