"""Schemas of objectives, key results and check-ins.

The response schemas are also the ``data`` of the events on ``okr.goals.v1``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from services.goals.domain.goals import (
    EARLIEST_OBSERVATION,
    MAX_DESCRIPTION,
    MAX_NOTE,
    MAX_OWNER,
    MAX_TITLE,
    MAX_UNIT,
    Aggregation,
    CheckInSource,
    Measure,
    ObjectiveKind,
    ObjectiveStatus,
)
from services.goals.domain.reference_data import CYCLE_KEY, DEPARTMENT_KEY
from shared.web.boundary import multi_line as multi_line_text
from shared.web.boundary import single_line
from shared.web.dates import Timestamp
from shared.web.numbers import JsonNumber


def text(minimum: int, maximum: int, *, multi_line: bool = False) -> list[Any]:
    """Names and titles are single lines; notes and descriptions may hold line breaks."""
    return [validate.Length(min=minimum, max=maximum),
            multi_line_text if multi_line else single_line]


TITLE = text(1, MAX_TITLE)
ID = text(1, 64)
DEPARTMENT = validate.Regexp(DEPARTMENT_KEY)


def _number(**kwargs: Any) -> fields.Float:
    return JsonNumber(allow_nan=False, validate=validate.Range(min=-1e15, max=1e15), **kwargs)


class _AtLeastOneField(Schema):
    @validates_schema
    def _not_empty(self, data: dict[str, Any], **_: Any) -> None:
        if not data:
            raise ValidationError("send at least one field to change")


class ObjectiveSchema(Schema):
    id = fields.String(dump_only=True)
    cycle = fields.String(required=True, validate=validate.Regexp(CYCLE_KEY),
                          metadata={"example": "2026-Q4"})
    kind = fields.Enum(ObjectiveKind, by_value=True, required=True)
    departments = fields.List(fields.String(validate=DEPARTMENT), required=True,
                              validate=validate.Length(min=1, max=20),
                              metadata={"example": ["sales", "marketing"]})
    owner = fields.String(required=True, validate=text(1, MAX_OWNER))
    title = fields.String(required=True, validate=TITLE)
    description = fields.String(load_default="", validate=text(0, MAX_DESCRIPTION, multi_line=True))
    status = fields.Enum(ObjectiveStatus, by_value=True, dump_only=True)
    version = fields.Integer(dump_only=True)
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)


class ObjectiveUpdateSchema(_AtLeastOneField):
    title = fields.String(validate=TITLE)
    description = fields.String(validate=text(0, MAX_DESCRIPTION, multi_line=True))
    owner = fields.String(validate=text(1, MAX_OWNER))
    status = fields.Enum(ObjectiveStatus, by_value=True)


class ObjectiveQuerySchema(Schema):
    cycle = fields.String(validate=validate.Regexp(CYCLE_KEY))
    department = fields.String(validate=DEPARTMENT,
                               metadata={"description": "owned or co-owned by this department"})
    kind = fields.Enum(ObjectiveKind, by_value=True)
    owner = fields.String(validate=text(1, MAX_OWNER))
    status = fields.Enum(ObjectiveStatus, by_value=True)


class KeyResultQuerySchema(Schema):
    cycle = fields.String(validate=validate.Regexp(CYCLE_KEY),
                          metadata={"description": "their objective's cycle"})
    department = fields.String(validate=DEPARTMENT,
                               metadata={"description": "their objective is owned or co-owned "
                                         "by this department"})
    stale_before = Timestamp(metadata={
        "description": "only key results that take check-ins (not sums) last checked in "
                       "before this moment, or never",
        "example": "2026-11-15T00:00:00Z"})


class KeyResultSchema(Schema):
    id = fields.String(dump_only=True)
    objective_id = fields.String(dump_only=True)
    title = fields.String(required=True, validate=TITLE)
    measure = fields.Enum(Measure, by_value=True, required=True)
    start = _number(load_default=None, metadata={"description": "not for boolean"})
    target = _number(load_default=None, metadata={"description": "not for boolean"})
    unit = fields.String(load_default=None, validate=text(0, MAX_UNIT),
                         metadata={"example": "EUR"})
    weight = JsonNumber(load_default=1.0, allow_nan=False,
                          validate=validate.Range(min=0, max=1e6))
    aggregation = fields.Enum(Aggregation, by_value=True, load_default=Aggregation.CHECK_INS,
                              metadata={"description": "'sum': the value is the sum of the "
                                        "key results contributing to it (same unit)"})
    current = fields.Float(dump_only=True)
    confidence = fields.Float(dump_only=True, allow_none=True)
    last_checkin_at = Timestamp(dump_only=True, allow_none=True)
    observed_at = Timestamp(
        dump_only=True, allow_none=True,
        metadata={"description": "when the current value was true (the latest observed of "
                  "its check-ins), or null before the first check-in"})
    version = fields.Integer(dump_only=True)
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)


class KeyResultUpdateSchema(_AtLeastOneField):
    title = fields.String(validate=TITLE)
    start = _number()
    target = _number()
    unit = fields.String(validate=text(1, MAX_UNIT))
    weight = JsonNumber(allow_nan=False, validate=validate.Range(min=0, max=1e6))


class CheckInValue(JsonNumber):
    """A JSON number; ``true`` and ``false`` are read as 1 and 0 (for boolean key results)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, bool):
            value = 1.0 if value else 0.0
        return super()._deserialize(value, attr, data, **kwargs)


