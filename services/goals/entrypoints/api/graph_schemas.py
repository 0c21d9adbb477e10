"""Schemas of contributions (roll-up edges) and links.

The response schemas are also the ``data`` of the events on ``okr.goals.v1``.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from services.goals.domain.graph import MAX_LINK_NOTE, ItemType, LinkKind
from services.goals.entrypoints.api.goal_schemas import DEPARTMENT, ID, text
from shared.web.dates import Timestamp
from shared.web.numbers import JsonNumber


class ContributionSchema(Schema):
    id = fields.String(dump_only=True)
    child_type = fields.Enum(ItemType, by_value=True, required=True)
    child_id = fields.String(required=True, validate=ID)
    parent_type = fields.Enum(ItemType, by_value=True, required=True)
    parent_id = fields.String(required=True, validate=ID)
    weight = JsonNumber(load_default=1.0, allow_nan=False,
                          validate=validate.Range(min=0, max=1e6))
    created_by = fields.String(dump_only=True)
    version = fields.Integer(dump_only=True)
    created_at = Timestamp(dump_only=True)


class ContributionQuerySchema(Schema):
    parent_id = fields.String(validate=ID)
    child_id = fields.String(validate=ID)


class LinkSchema(Schema):
    id = fields.String(dump_only=True)
    kind = fields.Enum(LinkKind, by_value=True, required=True)
    from_type = fields.Enum(ItemType, by_value=True, required=True)
    from_id = fields.String(required=True, validate=ID)
    from_department = fields.String(load_default=None, validate=DEPARTMENT, metadata={
        "description": "needed only when the item has several departments"})
    to_type = fields.Enum(ItemType, by_value=True, required=True)
    to_id = fields.String(required=True, validate=ID)
    to_department = fields.String(load_default=None, validate=DEPARTMENT, metadata={
        "description": "needed only when the item has several departments"})
    note = fields.String(load_default="", validate=text(0, MAX_LINK_NOTE, multi_line=True))
    created_by = fields.String(dump_only=True)
    version = fields.Integer(dump_only=True)
    created_at = Timestamp(dump_only=True)


class LinkQuerySchema(Schema):
    department = fields.String(validate=DEPARTMENT)
    direction = fields.String(load_default="both",
                              validate=validate.OneOf(["outgoing", "incoming", "both"]),
                              metadata={"description": "with department: which side it is on"})
    item_id = fields.String(validate=ID)
    kind = fields.Enum(LinkKind, by_value=True)
