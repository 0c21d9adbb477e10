"""The service container of the request, and domain errors as problem documents."""

from __future__ import annotations

from flask import Flask, current_app

from services.notifications.bootstrap import Notifications
from services.notifications.domain.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    StaleVersion,
)
from shared.web import problems

_STATUS_OF: tuple[tuple[type[DomainError], int], ...] = (
    (InvalidInput, 422), (NotFound, 404), (Conflict, 409), (Forbidden, 403),
    (StaleVersion, 412),
)


def notifications() -> Notifications:
    container: Notifications = current_app.extensions["okr.notifications"]
    return container


def install_domain_errors(app: Flask) -> None:
    problems.install_domain_errors(app, DomainError, _STATUS_OF)
