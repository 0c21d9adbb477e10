"""How the console says things to people: statuses in words, numbers in their unit,
dates in a readable form, a key result's check-in history as chart points. Plain Python."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Context, Decimal

from babel import Locale
from babel.dates import format_date, format_time, get_datetime_format

#: Dates are written in the reader's locale (``Accept-Language``); this one without.
DEFAULT_LOCALE = "en_GB"
#: What stands for a value there is none of (an en dash).
NO_VALUE = "\u2013"
STATUS_WORDS = {"on_track": "On track", "at_risk": "At risk", "off_track": "Off track",
                "no_data": "No data yet"}
LINK_WORDS = {"depends_on": "depends on", "supports": "supports", "funded_by": "funded by",
              "supplied_by": "supplied by", "blocked_by": "blocked by"}
#: Units written right after the number, without a space.
TIGHT_UNITS = {"%", "€", "$", "£"}
PREFIX_UNITS = {"€", "$", "£"}


def status_words(status: str | None) -> str:
    return STATUS_WORDS.get(status or "no_data", (status or "unknown").replace("_", " "))


def percent(ratio: float | None) -> str:
    """``0.643`` → ``64 %``, ``0.575`` → ``58 %`` (half up); no data → ``NO_VALUE``."""
    if not isinstance(ratio, int | float) or not math.isfinite(ratio):
        return NO_VALUE
    return f"{_unsigned_zero(in_points(ratio, 0))} %"


def in_points(ratio: float, places: int) -> str:
    """``ratio`` times 100 with ``places`` decimals, rounded half up on the decimal the
    ratio is written as: ``0.575`` → ``58``, ``0.0035`` → ``0.4`` (as floats, 0.575 * 100
    is 57.4999… and ``format`` would round it down, but 0.875 * 100 up)."""
    scaled = Decimal(repr(float(ratio))).scaleb(2)
    exact = Context(prec=400)  # room for every finite float's digits: quantize never fails
    return f"{scaled.quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP, exact):f}"


def gap_share(share: float | None) -> str:
    """A department's share of a target's gap, in points of progress and in words:
    ``0.355`` → ``35.5 pts behind``, ``-0.01`` → ``1.0 pt ahead``; what rounds to zero is
    ``0.0 pts`` (neither). The roll-up's ``why`` writes points the same way."""
    if share is None or not math.isfinite(share):
        return NO_VALUE
    shown = in_points(abs(share), 1)
    if float(shown) == 0:
        return "0.0 pts"
    unit = "pt" if float(shown) == 1 else "pts"
    return f"{shown} {unit} {'behind' if share > 0 else 'ahead'}"


def forecast_words(attainment: float | None, reached_on: str | date | None,
                   ends_on: str | date | None, locale: Locale | str = DEFAULT_LOCALE,
                   today: date | None = None) -> str:
    """A roll-up's forecast: ``on pace for 82 % by 31 Dec 2026`` (the cycle's last day),
    with the day the target is reached when it is (``; target on 20 Dec 2026``); ``no
    forecast yet`` when there is too little history to tell a pace (never a made-up one);
    ``cycle ended on 30 Sept 2026`` once the cycle is over (``today``: UTC's, by default),
    which has nothing left to forecast."""
    ended = parse_moment(ends_on)
    if ended is not None:
        last_day = ended.date() if isinstance(ended, datetime) else ended
        if last_day < (today or datetime.now(UTC).date()):
            return f"cycle ended on {day(ends_on, locale)}"
    if not isinstance(attainment, int | float) or not math.isfinite(attainment):
        return "no forecast yet"
    text = f"on pace for {percent(attainment)}"
    if parse_moment(ends_on) is not None:
        text += f" by {day(ends_on, locale)}"
    if attainment >= 1 and parse_moment(reached_on) is not None:
        text += f"; target on {day(reached_on, locale)}"
    return text


def department_part(part: dict[str, object]) -> str:
    """A department's part of a collective target: its own progress on its part and its
    share of the gap, ``59 % of its part, 0.9 pts behind``."""
    progress, share = part.get("progress"), part.get("share")
    return (f"{percent(progress if isinstance(progress, int | float) else None)} of its "
            f"part, {gap_share(share if isinstance(share, int | float) else None)}")


def _unsigned_zero(text: str) -> str:
    """``-0``, ``-0.0`` → without the sign: a negative number too small to show is zero."""
    return text[1:] if text.startswith("-") and not text.strip("-0.,") else text


