"""What holds an objective back: its gap, who holds which part of it, where it is heading.

The explanation works on a subtree of :class:`Item` (built from the consumer's graph, or
from the read model by the API), so both compute it with the same code:

- **gap** = expected progress - progress. The progress of an objective is the weighted
  mean of its counted inputs (weight > 0, with data), so with ``W`` the sum of their
  weights, ``gap = sum_i (w_i / W) * (expected - p_i)``: that term is input ``i``'s
  share, negative when the input is ahead of plan. A child objective's share splits the
  same way down to the key results; a key result's share goes to the departments of its
  objective (joined by "+" when several own it). The shares of the departments are the
  sums of their key results' shares, so they add up to the gap. Each department's share
  is kept as ``expected * weight - progress_part`` (both sums of the key results'
  ``product of w / W along each path`` and of that times their progress), so it follows
  the clock without walking the subtree again.
- **summing key results**: each department's amount (the sum of its contributors'
  values) beside its pro-rata share of the expected amount ``start + expected * (target -
  start)``, pro rata to its contributors' planned increments ``|target - start|``.
- **forecast**: the subtree's attainment line (see ``forecast.py``) at the end of the
  cycle, unclamped (1.0 = the target); none unless every counted input has a pace (a
  yes/no key result counts as it stands: it has no pace). **reached_on**: the day the
  line reaches 1.0, if within :data:`HORIZON_SECONDS`.
- **dependencies at risk**: links of the subtree whose other end is at risk or off track.
- **stale inputs**: key results checked in longer ago than the configured time (or never);
  summing key results are fed by their contributors and are never stale themselves.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import NamedTuple

from services.metrics.domain.forecast import (
    Line,
    cycle_to_date_pace,
    finite,
    summed,
    weighted_mean,
)
from services.metrics.domain.goal_items import Measure
from services.metrics.domain.progress import settled, sum_of

HORIZON_SECONDS = 365 * 86_400.0
WHY_LENGTH = 300
AT_RISK = frozenset({"at_risk", "off_track"})


@dataclass(eq=False, slots=True)
class Item:
    """An objective or a key result of the subtree, with the inputs it rolls up.

    ``inputs`` are (weight, item) exactly as the roll-up folds them: an objective's own key
    results and contributions, a summing key result's contributors. ``departments`` of a
    key result are those of its objective.
    """

    type: str  # "objective" | "key_result"
    id: str
    title: str
    departments: tuple[str, ...]
    progress: float | None
    status: str | None = None  # objectives
    measure: Measure = Measure.INCREASE
    start: float = 0.0
    target: float = 1.0
    value: float | None = None
    sums: bool = False
    last_checkin_at: float | None = None
    pace: float | None = None  # value per second over its window (``forecast.pace``)
    cycle_start: float | None = None  # key results: their objective's cycle's (POSIX s)
    inputs: list[tuple[float, Item]] = field(default_factory=list)

    @property
    def department(self) -> str:
        """The owning departments joined by "+" (for display only, never a gap part)."""
        return "+".join(self.departments) or "unknown"

    def owners(self) -> tuple[str, ...]:
        """The single owning departments, each once ("unknown" if none): a jointly owned
        item's part of the gap (or amount) is split among them in equal parts."""
        return _owners(self.departments)

    def counted(self) -> Iterator[tuple[float, Item]]:
        """The inputs the roll-up counts: weight > 0 and figures to count."""
        for weight, child in self.inputs:
            if weight > 0.0 and (child.value if self.type == "key_result"
                                 else child.progress) is not None:
                yield weight, child


@functools.lru_cache(maxsize=1024)
def _owners(departments: tuple[str, ...]) -> tuple[str, ...]:
    owners = tuple(dict.fromkeys(department for department in departments if department))
    return owners or ("unknown",)


@dataclass(frozen=True, slots=True)
class LinkEnd:
    """A link of the subtree and the figures of its other end."""

    id: str
    kind: str
    direction: str  # "outgoing" | "incoming"
    item_type: str  # this end, in the subtree
    item_id: str
    other_type: str
    other_id: str
    other_department: str
    other_title: str | None
    other_progress: float | None
    other_status: str | None


