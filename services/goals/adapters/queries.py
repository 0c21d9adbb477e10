"""Two statements every goals repository runs: one page of a query, and an update made only
if the row is still at the version read (optimistic concurrency: when another transaction
changed the row meanwhile, :class:`StaleVersion` is raised and nothing is written)."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, Row, Select, bindparam, func, select, update

from services.goals.domain.errors import StaleVersion


def plain(values: dict[str, Any]) -> dict[str, Any]:
    """Enum members as their values, for the database."""
    return {key: getattr(value, "value", value) for key, value in values.items()}


def page_of(connection: Connection, query: Select[Any], order: Iterable[Any], offset: int,
            limit: int) -> tuple[list[Row[Any]], int]:
    """One page of ``query`` in ``order``, and how many rows the whole query has."""
    total = connection.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = list(connection.execute(query.order_by(*order).offset(offset).limit(limit)))
    return rows, int(total)


_KEY, _EXPECTED_VERSION = "okr_saved_key", "okr_expected_version"


@functools.cache
def _versioned_update(table: Any, key_column: Any) -> Any:
    """``UPDATE table SET <the columns given> WHERE key = ? AND version = ?``, built once: the
    SET clause comes from the parameters, so SQLAlchemy's compiled cache serves every call
    (``.values(**values)`` would build and hash a new statement each time)."""
    return update(table).where(key_column == bindparam(_KEY),
                               table.c.version == bindparam(_EXPECTED_VERSION))


def save_versioned(connection: Connection, table: Any, key_column: Any, key: str,
                    values: dict[str, Any], *, read_version: int | None = None) -> None:
    """Write ``values`` only if the stored version is still ``read_version`` (by default
    the one before this change)."""
    expected = values["version"] - 1 if read_version is None else read_version
    result = connection.execute(
        _versioned_update(table, key_column), {**values, _KEY: key, _EXPECTED_VERSION: expected})
    if result.rowcount != 1:
        raise StaleVersion(f"{table.name} {key!r} was changed by someone else")
