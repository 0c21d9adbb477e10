"""The notifications HTTP API: ``create_app`` builds it from a config (or the environment)."""

from __future__ import annotations

from flask import Flask

from services.notifications.bootstrap import Notifications, bootstrap
from services.notifications.config import SERVICE, NotificationsConfig
from services.notifications.entrypoints.api.access import install_domain_errors, notifications
from services.notifications.entrypoints.api.deliveries import deliveries
from services.notifications.entrypoints.api.subscriptions import subscriptions
from shared.observability.collectors import OutboxBacklogCollector
from shared.web.readiness import broker_check, database_check
from shared.web.remote_auth import TokenIntrospector, install_authentication
from shared.web.shell import create_service_app

DESCRIPTION = """Subscriptions to goal and roll-up events, delivered as signed webhooks
(Standard Webhooks) or e-mail, throttled and batched into digests. With no filter a
subscription follows the default rules: its department's head hears when an item the
department depends on turns at_risk or off_track, the owners of a collective target hear
its status changes, routine check-ins go into the digest only. Authenticate with
`Authorization: Bearer <token>` (tokens of the goals service). Errors are
`application/problem+json`."""


def create_app(config: NotificationsConfig | None = None,
               container: Notifications | None = None,
               introspector: TokenIntrospector | None = None) -> Flask:
    container = container or bootstrap(config)
    app, api = create_service_app(
        SERVICE,
        title="OKR notification service",
        description=DESCRIPTION,
        readiness_checks={
            "database": database_check(lambda: notifications().engine),
            "kafka": broker_check(lambda: notifications().config.kafka),
        },
        collectors=[OutboxBacklogCollector(SERVICE, lambda: notifications().engine,
                                           container.outbox)],
    )
    app.extensions["okr.notifications"] = container
    install_authentication(app, introspector
                           or TokenIntrospector.from_settings(container.config.auth), SERVICE)
    install_domain_errors(app)
    api.register_blueprint(subscriptions)
    api.register_blueprint(deliveries)
    return app
