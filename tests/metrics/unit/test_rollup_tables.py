"""Roll-up tables: what each objective and key result shows for a given goal graph."""

from __future__ import annotations

import math

import pytest

from services.metrics.domain.recompute import full_recompute
from tests.metrics.unit.builders import (
    GoalItem,
    apply,
    boolean_key_result,
    graph_at,
    key_result,
    key_result_into_key_result,
    key_result_into_objective,
    objective,
    objective_into_objective,
)

OBJ = objective
KR = key_result

ROLLUPS: list[tuple[str, list[GoalItem], dict[str, float | None]]] = [
    ("increase", [OBJ("o"), KR("k", "o", start=0, target=200, current=50)], {"o": 0.25}),
    ("increase from a non-zero start", [OBJ("o"), KR("k", "o", start=100, target=300,
                                                     current=250)], {"o": 0.75}),
    ("decrease", [OBJ("o"), KR("k", "o", start=100, target=40, current=70)], {"o": 0.5}),
    ("decrease beyond the target is clamped", [OBJ("o"), KR("k", "o", start=100, target=40,
                                                            current=10)], {"o": 1.0}),
    ("moving away from the target is clamped at 0", [OBJ("o"), KR("k", "o", current=-30)],
     {"o": 0.0}),
    ("no check-in yet means current = start", [OBJ("o"), KR("k", "o", start=5, target=10)],
     {"o": 0.0}),
    ("boolean done and not done", [OBJ("o"), boolean_key_result("a", "o", True),
                                   boolean_key_result("b", "o", False)], {"o": 0.5}),
    ("over-achievement does not hide a shortfall", [OBJ("o"), KR("a", "o", current=150),
                                                    KR("b", "o", current=0)], {"o": 0.5}),
    ("key result weights", [OBJ("o"), KR("a", "o", current=100, weight=3),
                            KR("b", "o", current=0, weight=1)], {"o": 0.75}),
    ("a key result of weight 0 is ignored", [OBJ("o"), KR("a", "o", current=100, weight=0),
                                             KR("b", "o", current=20)], {"o": 0.2}),
    ("only weight-0 key results is no data", [OBJ("o"), KR("a", "o", current=100, weight=0)],
     {"o": None}),
    ("an objective without key results is no data", [OBJ("o")], {"o": None}),
    ("a child without data adds nothing",
     [OBJ("top", collective=True), OBJ("empty"), OBJ("dept"), KR("k", "dept", current=40),
      objective_into_objective("c1", "empty", "top"),
      objective_into_objective("c2", "dept", "top")],
     {"top": 0.4, "empty": None, "dept": 0.4}),
    ("only children without data is no data",
     [OBJ("top", collective=True), OBJ("empty"), objective_into_objective("c", "empty", "top")],
     {"top": None}),
    ("a contribution of weight 0 is ignored",
     [OBJ("top", collective=True), OBJ("a"), OBJ("b"), KR("ka", "a", current=100),
      KR("kb", "b", current=10), objective_into_objective("c1", "a", "top", weight=0),
      objective_into_objective("c2", "b", "top")], {"top": 0.1}),
    ("contribution weights mix with the objective's own key results",
     [OBJ("top", collective=True), KR("own", "top", current=100, weight=1), OBJ("a"),
      KR("ka", "a", current=0), objective_into_objective("c", "a", "top", weight=3)],
     {"top": 0.25}),
    ("a key result contributing straight to a collective target",
     [OBJ("top", collective=True), OBJ("a"), KR("ka", "a", current=80),
      key_result_into_objective("c", "ka", "top")], {"top": 0.8, "a": 0.8}),
    ("four levels",
     [OBJ("company", collective=True), OBJ("division"), OBJ("department"), OBJ("team"),
      KR("t1", "team", current=100), KR("t2", "team", current=0),
      KR("d1", "department", current=100),
      objective_into_objective("c1", "team", "department"),
      objective_into_objective("c2", "department", "division"),
      objective_into_objective("c3", "division", "company"),
      KR("company-own", "company", current=0)],
     {"team": 0.5, "department": 0.75, "division": 0.75, "company": 0.375}),
    ("a child shared by two collective targets",
     [OBJ("growth", collective=True), OBJ("retention", collective=True), OBJ("sales"),
      KR("pipeline", "sales", current=60), KR("g", "growth", current=0),
      KR("r", "retention", current=100),
      objective_into_objective("c1", "sales", "growth", weight=1),
      objective_into_objective("c2", "sales", "retention", weight=3)],
     {"sales": 0.6, "growth": 0.3, "retention": 0.7}),
    ("a summing key result adds its contributors' values up",
     [OBJ("company", collective=True), OBJ("sales"), OBJ("marketing"),
      KR("revenue", "company", target=120_000, sums=True),
      KR("sales-revenue", "sales", target=100_000, current=60_000),
      KR("marketing-revenue", "marketing", target=20_000, current=15_000),
      key_result_into_key_result("c1", "sales-revenue", "revenue"),
      key_result_into_key_result("c2", "marketing-revenue", "revenue")],
     {"company": 0.625, "sales": 0.6, "marketing": 0.75}),
    ("sums through two levels, over-achievement included",
     [OBJ("company", collective=True), OBJ("region"), OBJ("a"), OBJ("b"),
      KR("total", "company", target=300, sums=True), KR("regional", "region", target=200,
                                                       sums=True),
      KR("ka", "a", target=100, current=150), KR("kb", "b", target=100, current=30),
      key_result_into_key_result("c1", "ka", "regional"),
      key_result_into_key_result("c2", "kb", "regional"),
      key_result_into_key_result("c3", "regional", "total")],
     {"company": 0.6, "region": 0.9, "a": 1.0, "b": 0.3}),
    ("a summing key result without contributors stays at its start",
     [OBJ("company", collective=True), KR("total", "company", start=10, target=20, sums=True)],
     {"company": 0.0}),
    ("a contributor of weight 0 is left out of a sum",
     [OBJ("company", collective=True), OBJ("a"), KR("total", "company", target=100, sums=True),
      KR("ka", "a", current=40), KR("kb", "a", current=50),
      key_result_into_key_result("c1", "ka", "total"),
      key_result_into_key_result("c2", "kb", "total", weight=0)], {"company": 0.4}),
]


