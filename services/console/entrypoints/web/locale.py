"""Dates in the reader's locale: the first language of the request's ``Accept-Language``
(in the order of its ``q`` values) that Babel knows, else ``presentation.DEFAULT_LOCALE``.

The header is hostile like every byte from outside: only its first few entries are tried,
each must be a short language tag, and anything Babel does not know is passed over.
"""

from __future__ import annotations

from typing import Any

from babel import Locale, UnknownLocaleError
from flask import Flask, g, request

from services.console.domain import presentation

#: Entries of ``Accept-Language`` tried, best first; the rest are ignored.
MAX_TRIED = 8
#: Tags that name no language of people (BCP 47 ``und``, CLDR's ``root``, ``mul``, ``zxx``):
#: Babel knows them, with forms nobody reads ("2026 M11 29"), so they are passed over.
NO_LANGUAGE = frozenset({"und", "root", "mul", "zxx", "mis"})


def reader_locale() -> Locale:
    """The locale of this request's reader (computed once a request)."""
    found: Locale | None = g.get("okr_console_locale")
    if found is None:
        found = negotiate([tag for tag, _ in request.accept_languages][:MAX_TRIED])
        g.okr_console_locale = found
    return found


def negotiate(tags: list[str]) -> Locale:
    """The first of ``tags`` (``de-CH``, ``fr``, ``*``) that names a known locale."""
    for tag in tags:
        if not 0 < len(tag) <= 35 or not all(c.isascii() and (c.isalnum() or c in "-_")
                                             for c in tag):
            continue
        if tag.replace("_", "-").split("-")[0].lower() in NO_LANGUAGE:
            continue
        try:
            return Locale.parse(tag.replace("-", "_"))
        except (ValueError, TypeError, UnknownLocaleError):
            continue
    return Locale.parse(presentation.DEFAULT_LOCALE)


def install(app: Flask) -> None:
    """The ``day``, ``day_and_time`` and ``forecast_words`` filters in the reader's
    locale."""

    def day(moment: Any) -> str:
        return presentation.day(moment, reader_locale())

    def day_and_time(moment: Any) -> str:
        return presentation.day_and_time(moment, reader_locale())

    def forecast_words(rollup: Any, ends_on: Any) -> str:
        return presentation.forecast_words(rollup.get("forecast"),
                                           rollup.get("forecast_reached_on"), ends_on,
                                           reader_locale())

    app.jinja_env.filters.update(day=day, day_and_time=day_and_time,
                                 forecast_words=forecast_words)
