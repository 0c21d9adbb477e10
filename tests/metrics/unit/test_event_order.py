"""Duplicated, late and out-of-order goal events leave the read model as if they came in order."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from services.metrics.domain.goal_items import (
    ContributionState,
    InvalidGoalItem,
    ItemType,
    Measure,
)
from services.metrics.domain.recompute import full_recompute
from tests.metrics.unit.builders import (
    Q4,
    GoalItem,
    apply,
    graph_at,
    key_result,
    key_result_into_key_result,
    key_result_into_objective,
    objective,
    objective_into_objective,
)


def test_a_duplicated_event_changes_nothing() -> None:
    graph = graph_at()
    apply(graph, objective("o"), key_result("k", "o", version=2, current=50))
    assert graph.upsert_key_result(key_result("k", "o", version=2, current=50)) == {}
    assert graph.upsert_key_result(key_result("k", "o", version=2, current=90)) == {}
    node = graph.objective("o")
    assert node is not None and node.progress == 0.5


def test_an_older_version_arriving_late_is_ignored() -> None:
    graph = graph_at()
    apply(graph, objective("o"), key_result("k", "o", version=3, current=70))
    assert graph.upsert_key_result(key_result("k", "o", version=2, current=20)) == {}
    assert graph.record_check_in("k", 3, 10.0, None, None) == {}
    node = graph.objective("o")
    assert node is not None and node.progress == 0.7


def test_a_late_creation_cannot_resurrect_a_deleted_key_result() -> None:
    graph = graph_at()
    apply(graph, objective("o"), key_result("k", "o", version=2, current=70),
          key_result("other", "o", current=10))
    graph.remove_key_result("k", 2)
    assert graph.upsert_key_result(key_result("k", "o", version=1, current=70)) == {}
    assert graph.upsert_key_result(key_result("k", "o", version=2, current=70)) == {}
    assert graph.key_result("k") is None
    node = graph.objective("o")
    assert node is not None and node.progress == 0.1


def test_a_deletion_arriving_before_the_creation_wins() -> None:
    graph = graph_at()
    graph.remove_objective("o", 1)
    graph.upsert_objective(objective("o", version=1))
    assert graph.objective("o") is None


def test_a_deletion_older_than_the_state_held_is_ignored() -> None:
    graph = graph_at()
    apply(graph, objective("o"), key_result("k", "o", version=4, current=30))
    assert graph.remove_key_result("k", 3) == {}
    assert graph.key_result("k") is not None


def test_a_removed_contribution_stays_removed_when_its_addition_comes_late() -> None:
    graph = graph_at()
    apply(graph, objective("top", collective=True), objective("o"),
          key_result("k", "o", current=40))
    graph.remove_contribution("c", 1)
    graph.add_contribution(objective_into_objective("c", "o", "top"))
    node = graph.objective("top")
    assert node is not None and node.progress is None


ARRIVING = [
    Q4, objective("top", collective=True), objective("sales"), objective("marketing"),
    key_result("total", "top", target=200, sums=True),
    key_result("s", "sales", current=80, confidence=0.6),
    key_result("m", "marketing", current=40, confidence=0.9),
    key_result_into_key_result("c1", "s", "total"),
    key_result_into_key_result("c2", "m", "total"),
    objective_into_objective("c3", "sales", "top", weight=2),
    key_result_into_objective("c4", "m", "top"),
]


@pytest.mark.parametrize("seed", range(12))
def test_items_arriving_before_what_they_refer_to_give_the_same_rollup(seed: int) -> None:
    in_order = graph_at()
    apply(in_order, *ARRIVING)
    arriving = list(ARRIVING)
    random.Random(seed).shuffle(arriving)
    shuffled = graph_at()
    apply(shuffled, *arriving)
    assert shuffled.snapshot() == in_order.snapshot() == full_recompute(in_order)
    top = in_order.objective("top")
    assert top is not None and top.progress == pytest.approx((0.6 + 2 * 0.8 + 0.4) / 4)


def test_a_contribution_closing_a_cycle_waits_until_the_cycle_opens() -> None:
    graph = graph_at()
    apply(graph, objective("a"), objective("b"), key_result("ka", "a", current=20),
          key_result("kb", "b", current=80), objective_into_objective("a-into-b", "a", "b"))
    # b -> a arrives before the removal of a -> b that made room for it
    graph.add_contribution(objective_into_objective("b-into-a", "b", "a"))
    a, b = graph.objective("a"), graph.objective("b")
    assert a is not None and b is not None
    assert (a.progress, b.progress) == (0.2, 0.5)
    changes = graph.remove_contribution("a-into-b", 1)
    assert (a.progress, b.progress) == (0.5, 0.8)
    assert set(changes) == {"a", "b"}
    assert [edge.active for edge in graph.contributions()] == [True]


def test_a_key_result_that_starts_summing_picks_up_its_contributors() -> None:
    graph = graph_at()
    apply(graph, objective("o"), key_result("total", "o", target=100),
          key_result("part", "o", current=30, weight=0),
          key_result_into_key_result("c", "part", "total"))
    graph.upsert_key_result(key_result("total", "o", version=2, target=100, sums=True))
    total = graph.key_result("total")
    assert total is not None and total.current == 30
    assert graph.snapshot() == full_recompute(graph)


@pytest.mark.parametrize(("make", "message"), [
    (lambda: key_result("k", "o", start=5, target=5), "differ"),
    (lambda: key_result("k", "o", weight=-1), "negative"),
    (lambda: key_result("k", "o", current=float("nan")), "finite"),
    (lambda: key_result("k", "o", confidence=1.5), "between"),
    (lambda: ContributionState("c", 1, ItemType.OBJECTIVE, "o", ItemType.KEY_RESULT, "k"),
     "objectives only"),
])
def test_items_breaking_the_contract_are_refused(make: Callable[[], GoalItem],
                                                 message: str) -> None:
    with pytest.raises(InvalidGoalItem, match=message):
        make()


def test_a_non_finite_check_in_is_refused() -> None:
    graph = graph_at()
    apply(graph, objective("o"), key_result("k", "o", measure=Measure.INCREASE))
    with pytest.raises(InvalidGoalItem):
        graph.record_check_in("k", 2, float("inf"), None, None)
