"""Request and response schemas: the single description of the API's input and output."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from services.goals.domain.access import Role
from services.goals.domain.model import CYCLE_KEY, DEPARTMENT_KEY
from shared.web.boundary import EARLIEST_DATE, LATEST_DATE, single_line, within_calendar

NAME: list[Callable[[Any], Any]] = [validate.Length(min=1, max=100), single_line]


class DepartmentSchema(Schema):
    key = fields.String(required=True, validate=validate.Regexp(DEPARTMENT_KEY),
                        metadata={"example": "sales"})
    name = fields.String(required=True, validate=NAME, metadata={"example": "Sales"})
    version = fields.Integer(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class DepartmentUpdateSchema(Schema):
    name = fields.String(required=True, validate=NAME)


class CycleSchema(Schema):
    key = fields.String(required=True, validate=validate.Regexp(CYCLE_KEY),
                        metadata={"example": "2026-Q4"})
    name = fields.String(validate=NAME, metadata={"example": "Q4 2026"})
    starts_on = fields.Date(required=True, validate=within_calendar, metadata={
        "example": "2026-10-01", "description": f"from {EARLIEST_DATE} to {LATEST_DATE}"})
    ends_on = fields.Date(required=True, validate=within_calendar, metadata={
        "example": "2026-12-31", "description": f"from {EARLIEST_DATE} to {LATEST_DATE}"})
    version = fields.Integer(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class CycleUpdateSchema(Schema):
    name = fields.String(validate=NAME)
    starts_on = fields.Date(validate=within_calendar)
    ends_on = fields.Date(validate=within_calendar)

    @validates_schema
    def _changes_something(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if not data:
            raise ValidationError("send at least one of name, starts_on, ends_on")


class CycleQuerySchema(Schema):
    active_on = fields.Date(validate=within_calendar,
                            metadata={"description": "only cycles that include this day"})


class TokenSchema(Schema):
    id = fields.String(dump_only=True)
    name = fields.String(required=True, validate=NAME)
    role = fields.Enum(Role, by_value=True, required=True)
    department = fields.String(load_default=None, allow_none=True,
                               validate=validate.Regexp(DEPARTMENT_KEY))
    created_by = fields.String(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    revoked_at = fields.DateTime(dump_only=True, allow_none=True)


class MintedTokenSchema(TokenSchema):
    token = fields.String(dump_only=True, metadata={
        "description": "the bearer secret; shown once, stored only as a hash"})


class CallerSchema(Schema):
    """Who a bearer token belongs to: what the other services ask before serving a request."""

    name = fields.String(metadata={"description": "who or what uses the token"})
    role = fields.Enum(Role, by_value=True)
    department = fields.String(allow_none=True,
                               metadata={"description": "the department of a head"})
    token_id = fields.String(allow_none=True, metadata={
        "description": "null for the bootstrap admin token from OKR_ADMIN_TOKEN"})


class AuditEntrySchema(Schema):
    id = fields.Integer()
    occurred_at = fields.DateTime()
    actor = fields.String()
    actor_role = fields.String()
    action = fields.String()
    item_type = fields.String()
    item_id = fields.String()
    department = fields.String(attribute="department_key", allow_none=True)
    before = fields.Raw(allow_none=True)
    after = fields.Raw(allow_none=True)
    event_id = fields.String(allow_none=True)
    request_id = fields.String(allow_none=True)


def _in_utc_range(value: datetime) -> None:
    """Times are stored in UTC: 0001-01-01T00:00+01:00 has no UTC time (it would be year 0)."""
    try:
        value.astimezone(UTC)
    except OverflowError as error:
        raise ValidationError("out of range once converted to UTC") from error


class AuditQuerySchema(Schema):
    item_type = fields.String(validate=validate.Length(max=40))
    item_id = fields.String(validate=validate.Length(max=64))
    department = fields.String(validate=validate.Regexp(DEPARTMENT_KEY))
    since = fields.AwareDateTime(validate=_in_utc_range,
                                 metadata={"description": "RFC 3339, inclusive"})
    until = fields.AwareDateTime(validate=_in_utc_range,
                                 metadata={"description": "RFC 3339, exclusive"})
