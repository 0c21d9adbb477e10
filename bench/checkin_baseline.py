"""The baseline of the check-in benchmarks: the least a JSON-over-HTTP write can cost.

A tiny Flask app served by gunicorn with the same settings as the goals service: each
``POST /rows`` parses a JSON body and inserts one row with SQLAlchemy into a scratch table,
in its own transaction, through an engine built by the platform's own
``create_database_engine`` (same pool and pre-ping settings); ``POST /rows/batch`` inserts
the rows of ``items`` in one transaction (one ``executemany``). No authentication, no
validation, no outbox, no audit: what the goals service adds is what the ratio measures.

Served as ``bench.checkin_baseline:app`` with ``OKR_BENCH_DATABASE_URL`` set; the scratch
table is created by :func:`create_scratch_table` before the server starts.
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, request
from sqlalchemy import Column, Double, Engine, MetaData, String, Table, Text

from shared.persistence.engine import create_database_engine
from shared.persistence.types import UtcDateTime

metadata = MetaData()
rows = Table(
    "bench_baseline_rows",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("key_result_id", String(36), nullable=False),
    Column("value", Double, nullable=False),
    Column("note", Text, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)


def create_scratch_table(engine: Engine) -> None:
    metadata.create_all(engine)


def _row(item: dict[str, Any], key_result_id: str | None = None) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "key_result_id": key_result_id or item["key_result_id"],
            "value": float(item["value"]), "note": str(item.get("note", "")),
            "created_at": datetime.now(UTC)}


def create_app(database_url: str) -> Flask:
    engine = create_database_engine(database_url)
    app = Flask("bench-baseline")

    @app.get("/healthz")
    def healthz() -> Response:
        return Response('{"status": "ok"}', mimetype="application/json")

    @app.post("/rows/<string:key_result_id>")
    def insert_one(key_result_id: str) -> Response:
        row = _row(request.get_json(), key_result_id)
        with engine.begin() as connection:
            connection.execute(rows.insert().values(**row))
        return Response(json.dumps({"id": row["id"]}), status=201, mimetype="application/json")

    @app.post("/rows/batch")
    def insert_many() -> Response:
        items = [_row(item) for item in request.get_json()["items"]]
        with engine.begin() as connection:
            connection.execute(rows.insert(), items)
        return Response(json.dumps({"applied": len(items)}), mimetype="application/json")

    return app


app = create_app(os.environ["OKR_BENCH_DATABASE_URL"]) if "OKR_BENCH_DATABASE_URL" in \
    os.environ else None
