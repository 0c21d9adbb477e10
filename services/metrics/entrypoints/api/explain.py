"""``/v1/rollups/{objective_id}/explain``: what holds an objective back (docs/explain.md)."""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify
from flask.views import MethodView
from marshmallow import Schema, fields

from services.metrics.adapters.explain_queries import ExplainQueries
from services.metrics.adapters.rollup_queries import moment
from services.metrics.domain.explain import Explanation, LinkEnd
from services.metrics.domain.forecast import MIN_CHECK_INS, MIN_SPAN_SECONDS, WINDOW
from services.metrics.domain.progress import reported, settled
from shared.web.blueprints import Blueprint
from shared.web.dates import Timestamp
from shared.web.problems import abort_with_problem

DAY = 86_400.0
ESTIMATOR = ("each key result's least-squares pace over its latest check-ins, else its "
             "cycle-to-date pace, rolled up by the roll-up's weights (docs/explain.md)")

explanations = Blueprint("explanations", __name__, url_prefix="/v1/rollups",
                         description="Why an objective is where it is: gap, forecast, "
                                     "dependencies.")


def explain_queries() -> ExplainQueries:
    found: ExplainQueries = current_app.extensions["okr.metrics.explain"]
    return found


class InputShareSchema(Schema):
    type = fields.String(metadata={"description": "objective or key_result"})
    id = fields.String()
    title = fields.String()
    department = fields.String(metadata={"description": "owning departments joined by '+'"})
    weight = fields.Float(metadata={"description": "its weight in the roll-up"})
    progress = fields.Float(allow_none=True)
    share = fields.Float(allow_none=True, metadata={
        "description": "its part of the gap (negative: ahead of plan); null: not counted"})


class DepartmentShareSchema(Schema):
    department = fields.String()
    share = fields.Float(metadata={"description": "part of the gap; the parts add up to it"})
    weight = fields.Float(metadata={"description": "part of the roll-up's weight (sums to 1)"})
    progress = fields.Float(allow_none=True, metadata={
        "description": "its own progress on its part (its inputs' weighted mean, 0..1)"})


class DepartmentAmountSchema(Schema):
    department = fields.String()
    amount = fields.Float()
    expected_amount = fields.Float(allow_none=True, metadata={
        "description": "pro-rata share of the expected amount"})


class SumSchema(Schema):
    key_result_id = fields.String()
    title = fields.String()
    value = fields.Float(allow_none=True)
    expected_amount = fields.Float(allow_none=True)
    departments = fields.List(fields.Nested(DepartmentAmountSchema))


class ForecastSchema(Schema):
    attainment = fields.Float(allow_none=True, metadata={
        "description": "attainment (1.0 = target, unclamped) at the cycle's end at the "
                       "current pace; null: too little history"})
    reached_on = fields.Date(allow_none=True, metadata={
        "description": "when the target would be reached at that pace, if within a year"})
    pace_per_day = fields.Float(allow_none=True, metadata={
        "description": "attainment gained per day at the current pace"})
    estimator = fields.String()
    key_results_by_estimator = fields.Dict(
        keys=fields.String(), values=fields.Integer(), metadata={
            "description": "key results of the subtree by how their pace was told: "
                           "least_squares, cycle_to_date, as_it_stands (yes/no), none"})
    window = fields.Integer(metadata={"description": "latest check-ins per key result"})
    min_check_ins = fields.Integer()
    min_span_days = fields.Float()


class DependencySchema(Schema):
    link_id = fields.String()
    kind = fields.String()
    direction = fields.String()
    from_type = fields.String(metadata={"description": "the end in the subtree"})
    from_id = fields.String()
    type = fields.String(metadata={"description": "the other end"})
    id = fields.String()
    department = fields.String()
    title = fields.String(allow_none=True)
    progress = fields.Float(allow_none=True)
    status = fields.String()


class StaleInputSchema(Schema):
    key_result_id = fields.String()
    title = fields.String()
    department = fields.String()
    last_checkin_at = Timestamp(allow_none=True, metadata={"description": "null: never"})


