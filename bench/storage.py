"""``python -m bench storage``: what the goals database holds per key result and per
check-in once a year has passed and the workers' purges have run.

It loads ``--key-results`` key results (eight to an objective) and ``--check-ins`` weekly
check-ins of each (52: a year) through the goals service's unit of work, as
``POST /v1/check-ins/batch`` does (batches of 500, each check-in with an
``Idempotency-Key``, as integrations send them), publishes the outbox with the real relay
to a Tansu broker, then runs the purges a year later (each retention's clock moved on by
366 days): the relay's of published outbox rows, and the housekeeping loop's. It prints
each table's rows and bytes (PostgreSQL: ``pg_total_relation_size``, table + indexes +
TOAST, compacted by ``VACUUM FULL``; SQLite: ``dbstat`` pages of the table and its
indexes, and the file size), before and after the purges, per row, per key result and per
check-in.

The baseline, measured in the same database: the same number of check-ins as bare rows
(id, key result id, value, time; primary key and one index): the least a check-in can
take there.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import (
    Column,
    DateTime,
    Double,
    Engine,
    Index,
    MetaData,
    String,
    Table,
    func,
    select,
    text,
)

from bench.common import (
    BenchResult,
    goals_database,
    log,
    render,
    running_broker,
    write_results,
)
from services.goals.adapters import tables
from services.goals.bootstrap import Goals, bootstrap
from services.goals.config import SERVICE, GoalsConfig
from services.goals.domain.goals import Measure, ObjectiveKind
from services.goals.entrypoints.api.check_ins import fingerprint
from services.goals.entrypoints.api.check_ins import render as render_check_in
from services.goals.service_layer import check_ins as cases
from services.goals.service_layer import objectives, reference_data
from shared.config import KafkaSettings, RelaySettings
from shared.persistence.dialects import is_sqlite
from shared.persistence.retention import purge_expired
from shared.runtime.housekeeping import purge_all

#: The tables that grow with key results, and with check-ins (the audit log has an entry for
#: every change, a check-in's included); the others hold reference data or purged rows.
GROW_WITH_KEY_RESULTS = ("key_results", "objectives", "objective_departments")
GROW_WITH_CHECK_INS = ("check_ins", "audit_log")

CYCLE = "2026"
PER_OBJECTIVE = 8
BATCH = 500
A_YEAR_LATER = timedelta(days=366)


@dataclass(frozen=True)
class StorageOptions:
    key_results: int = 1_000
    check_ins: int = 52  # per key result: weekly for a year

    @property
    def total_check_ins(self) -> int:
        return self.key_results * self.check_ins


# -- loading ---------------------------------------------------------------------------------

def load_year(goals: Goals, options: StorageOptions) -> None:
    """A cycle, the objectives and key results, and a year of check-ins, through the unit of
    work (as the API does)."""
    actor = reference_data.SYSTEM
    reference_data.seed_default_departments(goals.unit_of_work())
    reference_data.create_cycle(goals.unit_of_work(), actor, CYCLE, date(2026, 1, 1),
                                date(2026, 12, 31))
    key_results: list[str] = []
    objective_id = ""
    for number in range(options.key_results):
        if number % PER_OBJECTIVE == 0:
            objective_id = objectives.create_objective(
                goals.unit_of_work(), actor, cycle=CYCLE, kind=ObjectiveKind.DEPARTMENT,
                departments=["sales"], owner="head of sales",
                title=f"Grow revenue in region {number // PER_OBJECTIVE}").id
        key_results.append(objectives.add_key_result(
            goals.unit_of_work(), actor, objective_id, objectives.KeyResultDefinition(
                title=f"New-customer revenue {number}", measure=Measure.INCREASE, start=0.0,
                target=1_000_000.0, unit="EUR")).id)
    log(f"{len(key_results)} key results loaded; check-ins next")
    started = datetime.now(UTC) - timedelta(weeks=options.check_ins)
    requests = []
    for week in range(options.check_ins):
        for number, key_result_id in enumerate(key_results):
            body = {"value": float(week * 1_000 + number % 100), "confidence": 0.7,
                    "note": f"week {week + 1}: pipeline review",
                    "observed_at": started + timedelta(weeks=week)}
            requests.append(cases.CheckInRequest(
                key_result_id=key_result_id, idempotency_key=f"crm-{week}-{number}",
                fingerprint=fingerprint(key_result_id, body), **body))  # type: ignore[arg-type]
    for start in range(0, len(requests), BATCH):
        outcomes = cases.record_check_ins(goals.unit_of_work(), actor,
                                          requests[start:start + BATCH], render_check_in)
        failed = [outcome.error for outcome in outcomes if outcome.error is not None]
        if failed:
            raise RuntimeError(f"check-ins refused: {failed[:3]}")
        if (start // BATCH) % 20 == 0:
            log(f"{start + len(outcomes)} of {len(requests)} check-ins")


def publish_all(goals: Goals) -> None:
    relay = goals.relay()
    relay.recover_lost_topics()
    while relay.publish_batch():
        pass


def purge_a_year_later(goals: Goals) -> dict[str, int]:
    """The relay's purge and the housekeeping loop's, with their clocks a year on."""
    later = datetime.now(UTC) + A_YEAR_LATER
    relay = goals.relay()
    purged = {relay.retention.name: purge_expired(goals.engine, relay.retention,
                                                  clock=lambda: later)}
    return purged | purge_all(SERVICE, goals.purges(clock=lambda: later))


# -- measuring -------------------------------------------------------------------------------

BARE = MetaData()
bare_check_ins = Table(
    "bench_bare_check_ins", BARE,
    Column("id", String(36), primary_key=True),
    Column("key_result_id", String(36), nullable=False),
    Column("value", Double, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
Index("ix_bench_bare_check_ins_key_result", bare_check_ins.c.key_result_id,
      bare_check_ins.c.created_at)


def load_baseline(engine: Engine, count: int, key_results: int) -> None:
    BARE.create_all(engine)
    now = datetime.now(UTC)
    ids = [str(uuid.uuid4()) for _ in range(key_results)]
    for start in range(0, count, 5_000):
        with engine.begin() as connection:
            connection.execute(bare_check_ins.insert(), [
                {"id": str(uuid.uuid4()), "key_result_id": ids[n % key_results],
                 "value": float(n), "created_at": now} for n in range(start, min(count,
                                                                                 start + 5_000))])


def table_bytes(engine: Engine, names: Sequence[str]) -> dict[str, int]:
    """Bytes each table takes with its indexes (and TOAST on PostgreSQL, compacted by
    VACUUM FULL; SQLite: the pages of its b-trees, free pages not counted)."""
    if not is_sqlite(engine):  # compacted: a year loaded in minutes leaves dead row versions
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM FULL"))  # that autovacuum would have reused
    with engine.connect() as connection:
        if is_sqlite(engine):
            rows = connection.execute(text(
                "SELECT coalesce(m.tbl_name, d.name), sum(d.pgsize) FROM dbstat d "
                "LEFT JOIN sqlite_schema m ON m.name = d.name GROUP BY 1")).all()
            sizes = {str(name): int(size) for name, size in rows}
            return {name: sizes.get(name, 0) for name in names}
        return {name: int(connection.execute(text(
            "SELECT pg_total_relation_size(CAST(:name AS regclass))"), {"name": name}
        ).scalar_one()) for name in names}


def row_counts(engine: Engine, names: Sequence[str]) -> dict[str, int]:
    metadata = {**tables.metadata.tables, **BARE.tables}
    with engine.connect() as connection:
        return {name: int(connection.execute(select(func.count()).select_from(
            metadata[name])).scalar_one()) for name in names}


def database_file_bytes(engine: Engine) -> int | None:
    """The SQLite file's size once its write-ahead log is folded in; None elsewhere."""
    database = engine.url.database
    if not is_sqlite(engine) or not database:
        return None
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return os.path.getsize(database)


