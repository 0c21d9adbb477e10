"""``/v1/rollups`` and ``/v1/rollups/{objective_id}``: roll-ups as the consumer computed them."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from services.metrics.adapters.rollup_queries import MAX_DEPTH, RollupFilter, RollupQueries
from shared.web.blueprints import Blueprint
from shared.web.csv_export import csv_doc, csv_response, wants_csv
from shared.web.problems import abort_with_problem

DEPARTMENT_KEY = r"^[a-z][a-z0-9-]{1,39}$"
CYCLE_KEY = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$"
STATUSES = ["on_track", "at_risk", "off_track", "no_data"]

rollups = Blueprint("rollups", __name__, url_prefix="/v1/rollups",
                    description="Roll-ups of objectives and collective targets.")


def queries() -> RollupQueries:
    found: RollupQueries = current_app.extensions["okr.metrics.queries"]
    return found


class RollupQuerySchema(Schema):
    cycle = fields.String(validate=validate.Regexp(CYCLE_KEY))
    kind = fields.String(validate=validate.OneOf(["department", "collective"]))
    department = fields.String(validate=validate.Regexp(DEPARTMENT_KEY))


class DepthSchema(Schema):
    depth = fields.Integer(load_default=1, validate=validate.Range(min=0, max=MAX_DEPTH),
                           metadata={"description": "levels of children to include"})


class RollupSchema(Schema):
    type = fields.String(metadata={"description": "objective"})
    objective_id = fields.String()
    title = fields.String()
    cycle = fields.String()
    kind = fields.String(validate=validate.OneOf(["department", "collective"]))
    departments = fields.List(fields.String())
    archived = fields.Boolean()
    progress = fields.Float(allow_none=True, metadata={"description": "0..1, null: no data"})
    attainment = fields.Float(allow_none=True, metadata={
        "description": "unclamped (1.5 is 150 %), within -1e9..1e9; null: no data"})
    expected_progress = fields.Float(allow_none=True,
                                     metadata={"description": "share of the cycle elapsed"})
    status = fields.String(validate=validate.OneOf(STATUSES))
    confidence = fields.Float(allow_none=True)
    updated_at = fields.DateTime()


class LinkedItemSchema(Schema):
    type = fields.String()
    id = fields.String()
    known = fields.Boolean(metadata={"description": "false: not (yet) in the read model"})
    title = fields.String(allow_none=True)
    progress = fields.Float(allow_none=True)
    status = fields.String(metadata={"description": "a key result's is its objective's"})


class LinkViewSchema(Schema):
    id = fields.String()
    kind = fields.String()
    direction = fields.String(validate=validate.OneOf(["outgoing", "incoming"]))
    from_type = fields.String()
    from_id = fields.String()
    from_department = fields.String()
    to_type = fields.String()
    to_id = fields.String()
    to_department = fields.String()
    linked_item = fields.Nested(LinkedItemSchema)


class TreeNodeSchema(Schema):
    """An objective or key result in a roll-up tree (fields by ``type``)."""

    class Meta:
        unknown = "include"

    type = fields.String(validate=validate.OneOf(["objective", "key_result"]))
    contribution_weight = fields.Float(allow_none=True)
    children = fields.List(fields.Dict())


class RollupTreeSchema(RollupSchema):
    children = fields.List(fields.Dict(), metadata={
        "description": "key results and contributing items, each with its own children"})
    links = fields.List(fields.Nested(LinkViewSchema), metadata={
        "description": "links of the subtree to other departments"})


@rollups.route("")
class Rollups(MethodView):
    @rollups.arguments(RollupQuerySchema, location="query")
    @rollups.response(200, RollupSchema(many=True))
    @rollups.paginate()
    @rollups.doc(**csv_doc("the roll-ups, one per objective."))
    def get(self, query: dict[str, Any], pagination_parameters: Any) -> Any:
        """List roll-ups of objectives by id; filter by cycle, kind, department"""
        if wants_csv():
            def fetch(offset: int, limit: int) -> tuple[list[dict[str, Any]], int]:
                return queries().search(RollupFilter(**query), offset, limit)

            return csv_response(RollupSchema(), fetch, pagination_parameters, "rollups",
                                key="objective_id")
        items, total = queries().search(RollupFilter(**query), pagination_parameters.first_item,
                                        pagination_parameters.page_size)
        pagination_parameters.item_count = total
        return items


@rollups.route("/<string:objective_id>")
class RollupItem(MethodView):
    @rollups.arguments(DepthSchema, location="query")
    @rollups.response(200, RollupTreeSchema)
    @rollups.alt_response(404, description="no such objective in the read model")
    def get(self, query: dict[str, Any], objective_id: str) -> Any:
        """One objective's roll-up, its children to ``depth`` and the links of its subtree"""
        tree = queries().tree(objective_id, query["depth"])
        if tree is None:
            abort_with_problem(404, f"objective {objective_id} is not in the read model")
        return tree
