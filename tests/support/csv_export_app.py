"""A service app with one CSV list, for the tests of whole-set CSV streams: endless (a
client that stops reading holds its stream), or failing when the batch at row ``fail_at``
is read. ``app`` is the one gunicorn serves: its limit from ``OKR_CSV_EXPORT_STREAMS``,
its failure from ``OKR_TEST_CSV_FAIL_AT``."""

from __future__ import annotations

import os
from types import SimpleNamespace

from flask import Flask, Response, request
from marshmallow import Schema, fields

from shared.web.csv_export import (
    EXTENSION,
    CsvExportLimits,
    ExportSlots,
    csv_response,
    install_csv_exports,
)
from shared.web.shell import create_service_app


class Item(Schema):
    id = fields.String()
    note = fields.String()


def export_app(limits: CsvExportLimits | None = None,
               fail_at: int | None = None) -> tuple[Flask, ExportSlots]:
    """The app and its slots (``limits``: else as the environment says)."""
    app, _ = create_service_app("csv-test", title="t", description="d", readiness_checks={})
    slots = install_csv_exports(app, limits) if limits else app.extensions[EXTENSION]

    def fetch(offset: int, limit: int) -> tuple[list[dict[str, str]], int]:
        if fail_at is not None and offset >= fail_at:
            raise OSError("the database went away")
        return [{"id": f"{offset + n}", "note": "x" * 200} for n in range(limit)], 10**9

    @app.get("/v1/items")
    def items() -> Response:
        page = int(request.args.get("page", 1))
        size = int(request.args.get("page_size", 10))
        pagination = SimpleNamespace(page=page, page_size=size, first_item=(page - 1) * size,
                                     item_count=None)
        return csv_response(Item(), fetch, pagination, "items")

    return app, slots


_fail_at = os.environ.get("OKR_TEST_CSV_FAIL_AT")
app, _ = export_app(fail_at=int(_fail_at) if _fail_at else None)
