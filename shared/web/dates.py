"""How every API writes and reads times and days: one form, ISO 8601 in UTC.

A moment is written as RFC 3339 in UTC with a ``Z`` (``2026-11-29T04:47:50.123456Z``), the
form the events carry (``services/goals/domain/state.py``, ``shared/cloudevents.py``); a day
as ``YYYY-MM-DD``. :func:`moment` is the one function that writes a moment: the schemas'
:class:`Timestamp` fields and the app's JSON provider (for values a view returns without a
schema) both call it, so no response holds Flask's RFC 1123 dates. A time read from a
database without its zone (SQLite) is UTC, as every service stores it.

:class:`Timestamp` and :class:`Day` refuse what they cannot read with a message that names
the form expected. :class:`Timestamp` reads RFC 3339's ``date-time`` (section 5.6) and
nothing else: ``T`` and ``Z`` in either case, seconds and an offset required; the other
ISO 8601 forms Python would read (``2026-W48-7T00:00:00Z``, ``20261129T000000Z``, a space
for ``T``, no seconds) are refused.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

from marshmallow import ValidationError, fields

MOMENT_FORM = "an RFC 3339 date-time with its offset, e.g. 2026-10-01T09:30:00Z"
DAY_FORM = "a date as YYYY-MM-DD, e.g. 2026-10-01"
RFC_3339_DATE_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}"
                                r"(?:\.[0-9]{1,9})?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})")


def moment(value: datetime) -> str:
    """``value`` in UTC as RFC 3339 with ``Z`` (a value without a zone is taken as UTC)."""
    utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return utc.isoformat().replace("+00:00", "Z")


def day(value: date) -> str:
    return value.isoformat()


class Timestamp(fields.AwareDateTime):
    """A moment: written by :func:`moment`; read only with an offset (then kept as given)."""

    default_error_messages = {
        "invalid": f"Not a valid date-time: expected {MOMENT_FORM}.",
        "invalid_awareness": f"The date-time has no offset: expected {MOMENT_FORM}.",
        "format": "{input!r} cannot be formatted as a date-time.",
    }

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return None if value is None else moment(value)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        parsed = self.read_rfc_3339(value, attr, data, **kwargs)
        try:
            parsed.astimezone(UTC)  # 0001-01-01T00:00+01:00 has no UTC time (year 0)
        except OverflowError as error:
            raise ValidationError("out of range once converted to UTC") from error
        return parsed

    def read_rfc_3339(self, value: Any, attr: str | None, data: Any, **kwargs: Any
                      ) -> datetime:
        """``value`` read as RFC 3339's ``date-time``, kept in its offset (which may have no
        UTC time: ``0001-01-01T00:00:00+01:00``)."""
        if not isinstance(value, str) or not RFC_3339_DATE_TIME.fullmatch(value):
            raise self.make_error("invalid")
        parsed: datetime = super()._deserialize(value.upper(), attr, data, **kwargs)
        return parsed


class Day(fields.Date):
    """A calendar day, ``YYYY-MM-DD``."""

    default_error_messages = {
        "invalid": f"Not a valid date: expected {DAY_FORM}.",
        "format": "{input!r} cannot be formatted as a date.",
    }
