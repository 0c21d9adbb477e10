"""Schemas of API tokens and of the audit log."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from services.goals.domain.access import Role
from services.goals.domain.reference_data import DEPARTMENT_KEY
from services.goals.entrypoints.api.reference_data_schemas import NAME
from shared.web.dates import Timestamp


class TokenSchema(Schema):
    id = fields.String(dump_only=True)
    name = fields.String(required=True, validate=NAME)
    role = fields.Enum(Role, by_value=True, required=True)
    department = fields.String(load_default=None, allow_none=True,
                               validate=validate.Regexp(DEPARTMENT_KEY))
    created_by = fields.String(dump_only=True)
    created_at = Timestamp(dump_only=True)
    revoked_at = Timestamp(dump_only=True, allow_none=True)


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
    occurred_at = Timestamp()
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


class AuditQuerySchema(Schema):
    item_type = fields.String(validate=validate.Length(max=40))
    item_id = fields.String(validate=validate.Length(max=64))
    department = fields.String(validate=validate.Regexp(DEPARTMENT_KEY))
    since = Timestamp(metadata={"description": "RFC 3339 with an offset, inclusive",
                                "example": "2026-10-01T00:00:00Z"})
    until = Timestamp(metadata={"description": "RFC 3339 with an offset, exclusive",
                                "example": "2026-12-31T00:00:00Z"})