@pytest.mark.parametrize(("items", "expected"), [(items, expected) for _, items, expected
                                                 in ROLLUPS], ids=[name for name, *_ in ROLLUPS])
def test_rollup_table(items: list[GoalItem], expected: dict[str, float | None]) -> None:
    graph = graph_at()
    apply(graph, *items)
    for objective_id, progress in expected.items():
        node = graph.objective(objective_id)
        assert node is not None
        if progress is None:
            assert node.progress is None
        else:
            assert node.progress is not None and math.isclose(node.progress, progress)
    assert graph.snapshot() == full_recompute(graph)


def test_over_achievement_is_kept_as_unclamped_attainment() -> None:
    graph = graph_at()
    apply(graph, OBJ("o"), KR("up", "o", current=150), KR("down", "o", start=100, target=40,
                                                          current=10))
    up, down = graph.key_result("up"), graph.key_result("down")
    assert up is not None and down is not None
    assert (up.progress, up.attainment) == (1.0, 1.5)
    assert down.progress == 1.0 and down.attainment == pytest.approx(1.5)


def test_summing_key_result_value_is_the_sum_not_an_average() -> None:
    graph = graph_at()
    apply(graph, OBJ("company", collective=True), OBJ("a"),
          KR("total", "company", target=121_000, sums=True),
          KR("big", "a", target=100_000, current=100_000),
          KR("medium", "a", target=20_000, current=0), KR("small", "a", target=1_000, current=0),
          *(key_result_into_key_result(f"c-{k}", k, "total") for k in ("big", "medium", "small")))
    total = graph.key_result("total")
    assert total is not None and total.current == 100_000
    assert total.progress == pytest.approx(100 / 121)  # an average would say 1/3


def test_check_in_changes_only_its_ancestors_and_both_parents_of_a_shared_child() -> None:
    graph = graph_at()
    apply(graph, OBJ("growth", collective=True), OBJ("retention", collective=True), OBJ("sales"),
          OBJ("unrelated"), OBJ("company", collective=True), KR("pipeline", "sales", current=10),
          KR("other", "unrelated", current=10),
          objective_into_objective("c1", "sales", "growth"),
          objective_into_objective("c2", "sales", "retention"),
          objective_into_objective("c3", "growth", "company"))
    changes = graph.upsert_key_result(KR("pipeline", "sales", version=2, current=50))
    assert set(changes) == {"sales", "growth", "retention", "company"}
    assert all(c.progress_before == 0.1 and c.progress == 0.5 for c in changes.values())


def test_check_in_that_leaves_progress_unchanged_stops_at_the_key_result() -> None:
    graph = graph_at()
    apply(graph, OBJ("top", collective=True), OBJ("o"), KR("k", "o", current=150),
          objective_into_objective("c", "o", "top"))
    assert graph.record_check_in("k", 2, 200.0, None, None) == {}
    key_result_node = graph.key_result("k")
    assert key_result_node is not None and key_result_node.attainment == 2.0


def test_removing_a_key_result_rolls_its_objective_back_to_no_data() -> None:
    graph = graph_at()
    apply(graph, OBJ("top", collective=True), OBJ("o"), KR("k", "o", current=30),
          objective_into_objective("c", "o", "top"))
    changes = graph.remove_key_result("k", 1)
    assert {c.objective_id: c.progress for c in changes.values()} == {"o": None, "top": None}
