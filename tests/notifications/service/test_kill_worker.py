"""``kill -9`` of the worker process mid-delivery: after a restart nothing is lost, and the
repeated delivery carries the same ``webhook-id`` so the receiver can drop it."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable

import pytest

from services.notifications.bootstrap import Notifications
from shared.cloudevents import CloudEvent
from shared.config import KafkaSettings
from tests.notifications.builders import status_changed
from tests.notifications.conftest import okr_notifications, worker_environment
from tests.notifications.receiver import WebhookReceiver
from tests.notifications.service.test_webhook_delivery import deliveries, subscribe, wait_until
from tests.support.processes import Child, children

__all__ = ["children"]  # the fixture, used below


@pytest.fixture
def worker_processes(children: Callable[[list[str], dict[str, str], str], Child]
                     ) -> Callable[[dict[str, str]], Child]:
    """Start ``okr-notifications worker`` processes; any still running is stopped at the end."""
    return lambda env: children([okr_notifications(), "worker"], env, "worker")


def test_killed_worker_loses_nothing_and_repeats_with_the_same_webhook_id(
    notifications: Notifications, receiver: WebhookReceiver, kafka_settings: KafkaSettings,
    publish: Callable[[list[CloudEvent]], None],
    worker_processes: Callable[[dict[str, str]], Child]
) -> None:
    subscribe(notifications, receiver.url, receiver.secret)
    env = {**worker_environment(notifications.config, kafka_settings),
           # a short session: the group notices the killed member sooner
           "OKR_KAFKA_SESSION_TIMEOUT_MS": "3000", "OKR_KAFKA_MAX_POLL_INTERVAL_MS": "1000",
           "OKR_NOTIFICATIONS_LEASE_SECONDS": "2"}
    publish([status_changed(str(uuid.uuid4()), "off_track") for _ in range(3)])
    receiver.hold.set()  # the receiver takes its time: the worker is mid-delivery
    worker = worker_processes(env)
    wait_until(lambda: len(receiver.received) == 3, 30,
               "three deliveries in flight\n" + worker.output())
    in_flight = set(receiver.ids())

    worker.kill9()
    receiver.hold.clear()
    receiver.released.set()
    publish([status_changed(str(uuid.uuid4()), "off_track") for _ in range(2)])
    restarted = worker_processes(env)
    wait_until(lambda: len(deliveries(notifications)) == 5
               and all(d["status"] == "delivered" for d in deliveries(notifications)), 30,
               "every delivery delivered after the restart\n" + restarted.output())

    ids = {str(d["id"]) for d in deliveries(notifications)}
    seen = Counter(receiver.ids())
    assert set(seen) == ids  # nothing lost
    assert {i for i, n in seen.items() if n == 2} == in_flight  # repeated, same webhook-id
    assert all(n == 1 for i, n in seen.items() if i not in in_flight)
    assert all(isinstance(p, dict) for p in receiver.payloads())  # every one verified
