"""The metrics read model: goal items with their versions and computed roll-up figures.

Each objective and key result row holds the item's definition (what the graph is rebuilt
from on start) and the figures computed for it (what the API and ``/metrics`` serve), so
one row is written per changed item. ``removed_items`` keeps the version each item was
removed at, so a late, older event cannot bring it back after a restart either.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from shared.persistence.tables import NAMING_CONVENTION, add_plumbing_tables
from shared.persistence.types import UtcDateTime

metadata = MetaData(naming_convention=NAMING_CONVENTION)
plumbing = add_plumbing_tables(metadata)

cycles = Table(
    "cycles", metadata,
    Column("key", String(40), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("starts_on", Date, nullable=False),
    Column("ends_on", Date, nullable=False),
)

objectives = Table(
    "objectives", metadata,
    Column("id", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("cycle", String(40), nullable=False),
    Column("kind", String(20), nullable=False),
    # owning departments, sorted and joined by "+" (the metric label's form)
    Column("departments", String(400), nullable=False),
    Column("title", String(200), nullable=False),
    Column("owner", String(100), nullable=False, server_default=""),
    Column("archived", Boolean, nullable=False),
    # computed; NULL: no data
    Column("progress", Float, nullable=True),
    Column("attainment", Float, nullable=True),
    Column("confidence", Float, nullable=True),
    Column("status", String(20), nullable=True),
    Column("updated_at", UtcDateTime(), nullable=False),
    # what the objective's outlook (departments' parts of the gap, forecast, why) is told
    # from at any moment, as JSON (adapters/kept_outlooks.py); NULL: not kept yet
    Column("outlook", Text, nullable=True),
    Column("written", BigInteger, nullable=True),  # see read_model_writes; NULL: before it
)
Index("ix_objectives_cycle_kind", objectives.c.cycle, objectives.c.kind)

key_results = Table(
    "key_results", metadata,
    Column("id", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("objective_id", String(64), nullable=False),
    Column("title", String(200), nullable=False),
    Column("measure", String(20), nullable=False),
    Column("aggregation", String(20), nullable=False),
    Column("start", Float, nullable=False),
    Column("target", Float, nullable=False),
    Column("unit", String(20), nullable=False),
    Column("weight", Float, nullable=False),
    Column("checked_in", Float, nullable=True),  # the latest checked-in value, if any
    Column("given_confidence", Float, nullable=True),
    Column("last_checkin_at", Float, nullable=True),  # POSIX seconds
    # the latest check-ins, oldest first, as JSON [[POSIX seconds, value], ...]: the
    # window the key result's pace is fitted to (domain/forecast.py); NULL: none
    Column("check_ins", Text, nullable=True),
    Column("pace", Float, nullable=True),  # least-squares value per second over check_ins
    # computed
    Column("value", Float, nullable=True),
    Column("progress", Float, nullable=True),
    Column("attainment", Float, nullable=True),
    Column("confidence", Float, nullable=True),
    Column("written", BigInteger, nullable=True),  # see read_model_writes; NULL: before it
)
Index("ix_key_results_objective_id", key_results.c.objective_id)

contributions = Table(
    "contributions", metadata,
    Column("id", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("child_type", String(20), nullable=False),
    Column("child_id", String(64), nullable=False),
    Column("parent_type", String(20), nullable=False),
    Column("parent_id", String(64), nullable=False),
    Column("weight", Float, nullable=False),
)
Index("ix_contributions_parent_id", contributions.c.parent_id)
Index("ix_contributions_child_id", contributions.c.child_id)

links = Table(
    "links", metadata,
    Column("id", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("kind", String(40), nullable=False),
    Column("from_type", String(20), nullable=False),
    Column("from_id", String(64), nullable=False),
    Column("from_department", String(40), nullable=False),
    Column("to_type", String(20), nullable=False),
    Column("to_id", String(64), nullable=False),
    Column("to_department", String(40), nullable=False),
)
Index("ix_links_from_id", links.c.from_id)
Index("ix_links_to_id", links.c.to_id)

removed_items = Table(
    "removed_items", metadata,
    Column("item_type", String(20), primary_key=True),
    Column("item_id", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
)

# check-ins applied, per owning department (one row each for a shared target's owners)
# and cycle
checkin_counters = Table(
    "checkin_counters", metadata,
    Column("department", String(40), primary_key=True),
    Column("cycle", String(40), primary_key=True),
    Column("count", BigInteger, nullable=False),
)

# One row: the serial of the latest write of objectives and key results. Each write takes
# the next serial (an upsert of this row, which holds the row's lock until the write
# commits, so serials follow the order of the commits) and stamps the rows it writes with
# it (``written``): what ``/metrics`` reads to render again only the rows written since
# its last scrape.
read_model_writes = Table(
    "read_model_writes", metadata,
    Column("id", Integer, primary_key=True),
    Column("serial", BigInteger, nullable=False),
)

# One row a rebuild: ``finished_at`` empty while it runs, and for good if it stopped midway,
# leaving a partial read model that no consumer should start on (``okr-metrics consume``
# waits until a rebuild run again has finished).
rebuilds = Table(
    "rebuilds", metadata,
    Column("id", Integer, primary_key=True),
    Column("started_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime, nullable=True),
)

READ_MODEL_TABLES = (cycles, objectives, key_results, contributions, links, removed_items,
                     checkin_counters)
"""The tables a rebuild empties and refills (the outbox and processed events are not)."""
