"""``/metrics``: the brief's families from the read model, the names (``_info``) families,
valid text whatever the titles hold, and the series guard."""

from __future__ import annotations

import unicodedata

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from services.metrics.adapters.exposition import (
    TEXT_LABEL_LIMITS,
    escape,
    render_read_model,
    text_label,
)
from services.metrics.bootstrap import Metrics
from services.metrics.entrypoints.api.app import create_app
from shared.web.remote_auth import TokenIntrospector
from tests.metrics import goal_events as ge
from tests.metrics.read_model import apply_events
from tests.support.contract_events import off_contract

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _samples(text: str) -> Samples:
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def _value(samples: Samples, name: str, **labels: str) -> float | None:
    for (sample_name, sample_labels), value in samples.items():
        if sample_name == name and labels.items() <= dict(sample_labels).items():
            return value
    return None


def test_metrics_expose_every_family_of_the_brief_and_deleted_items_disappear(
        metrics: Metrics) -> None:
    target, sales, finance, kr, kr_finance, kr_target = (ge.new_id() for _ in range(6))
    with off_contract():  # a link kind no schema allows, to show it is escaped
        odd_link = ge.link(ge.new_id(), sales, "sales", "objective", finance, "finance",
                           kind='odd "kind" \\ with\nnewline')
    projection = apply_events(
        metrics, ge.cycle(),
        ge.objective(target, ["marketing", "sales"], title="New revenue", owner="CEO"),
        ge.objective(sales, ["sales"], title="Close deals", owner="Kim"),
        ge.objective(finance, ["finance"]),
        ge.key_result(kr, sales, title="Deals signed", unit="deals", target=40.0),
        ge.key_result(kr_finance, finance),
        ge.key_result(kr_target, target, title="Revenue", unit="EUR", start=100.0,
                      target=300.0),
        ge.contribution(ge.new_id(), "key_result", kr, "objective", target),
        ge.check_in(kr, sales, 2, 10.0, confidence=0.7, title="Deals signed", unit="deals",
                    target=40.0),
        ge.check_in(kr_target, target, 2, 150.0, confidence=0.6, title="Revenue", unit="EUR",
                    start=100.0, target=300.0),
        odd_link)
    app = create_app(container=metrics, introspector=TokenIntrospector("http://127.0.0.1:9"))
    response = app.test_client().get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain; version=0.0.4")
    samples = _samples(response.get_data(as_text=True))

    # a collective target: its figures once for each owning department, never "a+b"
    assert not [labels for _, labels in samples
                if any("+" in v for k, v in labels if k.endswith("department"))]
    for department in ("marketing", "sales"):
        labels = {"objective_id": target, "cycle": "2026-Q4", "kind": "collective",
                  "department": department}
        assert _value(samples, "okr_objective_progress_ratio", **labels) == 0.25
        assert 0 < (_value(samples, "okr_objective_expected_progress_ratio", **labels) or 0) <= 1
        assert _value(samples, "okr_objective_status", **labels, status="off_track") == 1
        assert _value(samples, "okr_objective_status", **labels, status="on_track") == 0
        assert _value(samples, "okr_objective_owner_info", objective_id=target,
                      department=department, cycle="2026-Q4") == 1
        # its key result too, in its unit
        kr_labels = {"key_result_id": kr_target, "department": department}
        assert _value(samples, "okr_key_result_value", **kr_labels) == 150.0
        assert _value(samples, "okr_key_result_target_value", **kr_labels) == 300.0
    assert _value(samples, "okr_objective_owner_info", objective_id=target,
                  department="finance") is None
    assert _value(samples, "okr_objective_info", objective_id=target, title="New revenue",
                  cycle="2026-Q4", kind="collective", owner="CEO") == 1
    assert _value(samples, "okr_objective_info", objective_id=sales, title="Close deals",
                  kind="department", owner="Kim") == 1
    assert _value(samples, "okr_key_result_info", key_result_id=kr, objective_id=sales,
                  title="Deals signed", unit="deals", measure="increase", cycle="2026-Q4") == 1

    kr_labels = {"key_result_id": kr, "objective_id": sales, "department": "sales"}
    assert _value(samples, "okr_key_result_progress_ratio", **kr_labels) == 0.25
    assert _value(samples, "okr_key_result_value", **kr_labels) == 10.0
    assert _value(samples, "okr_key_result_target_value", **kr_labels) == 40.0
    assert _value(samples, "okr_key_result_confidence_ratio", **kr_labels) == 0.7
    assert (_value(samples, "okr_key_result_last_checkin_timestamp_seconds", **kr_labels) or 0) > 0
    # never checked in: 0, so "time() - x > 14 days" lists it with the stale ones
    assert _value(samples, "okr_key_result_last_checkin_timestamp_seconds",
                  key_result_id=kr_finance) == 0
    assert _value(samples, "okr_key_result_value", key_result_id=kr_finance) == 0.0  # start
    assert _value(samples, "okr_department_progress_ratio", department="sales") == 0.25
    assert _value(samples, "okr_department_alignment_ratio", department="sales") == 1.0
    assert _value(samples, "okr_department_alignment_ratio", department="finance") == 0.0
    # check-ins by owning department and cycle: the shared target's counts for each owner
    assert _value(samples, "okr_checkins_total", department="sales", cycle="2026-Q4") == 2
    assert _value(samples, "okr_checkins_total", department="marketing", cycle="2026-Q4") == 1
    assert _value(samples, "okr_links", from_department="sales", to_department="finance",
                  kind='odd "kind" \\ with\nnewline', status="off_track",
                  cycle="2026-Q4") == 1
    assert (_value(samples, "okr_outbox_pending_events", service="metrics") or 0) > 0  # plumbing

    apply_events(metrics, ge.objective(sales, ["sales"], version=2, deleted=True),
                 ge.key_result_deleted(kr, sales, version=3), projection=projection)
    after = _samples(render_read_model(metrics.engine, 10_000))
    assert _value(after, "okr_objective_progress_ratio", objective_id=sales) is None
    assert _value(after, "okr_objective_info", objective_id=sales) is None
    assert _value(after, "okr_key_result_progress_ratio", key_result_id=kr) is None
    assert _value(after, "okr_key_result_info", key_result_id=kr) is None


