"""``/metrics`` for the read model, rendered as Prometheus text (exposition format 0.0.4).

Building ``prometheus_client`` metric objects costs about 23 µs a series here (5 s for
100,000); this renders the lines directly from a few queries instead. Label values are
written by ``exposition_labels``. Only finite samples are written: a figure without a
finite value is left out, as "no data" is.

Names, after the Prometheus ``_info`` convention: ``okr_objective_info`` and
``okr_key_result_info`` (value 1) carry each item's title, cycle, kind, owner, unit and
measure, and ``okr_objective_owner_info`` one series per (objective, owning department),
so ``... * on(objective_id) group_left(title) okr_objective_info`` names a series. No label
value joins departments: a series with a ``department`` label is written once for each
owning department, so a shared target is found under each of its owners.

The key-result families (most of the series) are kept between scrapes and rendered again
only where the read model was written since (``key_result_series``); the other families are
rendered at every scrape (an objective's expected progress follows the clock). A collective
target's forecast and gap by department are told from its kept outlook (``explain.told``,
as the roll-up list tells them), from its subtree only while none is kept.

The series guard: at most ``max_series`` read-model series. Families are filled in order of
importance (departments and links first, then objectives, collective targets before
department objectives, then key results); what does not fit is left out and counted in
``okr_metrics_series_dropped{family=...}``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, Select, and_, func, select
from sqlalchemy.orm import aliased

from services.metrics.adapters import tables
from services.metrics.adapters.explain_queries import explain_row
from services.metrics.adapters.exposition_labels import (
    TEXT_LABEL_LIMITS,
    escape,
    owners,
    text_label,
)
from services.metrics.adapters.kept_outlooks import decoded
from services.metrics.adapters.key_result_series import (
    KEY_RESULT_FAMILIES,
    RenderedRows,
    key_result_families,
)
from services.metrics.domain.explain import Share, told
from services.metrics.domain.explain_graph import cycle_end
from services.metrics.domain.progress import reported
from services.metrics.domain.status import CycleWindow, expected_progress
from shared.clock import Clock, system_clock
from shared.observability.metrics import SERIES_DROPPED

UNKNOWN = "unknown"  # the cycle of a link whose two items are both unknown

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
STATUSES = ("on_track", "at_risk", "off_track", "no_data")

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


def _number(value: float) -> str:
    return repr(float(value))


@dataclass
class _Exposition:
    budget: int
    families: dict[str, bytes] = field(default_factory=dict)  # UTF-8 text
    dropped: dict[str, int] = field(default_factory=dict)

    def fill(self, name: str, lines: list[str]) -> None:
        """Take up to the remaining budget of ``lines`` for ``name``."""
        self.fill_text(name, "".join(lines).encode(), len(lines))

    def fill_text(self, name: str, text: bytes, count: int) -> None:
        """Take up to the remaining budget of the ``count`` lines of ``text`` (each ends
        with a newline: a label value's newline is escaped) for ``name``."""
        budget = max(0, self.budget)
        if count > budget:
            self.dropped[name] = count - budget
            text = b"".join(line + b"\n" for line in text.split(b"\n", budget)[:budget])
            count = budget
        self.budget -= count
        self.families[name] = text

    def render(self, families: tuple[tuple[str, str, str], ...] = FAMILIES) -> list[bytes]:
        """The exposition in pieces (each family's lines are one, as kept)."""
        parts: list[bytes] = []
        for name, kind, help_text in families:
            parts.append(f"# HELP {name} {help_text}\n# TYPE {name} {kind}\n".encode())
            parts.append(self.families.get(name, b""))
        parts.append(f"# HELP {SERIES_DROPPED} Read-model series left out by the series guard "
                     f"(OKR_METRICS_MAX_SERIES) at this scrape.\n# TYPE {SERIES_DROPPED} gauge\n"
                     .encode())
        parts.append("".join(f'{SERIES_DROPPED}{{family="{name}"}} {self.dropped.get(name, 0)}\n'
                             for name, _, _ in families).encode())
        return parts


def render_read_model(engine: Engine, max_series: int, now: Clock = system_clock,
                      rendered: RenderedRows | None = None) -> str:
    """The read model's families as one text (:func:`read_model_exposition`, joined)."""
    return b"".join(read_model_exposition(engine, max_series, now, rendered)).decode()


def read_model_exposition(engine: Engine, max_series: int, now: Clock = system_clock,
                          rendered: RenderedRows | None = None) -> list[bytes]:
    """The read model's families, UTF-8, in pieces to be sent one after another;
    ``rendered``: the key results' lines kept from the last scrape (none: every line is
    written)."""
    exposition = _Exposition(max_series)
    moment = now()
    with engine.connect() as connection:
        windows = {row.key: CycleWindow(_date(row.starts_on), _date(row.ends_on))
                   for row in connection.execute(select(tables.cycles))}
        cycles = {key: expected_progress(window, moment) for key, window in windows.items()}
        o = tables.objectives
        # collective targets first, then by id: what the guard keeps is stable
        objectives: list[Row[Any]] = sorted(
            connection.execute(select(o.c.id, o.c.cycle, o.c.kind, o.c.departments,
                                      o.c.progress, o.c.status, o.c.title, o.c.owner,
                                      o.c.outlook)),
            key=lambda row: (row.kind != "collective", row.id))
        _departments(exposition, connection, objectives)
        _check_ins(exposition, connection)
        _links(exposition, connection)
        _objective_names(exposition, objectives)
        _objectives(exposition, objectives, cycles)
        _explanations(exposition, connection, objectives, windows, cycles, moment)
        texts, counts = key_result_families(connection, rendered or RenderedRows())
        for name, text, count in zip(KEY_RESULT_FAMILIES, texts, counts, strict=True):
            exposition.fill_text(name, text, count)
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


def _contributions_with_objectives() -> Select[Any]:
    c, k = tables.contributions, tables.key_results
    child_kr, parent_kr = aliased(k), aliased(k)
    return (
        select(c.c.child_type, c.c.child_id, child_kr.c.objective_id.label("child_objective"),
               c.c.parent_type, c.c.parent_id, parent_kr.c.objective_id.label("parent_objective"))
        .outerjoin(child_kr, and_(c.c.child_type == "key_result", child_kr.c.id == c.c.child_id))
        .outerjoin(parent_kr, and_(c.c.parent_type == "key_result",
                                   parent_kr.c.id == c.c.parent_id)))


# built once: SQLAlchemy keeps a statement's cache key on it (the key of these joins of
# aliases cost more than running them, built again at every scrape)
_CONTRIBUTIONS = _contributions_with_objectives()


def _aligned_objectives(connection: Connection, kind_of: dict[str, str]) -> set[str]:
    """Objectives that, themselves or through a key result, feed a collective target."""
    rows = connection.execute(_CONTRIBUTIONS)
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


def _links_with_their_ends() -> Select[Any]:
    link, o, k = tables.links, tables.objectives, tables.key_results
    target, owner = aliased(o), aliased(o)
    source, source_owner, source_kr = aliased(o), aliased(o), aliased(k)
    return (
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


_LINKS = _links_with_their_ends()


def _links(exposition: _Exposition, connection: Connection) -> None:
    """Links counted by departments, kind, the status of the item depended on and the cycle
    of the depending item (of the item depended on when the depending one is unknown)."""
    rows = connection.execute(_LINKS)
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
            f'cycle="{cycle}"}} 1\n' for department in owners(row.departments))
    exposition.fill("okr_objective_info", info_lines)
    exposition.fill("okr_objective_owner_info", owner_lines)


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
        for department in owners(row.departments):
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
                  objectives: list[Row[Any]], windows: dict[str, CycleWindow],
                  cycles: dict[str, float], now: datetime) -> None:
    """The forecast and the gap by department of each collective target (docs/explain.md),
    told from its kept outlook; from its subtree while none is kept (stale inputs play no
    part here, hence the infinite limit)."""
    o = tables.objectives
    forecast_lines: list[str] = []
    gap_lines: list[str] = []
    for row in objectives:
        if row.kind != "collective":
            continue
        forecast: float | None
        shares: tuple[Share, ...]
        kept = decoded(row.outlook)
        if kept is not None:
            window = windows.get(row.cycle)
            said = told(kept, row.progress, cycles.get(row.cycle),
                        None if window is None else cycle_end(window), now.timestamp())
            forecast, shares = said.forecast.attainment, said.departments
        else:
            full = connection.execute(select(o).where(o.c.id == row.id)).first()
            if full is None:
                continue
            explanation = explain_row(connection, full, now, math.inf)
            forecast, shares = explanation.forecast.attainment, explanation.departments
        labels = f'objective_id="{escape(row.id)}",cycle="{escape(row.cycle)}"'
        forecast = reported(forecast)
        if forecast is not None:
            forecast_lines.append(f"okr_objective_forecast_ratio{{{labels}}} {forecast!r}\n")
        gap_lines.extend(f'okr_objective_gap_ratio{{{labels},department='
                         f'"{escape(share.department)}"}} {_number(share.share)}\n'
                         for share in shares)
    exposition.fill("okr_objective_forecast_ratio", forecast_lines)
    exposition.fill("okr_objective_gap_ratio", gap_lines)


def _date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)
