"""Where a service keeps its ``Idempotency-Key``s: a table in its own database, the same
shape in every service (each adds it to its ``MetaData`` with :func:`idempotency_keys_table`,
so its own Alembic migrations create it), and the repository of ``shared/idempotency.py``'s
``IdempotencyKeys`` port over it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Column,
    Connection,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from shared.idempotency import DuplicateKey, StoredResponse
from shared.persistence.retention import delete_oldest
from shared.persistence.types import UtcDateTime

#: The longest key (the input boundary refuses longer ones, 400) and caller scope.
MAX_KEY = 200
MAX_PRINCIPAL = 100


def idempotency_keys_table(metadata: MetaData) -> Table:
    """The ``idempotency_keys`` table of ``metadata``'s database."""
    return Table(
        "idempotency_keys",
        metadata,
        # Scoped to the caller: two systems may use the same key without colliding.
        Column("principal", String(MAX_PRINCIPAL), primary_key=True),
        Column("key", String(MAX_KEY), primary_key=True),
        Column("fingerprint", String(64), nullable=False),
        Column("status_code", Integer, nullable=False),
        Column("response", Text, nullable=False),
        Column("created_at", UtcDateTime(), nullable=False, index=True),
    )


class SqlIdempotencyKeys:
    """The keys of ``table`` (made by :func:`idempotency_keys_table`), on ``connection``."""

    def __init__(self, connection: Connection, table: Table) -> None:
        self.connection = connection
        self.table = table

    def get(self, principal: str, key: str) -> StoredResponse | None:
        t = self.table
        row = self.connection.execute(select(t).where(t.c.principal == principal,
                                                      t.c.key == key)).first()
        return StoredResponse(row.fingerprint, row.status_code, row.response) if row else None

    def add(self, principal: str, key: str, stored: StoredResponse, at: datetime) -> None:
        try:
            self.connection.execute(self.table.insert().values(
                principal=principal, key=key, fingerprint=stored.fingerprint,
                status_code=stored.status_code, response=stored.response, created_at=at))
        except IntegrityError as error:  # the key's primary key
            raise DuplicateKey(f"idempotency key {key!r} is stored already") from error

    def complete(self, principal: str, key: str, stored: StoredResponse) -> None:
        t = self.table
        self.connection.execute(update(t).where(t.c.principal == principal, t.c.key == key)
                                .values(fingerprint=stored.fingerprint,
                                        status_code=stored.status_code,
                                        response=stored.response))

    def purge(self, before: datetime, limit: int) -> int:
        """Forget at most ``limit`` keys stored before ``before``; how many were forgotten."""
        return delete_oldest(self.connection, self.table, self.table.c.created_at < before,
                             limit)