class _ObservedAt(Timestamp):
    """A check-in's ``observed_at``: a moment with its offset whose UTC time may lie outside
    what a datetime holds (``0001-01-01T00:00:00+01:00``); such a value is too early or too
    late for the domain's rule, and is refused in its words."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        parsed = self.read_rfc_3339(value, attr, data, **kwargs)
        try:
            parsed.astimezone(UTC)
        except OverflowError as error:
            if parsed.year > 2000:
                raise ValidationError("must not be in the future") from error
            raise ValidationError(
                f"must not be before {EARLIEST_OBSERVATION.isoformat()}") from error
        return parsed


class CheckInSchema(Schema):
    id = fields.String(dump_only=True)
    key_result_id = fields.String(dump_only=True)
    value = CheckInValue(required=True, allow_nan=False,
                         validate=validate.Range(min=-1e15, max=1e15))
    confidence = JsonNumber(load_default=None, allow_none=True, allow_nan=False,
                              validate=validate.Range(min=0, max=1))
    note = fields.String(load_default="", validate=text(0, MAX_NOTE, multi_line=True))
    author = fields.String(load_default=None, validate=text(1, MAX_OWNER),
                           metadata={"description": "defaults to the token's name"})
    source = fields.Enum(CheckInSource, by_value=True, load_default=CheckInSource.PERSON)
    observed_at = _ObservedAt(
        load_default=None,
        error_messages={
            "invalid": "Not an ISO 8601 date-time with its offset, e.g. "
                       "2026-11-23T17:00:00+01:00 or 2026-11-23T16:00:00Z.",
            "invalid_awareness": "Needs its UTC offset, e.g. 2026-11-23T17:00:00+01:00 or "
                                 "2026-11-23T16:00:00Z."},
        metadata={"description": "when the value was true: ISO 8601 with its offset, not in "
                  "the future (5 minutes of clock skew allowed), not before 2000; default: "
                  "now. The latest observed check-in sets the key result's current value; "
                  "an older one arriving later is history only",
                  "example": "2026-11-23T17:00:00+01:00"})
    created_at = Timestamp(dump_only=True)


class CheckInResultSchema(CheckInSchema):
    key_result = fields.Nested(KeyResultSchema, dump_only=True,
                               metadata={"description": "the key result after the check-in"})


class BatchCheckInItemSchema(CheckInSchema):
    key_result_id = fields.String(required=True, validate=ID)
    # the header's rule (shared/web/boundary.py): 1 to 200 printable ASCII characters, not
    # only spaces, no comma
    idempotency_key = fields.String(load_default=None, validate=validate.Regexp(
        r"(?=.*[^ ])[\x20-\x2b\x2d-\x7e]{1,200}\Z", error=(
            "an idempotency key is 1 to 200 printable ASCII characters, without commas")))


class BatchCheckInSchema(Schema):
    items = fields.List(fields.Nested(BatchCheckInItemSchema), required=True,
                        validate=validate.Length(min=1, max=1000))


class BatchItemResultSchema(Schema):
    index = fields.Integer()
    status = fields.Integer(metadata={"description": "201 applied, 200 replayed, else 4xx"})
    check_in = fields.Raw(allow_none=True, metadata={"description": "as POST check-ins"})
    error = fields.Raw(allow_none=True, metadata={"description": "a problem document"})


class BatchResultSchema(Schema):
    applied = fields.Integer()
    failed = fields.Integer()
    results = fields.List(fields.Nested(BatchItemResultSchema))
