"""``/metrics`` for the read model, rendered as Prometheus text (exposition format 0.0.4).

Building ``prometheus_client`` metric objects costs about 23 µs a series here (5 s for
100,000); this renders the lines directly from a few queries instead. Label values are
escaped as the format requires (backslash, double quote, newline). Only finite samples are
written: a figure without a finite value is left out, as "no data" is.

Names, after the Prometheus ``_info`` convention: ``okr_objective_info`` and
``okr_key_result_info`` (value 1) carry each item's title, cycle, kind, owner, unit and
measure, and ``okr_objective_owner_info`` one series per (objective, owning department),
so ``... * on(objective_id) group_left(title) okr_objective_info`` names a series. Free
text in a label (titles, owners, units) is bounded (``TEXT_LABEL_LIMITS``) and its control
characters other than newline are written as spaces. No label value joins departments: a
series with a ``department`` label is written once for each owning department, so a
shared target is found under each of its owners.

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

from sqlalchemy import Connection, Engine, Row, and_, func, select
from sqlalchemy.orm import aliased

from services.metrics.adapters import tables
from services.metrics.adapters.explain_queries import explain_row
from services.metrics.domain.progress import reported
from services.metrics.domain.status import CycleWindow, expected_progress
from shared.observability.metrics import SERIES_DROPPED

UNKNOWN = "unknown"  # the cycle of a link whose two items are both unknown

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
STATUSES = ("on_track", "at_risk", "off_track", "no_data")
#: The longest text written in a free-text label, in characters (the goals API's own limits;
#: longer text, from a hostile event, is cut and ends with "…").
TEXT_LABEL_LIMITS = {"title": 200, "owner": 100, "unit": 20}

# name, type, help; in order of importance (the guard drops from the end)
FAMILIES: tuple[tuple[str, str, str], ...] = (
    ("okr_department_progress_ratio", "gauge",
     "Mean progress of a department's own objectives in a cycle."),
    ("okr_department_alignment_ratio", "gauge",
     "Share of a department's objectives that contribute to a collective target."),
    ("okr_checkins_total", "counter",
     "Check-ins applied, by owning department (each owner of a shared target) and cycle."),
    ("okr_links", "gauge",
     "Cross-department links, by the status of the item depended on, in the cycle of the "
     "depending item."),
    ("okr_objective_info", "gauge",
     "1 for every objective: its title, cycle, kind and owner."),
    ("okr_objective_owner_info", "gauge",
     "1 for every (objective, owning department): a collective target has one per owner."),
    ("okr_objective_progress_ratio", "gauge",
     "Rolled-up progress of an objective (0..1), once per owning department."),
    ("okr_objective_status", "gauge", "1 for the objective's current status, 0 otherwise."),
    ("okr_objective_expected_progress_ratio", "gauge",
     "Share of the objective's cycle elapsed."),
    ("okr_objective_forecast_ratio", "gauge",
     "A collective target's attainment (1 = target) expected at its cycle's end at the "
     "current pace; absent with too little history."),
    ("okr_objective_gap_ratio", "gauge",
     "A collective target's gap (expected progress - progress) held by each owning "
     "department; the departments' gaps add up to the target's."),
    ("okr_key_result_info", "gauge",
     "1 for every key result: its objective, title, unit, measure and cycle."),
    ("okr_key_result_progress_ratio", "gauge", "Progress of a key result (0..1, clamped)."),
    ("okr_key_result_value", "gauge",
     "Current value of a key result, in its unit (its start until a check-in)."),
    ("okr_key_result_target_value", "gauge", "Target value of a key result, in its unit."),
    ("okr_key_result_confidence_ratio", "gauge", "Latest confidence of a key result."),
    ("okr_key_result_last_checkin_timestamp_seconds", "gauge",
     "When a key result's value last changed (POSIX seconds); 0: never checked in."),
)


def _needs_escaping(value: str) -> bool:
    return "\\" in value or '"' in value or "\n" in value


def escape(value: str) -> str:
    if _needs_escaping(value):
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


#: control characters other than newline (escaped as \n), and lone surrogates (not UTF-8)
_UNWRITABLE = {code: " " for code in (*range(0x00, 0x0A), *range(0x0B, 0x20),
                                      *range(0x7F, 0xA0))}
_UNWRITABLE.update({code: "\ufffd" for code in range(0xD800, 0xE000)})


def text_label(value: str, limit: int) -> str:
    """Free text (a title, an owner, a unit) as an escaped label value: at most ``limit``
    characters, control characters but newline as spaces, lone surrogates as U+FFFD."""
    if len(value) > limit:
        value = value[:limit - 1] + "…"
    if not value.isprintable():
        value = value.translate(_UNWRITABLE)
    return escape(value)


def _number(value: float) -> str:
    return repr(float(value))


def _owners(departments: str) -> list[str]:
    """The owning departments of a read-model row (stored joined by "+"), each escaped."""
    return [escape(department) for department in departments.split("+")]


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

    def render(self, families: tuple[tuple[str, str, str], ...] = FAMILIES) -> str:
        parts: list[str] = []
        for name, kind, help_text in families:
            parts.append(f"# HELP {name} {help_text}\n# TYPE {name} {kind}\n")
            lines = self.families.get(name, [])
            if lines:
                parts.append("".join(lines))
        parts.append(f"# HELP {SERIES_DROPPED} Read-model series left out by the series guard "
                     f"(OKR_METRICS_MAX_SERIES) at this scrape.\n# TYPE {SERIES_DROPPED} gauge\n")
        parts.append("".join(f'{SERIES_DROPPED}{{family="{name}"}} {self.dropped.get(name, 0)}\n'
                             for name, _, _ in families))
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
                                      o.c.progress, o.c.status, o.c.title, o.c.owner)),
            key=lambda row: (row.kind != "collective", row.id))
        _departments(exposition, connection, objectives)
        _check_ins(exposition, connection)
        _links(exposition, connection)
        _objective_names(exposition, objectives)
        _objectives(exposition, objectives, cycles)
        _explanations(exposition, connection, objectives, now())
        _key_results(exposition, connection)
    return exposition.render()


# -- departments, check-ins, links ---------------------------------------------------------------

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
    counters = tables.checkin_counters
    rows = connection.execute(select(counters).order_by(counters.c.department,
                                                        counters.c.cycle)).all()
    exposition.fill("okr_checkins_total", [
        f'okr_checkins_total{{department="{escape(row.department)}",'
        f'cycle="{escape(row.cycle)}"}} {row.count}\n'
        for row in rows])


def _links(exposition: _Exposition, connection: Connection) -> None:
    """Links counted by departments, kind, the status of the item depended on and the cycle
    of the depending item (of the item depended on when the depending one is unknown)."""
    link, o, k = tables.links, tables.objectives, tables.key_results
    target, owner = aliased(o), aliased(o)
    source, source_owner, source_kr = aliased(o), aliased(o), aliased(k)
    rows = connection.execute(
        select(link.c.from_department, link.c.to_department, link.c.kind,
               target.c.status.label("objective_status"), owner.c.status.label("owner_status"),
               func.coalesce(source.c.cycle, source_owner.c.cycle, target.c.cycle,
                             owner.c.cycle).label("cycle"))
        .outerjoin(target, and_(link.c.to_type == "objective", target.c.id == link.c.to_id))
        .outerjoin(k, and_(link.c.to_type == "key_result", k.c.id == link.c.to_id))
        .outerjoin(owner, owner.c.id == k.c.objective_id)
        .outerjoin(source, and_(link.c.from_type == "objective", source.c.id == link.c.from_id))
        .outerjoin(source_kr, and_(link.c.from_type == "key_result",
                                   source_kr.c.id == link.c.from_id))
        .outerjoin(source_owner, source_owner.c.id == source_kr.c.objective_id))
    counts: dict[tuple[str, str, str, str, str], int] = defaultdict(int)
    for row in rows:
        status = row.objective_status or row.owner_status or "no_data"
        counts[(row.from_department, row.to_department, row.kind, status,
                row.cycle or UNKNOWN)] += 1
    lines = [f'okr_links{{from_department="{escape(f)}",to_department="{escape(t)}",'
             f'kind="{escape(kind)}",status="{status}",cycle="{escape(cycle)}"}} {n}\n'
             for (f, t, kind, status, cycle), n in sorted(counts.items())]
    exposition.fill("okr_links", lines)


# -- names: the _info families ---------------------------------------------------------------------

def _objective_names(exposition: _Exposition, objectives: list[Row[Any]]) -> None:
    """``okr_objective_info`` (title, cycle, kind, owner) and ``okr_objective_owner_info``
    (one series per owning department)."""
    title_limit, owner_limit = TEXT_LABEL_LIMITS["title"], TEXT_LABEL_LIMITS["owner"]
    info_lines: list[str] = []
    owner_lines: list[str] = []
    for row in objectives:
        objective_id, cycle = escape(row.id), escape(row.cycle)
        info_lines.append(
            f'okr_objective_info{{objective_id="{objective_id}",'
            f'title="{text_label(row.title, title_limit)}",cycle="{cycle}",'
            f'kind="{escape(row.kind)}",owner="{text_label(row.owner, owner_limit)}"}} 1\n')
        owner_lines.extend(
            f'okr_objective_owner_info{{objective_id="{objective_id}",department="{department}",'
            f'cycle="{cycle}"}} 1\n' for department in _owners(row.departments))
    exposition.fill("okr_objective_info", info_lines)
    exposition.fill("okr_objective_owner_info", owner_lines)


def _key_result_info_line(key_result_id: str, objective_id: str, title: str, unit: str,
                          measure: str, cycle: str) -> str:
    """One ``okr_key_result_info`` line; the ids and cycle are escaped already."""
    return (f'okr_key_result_info{{key_result_id="{key_result_id}",objective_id="{objective_id}",'
            f'title="{text_label(title, TEXT_LABEL_LIMITS["title"])}",'
            f'unit="{text_label(unit, TEXT_LABEL_LIMITS["unit"])}",'
            f'measure="{escape(measure)}",cycle="{cycle}"}} 1\n')


# -- figures ---------------------------------------------------------------------------------------

def _objectives(exposition: _Exposition, objectives: list[Row[Any]],
                cycles: dict[str, float]) -> None:
    """Progress, status and expected progress, once per owning department."""
    progress_lines: list[str] = []
    status_lines: list[str] = []
    expected_lines: list[str] = []
    for row in objectives:
        common = f'objective_id="{escape(row.id)}",cycle="{escape(row.cycle)}",kind="{row.kind}"'
        current = row.status or "no_data"
        progress = reported(row.progress)
        expected = cycles.get(row.cycle)
        for department in _owners(row.departments):
            labels = f'{common},department="{department}"'
            if progress is not None:
                progress_lines.append(f"okr_objective_progress_ratio{{{labels}}} {progress!r}\n")
            status_lines.extend(f'okr_objective_status{{{labels},status="{status}"}} '
                                f"{1 if status == current else 0}\n" for status in STATUSES)
            if expected is not None:
                expected_lines.append(f"okr_objective_expected_progress_ratio{{{labels}}} "
                                      f"{_number(expected)}\n")
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
    """The key-result families from one query, in one pass: the label string is built once
    a row (and owning department) and shared by its lines (the cost of ``/metrics`` is per
    series)."""
    k, o = tables.key_results, tables.objectives
    rows = connection.execute(
        select(k.c.id, k.c.objective_id, o.c.cycle, o.c.departments, k.c.progress,
               k.c.confidence, k.c.last_checkin_at, k.c.value, k.c.target, k.c.title,
               k.c.unit, k.c.measure)
        .join(o, o.c.id == k.c.objective_id)).all()
    # by id, in code point order whatever the database's collation (sorting in the
    # database by its collation costs more); a key, since rows compare slowly
    rows = sorted(rows, key=itemgetter(0))
    info_lines: list[str] = []
    progress_lines: list[str] = []
    value_lines: list[str] = []
    target_lines: list[str] = []
    confidence_lines: list[str] = []
    checkin_lines: list[str] = []
    for (key_result_id, objective_id, cycle, departments, progress, confidence, at, value,
         target, title, unit, measure) in rows:
        if _needs_escaping(key_result_id + objective_id + cycle + departments):
            key_result_id, objective_id, cycle = (
                escape(key_result_id), escape(objective_id), escape(cycle))
        info_lines.append(_key_result_info_line(key_result_id, objective_id, title, unit,
                                                measure, cycle))
        progress, confidence, value, target = (
            reported(progress), reported(confidence), reported(value), reported(target))
        # 0: never checked in (or no finite time held), so "time() - x" shows it as stale
        at = reported(at) or 0.0
        prefix = f'{{key_result_id="{key_result_id}",objective_id="{objective_id}",cycle="{cycle}"'
        for department in (_owners(departments) if "+" in departments
                           else [escape(departments)]):
            labels = f'{prefix},department="{department}"}} '
            if progress is not None:
                progress_lines.append(f"okr_key_result_progress_ratio{labels}{progress!r}\n")
            if value is not None:
                value_lines.append(f"okr_key_result_value{labels}{value!r}\n")
            if target is not None:
                target_lines.append(f"okr_key_result_target_value{labels}{target!r}\n")
            if confidence is not None:
                confidence_lines.append(
                    f"okr_key_result_confidence_ratio{labels}{confidence!r}\n")
            checkin_lines.append(
                f"okr_key_result_last_checkin_timestamp_seconds{labels}{at!r}\n")
    exposition.fill("okr_key_result_info", info_lines)
    exposition.fill("okr_key_result_progress_ratio", progress_lines)
    exposition.fill("okr_key_result_value", value_lines)
    exposition.fill("okr_key_result_target_value", target_lines)
    exposition.fill("okr_key_result_confidence_ratio", confidence_lines)
    exposition.fill("okr_key_result_last_checkin_timestamp_seconds", checkin_lines)


def _date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)