# -- the run ---------------------------------------------------------------------------------

def measure_storage(kind: str, options: StorageOptions) -> BenchResult:
    names = [table.name for table in tables.metadata.sorted_tables]
    with goals_database(kind, "storage") as url, running_broker() as kafka:
        goals = bootstrap(_config(url, kafka))
        try:
            began = time.monotonic()
            load_year(goals, options)
            publish_all(goals)
            loaded_seconds = time.monotonic() - began
            before_rows, before = row_counts(goals.engine, names), table_bytes(goals.engine,
                                                                               names)
            file_before = database_file_bytes(goals.engine)
            purged = purge_a_year_later(goals)
            after_rows, after = row_counts(goals.engine, names), table_bytes(goals.engine,
                                                                             names)
            file_after = database_file_bytes(goals.engine)
            load_baseline(goals.engine, options.total_check_ins, options.key_results)
            baseline = table_bytes(goals.engine, [bare_check_ins.name])[bare_check_ins.name]
        finally:
            goals.close()
    return _result(kind, options, names, before_rows, before, after_rows, after, purged,
                   baseline, file_before, file_after, loaded_seconds)


def _config(url: str, kafka: KafkaSettings) -> GoalsConfig:
    """The platform's defaults (retentions included), on this database and broker."""
    return replace(GoalsConfig.from_env({"OKR_GOALS_DATABASE_URL": url}), kafka=kafka,
                   relay=RelaySettings.from_env({}))


