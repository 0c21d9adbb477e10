"""``/metrics``: the brief's families from the read model, valid text, and the series guard."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from services.metrics.adapters.exposition import escape, render_read_model
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
    target, sales, finance, kr, kr_finance = (ge.new_id() for _ in range(5))
    with off_contract():  # a link kind no schema allows, to show it is escaped
        odd_link = ge.link(ge.new_id(), sales, "sales", "objective", finance, "finance",
                           kind='odd "kind" \\ with\nnewline')
    projection = apply_events(
        metrics, ge.cycle(), ge.objective(target, ["marketing", "sales"]),
        ge.objective(sales, ["sales"]), ge.objective(finance, ["finance"]),
        ge.key_result(kr, sales), ge.key_result(kr_finance, finance),
        ge.contribution(ge.new_id(), "key_result", kr, "objective", target),
        ge.check_in(kr, sales, 2, 25.0, confidence=0.7), odd_link)
    app = create_app(container=metrics, introspector=TokenIntrospector("http://127.0.0.1:9"))
    response = app.test_client().get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain; version=0.0.4")
    samples = _samples(response.get_data(as_text=True))

    labels = {"objective_id": target, "cycle": "2026-Q4", "kind": "collective",
              "department": "marketing+sales"}
    assert _value(samples, "okr_objective_progress_ratio", **labels) == 0.25
    assert 0 < (_value(samples, "okr_objective_expected_progress_ratio", **labels) or 0) <= 1
    assert _value(samples, "okr_objective_status", **labels, status="off_track") == 1
    assert _value(samples, "okr_objective_status", **labels, status="on_track") == 0
    kr_labels = {"key_result_id": kr, "objective_id": sales, "department": "sales"}
    assert _value(samples, "okr_key_result_progress_ratio", **kr_labels) == 0.25
    assert _value(samples, "okr_key_result_confidence_ratio", **kr_labels) == 0.7
    assert (_value(samples, "okr_key_result_last_checkin_timestamp_seconds", **kr_labels) or 0) > 0
    assert _value(samples, "okr_department_progress_ratio", department="sales") == 0.25
    assert _value(samples, "okr_department_alignment_ratio", department="sales") == 1.0
    assert _value(samples, "okr_department_alignment_ratio", department="finance") == 0.0
    assert _value(samples, "okr_checkins_total", department="sales") == 1
    assert _value(samples, "okr_links", from_department="sales", to_department="finance",
                  kind='odd "kind" \\ with\nnewline', status="off_track") == 1
    assert _value(samples, "okr_outbox_pending_events", service="metrics") == 6  # plumbing

    apply_events(metrics, ge.objective(sales, ["sales"], version=2, deleted=True),
                 ge.key_result_deleted(kr, sales, version=3), projection=projection)
    after = _samples(render_read_model(metrics.engine, 10_000))
    assert _value(after, "okr_objective_progress_ratio", objective_id=sales) is None
    assert _value(after, "okr_key_result_progress_ratio", key_result_id=kr) is None


def test_series_guard_drops_key_result_series_first_and_says_how_many(
        metrics: Metrics) -> None:
    objective = ge.new_id()
    key_results = [ge.new_id() for _ in range(20)]
    apply_events(metrics, ge.cycle(), ge.objective(objective, ["sales"]),
                 *[ge.check_in(kr, objective, 2, 50.0, confidence=0.5) for kr in key_results])
    unguarded = _samples(render_read_model(metrics.engine, 10_000))
    assert len([k for k in unguarded if k[0] == "okr_key_result_progress_ratio"]) == 20

    guarded_text = render_read_model(metrics.engine, 12)
    guarded = _samples(guarded_text)
    series = [k for k in guarded if k[0] != "okr_metrics_series_dropped"]
    assert len(series) == 12
    # departments (2) + check-ins (1) + the objective (progress 1, statuses 4, expected 1)
    # fit; key results get the 3 left
    assert _value(guarded, "okr_objective_progress_ratio", objective_id=objective) == 0.5
    assert len([k for k in guarded if k[0] == "okr_key_result_progress_ratio"]) == 3
    assert _value(guarded, "okr_metrics_series_dropped",
                  family="okr_key_result_progress_ratio") == 17
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
