"""``/v1/contributions`` (roll-up edges) and ``/v1/links`` (cross-department dependencies)."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.views import MethodView

from services.goals.domain.errors import NotFound
from services.goals.entrypoints.api.access import (
    goals,
    principal,
    refuse_unknown_references,
    request_id,
)
from services.goals.entrypoints.api.graph_schemas import (
    ContributionQuerySchema,
    ContributionSchema,
    LinkQuerySchema,
    LinkSchema,
)
from services.goals.entrypoints.api.idempotency import created, documented
from services.goals.service_layer import graph as cases
from shared.web.blueprints import Blueprint

contributions = Blueprint(
    "contributions", __name__, url_prefix="/v1/contributions",
    description="Roll-up edges: an objective or key result contributes to a (collective) "
                "objective with a weight, or a key result adds its value to a summing key "
                "result. The graph stays acyclic.")
links = Blueprint(
    "links", __name__, url_prefix="/v1/links",
    description="Dependencies between departments' items (depends_on, supports, funded_by, "
                "supplied_by, blocked_by); shown beside the roll-up, never part of it.")
_CONTRIBUTION, _LINK = ContributionSchema(), LinkSchema()


@contributions.route("")
class Contributions(MethodView):
    @contributions.arguments(ContributionQuerySchema, location="query")
    @contributions.response(200, ContributionSchema(many=True))
    @contributions.paginate()
    def get(self, query: dict[str, Any], pagination_parameters: Any) -> Any:
        """List contributions, by parent or child"""
        with goals().reading() as uow:
            items, total = uow.contributions.search(
                parent_id=query.get("parent_id"), child_id=query.get("child_id"),
                offset=pagination_parameters.first_item, limit=pagination_parameters.page_size)
        pagination_parameters.item_count = total
        return items

    @contributions.arguments(ContributionSchema)
    @contributions.response(201, ContributionSchema)
    @contributions.alt_response(409, description="exists already, or would close a cycle")
    @documented(contributions, ContributionSchema)
    def post(self, body: dict[str, Any]) -> Response:
        """Attach a child to a parent with a weight"""
        return created(body, lambda uow: cases.add_contribution(
                           uow, principal(), child=(body["child_type"], body["child_id"]),
                           parent=(body["parent_type"], body["parent_id"]),
                           weight=body["weight"]),
                       _CONTRIBUTION,
                       lambda made: {"Location": f"/v1/contributions/{made['id']}"})


@contributions.route("/<string:contribution_id>")
class ContributionItem(MethodView):
    @contributions.response(200, ContributionSchema)
    def get(self, contribution_id: str) -> Any:
        """Read one contribution"""
        with goals().reading() as uow:
            contribution = uow.contributions.get(contribution_id)
        if contribution is None:
            raise NotFound(f"contribution {contribution_id!r} does not exist")
        return contribution

    @contributions.response(204)
    def delete(self, contribution_id: str) -> None:
        """Remove a contribution"""
        cases.remove_contribution(goals().unit_of_work(request_id()), principal(),
                                  contribution_id)


@links.route("")
class Links(MethodView):
    @links.arguments(LinkQuerySchema, location="query")
    @links.response(200, LinkSchema(many=True))
    @links.paginate()
    def get(self, query: dict[str, Any], pagination_parameters: Any) -> Any:
        """List links; by department (outgoing, incoming or both), item or kind"""
        with goals().reading() as uow:
            refuse_unknown_references(uow, department=query.get("department"))
            items, total = uow.links.search(
                department=query.get("department"), direction=query["direction"],
                item_id=query.get("item_id"), kind=query.get("kind"),
                offset=pagination_parameters.first_item, limit=pagination_parameters.page_size)
        pagination_parameters.item_count = total
        return items

    @links.arguments(LinkSchema)
    @links.response(201, LinkSchema)
    @links.alt_response(409, description="exists already")
    @documented(links, LinkSchema)
    def post(self, body: dict[str, Any]) -> Response:
        """Link one of your department's items to another department's item"""
        return created(body, lambda uow: cases.create_link(
                           uow, principal(), kind=body["kind"],
                           source=(body["from_type"], body["from_id"]),
                           target=(body["to_type"], body["to_id"]),
                           source_department=body["from_department"],
                           target_department=body["to_department"], note=body["note"]),
                       _LINK, lambda made: {"Location": f"/v1/links/{made['id']}"})


@links.route("/<string:link_id>")
class LinkItem(MethodView):
    @links.response(200, LinkSchema)
    def get(self, link_id: str) -> Any:
        """Read one link"""
        with goals().reading() as uow:
            link = uow.links.get(link_id)
        if link is None:
            raise NotFound(f"link {link_id!r} does not exist")
        return link

    @links.response(204)
    def delete(self, link_id: str) -> None:
        """Remove a link (the head of its source department, or an admin)"""
        cases.remove_link(goals().unit_of_work(request_id()), principal(), link_id)
