"""``/v1/rollups`` and ``/v1/rollups/{objective_id}``: roll-ups as the consumer computed them."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from services.metrics.adapters.rollup_queries import MAX_DEPTH, RollupFilter, RollupQueries
from shared.contract.keys import CYCLE_KEY, DEPARTMENT_KEY
from shared.web.aliases import deprecated_alias
from shared.web.blueprints import Blueprint, QueryInteger
from shared.web.csv_export import csv_doc, csv_response, wants_csv
from shared.web.dates import Timestamp
from shared.web.problems import abort_with_problem

STATUSES = ["on_track", "at_risk", "off_track", "no_data"]

rollups = Blueprint("rollups", __name__, url_prefix="/v1/rollups",
                    description="Roll-ups of objectives and collective targets.")


def queries() -> RollupQueries:
    found: RollupQueries = current_app.extensions["okr.metrics.queries"]
    return found


class RollupQuerySchema(Schema):
    cycle = fields.String(validate=validate.Regexp(CYCLE_KEY),
                          metadata={"description": "a cycle the metrics service knows (else 400)"})
    kind = fields.String(validate=validate.OneOf(["department", "collective"]))
    department = fields.String(validate=validate.Regexp(DEPARTMENT_KEY), metadata={
        "description": "owned or co-owned by this department; one the metrics service knows "
                       "(that owns an objective or takes part in a link; else 400)"})
    status = fields.List(fields.String(validate=validate.OneOf(
        STATUSES, error="unknown status {input!r}; one of {choices} (repeat the parameter "
                        "for several: status=at_risk&status=off_track)")), metadata={
        "description": "any of these statuses; repeat the parameter for several"})


class DepthSchema(Schema):
    depth = QueryInteger(load_default=1, validate=validate.Range(min=0, max=MAX_DEPTH),
                           metadata={"description": "levels of children to include"})


class DepartmentPartSchema(Schema):
    department = fields.String()
    share = fields.Float(metadata={
        "description": "its part of the gap (negative: ahead of plan); the parts add up to "
                       "the gap"})
    weight = fields.Float(metadata={"description": "its part of the roll-up's weight "
                                                   "(sums to 1)"})
    progress = fields.Float(allow_none=True, metadata={
        "description": "its own progress on its part (its inputs' weighted mean, 0..1)"})


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
    updated_at = Timestamp()
    gap = fields.Float(allow_none=True, metadata={
        "description": "expected progress - progress (positive: behind plan); null: no data "
                       "or no outlook kept yet"})
    gap_by_department = fields.List(fields.Nested(DepartmentPartSchema), metadata={
        "description": "each owning department's part, largest share of the gap first; "
                       "the same figures as /explain's gap_by_department (docs/explain.md)"})
    forecast = fields.Float(allow_none=True, metadata={
        "description": "attainment (1.0 = target, unclamped) at the cycle's end at the "
                       "current pace; null: too little history (never a made-up one)"})
    forecast_reached_on = fields.Date(allow_none=True, metadata={
        "description": "when the target would be reached at that pace, if within a year"})
    why = fields.String(allow_none=True, metadata={
        "description": "one or two lines on what holds the objective back; null: nothing"})


class TreeNodeSchema(Schema):
    """An objective or a key result in a roll-up tree: an objective node has the fields of
    a roll-up, a key result node those of a key result (``type`` says which)."""

    type = fields.String(validate=validate.OneOf(["objective", "key_result"]))
    # an objective's
    objective_id = fields.String(metadata={"description": "a key result's: its objective"})
    title = fields.String()
    cycle = fields.String()
    kind = fields.String(validate=validate.OneOf(["department", "collective"]))
    departments = fields.List(fields.String())
    archived = fields.Boolean()
    expected_progress = fields.Float(allow_none=True)
    status = fields.String(validate=validate.OneOf(STATUSES))
    updated_at = Timestamp()
    # a key result's
    key_result_id = fields.String()
    measure = fields.String()
    aggregation = fields.String()
    unit = fields.String()
    start = fields.Float()
    target = fields.Float()
    weight = fields.Float(metadata={"description": "the key result's weight in its objective"})
    current = fields.Float(allow_none=True, metadata={
        "description": "the current value in its unit (as the goals service names it); "
                       "null: no data"})
    value = deprecated_alias(fields.Float, "current", allow_none=True)
    last_checkin_at = Timestamp(allow_none=True)
    # both
    progress = fields.Float(allow_none=True)
    attainment = fields.Float(allow_none=True)
    confidence = fields.Float(allow_none=True)
    contribution_weight = fields.Float(allow_none=True, metadata={
        "description": "the weight of the edge to its parent; null for an objective's own "
                       "key results"})
    children = fields.List(fields.Nested(lambda: TreeNodeSchema()))


class LinkedItemSchema(Schema):
    type = fields.String()
    id = fields.String()
    known = fields.Boolean(metadata={"description": "false: not (yet) in the read model"})
    title = fields.String(allow_none=True)
    progress = fields.Float(allow_none=True)
    status = fields.String(metadata={"description": "a key result's is its objective's"})
    archived = fields.Boolean(metadata={
        "description": "the objective (a key result's: its objective) is archived"})


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


class RollupTreeSchema(RollupSchema):
    children = fields.List(fields.Nested(TreeNodeSchema), metadata={
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
        """List roll-ups of objectives by id; filter by cycle, kind, department, status"""
        where = RollupFilter(cycle=query.get("cycle"), kind=query.get("kind"),
                             department=query.get("department"),
                             statuses=tuple(query.get("status", ())))
        unknown = queries().unknown_references(where)
        if unknown:
            abort_with_problem(400, "; ".join(unknown.values()) + ".",
                               errors={"query": {name: [why] for name, why in unknown.items()}})
        if wants_csv():
            def fetch(offset: int, limit: int) -> tuple[list[dict[str, Any]], int]:
                return queries().search(where, offset, limit)

            return csv_response(RollupSchema(), fetch, pagination_parameters, "rollups",
                                key="objective_id")
        items, total = queries().search(where, pagination_parameters.first_item,
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
