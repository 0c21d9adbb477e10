"""The API's explanation, read from the read model in one recursive statement, is the one the
consumer computes from its graph: on random graphs (depth, shared children, weights, sums,
links, a link with both ends in the subtree), on SQLite and PostgreSQL; told from the
outlook the consumer keeps of each objective (as the projection writes it) and, for a row
written before outlooks were kept, from the whole subtree.

Graphs where a contribution closes a cycle are left out: the consumer holds the one that
came last inactive, but the read model does not keep which one that is, so the API leaves
out the one that closes the cycle as its walk meets it (``explain_queries._drop_cycles``),
which can be the other one."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import update

from services.metrics.adapters import tables
from services.metrics.adapters.explain_queries import ExplainQueries
from services.metrics.adapters.kept_outlooks import decoded, encoded
from services.metrics.adapters.read_model import ReadModelRepository
from services.metrics.bootstrap import Metrics
from services.metrics.domain.explain import Kept
from services.metrics.domain.explain_graph import (
    GraphItems,
    LinkIndex,
    explain_in_graph,
    kept_in_graph,
)
from services.metrics.domain.goal_items import LinkState
from shared.persistence.engine import writing
from tests.metrics.unit.builders import graph_at
from tests.metrics.unit.test_explain_properties import STALE, apply, comparable, events, links
from tests.metrics.unit.test_incremental_equals_full_recompute import CYCLES, Operation

# each objective's outlook as the consumer keeps it; only its first dependency at risk (as
# written before they all were kept); none (a row written before outlooks were kept)
KEPT = ("kept", "first risk only", "none")


def _first_only(kept: Kept) -> str:
    held = json.loads(encoded(kept) or "")
    risks = held.pop("risks")
    assert held["risk"] == (risks[0] if risks else None)
    stored = json.dumps(held)
    assert decoded(stored) == kept._replace(risks=kept.risks[:1], all_risks=False)
    return stored


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events(), st.lists(links, max_size=4), st.sampled_from(KEPT))
def test_the_read_models_explanation_equals_the_consumers(
        metrics: Metrics, sequence: list[Operation], link_list: list[LinkState],
        outlooks_kept: str) -> None:
    graph = graph_at()
    apply(graph, sequence)
    assume(all(edge.active for edge in graph.contributions()))
    index = LinkIndex()
    for link in link_list:
        index.put(link)
    held = list({link.id: link for link in link_list}.values())
    outlooks: dict[str, Kept] = {}
    if outlooks_kept != "none":
        memo = GraphItems(graph)
        for objective in graph.objectives():
            kept = kept_in_graph(graph, memo, index, objective.id)
            assert kept is not None
            outlooks[objective.id] = kept
    with writing(metrics.engine).begin() as connection:
        repository = ReadModelRepository(connection)
        repository.empty()
        repository.write_items(graph, {o.id for o in graph.objectives()},
                               {k.id for k in graph.key_results()},
                               {e.id for e in graph.contributions()}, set(CYCLES), outlooks)
        if outlooks_kept == "first risk only":
            for objective_id, kept in outlooks.items():
                connection.execute(update(tables.objectives).where(
                    tables.objectives.c.id == objective_id).values(outlook=_first_only(kept)))
        repository.write_links(held)
    queries = ExplainQueries(metrics.engine, STALE, clock=lambda: graph.now)
    for objective in graph.objectives():
        found = queries.explain(objective.id)
        assert found is not None
        expected = explain_in_graph(graph, GraphItems(graph), index, objective.id, STALE)
        assert comparable(found[1]) == comparable(expected), objective.id
