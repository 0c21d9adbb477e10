"""The key results' rows (``graph.KeyResultTable``): a window reads back exactly what was
merged into it, zeros signed as given, and a removed key result's row carries nothing over
to the key result given its number next."""

from __future__ import annotations

import dataclasses

from services.metrics.domain.recompute import full_recompute
from tests.metrics.unit.builders import Q4, apply, graph_at, key_result, objective


def test_a_window_reads_back_its_check_ins_after_the_latest_check_in_moves() -> None:
    graph = graph_at()
    apply(graph, Q4, objective("o"))
    latest = dataclasses.replace(key_result("k", "o", version=2, current=-0.0),
                                 last_checkin_at=2_000.0)
    apply(graph, latest)  # the window's newest check-in is the latest
    node = graph.key_result("k")
    assert node is not None
    assert repr(node.history) == repr(((2_000.0, -0.0, 2),))
    # an earlier observation becomes the latest check-in: the window keeps -0.0 at 2,000 s
    apply(graph, dataclasses.replace(latest, version=3, current=7.0, last_checkin_at=1_000.0))
    assert repr(node.history) == repr(((1_000.0, 7.0, 3), (2_000.0, -0.0, 2)))
    apply(graph, dataclasses.replace(latest, version=4, current=0.0, last_checkin_at=2_000.0))
    assert repr(node.history) == repr(((1_000.0, 7.0, 3), (2_000.0, 0.0, 4)))


def test_a_removed_key_results_row_is_given_to_the_next_without_its_figures() -> None:
    graph = graph_at()
    apply(graph, Q4, objective("o"), objective("p"),
          dataclasses.replace(key_result("total", "o", version=2, current=40.0, sums=True,
                                         confidence=0.5), last_checkin_at=1_000.0))
    removed = graph.key_result("total")
    assert removed is not None
    graph.remove_key_result("total", 2)
    apply(graph, key_result("next", "p"))
    given = graph.key_result("next")
    assert given is not None and given.number == removed.number
    assert (given.id, given.objective_id, given.sums, given.inputs, given.history,
            given.given_confidence, given.last_checkin_at) == (
        "next", "p", False, None, (), None, None)
    assert graph.snapshot() == full_recompute(graph)
    assert graph.key_result("total") is None


def test_a_removed_key_results_pace_is_not_given_to_the_next() -> None:
    graph = graph_at()
    apply(graph, Q4, objective("o"))
    for version, day in enumerate((1, 8, 15), start=2):
        apply(graph, dataclasses.replace(key_result("paced", "o", version=version,
                                                    current=10.0 * day),
                                         last_checkin_at=day * 86_400.0))
    removed = graph.key_result("paced")
    assert removed is not None and removed.pace is not None
    graph.remove_key_result("paced", 4)
    apply(graph, key_result("next", "o"))
    given = graph.key_result("next")
    assert given is not None and given.number == removed.number
    assert (given.history, given.pace) == ((), None)
