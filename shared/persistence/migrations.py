"""Apply a service's Alembic migrations programmatically (on start, or from a Job)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData, pool

from shared.persistence.engine import create_database_engine, normalise_url


def upgrade_to_head(migrations_dir: Path, database_url: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.set_main_option("sqlalchemy.url", normalise_url(database_url).replace("%", "%%"))
    config.attributes["configure_logger"] = False
    command.upgrade(config, "head")


def run_alembic_environment(metadata: MetaData) -> None:
    """The body of every service's ``migrations/env.py``: run its migrations for ``metadata``.

    Online on a NullPool engine of the configured URL, or offline as SQL; batch mode
    everywhere, so the same scripts alter tables on SQLite.
    """
    from alembic import context  # only importable while Alembic runs an environment

    url = context.config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url must be set"
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=metadata, literal_binds=True,
                          render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_database_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
