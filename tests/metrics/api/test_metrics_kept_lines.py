"""``/metrics`` keeps the key results' lines between scrapes and renders again only the rows
written since (``RenderedRows``): a scrape after a commit shows it, and a render from kept
lines is, byte for byte, the render from nothing, whatever happened in between."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, insert

from services.metrics.adapters import tables
from services.metrics.adapters.exposition import RenderedRows, render_read_model
from services.metrics.bootstrap import Metrics
from services.metrics.entrypoints.api.app import create_app
from services.metrics.service_layer.projection import RollupProjection
from shared.persistence.engine import writing
from shared.web.remote_auth import TokenIntrospector
from tests.metrics import goal_events as ge
from tests.metrics.read_model import apply_events

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _progress_line(text: str, key_result_id: str) -> str | None:
    prefix = f'okr_key_result_progress_ratio{{key_result_id="{key_result_id}"'
    return next((line for line in text.splitlines() if line.startswith(prefix)), None)


def test_a_scrape_after_a_consumer_commit_shows_it(metrics: Metrics) -> None:
    objective, key_result = ge.new_id(), ge.new_id()
    projection = apply_events(metrics, ge.cycle(), ge.objective(objective, ["sales"]),
                              ge.key_result(key_result, objective))
    client = create_app(container=metrics,
                        introspector=TokenIntrospector("http://127.0.0.1:9")).test_client()
    first = client.get("/metrics/read-model").get_data(as_text=True)
    assert (_progress_line(first, key_result) or "").endswith(" 0.0")

    for version, value in ((2, 25.0), (3, 60.0)):
        apply_events(metrics, ge.check_in(key_result, objective, version, value),
                     projection=projection)
        scraped = client.get("/metrics/read-model").get_data(as_text=True)
        assert (_progress_line(scraped, key_result) or "").endswith(f" {value / 100!r}")
    again = client.get("/metrics/read-model").get_data(as_text=True)
    assert _progress_line(again, key_result) == _progress_line(scraped, key_result)

    apply_events(metrics, ge.key_result_deleted(key_result, objective, version=4),
                 projection=projection)
    assert _progress_line(client.get("/metrics/read-model").get_data(as_text=True),
                          key_result) is None


Step = Callable[[Metrics, RollupProjection], None]
SALES, TARGET, SPARE = ge.new_id(), ge.new_id(), ge.new_id()
KR, KR_TARGET, KR_FIRST = ge.new_id(), ge.new_id(), "0" + ge.new_id()[1:]


def _events(*events: object) -> Step:
    def step(metrics: Metrics, projection: RollupProjection) -> None:
        apply_events(metrics, *events, projection=projection)  # type: ignore[arg-type]
    return step


def _serial_from_the_start(metrics: Metrics, projection: RollupProjection) -> None:
    """The serial starts again (a database restored, the table emptied by hand), and a
    check-in is written under it."""
    with writing(metrics.engine).begin() as connection:
        connection.execute(delete(tables.read_model_writes))
    apply_events(metrics, ge.check_in(KR, SALES, 3, 20.0, confidence=0.7),
                 projection=projection)


def _row_without_serial(metrics: Metrics, _: RollupProjection) -> None:
    """A key result row written by something else than the consumer: no serial."""
    with writing(metrics.engine).begin() as connection:
        connection.execute(insert(tables.key_results).values(
            id="written-by-hand", version=1, objective_id=SALES, title="by hand",
            measure="increase", aggregation="check_ins", start=0.0, target=10.0, unit="",
            weight=1.0, value=4.0, progress=0.4))


def _rebuilt(metrics: Metrics, projection: RollupProjection) -> None:
    """``okr-metrics rebuild``: every row deleted, the same written again."""
    with writing(metrics.engine).begin() as connection:
        connection.execute(delete(tables.key_results).where(tables.key_results.c.id == KR))
    apply_events(metrics, ge.check_in(KR, SALES, 4, 90.0, confidence=0.9),
                 projection=projection)


STEPS: list[tuple[str, Step]] = [
    ("a check-in", _events(ge.check_in(KR, SALES, 2, 10.0, confidence=0.7))),
    ("nothing written", _events()),
    ("a check-in on the shared target's key result",
     _events(ge.check_in(KR_TARGET, TARGET, 2, 150.0, confidence=0.6, start=100.0,
                         target=300.0))),
    ("the objective gets a second owner (its key results' department labels)",
     _events(ge.objective(SALES, ["finance", "sales"], version=2))),
    ("a key result that sorts first", _events(ge.key_result(KR_FIRST, SPARE))),
    ("a key result deleted", _events(ge.key_result_deleted(KR_FIRST, SPARE, version=2))),
    ("an objective deleted", _events(ge.objective(SPARE, ["sales"], version=2,
                                                  deleted=True))),
    ("the serial from the start", _serial_from_the_start),
    ("a row without a serial", _row_without_serial),
    ("a row deleted and another written in one transaction", _rebuilt),
]


@pytest.mark.parametrize("max_series", [10_000, 30])
def test_a_render_from_kept_lines_is_the_render_from_nothing_after_every_change(
        metrics: Metrics, max_series: int) -> None:
    projection = apply_events(
        metrics, ge.cycle(),
        ge.objective(SALES, ["sales"]), ge.objective(SPARE, ["sales"]),
        ge.objective(TARGET, ["marketing", "sales"]),
        ge.key_result(KR, SALES, title='a "quoted" title'),
        ge.key_result(KR_TARGET, TARGET, start=100.0, target=300.0),
        ge.contribution(ge.new_id(), "key_result", KR, "objective", TARGET))
    rendered = RenderedRows()
    assert render_read_model(metrics.engine, max_series, lambda: NOW, rendered) == (
        render_read_model(metrics.engine, max_series, lambda: NOW))
    for what, step in STEPS:
        step(metrics, projection)
        kept = render_read_model(metrics.engine, max_series, lambda: NOW, rendered)
        assert kept == render_read_model(metrics.engine, max_series, lambda: NOW), what