def _per(value: int, count: int) -> str:
    return f"{value / count:,.0f}" if count else "-"


def _result(kind: str, options: StorageOptions, names: list[str], before_rows: dict[str, int],
            before: dict[str, int], after_rows: dict[str, int], after: dict[str, int],
            purged: dict[str, int], baseline: int, file_before: int | None,
            file_after: int | None, loaded_seconds: float) -> BenchResult:
    krs, check_ins = options.key_results, options.total_check_ins
    rows = []
    for name in sorted(names, key=lambda n: -before[n]):
        rows.append([name, f"{before_rows[name]:,}", f"{before[name]:,}",
                     _per(before[name], before_rows[name]), f"{after_rows[name]:,}",
                     f"{after[name]:,}",
                     _per(after[name], krs), _per(after[name], check_ins)])
    total_before, total_after = sum(before.values()), sum(after.values())
    rows.append(["total", "", f"{total_before:,}", "", "", f"{total_after:,}",
                 _per(total_after, krs), _per(total_after, check_ins)])
    rows.append([f"baseline: {check_ins:,} bare check-in rows", f"{check_ins:,}",
                 f"{baseline:,}", _per(baseline, check_ins), "", "", "",
                 _per(baseline, check_ins)])
    per_key_result = sum(after[name] for name in GROW_WITH_KEY_RESULTS)
    per_check_in = sum(after[name] for name in GROW_WITH_CHECK_INS)
    notes = [f"{krs:,} key results, {check_ins:,} check-ins ({options.check_ins} each) "
             f"loaded and published in {loaded_seconds:.0f} s",
             f"after the purges, a key result takes {_per(per_key_result, krs)} bytes "
             f"({' + '.join(GROW_WITH_KEY_RESULTS)}) and a check-in "
             f"{_per(per_check_in, check_ins)} ({' + '.join(GROW_WITH_CHECK_INS)})",
             f"purged a year later: {purged}",
             f"check_ins a check-in: {_per(after['check_ins'], check_ins)} bytes, "
             f"{after['check_ins'] / baseline:.2f}x the bare row's "
             f"{_per(baseline, check_ins)}",
             f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}"]
    if file_before is not None and file_after is not None:
        notes.append(f"SQLite file {file_before:,} bytes before the purges, {file_after:,} "
                     "after (freed pages are reused, not returned: VACUUM returns them)")
    else:
        notes.append("PostgreSQL sizes compacted (VACUUM FULL): a live database also holds "
                     "the space autovacuum freed for reuse, up to about a fifth of a table "
                     "with its default scale factor")
    return BenchResult(
        name="storage a year later", database=kind,
        headers=["table", "rows", "bytes", "bytes / row", "rows after purge",
                 "bytes after purge",
                 "bytes / key result", "bytes / check-in"],
        rows=rows, notes=notes,
        details={"before": before, "after": after, "rows_before": before_rows,
                 "rows_after": after_rows, "purged": purged, "baseline_bytes": baseline,
                 "file_before": file_before, "file_after": file_after,
                 "key_results": krs, "check_ins": check_ins})


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench storage", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", action="append", choices=("postgresql", "sqlite"),
                        help="database(s) to measure (default: both); repeatable")
    parser.add_argument("--key-results", type=int, default=StorageOptions.key_results,
                        help="key results to load (default 1,000)")
    parser.add_argument("--check-ins", type=int, default=StorageOptions.check_ins,
                        help="check-ins per key result (default 52: weekly for a year)")
    parser.add_argument("--no-json", action="store_true", help="do not write bench/results/")
    args = parser.parse_args(argv)
    options = StorageOptions(key_results=args.key_results, check_ins=args.check_ins)
    results = []
    for kind in args.database or ["postgresql", "sqlite"]:
        log(f"storage on {kind}")
        results.append(measure_storage(kind, options))
        print(render(results[-1]), flush=True)
    if not args.no_json:
        log(f"results in {write_results(results, vars(args))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
