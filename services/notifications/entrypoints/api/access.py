"""The service container of the request, and domain errors as problem documents."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

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
from services.notifications.domain.permissions import require_writing_role
from shared.web import problems
from shared.web.remote_auth import current_caller

View = TypeVar("View", bound=Callable[..., Any])

_STATUS_OF: tuple[tuple[type[DomainError], int], ...] = (
    (InvalidInput, 422), (NotFound, 404), (Conflict, 409), (Forbidden, 403),
    (StaleVersion, 412),
)


def notifications() -> Notifications:
    container: Notifications = current_app.extensions["okr.notifications"]
    return container


def install_domain_errors(app: Flask) -> None:
    problems.install_domain_errors(app, DomainError, _STATUS_OF)


def writers_only(view: View) -> View:
    """Refuse (403) a caller whose role may change nothing, before the body is read.

    Put it above ``arguments``: authorisation comes before validation, so a viewer's
    change with a bad body is a 403, not a 422 that would describe what we accept."""

    @functools.wraps(view)
    def checked(*args: Any, **kwargs: Any) -> Any:
        require_writing_role(current_caller())
        return view(*args, **kwargs)

    return checked  # type: ignore[return-value]
