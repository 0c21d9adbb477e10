"""``/v1/departments`` and ``/v1/cycles``: the reference data goals hang off."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.views import MethodView

from services.goals.domain.errors import NotFound
from services.goals.entrypoints.api.access import (
    expected_version,
    goals,
    principal,
    request_id,
    with_etag,
)
from services.goals.entrypoints.api.idempotency import created, documented
from services.goals.entrypoints.api.reference_data_schemas import (
    CycleQuerySchema,
    CycleSchema,
    CycleUpdateSchema,
    DepartmentSchema,
    DepartmentUpdateSchema,
)
from services.goals.service_layer import reference_data
from shared.observability.logging import log_context
from shared.web.blueprints import Blueprint

departments = Blueprint("departments", __name__, url_prefix="/v1/departments",
                        description="Departments own objectives; four exist from the start.")
cycles = Blueprint("cycles", __name__, url_prefix="/v1/cycles",
                   description="Cycles (quarters) that objectives are planned in.")
_DEPARTMENT, _CYCLE = DepartmentSchema(), CycleSchema()


@departments.route("")
class Departments(MethodView):
    @departments.response(200, DepartmentSchema(many=True))
    @departments.paginate()
    def get(self, pagination_parameters: Any) -> Any:
        """List departments, by key"""
        with goals().reading() as uow:
            items, total = uow.departments.list(pagination_parameters.first_item,
                                                pagination_parameters.page_size)
        pagination_parameters.item_count = total
        return items

    @departments.arguments(DepartmentSchema)
    @departments.response(201, DepartmentSchema)
    @departments.alt_response(409, description="A department with that key exists")
    @documented(departments, DepartmentSchema)
    def post(self, body: dict[str, Any]) -> Response:
        """Create a department (admin)"""
        with log_context(item=body["key"]):
            return created(body, lambda uow: reference_data.create_department(
                               uow, principal(), body["key"], body["name"]),
                           _DEPARTMENT, lambda made: {
                               "ETag": f'"{made["version"]}"',
                               "Location": f"/v1/departments/{made['key']}"})


@departments.route("/<string:key>")
class DepartmentItem(MethodView):
    @departments.response(200, DepartmentSchema)
    def get(self, key: str) -> Any:
        """Read one department"""
        with goals().reading() as uow:
            department = uow.departments.get(key)
        if department is None:
            raise NotFound(f"department {key!r} does not exist")
        return with_etag(department, department.version)

    @departments.arguments(DepartmentUpdateSchema)
    @departments.response(200, DepartmentSchema)
    @departments.alt_response(412, description="If-Match names an older version")
    @departments.alt_response(428, description="If-Match is missing")
    def patch(self, body: dict[str, Any], key: str) -> Any:
        """Rename a department (admin); needs If-Match"""
        department = reference_data.rename_department(
            goals().unit_of_work(request_id()), principal(), key, body["name"],
            expected_version())
        return with_etag(department, department.version)


@cycles.route("")
class Cycles(MethodView):
    @cycles.arguments(CycleQuerySchema, location="query")
    @cycles.response(200, CycleSchema(many=True))
    @cycles.paginate()
    def get(self, query: dict[str, Any], pagination_parameters: Any) -> Any:
        """List cycles, newest first"""
        with goals().reading() as uow:
            items, total = uow.cycles.list(pagination_parameters.first_item,
                                           pagination_parameters.page_size,
                                           active_on=query.get("active_on"))
        pagination_parameters.item_count = total
        return items

    @cycles.arguments(CycleSchema)
    @cycles.response(201, CycleSchema)
    @cycles.alt_response(409, description="A cycle with that key exists")
    @documented(cycles, CycleSchema)
    def post(self, body: dict[str, Any]) -> Response:
        """Create a cycle (admin)"""
        return created(body, lambda uow: reference_data.create_cycle(
                           uow, principal(), body["key"], body["starts_on"], body["ends_on"],
                           body.get("name")),
                       _CYCLE, lambda made: {"ETag": f'"{made["version"]}"',
                                             "Location": f"/v1/cycles/{made['key']}"})


@cycles.route("/<string:key>")
class CycleItem(MethodView):
    @cycles.response(200, CycleSchema)
    def get(self, key: str) -> Any:
        """Read one cycle"""
        with goals().reading() as uow:
            cycle = uow.cycles.get(key)
        if cycle is None:
            raise NotFound(f"cycle {key!r} does not exist")
        return with_etag(cycle, cycle.version)

    @cycles.arguments(CycleUpdateSchema)
    @cycles.response(200, CycleSchema)
    @cycles.alt_response(412, description="If-Match names an older version")
    @cycles.alt_response(428, description="If-Match is missing")
    def patch(self, body: dict[str, Any], key: str) -> Any:
        """Change a cycle's name or dates (admin); needs If-Match"""
        cycle = reference_data.change_cycle(
            goals().unit_of_work(request_id()), principal(), key, name=body.get("name"),
            starts_on=body.get("starts_on"), ends_on=body.get("ends_on"),
            expected_version=expected_version())
        return with_etag(cycle, cycle.version)