@dataclass(frozen=True, slots=True)
class Share:
    department: str
    share: float
    weight: float  # the department's part of the roll-up's weight (sums to 1)
    progress: float | None = None  # its own progress on its part (part / weight)


@dataclass(frozen=True, slots=True)
class InputShare:
    type: str
    id: str
    title: str
    department: str
    weight: float
    progress: float | None
    share: float | None  # None: not counted (no data or weight 0)


@dataclass(frozen=True, slots=True)
class DepartmentAmount:
    department: str
    amount: float
    expected_amount: float | None


@dataclass(frozen=True, slots=True)
class SumBreakdown:
    key_result_id: str
    title: str
    value: float | None
    expected_amount: float | None
    departments: tuple[DepartmentAmount, ...]


@dataclass(frozen=True, slots=True)
class StaleInput:
    key_result_id: str
    title: str
    department: str
    last_checkin_at: float | None


@dataclass(frozen=True, slots=True)
class Forecast:
    attainment: float | None
    reached_on: date | None
    line: Line | None
    # key results of the subtree by how their pace was told: least_squares (recent
    # check-ins), cycle_to_date, as_it_stands (yes/no), none (too little history)
    estimators: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Explanation:
    progress: float | None
    expected_progress: float | None
    gap: float | None
    inputs: tuple[InputShare, ...]
    departments: tuple[Share, ...]
    sums: tuple[SumBreakdown, ...]
    forecast: Forecast
    dependencies_at_risk: tuple[LinkEnd, ...]
    stale_inputs: tuple[StaleInput, ...]
    why: str | None


# -- gap parts ---------------------------------------------------------------------------------

Parts = dict[str, tuple[float, float]]  # department -> (weight, weight * progress)


def gap_parts(item: Item, memo: dict[int, Parts] | None = None) -> Parts:
    """Per department, its weight in the item's progress and its part of the progress: the
    department's share of the gap at expected progress ``e`` is ``e * weight - part``."""
    memo = {} if memo is None else memo
    key = id(item)  # the items of one subtree are distinct objects
    if key in memo:
        return memo[key]
    parts: Parts
    if item.type == "key_result":
        parts = _sum_parts(item) or (
            {} if item.progress is None else _split(item.owners(), 1.0, item.progress))
    else:
        counted = list(item.counted())
        total = sum_of(weight for weight, _ in counted)
        scaled: dict[str, tuple[list[float], list[float]]] = {}
        for weight, child in counted:
            leaf = child.progress
            if child.type == "key_result" and not (child.inputs or child.sums) \
                    and leaf is not None:  # a plain key result: _split's parts, no calls
                owners = _owners(child.departments)
                count = len(owners)
                child_parts: Iterable[tuple[str, tuple[float, float]]] = [
                    (owner, (1.0 / count, leaf / count)) for owner in owners]
            else:
                child_parts = gap_parts(child, memo).items()
            for department, (share, part) in child_parts:
                weights, progress = scaled.setdefault(department, ([], []))
                weights.append(weight * share / total)
                progress.append(weight * part / total)
        parts = {department: (sum_of(weights), sum_of(progress))
                 for department, (weights, progress) in scaled.items()}
    if item.inputs:  # a leaf is cheaper to compute again than to keep (memory)
        memo[key] = parts
    return parts


def _split(owners: tuple[str, ...], weight: float, part: float) -> Parts:
    """``weight`` and ``part`` in equal parts among ``owners``: no owner of a jointly owned
    key result is known to hold more of it than another, and equal parts keep every
    department part a single department while the parts still add up exactly."""
    count = len(owners)
    return {owner: (weight / count, part / count) for owner in owners}


