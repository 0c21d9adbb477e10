"""Apply a service's Alembic migrations programmatically (on start, or from a Job)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from shared.persistence.engine import normalise_url


def upgrade_to_head(migrations_dir: Path, database_url: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.set_main_option("sqlalchemy.url", normalise_url(database_url).replace("%", "%%"))
    config.attributes["configure_logger"] = False
    command.upgrade(config, "head")
