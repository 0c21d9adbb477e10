"""``/v1/deliveries`` and ``POST /v1/deliveries/{id}/retry``."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from services.notifications.entrypoints.api.access import notifications, writers_only
from services.notifications.entrypoints.api.schemas import DeliveryQuerySchema, DeliverySchema
from services.notifications.service_layer import deliveries as cases
from shared.web.blueprints import Blueprint
from shared.web.remote_auth import current_caller

deliveries = Blueprint("deliveries", __name__, url_prefix="/v1/deliveries",
                       description="Every message made, its attempts and its outcome.")


@deliveries.route("")
class Deliveries(MethodView):
    @deliveries.arguments(DeliveryQuerySchema, location="query")
    @deliveries.response(200, DeliverySchema(many=True))
    @deliveries.paginate()
    def get(self, query: dict[str, Any], pagination_parameters: Any) -> Any:
        """List the deliveries you may see (admins: all; heads: their department's)"""
        items, total = cases.list_deliveries(
            notifications().reading(), current_caller(), status=query.get("status"),
            subscription_id=query.get("subscription_id"),
            offset=pagination_parameters.first_item, limit=pagination_parameters.page_size)
        pagination_parameters.item_count = total
        return items


@deliveries.route("/<string:delivery_id>/retry")
class DeliveryRetry(MethodView):
    @writers_only
    @deliveries.response(202, DeliverySchema)
    @deliveries.alt_response(422, description="the delivery's subscription was deleted: it "
                                              "cannot be sent again")
    def post(self, delivery_id: str) -> Any:
        """Send a delivery again now, with the same id (receivers can drop a repeat)"""
        return cases.retry_delivery(notifications().unit_of_work(), current_caller(),
                                    delivery_id), 202
