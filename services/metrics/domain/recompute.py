"""Every figure computed from scratch, the slow and obvious way.

The reference the incremental roll-up is tested against, and a way to check a long-lived
read model. It reads only the items held (key results with their objective, active
contributions, cycles), none of the running sums or indexes the roll-up keeps. Sums and
means are exact fractions, rounded once at the end.
"""

from __future__ import annotations

from collections import defaultdict
from fractions import Fraction

from services.metrics.domain.goal_items import ItemType
from services.metrics.domain.graph import ContributionEdge, KeyResultNode, ObjectiveNode
from services.metrics.domain.progress import attainment, clamped, ratio, settled
from services.metrics.domain.rollup import RollupGraph
from services.metrics.domain.snapshot import KeyResultFigures, ObjectiveFigures, RollupSnapshot
from services.metrics.domain.status import status_of


def _weighted_mean(inputs: list[tuple[float, float | None]]) -> float | None:
    counted = [(Fraction(weight), Fraction(value)) for weight, value in inputs
               if weight > 0 and value is not None]
    if not counted:
        return None
    mean = (sum((weight * value for weight, value in counted), Fraction(0))
            / sum((weight for weight, _ in counted), Fraction(0)))
    return settled(ratio(mean.numerator, mean.denominator))


def _sum(values: list[float]) -> float:
    total = sum((Fraction(value) for value in values), Fraction(0))
    return settled(ratio(total.numerator, total.denominator))


def full_recompute(graph: RollupGraph) -> RollupSnapshot:
    objectives = {objective.id: objective for objective in graph.objectives()}
    key_results = {key_result.id: key_result for key_result in graph.key_results()}
    key_results_of: dict[str, list[KeyResultNode]] = defaultdict(list)
    for key_result in key_results.values():
        key_results_of[key_result.objective_id].append(key_result)
    edges_into: dict[tuple[ItemType, str], list[ContributionEdge]] = defaultdict(list)
    for edge in graph.contributions():
        if edge.active:
            edges_into[(edge.parent_type, edge.parent_id)].append(edge)

    values: dict[str, float] = {}
    figures: dict[str, ObjectiveFigures] = {}

    def value_of(key_result: KeyResultNode) -> float:
        if key_result.id not in values:
            if not key_result.sums:
                values[key_result.id] = key_result.checked_in
            else:
                added = [value_of(key_results[edge.child_id])
                         for edge in edges_into[(ItemType.KEY_RESULT, key_result.id)]
                         if edge.child_type is ItemType.KEY_RESULT and edge.weight > 0
                         and edge.child_id in key_results]
                values[key_result.id] = _sum(added) if added else key_result.start
        return values[key_result.id]

    def progress_of(key_result: KeyResultNode) -> float:
        return clamped(attainment(key_result.measure, key_result.start, key_result.target,
                                  value_of(key_result)))

    def figures_of(objective: ObjectiveNode) -> ObjectiveFigures:
        if objective.id not in figures:
            inputs: list[tuple[float, float | None, float | None]] = [
                (k.weight, progress_of(k), k.given_confidence)
                for k in key_results_of[objective.id]]
            for edge in edges_into[(ItemType.OBJECTIVE, objective.id)]:
                if edge.child_type is ItemType.KEY_RESULT and edge.child_id in key_results:
                    child = key_results[edge.child_id]
                    inputs.append((edge.weight, progress_of(child), child.given_confidence))
                elif edge.child_type is ItemType.OBJECTIVE and edge.child_id in objectives:
                    child_figures = figures_of(objectives[edge.child_id])
                    inputs.append((edge.weight, child_figures.progress,
                                   child_figures.confidence))
            progress = _weighted_mean([(weight, p) for weight, p, _ in inputs])
            confidence = _weighted_mean([(weight, c) for weight, _, c in inputs])
            figures[objective.id] = ObjectiveFigures(
                progress, confidence,
                status_of(progress, graph.expected_progress_of(objective), confidence,
                          graph.thresholds))
        return figures[objective.id]

    return RollupSnapshot(
        objectives={o.id: figures_of(o) for o in objectives.values()},
        key_results={k.id: KeyResultFigures(value_of(k), progress_of(k), k.given_confidence)
                     for k in key_results.values()})