def _sum_parts(item: Item) -> Parts | None:
    """A summing key result's gap by its contributors' departments: the department's
    expected amount less its amount, over the span, ``(pi_d * (start + e * span) -
    amount_d) / span`` with ``pi_d`` its pro-rata plan (``_plans``); these add up to the
    key result's gap while its attainment lies within [0, 1] (beyond, the progress is
    clamped and the whole share stays with the key result's own departments)."""
    if not item.sums or item.measure is Measure.BOOLEAN or item.progress is None:
        return None
    amounts, plans = _plans(item)
    if not amounts:
        return None
    span = item.target - item.start
    attainment = (sum_of(sum_of(a) for a in amounts.values()) - item.start) / span
    if not 0.0 <= attainment <= 1.0:
        return None
    return {department: (plans[department],
                         (sum_of(amounts[department]) - plans[department] * item.start)
                         / span)
            for department in amounts}


def _plans(item: Item) -> tuple[dict[str, list[float]], dict[str, float]]:
    """A summing key result's contributors' values by department, and each department's
    pro-rata plan: its contributors' ``|target - start|`` over all of theirs (equal parts
    if none plans anything). A contributor owned by several departments counts for each in
    equal parts, value and plan alike."""
    amounts: dict[str, list[float]] = {}
    planned: dict[str, list[float]] = {}
    for _, child in item.counted():
        owners = child.owners()
        for owner in owners:
            amounts.setdefault(owner, []).append((child.value or 0.0) / len(owners))
            planned.setdefault(owner, []).append(abs(child.target - child.start) / len(owners))
    total = sum_of(sum_of(plan) for plan in planned.values())
    plans = {department: (sum_of(plan) / total if total > 0 else 1.0 / len(planned))
             for department, plan in planned.items()}
    return amounts, plans


def department_shares(parts: Parts, expected: float) -> tuple[Share, ...]:
    """Each department's share of the gap, largest first."""
    shares = [Share(department, settled(expected * weight - part), settled(weight),
                    settled(part / weight) if weight > 0.0 else None)
              for department, (weight, part) in parts.items()]
    return tuple(sorted(shares, key=lambda s: (-s.share, s.department)))


# -- forecast -----------------------------------------------------------------------------------

def value_line(item: Item, memo: dict[int, Line | None]) -> Line | None:
    """A key result's value line: its pace from its window, or its contributors' lines
    summed; a yes/no result stays as it is."""
    key = -id(item)  # beside the item's attainment line in the same memo
    if key in memo:
        return memo[key]
    line: Line | None = None
    if item.sums:
        lines = [value_line(child, memo) for _, child in item.counted()]
        line = None if not lines or None in lines else summed(
            line for line in lines if line is not None)
    elif item.value is not None:
        if item.measure is Measure.BOOLEAN:
            line = Line(item.last_checkin_at or 0.0, item.value, 0.0)
        elif item.last_checkin_at is not None:
            slope = item.pace
            if slope is None:
                slope = cycle_to_date_pace(item.start, item.cycle_start,
                                           item.last_checkin_at, item.value)
            line = None if slope is None else Line(item.last_checkin_at, item.value, slope)
    if item.inputs:  # a leaf is cheaper to compute again than to keep (memory)
        memo[key] = line
    return line


def attainment_line(item: Item, memo: dict[int, Line | None] | None = None) -> Line | None:
    """The item's attainment (unclamped) as a line in time, or None: too little history."""
    memo = {} if memo is None else memo
    key = id(item)
    if key in memo:
        return memo[key]
    line: Line | None = None
    if item.type == "key_result":
        values = value_line(item, memo)
        if values is not None:
            if item.measure is Measure.BOOLEAN:
                done = 1.0 if values.value >= item.target else 0.0
                line = Line(values.at, done, 0.0)
            else:
                scaled = values.scaled(item.start, 1.0 / (item.target - item.start))
                line = scaled if finite(scaled) else None
    else:
        lines = [(weight, _plain_line(child) if child.type == "key_result"
                  and not (child.inputs or child.sums) else attainment_line(child, memo))
                 for weight, child in item.counted()]
        if lines and all(line is not None for _, line in lines):
            line = weighted_mean([(weight, line) for weight, line in lines if line is not None])
    if item.inputs:  # a leaf is cheaper to compute again than to keep (memory)
        memo[key] = line
    return line


