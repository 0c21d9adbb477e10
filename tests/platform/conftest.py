"""Fixtures of the platform tests that need every service: each one seeded and served over
real HTTP (``live_goals``, ``live_metrics``, ``live_notifications``; see
``tests/support/live_apis.py``), on each engine."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

import tests.metrics.conftest as metrics_fixtures
import tests.notifications.conftest as notifications_fixtures
from services.goals.bootstrap import Goals
from services.goals.service_layer.reference_data import seed_default_departments
from services.metrics.bootstrap import Metrics
from services.metrics.entrypoints.api.app import create_app as create_metrics_app
from services.notifications.bootstrap import Notifications
from services.notifications.entrypoints.api.app import create_app as create_notifications_app
from shared.web.remote_auth import TokenIntrospector
from tests.notifications.builders import new_secret
from tests.notifications.receiver import WebhookReceiver
from tests.support.live_apis import (
    LiveApi,
    seed_goals,
    seed_metrics,
    seed_notifications,
    served,
)

# the services' database and container fixtures, as their own tests have them
metrics_database_url = metrics_fixtures.metrics_database_url
metrics_config = metrics_fixtures.metrics_config
metrics = metrics_fixtures.metrics
notifications_database_url = notifications_fixtures.notifications_database_url
notifications_config = notifications_fixtures.notifications_config
notifications = notifications_fixtures.notifications


@pytest.fixture
def live_goals(goals: Goals, goals_app: Flask) -> Iterator[LiveApi]:
    seed_default_departments(goals.unit_of_work())
    with served(goals_app) as url:
        api = LiveApi(url)
        seed_goals(api)
        yield api


@pytest.fixture
def live_metrics(metrics: Metrics, goals_server: str) -> Iterator[LiveApi]:
    app = create_metrics_app(container=metrics, introspector=TokenIntrospector(goals_server))
    with served(app) as url:
        api = LiveApi(url)
        seed_metrics(metrics, api)
        yield api


@pytest.fixture
def live_notifications(notifications: Notifications, goals_server: str) -> Iterator[LiveApi]:
    app = create_notifications_app(container=notifications,
                                   introspector=TokenIntrospector(goals_server))
    receiver = WebhookReceiver(new_secret()).start()
    try:
        with served(app) as url:
            api = LiveApi(url)
            seed_notifications(notifications, api, receiver)
            yield api
    finally:
        receiver.released.set()
        receiver.stop()
