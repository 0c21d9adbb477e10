"""``/v1/key-results`` (key results across objectives: a department's, the stale ones),
``/v1/key-results/{id}`` and ``/v1/key-results/{id}/check-ins`` (check in; the history).

An objective's key results are listed and added under the objective (``objectives.py``);
many check-ins at once, and the answer a check-in gets: ``check_ins.py``.
"""

from __future__ import annotations

from typing import Any

from flask import Response, request
from flask.views import MethodView

from services.goals.domain.errors import NotFound
from services.goals.entrypoints.api.access import (
    expected_version,
    goals,
    principal,
    refuse_unknown_references,
    request_id,
    with_etag,
)
from services.goals.entrypoints.api.check_ins import fingerprint, render
from services.goals.entrypoints.api.goal_schemas import (
    CheckInResultSchema,
    CheckInSchema,
    KeyResultQuerySchema,
    KeyResultSchema,
    KeyResultUpdateSchema,
)
from services.goals.entrypoints.api.idempotency import (
    HEADER_PARAMETER,
    IDEMPOTENCY_HEADER,
    REPLAY_DESCRIPTION,
    answer,
)
from services.goals.service_layer import check_ins as check_in_cases
from services.goals.service_layer import objectives as cases
from services.goals.service_layer.idempotency import Answer
from services.goals.service_layer.lookups import load_key_result
from services.goals.service_layer.repositories import KeyResultFilter
from shared.web.blueprints import Blueprint
from shared.web.concurrency import MISSING_IF_MATCH, STALE
from shared.web.csv_export import csv_doc, csv_response, wants_csv
from shared.web.problems import abort_with_problem

key_results = Blueprint("key_results", __name__, url_prefix="/v1/key-results",
                        description="Measurable key results of an objective.")


@key_results.route("")
class KeyResults(MethodView):
    @key_results.arguments(KeyResultQuerySchema, location="query")
    @key_results.response(200, KeyResultSchema(many=True))
    @key_results.paginate()
    def get(self, query: dict[str, Any], pagination_parameters: Any) -> Any:
        """List key results, least recently checked in first (never: before any), then by
        id; filter by their objective's cycle and department, and stale_before"""
        with goals().reading() as uow:
            refuse_unknown_references(uow, department=query.get("department"),
                                      cycle=query.get("cycle"))
            items, total = uow.key_results.search(KeyResultFilter(**query),
                                                  pagination_parameters.first_item,
                                                  pagination_parameters.page_size)
        pagination_parameters.item_count = total
        return items


@key_results.route("/<string:key_result_id>")
class KeyResultItem(MethodView):
    @key_results.response(200, KeyResultSchema)
    def get(self, key_result_id: str) -> Any:
        """Read one key result, with its current value and latest confidence"""
        with goals().reading() as uow:
            key_result = uow.key_results.get(key_result_id)
        if key_result is None:
            raise NotFound(f"key result {key_result_id!r} does not exist")
        return with_etag(key_result, key_result.version)

    @key_results.arguments(KeyResultUpdateSchema)
    @key_results.response(200, KeyResultSchema)
    @key_results.alt_response(412, description=STALE)
    @key_results.alt_response(428, description=MISSING_IF_MATCH)
    @key_results.alt_response(409, description="the new unit would break a sum it feeds or "
                              "takes; remove that contribution first")
    def patch(self, body: dict[str, Any], key_result_id: str) -> Any:
        """Change title, start, target, unit or weight; needs If-Match"""
        key_result = cases.change_key_result(goals().unit_of_work(request_id()), principal(),
                                             key_result_id, cases.KeyResultChanges(**body),
                                             expected_version())
        return with_etag(key_result, key_result.version)

    @key_results.response(204)
    @key_results.alt_response(412, description=STALE)
    @key_results.alt_response(428, description=MISSING_IF_MATCH)
    def delete(self, key_result_id: str) -> None:
        """Delete a key result with its check-ins, contributions and links"""
        cases.delete_key_result(goals().unit_of_work(request_id()), principal(), key_result_id,
                                expected_version())


@key_results.route("/<string:key_result_id>/check-ins")
class KeyResultCheckIns(MethodView):
    @key_results.response(200, CheckInSchema(many=True))
    @key_results.paginate()
    @key_results.doc(**csv_doc("the key result's check-ins, newest first."))
    def get(self, key_result_id: str, pagination_parameters: Any) -> Any:
        """A key result's check-in history, newest first"""
        if wants_csv():
            with goals().reading() as uow:
                load_key_result(uow, key_result_id)

            def fetch(offset: int, limit: int) -> tuple[list[Any], int]:
                with goals().reading() as uow:
                    return uow.check_ins.history(key_result_id, offset, limit)

            return csv_response(CheckInSchema(), fetch, pagination_parameters,
                                f"check-ins-{key_result_id}")
        with goals().reading() as uow:
            load_key_result(uow, key_result_id)
            items, total = uow.check_ins.history(key_result_id, pagination_parameters.first_item,
                                                 pagination_parameters.page_size)
        pagination_parameters.item_count = total
        return items

    @key_results.arguments(CheckInSchema())  # an instance: webargs builds none per request
    @key_results.response(201, CheckInResultSchema)
    @key_results.alt_response(200, schema=CheckInResultSchema, success=True,
                              description=REPLAY_DESCRIPTION)
    @key_results.alt_response(409, description="the key result sums its contributors")
    @key_results.doc(parameters=[HEADER_PARAMETER])
    def post(self, body: dict[str, Any], key_result_id: str) -> Response:
        """Check in a new value, with confidence (0..1) and a note"""
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if key is not None and not 1 <= len(key.strip()) <= 200:
            abort_with_problem(400, f"{IDEMPOTENCY_HEADER} must be 1 to 200 characters")
        outcome = check_in_cases.record_check_in(
            goals().unit_of_work(request_id()), principal(),
            check_in_cases.CheckInRequest(key_result_id=key_result_id, idempotency_key=key,
                                 fingerprint="" if key is None else
                                 fingerprint(key_result_id, body), **body),
            render)
        assert outcome.body is not None
        return answer(Answer(201, outcome.body, outcome.replayed))
