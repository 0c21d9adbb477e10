"""The service container of the request, and domain errors as problem documents."""

from __future__ import annotations

import json

from flask import Flask, Response, current_app

from services.notifications.bootstrap import Notifications
from services.notifications.domain.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    StaleVersion,
)
from shared.web.problems import PROBLEM_CONTENT_TYPE, problem_document

_STATUS_OF: tuple[tuple[type[DomainError], int], ...] = (
    (InvalidInput, 422), (NotFound, 404), (Conflict, 409), (Forbidden, 403),
    (StaleVersion, 412),
)


def notifications() -> Notifications:
    container: Notifications = current_app.extensions["okr.notifications"]
    return container


def install_domain_errors(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain_error(error: DomainError) -> Response:
        status = next((code for kind, code in _STATUS_OF if isinstance(error, kind)), 400)
        extra = {}
        if isinstance(error, InvalidInput) and error.field:
            extra["errors"] = {error.field: [str(error)]}
        document = problem_document(status, str(error), **extra)
        return Response(json.dumps(document), status=status, mimetype=PROBLEM_CONTENT_TYPE)
