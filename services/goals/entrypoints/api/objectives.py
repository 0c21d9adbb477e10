"""``/v1/objectives``, ``/v1/objectives/{id}/key-results`` (an objective's key results)."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.views import MethodView

from services.goals.entrypoints.api.access import (
    expected_version,
    goals,
    principal,
    refuse_unknown_references,
    request_id,
    with_etag,
)
from services.goals.entrypoints.api.goal_schemas import (
    KeyResultSchema,
    ObjectiveQuerySchema,
    ObjectiveSchema,
    ObjectiveUpdateSchema,
)
from services.goals.entrypoints.api.idempotency import created, documented
from services.goals.service_layer import objectives as cases
from services.goals.service_layer.repositories import ObjectiveFilter
from shared.web.blueprints import Blueprint
from shared.web.concurrency import MISSING_IF_MATCH, STALE
from shared.web.csv_export import csv_doc, csv_response, wants_csv

objectives = Blueprint("objectives", __name__, url_prefix="/v1/objectives",
                       description="Department objectives and collective targets.")
_OBJECTIVE, _KEY_RESULT = ObjectiveSchema(), KeyResultSchema()



@objectives.route("")
class Objectives(MethodView):
    @objectives.arguments(ObjectiveQuerySchema, location="query")
    @objectives.response(200, ObjectiveSchema(many=True))
    @objectives.paginate()
    def get(self, query: dict[str, Any], pagination_parameters: Any) -> Any:
        """List objectives, oldest first; filter by cycle, department, kind, owner, status"""
        with goals().reading() as uow:
            refuse_unknown_references(uow, department=query.get("department"),
                                      cycle=query.get("cycle"))
            items, total = uow.objectives.search(ObjectiveFilter(**query),
                                               pagination_parameters.first_item,
                                               pagination_parameters.page_size)
        pagination_parameters.item_count = total
        return items

    @objectives.arguments(ObjectiveSchema)
    @objectives.response(201, ObjectiveSchema)
    @documented(objectives, ObjectiveSchema)
    def post(self, body: dict[str, Any]) -> Response:
        """Create an objective (collective targets: admin; department objectives: its head)"""
        return created(body, lambda uow: cases.create_objective(uow, principal(), **body),
                       _OBJECTIVE, lambda made: {"ETag": f'"{made["version"]}"',
                                                 "Location": f"/v1/objectives/{made['id']}"})


@objectives.route("/<string:objective_id>")
class ObjectiveItem(MethodView):
    @objectives.response(200, ObjectiveSchema)
    def get(self, objective_id: str) -> Any:
        """Read one objective"""
        with goals().reading() as uow:
            objective = cases.load_objective(uow, objective_id)
        return with_etag(objective, objective.version)

    @objectives.arguments(ObjectiveUpdateSchema)
    @objectives.response(200, ObjectiveSchema)
    @objectives.alt_response(412, description=STALE)
    @objectives.alt_response(428, description=MISSING_IF_MATCH)
    def patch(self, body: dict[str, Any], objective_id: str) -> Any:
        """Change title, description, owner or status (active/archived); needs If-Match"""
        objective = cases.change_objective(goals().unit_of_work(request_id()), principal(),
                                           objective_id, cases.ObjectiveChanges(**body),
                                           expected_version())
        return with_etag(objective, objective.version)

    @objectives.response(204)
    @objectives.alt_response(412, description=STALE)
    @objectives.alt_response(428, description=MISSING_IF_MATCH)
    def delete(self, objective_id: str) -> None:
        """Delete an objective, its key results, and the contributions and links touching them"""
        cases.delete_objective(goals().unit_of_work(request_id()), principal(), objective_id,
                               expected_version())


@objectives.route("/<string:objective_id>/key-results")
class ObjectiveKeyResults(MethodView):
    @objectives.response(200, KeyResultSchema(many=True))
    @objectives.paginate()
    @objectives.doc(**csv_doc("the objective's key results, oldest first."))
    def get(self, objective_id: str, pagination_parameters: Any) -> Any:
        """List an objective's key results"""
        if wants_csv():
            with goals().reading() as uow:
                cases.load_objective(uow, objective_id)

            def fetch(offset: int, limit: int) -> tuple[list[Any], int]:
                with goals().reading() as uow:
                    return uow.key_results.list_for_objective(objective_id, offset, limit)

            return csv_response(KeyResultSchema(), fetch, pagination_parameters,
                                f"key-results-{objective_id}")
        with goals().reading() as uow:
            cases.load_objective(uow, objective_id)
            items, total = uow.key_results.list_for_objective(
                objective_id, pagination_parameters.first_item, pagination_parameters.page_size)
        pagination_parameters.item_count = total
        return items

    @objectives.arguments(KeyResultSchema)
    @objectives.response(201, KeyResultSchema)
    @documented(objectives, KeyResultSchema)
    def post(self, body: dict[str, Any], objective_id: str) -> Response:
        """Add a key result: increase or decrease from start to target in a unit, or boolean"""
        return created(body, lambda uow: cases.add_key_result(
                           uow, principal(), objective_id, cases.KeyResultDefinition(**body)),
                       _KEY_RESULT, lambda made: {"ETag": f'"{made["version"]}"',
                                                  "Location": f"/v1/key-results/{made['id']}"})
