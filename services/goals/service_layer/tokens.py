"""Use cases for API tokens: authenticate, mint, revoke, tell that tokens were revoked."""

from __future__ import annotations

import hmac
from typing import Protocol

from services.goals.domain.access import ApiToken, Principal, Role, hash_token
from services.goals.domain.errors import InvalidInput, NotFound
from services.goals.service_layer.unit_of_work import UnitOfWork


class KnownTokens(Protocol):
    """Who tokens stand for, remembered (``adapters.token_cache.TokenCache``)."""

    def lookup(self, token_hash: str) -> tuple[Principal | None, int]: ...

    def remember(self, token_hash: str, principal: Principal, generation: int) -> None: ...


def authenticate(uow: UnitOfWork, secret: str, admin_token: str | None,
                 known: KnownTokens | None = None) -> Principal | None:
    """The principal a bearer secret stands for, or None if it is unknown or revoked.

    With ``known``, a token seen lately is not looked up again; unknown and revoked tokens
    are never remembered."""
    if admin_token and hmac.compare_digest(secret.encode(), admin_token.encode()):
        return Principal(name="admin (OKR_ADMIN_TOKEN)", role=Role.ADMIN)
    token_hash = hash_token(secret)
    generation = 0
    if known is not None:
        remembered, generation = known.lookup(token_hash)
        if remembered is not None:
            return remembered
    with uow:
        token = uow.tokens.by_hash(token_hash)
    if token is None or token.revoked_at is not None:
        return None
    who = token.principal()
    if known is not None:
        known.remember(token_hash, who, generation)
    return who


def mint_token(uow: UnitOfWork, actor: Principal, name: str, role: Role,
               department: str | None) -> tuple[ApiToken, str]:
    actor.require_admin("mint tokens")
    token, secret = ApiToken.mint(name, role, department, created_by=actor.name)
    with uow:
        if department is not None and uow.departments.get(department) is None:
            raise InvalidInput(f"department {department!r} does not exist", "department")
        uow.tokens.add(token)
        uow.audit.record(occurred_at=token.created_at, actor=actor.name,
                         actor_role=actor.role.value, action="okr.token.minted",
                         item_type="token", item_id=token.id, department=department, before=None,
                         after=_audit_view(token), event_id=None, request_id=uow.request_id)
        uow.commit()
    return token, secret


def revoke_token(uow: UnitOfWork, actor: Principal, token_id: str) -> ApiToken:
    actor.require_admin("revoke tokens")
    with uow:
        token = uow.tokens.get(token_id)
        if token is None:
            raise NotFound(f"token {token_id!r} does not exist")
        before = _audit_view(token)
        token.revoke()
        uow.tokens.save(token)
        uow.audit.record(occurred_at=token.revoked_at or token.created_at, actor=actor.name,
                         actor_role=actor.role.value, action="okr.token.revoked",
                         item_type="token", item_id=token.id, department=token.department,
                         before=before, after=_audit_view(token), event_id=None,
                         request_id=uow.request_id)
        uow.commit()
    return token


def revocation_generation(uow: UnitOfWork) -> int:
    """A number that changes whenever a token is revoked, read from the database so that
    every goals process answers the same; the other services poll it (``/v1/tokens/revocations``)
    to know when to forget the callers they remember."""
    with uow:
        return uow.tokens.revocation_count()


def _audit_view(token: ApiToken) -> dict[str, object]:
    """What the audit log keeps of a token: never its hash."""
    return {"id": token.id, "name": token.name, "role": token.role.value,
            "department": token.department,
            "revoked_at": token.revoked_at.isoformat() if token.revoked_at else None}