class ExplanationSchema(Schema):
    objective_id = fields.String()
    title = fields.String()
    cycle = fields.String()
    kind = fields.String()
    departments = fields.List(fields.String())
    status = fields.String()
    progress = fields.Float(allow_none=True)
    expected_progress = fields.Float(allow_none=True)
    gap = fields.Float(allow_none=True, metadata={
        "description": "expected progress - progress (positive: behind plan)"})
    inputs = fields.List(fields.Nested(InputShareSchema))
    gap_by_department = fields.List(fields.Nested(DepartmentShareSchema), metadata={
        "description": "the gap by owning department, largest share first"})
    sums = fields.List(fields.Nested(SumSchema), metadata={
        "description": "summing key results: each department's amount and its share of "
                       "the expected amount"})
    forecast = fields.Nested(ForecastSchema)
    dependencies_at_risk = fields.List(fields.Nested(DependencySchema))
    stale_inputs = fields.List(fields.Nested(StaleInputSchema))
    stale_after_days = fields.Float()
    why = fields.String(allow_none=True)


def _dependency(link: LinkEnd) -> dict[str, Any]:
    return {"link_id": link.id, "kind": link.kind, "direction": link.direction,
            "from_type": link.item_type, "from_id": link.item_id, "type": link.other_type,
            "id": link.other_id, "department": link.other_department,
            "title": link.other_title, "progress": reported(link.other_progress),
            "status": link.other_status or "no_data"}


def explanation_view(row: Any, explanation: Explanation, stale_after: float
                     ) -> dict[str, Any]:
    forecast = explanation.forecast
    return {
        "objective_id": row.id, "title": row.title, "cycle": row.cycle, "kind": row.kind,
        "departments": row.departments.split("+"), "status": row.status or "no_data",
        "progress": reported(explanation.progress),
        "expected_progress": reported(explanation.expected_progress),
        "gap": reported(explanation.gap),
        "inputs": [{"type": i.type, "id": i.id, "title": i.title, "department": i.department,
                    "weight": float(i.weight), "progress": reported(i.progress),
                    "share": reported(i.share)} for i in explanation.inputs],
        "gap_by_department": [{"department": s.department, "share": s.share, "weight": s.weight,
                               "progress": reported(s.progress)}
                              for s in explanation.departments],
        "sums": [{"key_result_id": s.key_result_id, "title": s.title,
                  "value": reported(s.value), "expected_amount": reported(s.expected_amount),
                  "departments": [{"department": d.department, "amount": d.amount,
                                   "expected_amount": reported(d.expected_amount)}
                                  for d in s.departments]} for s in explanation.sums],
        "forecast": {
            "attainment": reported(forecast.attainment), "reached_on": forecast.reached_on,
            "pace_per_day": (None if forecast.line is None or forecast.attainment is None
                             else reported(settled(forecast.line.slope * DAY))),
            "estimator": ESTIMATOR, "key_results_by_estimator": dict(forecast.estimators),
            "window": WINDOW, "min_check_ins": MIN_CHECK_INS,
            "min_span_days": MIN_SPAN_SECONDS / DAY},
        "dependencies_at_risk": [_dependency(link) for link in explanation.dependencies_at_risk],
        "stale_inputs": [{"key_result_id": s.key_result_id, "title": s.title,
                          "department": s.department,
                          "last_checkin_at": moment(s.last_checkin_at)}
                         for s in explanation.stale_inputs],
        "stale_after_days": stale_after / DAY,
        "why": explanation.why,
    }


@explanations.route("/<string:objective_id>/explain")
class RollupExplanation(MethodView):
    @explanations.response(200, ExplanationSchema)
    @explanations.alt_response(404, description="no such objective in the read model")
    def get(self, objective_id: str) -> Any:
        """What holds an objective back: its gap by input and department, its forecast,
        dependencies at risk and stale inputs"""
        queries = explain_queries()
        found = queries.explain(objective_id)
        if found is None:
            abort_with_problem(404, f"objective {objective_id} is not in the read model")
        row, explanation = found
        # Written as the schema would write it, without its dump: the view's values are
        # already of the schema's types, and a thousand nested dumps cost a tenth of the
        # call (tests/metrics/api/test_explain_api.py holds the answer to the dump's).
        return jsonify(explanation_view(row, explanation, queries.stale_after))
