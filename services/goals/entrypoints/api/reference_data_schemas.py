"""Schemas of departments and cycles: the single description of their input and output."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from services.goals.domain.reference_data import CYCLE_KEY, DEPARTMENT_KEY
from shared.web.boundary import EARLIEST_DATE, LATEST_DATE, single_line, within_calendar
from shared.web.dates import Day, Timestamp

NAME: list[Callable[[Any], Any]] = [validate.Length(min=1, max=100), single_line]


class DepartmentSchema(Schema):
    key = fields.String(required=True, validate=validate.Regexp(DEPARTMENT_KEY),
                        metadata={"example": "sales"})
    name = fields.String(required=True, validate=NAME, metadata={"example": "Sales"})
    version = fields.Integer(dump_only=True)
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)


class DepartmentUpdateSchema(Schema):
    name = fields.String(required=True, validate=NAME)


class CycleSchema(Schema):
    key = fields.String(required=True, validate=validate.Regexp(CYCLE_KEY),
                        metadata={"example": "2026-Q4"})
    name = fields.String(validate=NAME, metadata={"example": "Q4 2026"})
    starts_on = Day(required=True, validate=within_calendar, metadata={
        "example": "2026-10-01", "description": f"from {EARLIEST_DATE} to {LATEST_DATE}"})
    ends_on = Day(required=True, validate=within_calendar, metadata={
        "example": "2026-12-31", "description": f"from {EARLIEST_DATE} to {LATEST_DATE}"})
    version = fields.Integer(dump_only=True)
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)


class CycleUpdateSchema(Schema):
    name = fields.String(validate=NAME)
    starts_on = Day(validate=within_calendar)
    ends_on = Day(validate=within_calendar)

    @validates_schema
    def _changes_something(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if not data:
            raise ValidationError("send at least one of name, starts_on, ends_on")


class CycleQuerySchema(Schema):
    active_on = Day(validate=within_calendar,
                            metadata={"description": "only cycles that include this day"})