def _plain_line(item: Item) -> Line | None:
    """:func:`attainment_line` of a key result that sums nothing and has no inputs (most
    of a subtree), the same figures without the calls through :func:`value_line`."""
    value, at = item.value, item.last_checkin_at
    if value is None:
        return None
    if item.measure is Measure.BOOLEAN:
        return Line(at or 0.0, 1.0 if value >= item.target else 0.0, 0.0)
    if at is None:
        return None
    slope = item.pace
    if slope is None:
        slope = cycle_to_date_pace(item.start, item.cycle_start, at, value)
        if slope is None:
            return None
    factor = 1.0 / (item.target - item.start)
    scaled = (value - item.start) * factor
    slope *= factor
    if math.isfinite(at) and math.isfinite(scaled) and math.isfinite(slope):
        return Line(at, scaled, slope)
    return None


def forecast_of(line: Line | None, cycle_end: float | None, now: float) -> Forecast:
    """Where ``line`` is heading at ``cycle_end``, seen at ``now``.

    A cycle that has ended has nothing left to forecast: its attainment is its progress,
    and a line drawn past its last check-in would tell a figure it never reached. The day
    the target is reached is read from where the line is *now*: today if it is at or above
    1.0 now, else the day a rising line gets there (a falling line that began above the
    target is not "reached today" once it has dropped below it)."""
    if line is None or cycle_end is None or now >= cycle_end:
        return Forecast(None, None, line)
    attainment = line(cycle_end)
    current = line(now)
    reached: float | None = None
    if current >= 1.0:
        reached = now
    elif line.slope > 0.0:
        reached = now + (1.0 - current) / line.slope
    reached_on = None
    if reached is not None and math.isfinite(reached) and reached - now <= HORIZON_SECONDS:
        try:
            reached_on = datetime.fromtimestamp(max(reached, now), UTC).date()
        except (OverflowError, OSError, ValueError):
            reached_on = None  # beyond the last day a date holds (9999-12-31)
    return Forecast(settled(attainment) if math.isfinite(attainment) else None, reached_on,
                    line)


# -- the explanation -----------------------------------------------------------------------------

