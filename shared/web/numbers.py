"""A number in a JSON body, read as JSON writes one."""

from __future__ import annotations

from typing import Any

from marshmallow import fields


class JsonNumber(fields.Float):
    """A JSON number. Marshmallow's ``Float`` also takes a string (``"5"``) and a boolean
    (``true`` is 1.0): neither is a number in a body, and a client that sends one has made a
    mistake it should hear of (422) rather than have its value guessed."""

    default_error_messages = {
        "invalid": "Not a valid number: write it as a JSON number (5, 0.7, -12.5), not as "
                   "a string or a boolean.",
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, str | bool):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class JsonInteger(fields.Integer):
    """A JSON integer. Marshmallow's ``Integer`` also takes a string (``"60"``), a boolean
    (``true`` is 1) and, unless strict, a whole float (``60.0``); a body that means a count
    of something writes it as a JSON integer, and anything else is a 422."""

    default_error_messages = {
        "invalid": "Not a valid integer: write it as a JSON integer (60), not as a string, "
                   "a boolean or a fraction.",
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)
