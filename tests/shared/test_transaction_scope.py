"""The transaction a unit of work runs in: its own, or the one of a connection it is given
(the consumer runner's), which only the connection's owner commits or rolls back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Column, Engine, Integer, MetaData, Table, func, insert, select

from shared.persistence.engine import create_database_engine
from shared.persistence.transactions import TransactionScope

metadata = MetaData()
rows = Table("rows", metadata, Column("id", Integer, primary_key=True))


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_database_engine(f"sqlite:///{tmp_path / 'scope.db'}")
    metadata.create_all(engine)
    yield engine
    engine.dispose()


def _count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(rows)).scalar_one())


def test_an_own_scope_keeps_only_what_it_committed(engine: Engine) -> None:
    committed = TransactionScope(engine)
    committed.open().execute(insert(rows).values(id=1))
    committed.commit()
    committed.close()
    abandoned = TransactionScope(engine)
    abandoned.open().execute(insert(rows).values(id=2))
    abandoned.close()
    assert _count(engine) == 1


def test_a_given_connection_is_committed_or_rolled_back_by_its_owner_alone(
        engine: Engine) -> None:
    with engine.connect() as connection:
        outer = connection.begin()  # as the consumer runner begins its transaction
        scope = TransactionScope(engine, connection=connection)
        assert scope.open() is connection
        connection.execute(insert(rows).values(id=1))
        scope.commit()  # the unit's commit: the runner's transaction stays open
        scope.close()
        assert connection.in_transaction() and not connection.closed
        outer.rollback()  # the runner's handler failed after all
    assert _count(engine) == 0


def test_a_scope_opens_once(engine: Engine) -> None:
    scope = TransactionScope(engine)
    scope.open()
    try:
        with pytest.raises(RuntimeError):
            scope.open()
    finally:
        scope.close()
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
