"""What the goals database keeps and for how long: published outbox rows are purged by the
relay after ``OKR_OUTBOX_RETENTION_HOURS`` (pending ones never), audit entries only when
``OKR_AUDIT_RETENTION_DAYS`` is set, check-ins never."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Table, func, select, update

from services.goals.adapters import tables
from services.goals.bootstrap import Goals
from services.goals.config import SERVICE, GoalsConfig
from services.goals.service_layer import reference_data
from shared.config import ConfigurationError
from shared.observability.metrics import ROWS_PURGED
from shared.runtime.housekeeping import purge_all

OUTBOX = tables.plumbing.outbox


def _count(goals: Goals, table: Table) -> int:
    with goals.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def _create_cycles(goals: Goals, count: int, prefix: str) -> None:
    for number in range(count):
        reference_data.create_cycle(goals.unit_of_work(), reference_data.SYSTEM,
                                    f"{prefix}-{number:03d}", date(2026, 10, 1),
                                    date(2026, 12, 31))


def _age_outbox(goals: Goals, hours: float) -> None:
    """Every published row was published ``hours`` earlier than it was."""
    with goals.engine.begin() as connection:
        for position, published_at in connection.execute(
                select(OUTBOX.c.position, OUTBOX.c.published_at)
                .where(OUTBOX.c.published_at.is_not(None))).all():
            connection.execute(update(OUTBOX).where(OUTBOX.c.position == position)
                               .values(published_at=published_at - timedelta(hours=hours)))


def _purged(table: str) -> float:
    return ROWS_PURGED.labels(SERVICE, table)._value.get()


def test_the_relay_purges_published_rows_past_the_retention_and_keeps_pending_and_young_ones(
        goals: Goals) -> None:
    relay = goals.relay()
    relay.recover_lost_topics()
    _create_cycles(goals, 12, "old")
    assert relay.publish_batch() == 12
    _age_outbox(goals, goals.config.relay.retention_hours + 1)
    _create_cycles(goals, 3, "young")
    assert relay.publish_batch() == 3
    _create_cycles(goals, 2, "pending")  # not published yet: owed to the broker
    counted = _purged("outbox_events")

    assert relay.purge_published() == 12
    with goals.engine.connect() as connection:
        left = connection.execute(select(OUTBOX.c.published_at.is_(None))).scalars().all()
    assert sorted(left) == [False] * 3 + [True] * 2
    assert _purged("outbox_events") - counted == 12
    assert relay.purge_published() == 0


def _audit_entry(goals: Goals, days_ago: float, item_id: str) -> dict[str, object]:
    return {"occurred_at": datetime.now(UTC) - timedelta(days=days_ago), "actor": "crm",
            "actor_role": "admin", "action": "create", "item_type": "cycle",
            "item_id": item_id, "department_key": None}


def test_audit_entries_are_kept_forever_unless_a_retention_is_set(goals: Goals) -> None:
    with goals.engine.begin() as connection:
        connection.execute(tables.audit_log.insert(), [
            _audit_entry(goals, 400, "ancient"), _audit_entry(goals, 100, "old"),
            _audit_entry(goals, 1, "recent")])
    before = _count(goals, tables.audit_log)

    assert "audit_log" not in purge_all(SERVICE, goals.purges())
    assert _count(goals, tables.audit_log) == before

    keeping_90_days = replace(goals, config=replace(goals.config, audit_retention_days=90.0))
    assert purge_all(SERVICE, keeping_90_days.purges())["audit_log"] == 2
    with goals.engine.connect() as connection:
        ids = set(connection.execute(select(tables.audit_log.c.item_id)).scalars())
    assert {"ancient", "old"}.isdisjoint(ids) and "recent" in ids


def test_check_ins_are_the_record_and_no_purge_touches_them(goals: Goals) -> None:
    forever = replace(goals, config=replace(goals.config, audit_retention_days=1.0,
                                            idempotency_retention_hours=1.0))
    assert set(forever.purges()) == {"idempotency_keys", "audit_log"}


@pytest.mark.parametrize("value", ["0", "-3", "soon"])
def test_an_audit_retention_that_is_not_a_positive_number_of_days_is_refused(
        value: str, tmp_path: object) -> None:
    with pytest.raises(ConfigurationError, match="OKR_AUDIT_RETENTION_DAYS"):
        GoalsConfig.from_env({"OKR_DATA_DIR": str(tmp_path), "OKR_AUDIT_RETENTION_DAYS": value})
