"""Readiness checks for ``/readyz``: each returns None when fine, or why it is not.

Each takes a provider rather than the object itself, so the check follows the service
container the app holds at the time of the request.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from shared.config import KafkaSettings
from shared.messaging.kafka_clients import broker_reachable
from shared.web.shell import ReadinessCheck


def database_check(engine_of: Callable[[], Engine]) -> ReadinessCheck:
    def check() -> str | None:
        try:
            with engine_of().connect() as connection:
                connection.execute(text("SELECT 1"))
        except SQLAlchemyError as error:
            return f"database unreachable ({type(error).__name__})"
        return None

    return check


def broker_check(settings_of: Callable[[], KafkaSettings]) -> ReadinessCheck:
    def check() -> str | None:
        settings = settings_of()
        if broker_reachable(settings):
            return None
        return f"no Kafka broker reachable at {settings.bootstrap_servers}"

    return check
