"""``/v1/tokens`` (admin: mint, list, revoke) and ``/v1/audit`` (who changed what, when)."""

from __future__ import annotations

import json
from typing import Any

from flask import request
from flask.views import MethodView
from marshmallow import Schema, fields

from services.goals.domain.access import Role
from services.goals.domain.errors import Forbidden
from services.goals.entrypoints.api.access import (
    goals,
    principal,
    refuse_unknown_references,
    request_id,
)
from services.goals.entrypoints.api.administration_schemas import (
    AuditEntrySchema,
    AuditQuerySchema,
    CallerSchema,
    MintedTokenSchema,
    TokenSchema,
)
from services.goals.entrypoints.api.idempotency import IDEMPOTENCY_HEADER
from services.goals.service_layer import tokens as token_cases
from shared.web.blueprints import Blueprint
from shared.web.csv_export import csv_doc, csv_response, wants_csv
from shared.web.problems import abort_with_problem

tokens = Blueprint("tokens", __name__, url_prefix="/v1/tokens",
                   description="API tokens for a role and department (admin only; "
                   "`/v1/tokens/self` for any token; `/v1/tokens/revocations` for anyone).")
audit = Blueprint("audit", __name__, url_prefix="/v1/audit",
                  description="The audit log: who changed what, when, before and after.")


@tokens.route("")
class Tokens(MethodView):
    @tokens.response(200, TokenSchema(many=True))
    @tokens.alt_response(403, description="only an admin lists tokens")
    @tokens.paginate()
    def get(self, pagination_parameters: Any) -> Any:
        """List tokens (admin); secrets are never shown again"""
        principal().require_admin("list tokens")
        with goals().reading() as uow:
            items, total = uow.tokens.list(pagination_parameters.first_item,
                                           pagination_parameters.page_size)
        pagination_parameters.item_count = total
        return items

    @tokens.arguments(TokenSchema)
    @tokens.response(201, MintedTokenSchema)
    @tokens.alt_response(400, description=f"an {IDEMPOTENCY_HEADER}: a minted secret is "
                         "never stored, so it cannot be replayed")
    def post(self, body: dict[str, Any]) -> Any:
        """Mint a token (admin); the response is the only time its secret is shown"""
        if IDEMPOTENCY_HEADER in request.headers:
            abort_with_problem(400, f"{IDEMPOTENCY_HEADER} is not accepted when minting a "
                               "token: its secret is shown once and never stored, so no "
                               "answer could be replayed; list the tokens to see whether it "
                               "was minted, and revoke it if unsure")
        token, secret = token_cases.mint_token(goals().unit_of_work(request_id()), principal(),
                                               body["name"], body["role"], body["department"])
        return {**vars(token), "token": secret}, 201


@tokens.route("/self")
class TokenSelf(MethodView):
    @tokens.response(200, CallerSchema)
    def get(self) -> Any:
        """Who the bearer token of this request belongs to (any valid token)

        The metrics and notification services ask this, with the caller's own token, to
        authenticate their requests; 401 for an unknown or revoked token.
        """
        return principal()


class RevocationsSchema(Schema):
    generation = fields.Integer(
        required=True, metadata={"description": "changes whenever a token is revoked; compare "
                                 "it for equality only (its value means nothing else)"})


@tokens.route("/revocations")
class TokenRevocations(MethodView):
    @tokens.response(200, RevocationsSchema)
    def get(self) -> Any:
        """Whether tokens were revoked: a generation that changes with every revocation

        Open to anyone, without a token: the metrics and notification services poll it a
        few times a second to forget the callers they remember when it changes. It tells
        only how many tokens were revoked so far, never which.
        """
        generation = token_cases.revocation_generation(goals().reading())
        return {"generation": generation}, 200, {"Cache-Control": "no-store"}


@tokens.route("/<string:token_id>")
class TokenItem(MethodView):
    @tokens.response(204)
    def delete(self, token_id: str) -> None:
        """Revoke a token (admin); it stops working at once"""
        container = goals()
        token_cases.revoke_token(container.unit_of_work(request_id()), principal(), token_id)
        if container.token_cache is not None:  # the other processes hear it (NOTIFY)
            container.token_cache.forget_all()


@audit.route("")
class Audit(MethodView):
    @audit.arguments(AuditQuerySchema, location="query")
    @audit.response(200, AuditEntrySchema(many=True))
    @audit.alt_response(403, description="viewers may not; a head reads only its department")
    @audit.paginate()
    @audit.doc(**csv_doc("the audit entries, newest first; `before` and `after` as JSON text."))
    def get(self, query: dict[str, Any], pagination_parameters: Any) -> Any:
        """Query the audit log, newest first (admin: all; head: own department)"""
        who = principal()
        department = query.get("department")
        if who.role is Role.VIEWER:
            raise Forbidden("viewers may not read the audit log")
        if who.role is Role.HEAD:
            if department not in (None, who.department):
                raise Forbidden(f"a head of {who.department!r} may read only its own entries")
            department = who.department
        if wants_csv():
            with goals().reading() as uow:
                refuse_unknown_references(uow, department=department)

            def fetch(offset: int, limit: int) -> tuple[list[dict[str, Any]], int]:
                with goals().reading() as uow:
                    rows, total = uow.audit.query(
                        item_type=query.get("item_type"), item_id=query.get("item_id"),
                        department=department, since=query.get("since"),
                        until=query.get("until"), offset=offset, limit=limit)
                return [_entry(row._mapping) for row in rows], total

            return csv_response(AuditEntrySchema(), fetch, pagination_parameters, "audit")
        with goals().reading() as uow:
            refuse_unknown_references(uow, department=department)
            rows, total = uow.audit.query(
                item_type=query.get("item_type"), item_id=query.get("item_id"),
                department=department, since=query.get("since"), until=query.get("until"),
                offset=pagination_parameters.first_item, limit=pagination_parameters.page_size)
        pagination_parameters.item_count = total
        return [_entry(row._mapping) for row in rows]


def _entry(row: Any) -> dict[str, Any]:
    entry = dict(row)
    for side in ("before", "after"):
        entry[side] = json.loads(entry[side]) if entry[side] else None
    return entry
