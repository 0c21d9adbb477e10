"""API tokens in the database (stored only as hashes)."""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Connection, Row, Select, bindparam, func, select, update

from services.goals.adapters import tables
from services.goals.adapters.queries import page_of
from services.goals.adapters.token_cache import notify_revoked
from services.goals.domain.access import ApiToken, Role


class SqlTokenRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def by_hash(self, token_hash: str) -> ApiToken | None:
        row = self.connection.execute(_token_by_hash(), {"token_hash": token_hash}).first()
        return _token(row) if row else None

    def get(self, token_id: str) -> ApiToken | None:
        t = tables.api_tokens
        row = self.connection.execute(select(t).where(t.c.id == token_id)).first()
        return _token(row) if row else None

    def list(self, offset: int = 0, limit: int = 100) -> tuple[list[ApiToken], int]:
        t = tables.api_tokens
        rows, total = page_of(self.connection, select(t), (t.c.created_at, t.c.id), offset,
                              limit)
        return [_token(row) for row in rows], total

    def add(self, token: ApiToken) -> None:
        self.connection.execute(tables.api_tokens.insert().values(
            id=token.id, name=token.name, role=token.role.value, department_key=token.department,
            token_hash=token.token_hash, created_by=token.created_by,
            created_at=token.created_at, revoked_at=token.revoked_at))

    def revocation_count(self) -> int:
        """How many tokens were ever revoked (tokens are never deleted nor un-revoked)."""
        t = tables.api_tokens
        return int(self.connection.execute(
            select(func.count()).select_from(t).where(t.c.revoked_at.is_not(None))).scalar_one())

    def save(self, token: ApiToken) -> None:
        self.connection.execute(update(tables.api_tokens).where(tables.api_tokens.c.id == token.id)
                                .values(revoked_at=token.revoked_at))
        if token.revoked_at is not None:
            notify_revoked(self.connection, token.id)  # processes that remember it forget it


def _token(row: Row[Any]) -> ApiToken:
    m = row._mapping
    return ApiToken(id=m["id"], name=m["name"], role=Role(m["role"]),
                    department=m["department_key"], token_hash=m["token_hash"],
                    created_by=m["created_by"], created_at=m["created_at"],
                    revoked_at=m["revoked_at"])


@functools.cache
def _token_by_hash() -> Select[Any]:
    """Every request's token lookup, built once (served from the compiled cache)."""
    t = tables.api_tokens
    return select(t).where(t.c.token_hash == bindparam("token_hash"))
