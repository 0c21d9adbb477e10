"""The goals HTTP API: ``create_app`` builds it from a config (or the environment)."""

from __future__ import annotations

from flask import Flask

from services.goals.bootstrap import Goals, bootstrap
from services.goals.config import SERVICE, GoalsConfig
from services.goals.entrypoints.api import access
from services.goals.entrypoints.api.administration import audit, tokens
from services.goals.entrypoints.api.check_ins import check_in_batches
from services.goals.entrypoints.api.graph import contributions, links
from services.goals.entrypoints.api.key_results import key_results
from services.goals.entrypoints.api.objectives import objectives
from services.goals.entrypoints.api.reference_data import cycles, departments
from shared.observability.collectors import OutboxBacklogCollector
from shared.web.readiness import broker_check, database_check
from shared.web.shell import create_service_app

DESCRIPTION = """The system of record for shared OKRs: departments, cycles, objectives, key
results, check-ins, roll-up contributions and cross-department links. Every change is
committed with its CloudEvent (transactional outbox) and published to Kafka topic
`okr.goals.v1`. Authenticate with `Authorization: Bearer <token>`. Errors are
`application/problem+json`. Updates need `If-Match` with the ETag that was read."""


def create_app(config: GoalsConfig | None = None, container: Goals | None = None) -> Flask:
    container = container or bootstrap(config)
    app, api = create_service_app(
        SERVICE,
        title="OKR goals service",
        description=DESCRIPTION,
        readiness_checks={
            "database": database_check(lambda: access.goals().engine),
            "kafka": broker_check(lambda: access.goals().config.kafka),
        },
        collectors=[OutboxBacklogCollector(SERVICE, lambda: access.goals().engine,
                                           container.outbox)],
    )
    app.extensions["okr.goals"] = container
    access.install(app)
    for blueprint in (departments, cycles, objectives, key_results, check_in_batches,
                      contributions, links, tokens, audit):
        api.register_blueprint(blueprint)
    return app
