"""How the console writes numbers, dates, statuses and charts (no I/O)."""

from __future__ import annotations

import math
from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from services.console.domain.presentation import (
    DEFAULT_LOCALE,
    NO_VALUE,
    day,
    day_and_time,
    department_part,
    forecast_words,
    gap_share,
    history_chart,
    key_result_value,
    number,
    percent,
    status_words,
)
from services.console.entrypoints.web.locale import negotiate


def test_numbers_are_written_in_their_unit_with_thousands_separated() -> None:
    assert number(470000, "EUR") == "470,000 EUR"
    assert number(24, "%") == "24%"
    assert number(1200, "$") == "$1,200"
    assert number(12.5, "deals") == "12.5 deals"
    assert number(None, "deals") == NO_VALUE
    assert number(float("nan")) == NO_VALUE
    assert key_result_value(1, "boolean", None) == "done"
    assert key_result_value(0, "boolean", None) == "not yet"


def test_statuses_and_shares_read_as_words() -> None:
    assert status_words("off_track") == "Off track"
    assert status_words(None) == "No data yet"
    assert percent(0.6437) == "64 %"
    # half up on the decimal written, whatever the float's binary value (0.575 * 100 is
    # 57.4999..., 0.875 * 100 is 87.5 exactly)
    assert [percent(ratio) for ratio in (0.575, 0.875, 0.145, 0.005, -0.004)] == [
        "58 %", "88 %", "15 %", "1 %", "0 %"]
    assert [gap_share(share) for share in (0.0035, -0.0145, 0.00049)] == [
        "0.4 pts behind", "1.5 pts ahead", "0.0 pts"]
    assert gap_share(0.0025) == "0.3 pts behind"  # as the roll-up's why writes it
    assert gap_share(0.01) == "1.0 pt behind" and gap_share(-0.0096) == "1.0 pt ahead"
    assert percent(1.7e308).startswith("17") and percent(-5e-324) == "0 %"
    assert percent(None) == NO_VALUE


def test_dates_read_as_day_month_year() -> None:
    assert day("2026-11-29T10:00:00+00:00") == "29 Nov 2026"
    assert day("2026-01-05") == "5 Jan 2026"
    assert day("not a date") == NO_VALUE


@given(st.lists(st.tuples(st.integers(0, 10**6), st.floats(-1e12, 1e12)), max_size=30),
       st.floats(-1e12, 1e12), st.floats(-1e12, 1e12))
def test_every_chart_point_lies_inside_the_box(history: list[tuple[int, float]], start: float,
                                               target: float) -> None:
    check_ins = [{"value": value, "created_at": f"2026-11-{1 + seconds // 86400 % 28:02d}"
                                                f"T00:00:{seconds % 60:02d}+00:00"}
                 for seconds, value in history]
    chart = history_chart(check_ins, start, target, "EUR")
    assert len(chart.dots) == len(history)
    for x, y, _ in chart.dots:
        assert 0 <= x <= chart.width and 0 <= y <= chart.height
        assert math.isfinite(x) and math.isfinite(y)
    if chart.target_y is not None:
        assert 0 <= chart.target_y <= chart.height


def test_a_backfilled_check_in_is_drawn_on_the_day_it_was_observed() -> None:
    """A history recorded today of figures observed over the years is drawn over those
    years, not bunched at today (the recording time counts only when no other is said)."""
    check_ins = [
        {"value": 0.0, "created_at": "2026-11-29T13:06:00+00:00",
         "observed_at": "2000-01-01T00:00:00+00:00"},
        {"value": 50.0, "created_at": "2026-11-29T13:06:01+00:00",
         "observed_at": "2026-11-29T11:00:00+00:00"},
        {"value": 60.0, "created_at": "2026-11-29T13:06:02+00:00"}]
    chart = history_chart(check_ins, 0.0, 100.0, "u")
    (x0, _, first), (x1, _, second), (x2, _, third) = chart.dots
    assert first == "0 u on 1 Jan 2000" and second == "50 u on 29 Nov 2026"
    assert third == "60 u on 29 Nov 2026"
    assert x0 == 6 and x1 > 300 and x2 == chart.width - 6  # 26 years apart, then hours


def test_a_departments_share_of_the_gap_is_never_a_negative_ahead() -> None:
    assert gap_share(0.355) == "35.5 pts behind"
    assert gap_share(-0.355) == "35.5 pts ahead"
    assert gap_share(-0.0001) == "0.0 pts"
    assert gap_share(0.0) == "0.0 pts"
    assert gap_share(None) == NO_VALUE


