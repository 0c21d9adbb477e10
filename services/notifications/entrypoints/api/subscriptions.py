"""``/v1/subscriptions`` and ``/v1/subscriptions/{id}``."""

from __future__ import annotations

from typing import Any

from flask import current_app, json
from flask.views import MethodView

from services.notifications.domain.errors import UnknownReference
from services.notifications.domain.permissions import shown_url
from services.notifications.domain.schedules import schedule_to_dict
from services.notifications.domain.subscriptions import Channel, Subscription
from services.notifications.entrypoints.api.access import notifications, writers_only
from services.notifications.entrypoints.api.schemas import (
    SubscriptionQuerySchema,
    SubscriptionSchema,
    SubscriptionUpdateSchema,
)
from services.notifications.service_layer import subscriptions as cases
from shared.identity import Caller
from shared.web.blueprints import Blueprint
from shared.web.concurrency import MISSING_IF_MATCH, STALE, expected_version, with_etag
from shared.web.idempotency import answer, documented, idempotent_request
from shared.web.problems import abort_with_problem
from shared.web.remote_auth import current_caller

subscriptions = Blueprint("subscriptions", __name__, url_prefix="/v1/subscriptions",
                          description="Who hears what, through which channel, how often.")


def _shown(subscription: Subscription, caller: Caller) -> dict[str, Any]:
    webhook = subscription.channel is not Channel.EMAIL
    url = shown_url(caller, subscription.department, subscription.target) if webhook else None
    return {
        "id": subscription.id, "recipient": subscription.recipient,
        "department": subscription.department, "channel": subscription.channel.value,
        "url": url,
        "email": None if webhook else subscription.target,
        "has_secret": subscription.secret is not None,
        "filters": subscription.filters.to_dict(), "mode": subscription.mode.value,
        "digest_interval_seconds": subscription.digest_interval_seconds,
        "digest_schedule": (None if subscription.digest_schedule is None
                            else schedule_to_dict(subscription.digest_schedule)),
        "created_by": subscription.created_by, "created_at": subscription.created_at,
        "updated_at": subscription.updated_at, "version": subscription.version,
    }


@subscriptions.route("")
class Subscriptions(MethodView):
    @subscriptions.arguments(SubscriptionQuerySchema, location="query")
    @subscriptions.response(200, SubscriptionSchema(many=True))
    @subscriptions.paginate()
    def get(self, query: dict[str, Any], pagination_parameters: Any) -> Any:
        """List the subscriptions you may see (admins: all; heads: their department's)"""
        caller = current_caller()
        try:
            items, total = cases.list_subscriptions(
                notifications().reading(), caller, department=query.get("department"),
                channel=query.get("channel"), recipient=query.get("recipient"),
                offset=pagination_parameters.first_item, limit=pagination_parameters.page_size)
        except UnknownReference as unknown:  # in the query, like the other services' lists
            abort_with_problem(400, f"{unknown}.",
                               errors={"query": {unknown.field: [str(unknown)]}})
        pagination_parameters.item_count = total
        return [_shown(item, caller) for item in items]

    @writers_only
    @subscriptions.arguments(SubscriptionSchema)
    @subscriptions.response(201, SubscriptionSchema)
    @documented(subscriptions, SubscriptionSchema)
    def post(self, body: dict[str, Any]) -> Any:
        """Subscribe (admins: anyone; heads: their own department)

        With an ``Idempotency-Key``, a retry with the same key and body subscribes once and
        gets the first answer (200, ``Idempotent-Replayed: true``).
        """
        container, caller = notifications(), current_caller()
        policy = container.config.delivery.targets
        digest_seconds = container.config.delivery.digest_interval_seconds
        request = idempotent_request(body)
        if request is None:
            subscription = cases.create_subscription(
                container.unit_of_work(), caller, policy, digest_seconds, body,
                check_address=container.check_address)
            return (_shown(subscription, caller), 201,
                    _made_headers(subscription.id, subscription.version))
        result = cases.create_subscription_once(
            container.unit_of_work(), caller, policy, digest_seconds, body, request,
            lambda made: current_app.json.dumps(SubscriptionSchema().dump(_shown(made, caller))),
            check_address=container.check_address)
        created = json.loads(result.body)
        return answer(result, _made_headers(created["id"], created["version"]))


def _made_headers(subscription_id: str, version: int) -> dict[str, str]:
    """Where a new subscription is and its version (the ETag a later PATCH names), on its
    201 and on each replay of it."""
    return {"Location": f"/v1/subscriptions/{subscription_id}", "ETag": f'"{version}"'}


@subscriptions.route("/<string:subscription_id>")
class SubscriptionItem(MethodView):
    @subscriptions.response(200, SubscriptionSchema)
    def get(self, subscription_id: str) -> Any:
        """Read one subscription you may see (never its secret); its version is the ETag"""
        caller = current_caller()
        subscription = cases.get_subscription(notifications().reading(), caller,
                                              subscription_id)
        return with_etag(_shown(subscription, caller), subscription.version)

    @writers_only
    @subscriptions.arguments(SubscriptionUpdateSchema)
    @subscriptions.response(200, SubscriptionSchema)
    @subscriptions.alt_response(412, description=STALE)
    @subscriptions.alt_response(428, description=MISSING_IF_MATCH)
    def patch(self, body: dict[str, Any], subscription_id: str) -> Any:
        """Change recipient, target, secret, filters, mode, digest interval or schedule;
        needs If-Match"""
        container, caller = notifications(), current_caller()
        subscription = cases.update_subscription(
            container.unit_of_work(), caller, container.config.delivery.targets,
            subscription_id, body, expected_version(), check_address=container.check_address)
        return with_etag(_shown(subscription, caller), subscription.version)

    @writers_only
    @subscriptions.response(204)
    @subscriptions.alt_response(412, description=STALE)
    @subscriptions.alt_response(428, description=MISSING_IF_MATCH)
    def delete(self, subscription_id: str) -> Any:
        """Unsubscribe; its waiting digest items are dropped; needs If-Match"""
        cases.delete_subscription(notifications().unit_of_work(), current_caller(),
                                  subscription_id, expected_version())
        return "", 204