def number(value: float | None, unit: str | None = None) -> str:
    """A value in its unit, with thousands separated: ``470,000 EUR``, ``24 %``, ``$1,200``."""
    if not isinstance(value, int | float) or not math.isfinite(value):
        return NO_VALUE
    text = f"{value:,.0f}" if float(value).is_integer() or abs(value) >= 1000 else f"{value:,.2f}"
    text = _unsigned_zero(text.rstrip("0").rstrip(".") if "." in text else text)
    if not unit:
        return text
    if unit in PREFIX_UNITS:
        return f"{unit}{text}"
    return f"{text}{unit}" if unit in TIGHT_UNITS else f"{text} {unit}"


def key_result_value(value: float | None, measure: str, unit: str | None) -> str:
    if measure == "boolean":
        return NO_VALUE if value is None else ("done" if value >= 1 else "not yet")
    return number(value, unit)


def day(moment: str | date | datetime | None, locale: Locale | str = DEFAULT_LOCALE) -> str:
    """A day in ``locale``'s medium form: ``2026-11-29T10:00:00+00:00`` → ``29 Nov 2026``
    (``en_GB``), ``Nov 29, 2026`` (``en_US``), ``29.11.2026`` (``de``)."""
    parsed = parse_moment(moment)
    if parsed is None:
        return NO_VALUE
    if isinstance(parsed, datetime):
        parsed = _in_utc(parsed).date()
    return format_date(parsed, "medium", locale=locale)


def day_and_time(moment: str | datetime | None, locale: Locale | str = DEFAULT_LOCALE) -> str:
    """A moment in ``locale``'s form, in UTC (the reader's time zone is not known without
    script): ``29 Nov 2026, 10:00 UTC`` (``en_GB``)."""
    parsed = parse_moment(moment)
    if parsed is None:
        return NO_VALUE
    if not isinstance(parsed, datetime):
        return day(parsed, locale)
    moment = _in_utc(parsed)
    both = str(get_datetime_format("medium", locale=locale))  # CLDR's "{1}, {0}"
    return (both.replace("{0}", format_time(moment, "short", tzinfo=UTC, locale=locale))
            .replace("{1}", format_date(moment.date(), "medium", locale=locale)) + " UTC")


def _in_utc(moment: datetime) -> datetime:
    """An aware moment in UTC; a naive one is taken as UTC (the APIs write offsets)."""
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_moment(moment: str | date | datetime | None) -> date | datetime | None:
    if moment is None or isinstance(moment, date):
        return moment
    try:
        return datetime.fromisoformat(moment)
    except ValueError:
        try:
            return date.fromisoformat(moment)
        except ValueError:
            return None


@dataclass(frozen=True)
class Chart:
    """A check-in history as an SVG polyline in a ``width`` by ``height`` box."""

    width: int
    height: int
    points: str
    """``x,y x,y ...`` in the box, oldest first; empty without check-ins."""
    dots: list[tuple[float, float, str]]
    """Each point with its label (``value on day``), for the title of its dot."""
    low: str
    high: str
    target_y: float | None


def history_chart(check_ins: Sequence[dict[str, object]], start: float | None,
                  target: float | None, unit: str | None,
                  width: int = 320, height: int = 96,
                  locale: Locale | str = DEFAULT_LOCALE) -> Chart:
    """Check-ins (any order) as points: the time each value was observed on x (when it was
    recorded, for a check-in that says no other), value on y; the target as a line."""
    history = sorted(
        ((moment, float(item["value"])) for item in check_ins  # type: ignore[arg-type]
         if isinstance(moment := parse_moment(
             str(item.get("observed_at") or item.get("created_at"))), datetime)
         and isinstance(item.get("value"), int | float)),
        key=lambda pair: pair[0])
    values = [value for _, value in history] + [v for v in (start, target) if v is not None]
    if not history:
        return Chart(width, height, "", [], number(min(values, default=None), unit),
                     number(max(values, default=None), unit), None)
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    first, last = history[0][0], history[-1][0]
    seconds = (last - first).total_seconds() or 1.0
    margin = 6

    def y_of(value: float) -> float:
        return round(margin + (high - value) / span * (height - 2 * margin), 1)

    dots = []
    for moment, value in history:
        x = margin if len(history) == 1 else round(
            margin + (moment - first).total_seconds() / seconds * (width - 2 * margin), 1)
        dots.append((x, y_of(value), f"{number(value, unit)} on {day(moment, locale)}"))
    points = " ".join(f"{x},{y}" for x, y, _ in dots)
    return Chart(width, height, points, dots, number(low, unit), number(high, unit),
                 None if target is None else y_of(target))
