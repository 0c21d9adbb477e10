"""An objective's attainment: how far past (or short of) its targets it is, unclamped."""

from __future__ import annotations

from services.metrics.domain.graph import ObjectiveNode
from services.metrics.domain.progress import WeightedSum
from services.metrics.domain.rollup import RollupGraph


def objective_attainment(graph: RollupGraph, node: ObjectiveNode) -> float | None:
    """Weighted mean of its own key results' unclamped attainment (each finite, within
    ``ATTAINMENT_LIMIT``: ``domain/progress.py``); else its progress."""
    attainments = WeightedSum()
    for key_result in graph.key_results_of(node.id):
        attainments.shift(key_result.weight, key_result.attainment, +1)
    mean = attainments.mean()
    return node.progress if mean is None else mean