def walk(root: Item) -> Iterator[Item]:
    """Every item of the subtree once (shared children once)."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        item = stack.pop()
        key = id(item)
        if key in seen:
            continue
        seen.add(key)
        yield item
        stack.extend([child for _, child in item.inputs])


class Outlook(NamedTuple):
    """The part of an explanation a roll-up event carries (its ``forecast`` and ``why``),
    with what ``why`` is told from."""

    gap: float | None
    departments: tuple[Share, ...]
    forecast: Forecast  # without its estimators (see explain)
    dependencies_at_risk: tuple[LinkEnd, ...]
    why: str | None


PartRow = tuple[str, float, float]  # (department, weight, weight * progress)


class Kept(NamedTuple):
    """What an objective's outlook is told from at any moment, without its subtree: kept
    in the read model beside the objective's figures, so a list of roll-ups tells each
    one's departments' parts, forecast and why (:func:`told`) without walking a subtree.

    None of it follows the clock: a department's share of the gap is ``expected * weight
    - part`` at the moment it is told, the forecast is the attainment line at the cycle's
    end, and the dependencies at risk are ordered by their status and progress.
    """

    parts: tuple[PartRow, ...]  # :func:`gap_parts` of the objective, by department
    line: Line | None  # :func:`attainment_line` of the objective
    risks: tuple[LinkEnd, ...]  # the dependencies at risk, most at risk first
    # False: only the first of them was kept (an outlook written before they all were)
    all_risks: bool = True

    @property
    def risk(self) -> LinkEnd | None:
        """The dependency most at risk (what ``why`` names)."""
        return self.risks[0] if self.risks else None


class Told(NamedTuple):
    gap: float | None
    departments: tuple[Share, ...]
    forecast: Forecast  # without its estimators
    why: str | None


def kept_of(root: Item, links: Iterable[LinkEnd], parts: dict[int, Parts] | None = None,
            lines: dict[int, Line | None] | None = None) -> tuple[Kept, tuple[LinkEnd, ...]]:
    """What ``root``'s outlook is told from, and its dependencies at risk, most at risk
    first. ``parts`` and ``lines``: memos of :func:`gap_parts` and :func:`attainment_line`
    that a caller keeps across calls, forgetting the entries of every item that changed
    and of its ancestors."""
    at_risk = tuple(sorted((link for link in links if link.other_status in AT_RISK),
                           key=_risk_order))
    rows = tuple(sorted((department, weight, part)
                        for department, (weight, part) in gap_parts(root, parts).items()))
    return Kept(rows, attainment_line(root, lines), at_risk), at_risk


def told(kept: Kept, progress: float | None, expected: float | None,
         cycle_end: float | None, now: float) -> Told:
    """The gap, its shares by department, the forecast and why of an objective whose
    progress is ``progress``, at ``now`` (POSIX seconds)."""
    gap: float | None = None
    departments: tuple[Share, ...] = ()
    if expected is not None and progress is not None:
        gap = settled(expected - progress)
        departments = department_shares({d: (w, p) for d, w, p in kept.parts}, expected)
    # A cycle that has not begun (nothing of it elapsed) has no forecast either: the pace of
    # check-ins made before it, carried over the whole cycle, tells a figure of nothing
    # that happened in it (1,265 % "by 31 Mar", "target on" a day before it starts).
    not_begun = expected is not None and expected <= 0.0
    forecast = (Forecast(None, None, kept.line) if not_begun
                else forecast_of(kept.line, cycle_end, now))
    return Told(gap, departments, forecast, why(gap, departments, kept.risks[:1], forecast))


def outlook(root: Item, expected: float | None, cycle_end: float | None, now: float,
            links: Iterable[LinkEnd], parts: dict[int, Parts] | None = None,
            lines: dict[int, Line | None] | None = None) -> Outlook:
    """The forecast of ``root`` at ``now`` and why it is behind: what :func:`explain`
    says of them, without the rest of the explanation, told from what :func:`kept_of`
    keeps (so a roll-up listed from the read model says the same)."""
    kept, at_risk = kept_of(root, links, parts, lines)
    gap, departments, forecast, why_text = told(kept, root.progress, expected, cycle_end, now)
    return Outlook(gap, departments, forecast, at_risk, why_text)


def explain(root: Item, expected: float | None, cycle_end: float | None, now: float,
            links: Iterable[LinkEnd], stale_after: float,
            items: list[Item] | None = None) -> Explanation:
    """The explanation of ``root`` at ``now`` (POSIX seconds); ``items``: those of
    ``walk(root)`` if the caller has them already."""
    items = list(walk(root)) if items is None else items
    kept, _ = kept_of(root, links)
    return explained(kept, root, expected, cycle_end, now, stale_after,
                     [item for item in items if item.type == "key_result"])


def explained(kept: Kept, root: Item, expected: float | None, cycle_end: float | None,
              now: float, stale_after: float, key_results: Iterable[Item],
              estimators: dict[str, int] | None = None) -> Explanation:
    """The explanation of ``root`` told from what :func:`kept_of` keeps of it (its gap by
    department, forecast, dependencies at risk and why): ``root`` needs only its inputs
    (their figures), and ``key_results`` only those of the subtree that sum, are stale or
    whose estimator :func:`estimator_of` tells, when ``estimators`` counts the rest by
    estimator (the read model's statement sorts them so: ``adapters/explain_queries.py``)."""
    gap, departments, forecast, why_text = told(kept, root.progress, expected, cycle_end, now)
    inputs = tuple(sorted(_input_shares(root, expected), key=_input_order))
    sums: list[SumBreakdown] = []
    counted = dict(estimators or {})  # key results by how their pace is told
    stale: list[StaleInput] = []
    for item in key_results:  # one pass for all three
        if item.sums:
            sums.append(_sum_breakdown(item, expected))
            continue
        method = estimator_of(item)
        counted[method] = counted.get(method, 0) + 1
        if item.last_checkin_at is None or now - item.last_checkin_at > stale_after:
            stale.append(StaleInput(item.id, item.title, item.department,
                                    item.last_checkin_at))
    stale.sort(key=lambda s: (s.last_checkin_at or 0.0, s.key_result_id))
    forecast = replace(forecast, estimators=tuple(sorted(
        (method, count) for method, count in counted.items() if count)))
    return Explanation(root.progress, expected, gap, inputs, departments, tuple(sums),
                       forecast, kept.risks, tuple(stale), why_text)


def estimator_of(item: Item) -> str:
    """How a (not summing) key result's pace is told."""
    if item.measure is Measure.BOOLEAN:
        return "as_it_stands"
    if item.last_checkin_at is None or item.value is None:
        return "none"
    if item.pace is not None:
        return "least_squares"
    if cycle_to_date_pace(item.start, item.cycle_start, item.last_checkin_at,
                          item.value) is not None:
        return "cycle_to_date"
    return "none"


def _input_shares(root: Item, expected: float | None) -> Iterator[InputShare]:
    counted = {id(child) for _, child in root.counted()}
    total = sum_of(weight for weight, child in root.counted())
    for weight, child in root.inputs:
        share = None
        if id(child) in counted and expected is not None and child.progress is not None:
            share = settled(weight / total * (expected - child.progress))
        yield InputShare(child.type, child.id, child.title, child.department, weight,
                         child.progress, share)


def _input_order(share: InputShare) -> tuple[bool, str, str, float]:
    """Key results first, then objectives, each by title (then id, then weight): the same
    order whichever side built the subtree, in whatever order it met the edges."""
    return share.type != "key_result", share.title, share.id, share.weight


def _sum_breakdown(item: Item, expected: float | None) -> SumBreakdown:
    expected_amount = (None if expected is None
                       else item.start + expected * (item.target - item.start))
    amounts, plans = _plans(item)
    rows = [DepartmentAmount(department, settled(sum_of(amounts[department])),
                             None if expected_amount is None
                             else settled(expected_amount * plans[department]))
            for department in sorted(amounts)]
    return SumBreakdown(item.id, item.title, item.value,
                        None if expected_amount is None else settled(expected_amount),
                        tuple(rows))


def _risk_order(link: LinkEnd) -> tuple[int, float, str, str, str]:
    """Off track first, then the lowest progress; ties (a link with both ends in the
    subtree) in a fixed order, whatever order the subtree was walked in."""
    return (0 if link.other_status == "off_track" else 1,
            link.other_progress if link.other_progress is not None else 0.0, link.id,
            link.direction, link.item_id)


def _points(value: float) -> str:
    """Points of progress to a tenth, half up on the decimal written, as the console writes
    a department's part: ``0.003`` → ``0.3 pts``, ``0.01`` → ``1.0 pt``."""
    shown = Decimal(repr(value)).scaleb(2).quantize(Decimal("0.1"), ROUND_HALF_UP)
    return f"{shown:f} {'pt' if shown == 1 else 'pts'}"


def why(gap: float | None, departments: tuple[Share, ...], at_risk: tuple[LinkEnd, ...],
        forecast: Forecast) -> str | None:
    """One or two lines: the largest share of the gap, and the dependency most at risk."""
    lines = []
    behind = [share for share in departments if share.share > 0]
    if gap is not None and gap > 0 and behind:
        largest = behind[0]
        text = (f"{_points(gap)} behind plan; {largest.department} holds "
                f"{_points(largest.share)} of it")
        if forecast.attainment is not None:
            text += f"; heading for {forecast.attainment * 100:.0f} % at cycle end"
        lines.append(text + ".")
    if at_risk:
        link = at_risk[0]
        progress = ("no data" if link.other_progress is None
                    else f"{link.other_progress * 100:.0f} %")
        title = (link.other_title or link.other_id)[:80]
        lines.append(f"Depends on {link.other_department} '{title}' "
                     f"({link.other_status.replace('_', ' ') if link.other_status else ''}, "
                     f"{progress}).")
    if not lines:
        return None
    return "\n".join(lines)[:WHY_LENGTH]
