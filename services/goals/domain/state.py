"""How every goals item's state is written into its events and audit entries."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any


def serialise_state(values: dict[str, Any]) -> dict[str, Any]:
    """An item's state as JSON-ready values: RFC 3339 UTC times, ISO dates, enum values."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, datetime):
            out[key] = value.astimezone(UTC).isoformat().replace("+00:00", "Z")
        elif isinstance(value, date):
            out[key] = value.isoformat()
        else:
            out[key] = value
    return out