@given(st.floats(-0.0049, 0.0049))
def test_a_negative_number_too_small_to_show_is_zero_without_a_sign(tiny: float) -> None:
    assert number(tiny) == "0" or not number(tiny).startswith("-0")
    assert not number(tiny, "EUR").startswith("-0")
    assert not percent(tiny / 100).startswith("-")
    assert not gap_share(tiny / 100).startswith("-")


def test_a_figure_a_page_does_not_have_reads_as_no_value() -> None:
    """Without the metrics service a page's items have no progress: the template passes
    Jinja's Undefined, which must read as a dash, not fail the page."""
    from jinja2 import Undefined
    assert percent(Undefined()) == NO_VALUE  # type: ignore[arg-type]
    assert number(Undefined(), "EUR") == NO_VALUE  # type: ignore[arg-type]


def test_dates_follow_the_locale_asked_for() -> None:
    assert day("2026-11-29T10:00:00+00:00", "en_US") == "Nov 29, 2026"
    assert day("2026-11-29T10:00:00+00:00", "de_DE") == "29.11.2026"
    assert day("2026-11-29T23:30:00-05:00", "en_GB") == "30 Nov 2026"  # the day in UTC


def test_moments_say_their_time_in_utc_in_the_locales_form() -> None:
    assert day_and_time("2026-11-29T15:05:00+00:00") == "29 Nov 2026, 15:05 UTC"
    assert day_and_time("2026-11-29T15:05:00+00:00", "en_US") == "Nov 29, 2026, 3:05\u202fPM UTC"
    assert day_and_time("2026-11-29T16:05:00+01:00", "de") == "29.11.2026, 15:05 UTC"
    assert day_and_time("no moment") == NO_VALUE


def test_the_readers_locale_is_the_first_known_language_of_the_header() -> None:
    assert str(negotiate(["xx-Nope", "fr-CH", "de"])) == "fr_CH"
    assert str(negotiate(["*", "../etc", "x" * 300, ""])) == DEFAULT_LOCALE
    for no_language in ("und", "root", "UND-Latn", "mul", "zxx"):
        assert str(negotiate([no_language])) == DEFAULT_LOCALE, no_language
    assert str(negotiate(["und", "de"])) == "de"


def test_a_forecast_is_told_by_the_cycles_end_and_none_is_never_made_up() -> None:
    today = date(2026, 11, 29)
    assert forecast_words(0.82, None, "2026-12-31", today=today) == (
        "on pace for 82 % by 31 Dec 2026")
    assert forecast_words(1.04, "2026-12-20", "2026-12-31", today=today) == (
        "on pace for 104 % by 31 Dec 2026; target on 20 Dec 2026")
    assert forecast_words(0.5, "2026-12-20", "2026-12-31", "de", today=today) == (
        "on pace for 50 % by 31.12.2026")  # below the target: no day it is reached
    for missing in (None, math.nan, math.inf):
        assert forecast_words(missing, "2026-12-20", "2026-12-31", today=today) == (
            "no forecast yet")


def test_a_cycle_that_has_ended_is_said_to_have_ended_not_to_lack_a_forecast() -> None:
    for attainment in (None, 1.15):  # the API tells none; an older answer may still have one
        assert forecast_words(attainment, None, "2026-09-30", today=date(2026, 11, 29)) == (
            "cycle ended on 30 Sept 2026")
    assert forecast_words(0.5, None, "2026-09-30", "de", today=date(2026, 10, 1)) == (
        "cycle ended on 30.09.2026")
    # its last day is still part of it
    assert forecast_words(0.5, None, "2026-09-30", today=date(2026, 9, 30)) == (
        "on pace for 50 % by 30 Sept 2026")


def test_a_departments_part_says_its_own_progress_and_its_share_of_the_gap() -> None:
    assert department_part({"department": "sales", "progress": 0.586, "share": 0.0088,
                            "weight": 0.557}) == "59 % of its part, 0.9 pts behind"
    assert department_part({"progress": 0.7, "share": -0.025}) == (
        "70 % of its part, 2.5 pts ahead")
    assert department_part({"progress": None, "share": None}) == (
        f"{NO_VALUE} of its part, {NO_VALUE}")