def test_process_and_read_model_are_served_apart_and_together(metrics: Metrics) -> None:
    """``/metrics`` = ``/metrics/process`` + ``/metrics/read-model``: replicas are scraped
    for the first and the read model once (docs/metrics.md, "Scraping replicas")."""
    objective = ge.new_id()
    apply_events(metrics, ge.cycle(), ge.objective(objective, ["sales"]))
    client = create_app(container=metrics,
                        introspector=TokenIntrospector("http://127.0.0.1:9")).test_client()
    # the request families exist once a request has been counted: the first one of the
    # process (which test runs first in a worker is not fixed) would be missing from its own
    # answer and present in the next
    assert client.get("/metrics/process").status_code == 200
    parts = {path: client.get(path) for path in
             ("/metrics", "/metrics/process", "/metrics/read-model")}
    for response in parts.values():
        assert response.status_code == 200
        assert response.content_type.startswith("text/plain; version=0.0.4")
    process = {name for name, _ in _samples(parts["/metrics/process"].get_data(as_text=True))}
    model = _samples(parts["/metrics/read-model"].get_data(as_text=True))
    assert "okr_outbox_pending_events" in process
    assert not process & {name for name, _ in model}
    assert _value(model, "okr_objective_info", objective_id=objective) == 1
    assert {name for name, _ in _samples(parts["/metrics"].get_data(as_text=True))} == (
        process | {name for name, _ in model})


def test_series_guard_drops_key_result_series_first_and_says_how_many(
        metrics: Metrics) -> None:
    objective = ge.new_id()
    key_results = [ge.new_id() for _ in range(20)]
    apply_events(metrics, ge.cycle(), ge.objective(objective, ["sales"]),
                 *[ge.check_in(kr, objective, 2, 50.0, confidence=0.5) for kr in key_results])
    unguarded = _samples(render_read_model(metrics.engine, 10_000))
    assert len([k for k in unguarded if k[0] == "okr_key_result_progress_ratio"]) == 20

    guarded_text = render_read_model(metrics.engine, 35)
    guarded = _samples(guarded_text)
    series = [k for k in guarded if k[0] != "okr_metrics_series_dropped"]
    assert len(series) == 35
    # departments (2) + check-ins (1) + the objective's names (info 1, owner 1) and
    # figures (progress 1, statuses 4, expected 1) fit; key results' names (20) fit and
    # their progress gets the 4 left
    assert _value(guarded, "okr_objective_progress_ratio", objective_id=objective) == 0.5
    assert _value(guarded, "okr_objective_info", objective_id=objective) == 1
    assert len([k for k in guarded if k[0] == "okr_key_result_info"]) == 20
    assert len([k for k in guarded if k[0] == "okr_key_result_progress_ratio"]) == 4
    assert _value(guarded, "okr_metrics_series_dropped",
                  family="okr_key_result_progress_ratio") == 16
    assert _value(guarded, "okr_metrics_series_dropped",
                  family="okr_key_result_confidence_ratio") == 20
    assert _value(guarded, "okr_metrics_series_dropped",
                  family="okr_objective_progress_ratio") == 0


