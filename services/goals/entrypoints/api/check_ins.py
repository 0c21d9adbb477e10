"""``/v1/check-ins/batch``, and the answer a check-in gets (one check-in: ``key_results.py``)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from flask.views import MethodView

from services.goals.domain.errors import DomainError
from services.goals.domain.goals import CheckIn, KeyResult
from services.goals.entrypoints.api.access import goals, principal, problem_body, request_id
from services.goals.entrypoints.api.goal_schemas import (
    BatchCheckInSchema,
    BatchResultSchema,
    CheckInResultSchema,
)
from services.goals.service_layer import check_ins as cases
from shared.web.blueprints import Blueprint
from shared.web.dates import moment

check_in_batches = Blueprint("check_in_batches", __name__, url_prefix="/v1/check-ins",
                             description="Many check-ins in one request (automated systems).")

_RESULT = CheckInResultSchema()


def render(check_in: CheckIn, key_result: KeyResult) -> str:
    """The answer to a check-in: what ``CheckInResultSchema`` dumps, built directly.

    This is the hottest serialisation of the service (every check-in, and each item of a
    batch); the schema stays the documented shape and the test of this function holds the
    two byte-identical (:func:`render_with_schema`).
    """
    return json.dumps({
        "id": check_in.id,
        "key_result_id": check_in.key_result_id,
        "value": float(check_in.value),
        "confidence": _float(check_in.confidence),
        "note": check_in.note,
        "author": check_in.author,
        "source": check_in.source.value,
        "observed_at": moment(check_in.observed_at),
        "created_at": moment(check_in.created_at),
        "key_result": {
            "id": key_result.id,
            "objective_id": key_result.objective_id,
            "title": key_result.title,
            "measure": key_result.measure.value,
            "start": _float(key_result.start),
            "target": _float(key_result.target),
            "unit": key_result.unit,
            "weight": float(key_result.weight),
            "aggregation": key_result.aggregation.value,
            "current": float(key_result.current),
            "confidence": _float(key_result.confidence),
            "last_checkin_at": (None if key_result.last_checkin_at is None
                                else moment(key_result.last_checkin_at)),
            "observed_at": (None if key_result.observed_at is None
                            else moment(key_result.observed_at)),
            "version": int(key_result.version),
            "created_at": moment(key_result.created_at),
            "updated_at": moment(key_result.updated_at),
        },
    })


def render_with_schema(check_in: CheckIn, key_result: KeyResult) -> str:
    """The answer to a check-in as the schema dumps it: the reference for :func:`render`."""
    return json.dumps(_RESULT.dump({**vars(check_in), "key_result": key_result}))


def _float(value: float | None) -> float | None:
    return None if value is None else float(value)


def fingerprint(key_result_id: str, body: dict[str, Any]) -> str:
    canonical = json.dumps({"key_result_id": key_result_id, **body}, sort_keys=True,
                           default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@check_in_batches.route("/batch")
class CheckInBatch(MethodView):
    @check_in_batches.arguments(BatchCheckInSchema())
    @check_in_batches.response(200, BatchResultSchema)
    def post(self, body: dict[str, Any]) -> Any:
        """Apply up to 1,000 check-ins; each succeeds or fails on its own, with a result each"""
        requests = []
        for item in body["items"]:
            fields = dict(item)
            if fields.get("idempotency_key") is not None:  # only a replay compares it
                fields["fingerprint"] = fingerprint(fields["key_result_id"], {
                    k: v for k, v in fields.items()
                    if k not in ("key_result_id", "idempotency_key")})
            requests.append(cases.CheckInRequest(**fields))
        outcomes = cases.record_check_ins(goals().unit_of_work(request_id()), principal(),
                                          requests, render)
        results = []
        for index, outcome in enumerate(outcomes):
            if outcome.error is not None:
                results.append({"index": index, **_error(outcome.error)})
            else:
                assert outcome.body is not None
                results.append({"index": index, "status": 200 if outcome.replayed else 201,
                                "check_in": json.loads(outcome.body)})
        failed = sum(1 for outcome in outcomes if outcome.error is not None)
        return {"applied": len(outcomes) - failed, "failed": failed, "results": results}


def _error(error: DomainError) -> dict[str, Any]:
    status, document = problem_body(error)
    return {"status": status, "error": document}