def test_label_values_are_escaped_as_the_exposition_format_requires() -> None:
    assert escape('a\\b"c\nd') == 'a\\\\b\\"c\\nd'
    assert escape("plain-id") == "plain-id"


def test_key_result_label_values_are_escaped(metrics: Metrics) -> None:
    objective_id, odd = ge.new_id(), 'kr "odd" \\ id\nline'
    with off_contract():  # an id no schema allows, to show it is escaped
        odd_check_in = ge.check_in(odd, objective_id, 2, 40.0, confidence=0.6)
    apply_events(metrics, ge.cycle(), ge.objective(objective_id, ["sales"]), odd_check_in)
    samples = _samples(render_read_model(metrics.engine, 10_000))
    assert _value(samples, "okr_key_result_progress_ratio", key_result_id=odd,
                  objective_id=objective_id, department="sales") == 0.4
    assert _value(samples, "okr_key_result_confidence_ratio", key_result_id=odd) == 0.6


def _as_written(text: str, limit: int) -> str:
    """What a free-text label should read once parsed: at most ``limit`` characters (cut
    ones end with "…"), control characters but newline as spaces, lone surrogates as U+FFFD."""
    if len(text) > limit:
        text = text[:limit - 1] + "…"
    return "".join(" " if unicodedata.category(c) == "Cc" and c != "\n"
                   else "\ufffd" if unicodedata.category(c) == "Cs" else c for c in text)


HOSTILE = st.text(alphabet=st.sampled_from('"\\\n\r\t\x00{}=,# é€😀\u2028\ud800a')
                  | st.characters(), max_size=400)


@given(title=HOSTILE, unit=HOSTILE)
@settings(max_examples=300, deadline=None)
def test_any_title_and_unit_make_a_label_that_parses_back_bounded(title: str, unit: str) -> None:
    line = (f'okr_key_result_info{{key_result_id="k",title="{text_label(title, 200)}",'
            f'unit="{text_label(unit, 20)}"}} 1\n')
    line.encode()  # UTF-8 whatever the input (no lone surrogate left)
    [family] = text_string_to_metric_families(line)
    [sample] = family.samples
    assert sample.labels == {"key_result_id": "k", "title": _as_written(title, 200),
                             "unit": _as_written(unit, 20)}
    assert len(sample.labels["title"]) <= 200 and len(sample.labels["unit"]) <= 20


def _storable_text(min_size: int, max_size: int) -> st.SearchStrategy[str]:
    """Any text the event contract lets through (a database can hold it: no NUL, no lone
    surrogate), of the contract's lengths."""
    return st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
                   | st.sampled_from('"\\\n\r\t{}=,#'), min_size=min_size, max_size=max_size)


@given(title=_storable_text(1, 200), owner=_storable_text(1, 100),
       kr_title=_storable_text(1, 200), unit=_storable_text(0, 20))
@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_hostile_names_from_events_render_a_valid_exposition(
        metrics: Metrics, title: str, owner: str, kr_title: str, unit: str) -> None:
    """Titles, owners and units from events come out of the whole ``/metrics`` escaped, and
    parse back as they were written (control characters but newline as spaces)."""
    objective, key_result = ge.new_id(), ge.new_id()
    apply_events(metrics, ge.cycle(),
                 ge.objective(objective, ["marketing", "sales"], title=title, owner=owner),
                 ge.key_result(key_result, objective, title=kr_title, unit=unit))
    samples = _samples(render_read_model(metrics.engine, 10_000))
    assert _value(samples, "okr_objective_info", objective_id=objective,
                  title=_as_written(title, TEXT_LABEL_LIMITS["title"]),
                  owner=_as_written(owner, TEXT_LABEL_LIMITS["owner"])) == 1
    assert _value(samples, "okr_key_result_info", key_result_id=key_result,
                  title=_as_written(kr_title, TEXT_LABEL_LIMITS["title"]),
                  unit=_as_written(unit, TEXT_LABEL_LIMITS["unit"])) == 1
