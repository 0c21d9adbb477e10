"""The delivery loop: claim due deliveries, send them, record each outcome with its event.

Sending happens outside any transaction, under the claim's lease, on ``concurrency``
threads, and the loop claims more while attempts are still in flight. The outcomes of the
attempts that ended meanwhile commit together in one transaction, each with (when final)
its ``okr.notification.delivered`` / ``okr.notification.failed`` event (outbox). Several
workers may run: each claims different rows; a killed worker's rows (sent or not, while
their outcome was not yet committed) come back when their lease expires, with the same
delivery id (the ``webhook-id``) so receivers can drop a repeat.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError

from services.notifications.config import SERVICE, DeliverySettings
from services.notifications.domain.deliveries import DEAD, DELIVERED, PENDING, Delivery
from services.notifications.domain.messages import Message
from services.notifications.domain.outcomes import Outcome, Sender
from services.notifications.domain.subscriptions import Subscription
from services.notifications.service_layer.digests import flush_due_digests
from services.notifications.service_layer.dispatching import Dispatcher
from services.notifications.service_layer.outcome_events import outcome_event
from services.notifications.service_layer.settling import settle_due
from services.notifications.service_layer.unit_of_work import UnitOfWorkFactory
from shared.clock import Clock, system_clock
from shared.cloudevents import CloudEvent
from shared.messaging.backoff import Backoff
from shared.observability.logging import log_context
from shared.observability.metrics import HANDLED_ERRORS, NOTIFICATION_ATTEMPTS

log = logging.getLogger(__name__)

Attempted = tuple[Delivery, Outcome]
_OUTCOME_LABEL = {DELIVERED: "delivered", PENDING: "retried", DEAD: "dead"}


class DeliveryLoop:
    def __init__(self, *, units: UnitOfWorkFactory, settings: DeliverySettings,
                 senders: Mapping[str, Sender], event_source: str,
                 clock: Clock = system_clock) -> None:
        self.units = units
        self.settings = settings
        self.senders = senders
        self.event_source = event_source
        self.clock = clock
        self.owner = f"{SERVICE}-{uuid.uuid4().hex[:12]}"
        self.dispatcher = Dispatcher(settings.hourly_cap)

    def run(self, stop: threading.Event) -> None:
        """Send until ``stop`` is set (letting attempts in flight finish); flush digests."""
        backoff = Backoff(initial=0.2)
        next_digest_check = 0.0
        in_flight: set[Future[Attempted]] = set()
        # Claim more while this many attempts are still running, so threads never idle.
        refill_below = max(self.settings.concurrency, self.settings.batch_size // 2)
        with ThreadPoolExecutor(self.settings.concurrency,
                                thread_name_prefix="delivery") as pool:
            while not stop.is_set():
                try:
                    if time.monotonic() >= next_digest_check:
                        self.settle_and_flush()
                        next_digest_check = time.monotonic() + min(1.0, self.settings.poll_seconds)
                    if len(in_flight) < refill_below:
                        for delivery in self.claim(self.settings.batch_size - len(in_flight)):
                            in_flight.add(pool.submit(self.attempt, delivery))
                    backoff.reset()
                except SQLAlchemyError as error:
                    HANDLED_ERRORS.labels(SERVICE, "delivery_database_error").inc()
                    log.warning("database unavailable, retrying: %s", error)
                    backoff.wait(stop)
                    continue
                if not in_flight:
                    stop.wait(self.settings.poll_seconds)
                    continue
                done, in_flight = wait(in_flight, timeout=self.settings.poll_seconds,
                                       return_when=FIRST_COMPLETED)
                self._record_safely([future.result() for future in done])
            self._record_safely([future.result() for future in wait(in_flight).done])

    def settle_and_flush(self) -> None:
        """Announce the statuses that settled, then make the digests that are due."""
        settle_due(self.units, self.dispatcher, self.clock())
        flush_due_digests(self.units(), self.clock(), self.dispatcher)

    def run_once(self, pool: ThreadPoolExecutor | None = None) -> int:
        """Claim one batch of due deliveries, attempt each, record; return how many."""
        batch = self.claim(self.settings.batch_size)
        if pool is None:
            attempted = [self.attempt(delivery) for delivery in batch]
        else:
            attempted = list(pool.map(self.attempt, batch))
        self._record_safely(attempted)
        return len(batch)

    def claim(self, limit: int) -> list[Delivery]:
        """Lease up to ``limit`` due deliveries to this loop."""
        if limit <= 0:
            return []
        with self.units() as uow:
            batch = uow.deliveries.claim_due(
                self.owner, self.clock(), timedelta(seconds=self.settings.lease_seconds), limit)
            if batch:  # nothing claimed, nothing written
                uow.commit()
        return batch

    def attempt(self, delivery: Delivery) -> Attempted:
        """One attempt (never raises for the receiving side's failures).

        The subscription is read (from the index, one read of its revision) as the attempt
        starts, not when the delivery was claimed: a claimed delivery may wait for a sending
        thread behind slow receivers, and a subscription deleted or given another URL or
        secret meanwhile must not be sent to as it was. If it cannot be read, the attempt
        fails and is retried, nothing sent."""
        with log_context(delivery_id=delivery.id):
            try:
                subscription = self._current(delivery.subscription_id)
            except SQLAlchemyError as error:
                HANDLED_ERRORS.labels(SERVICE, "delivery_database_error").inc()
                return delivery, Outcome.retry(f"could not read the subscription: {error}")
            if subscription is None:
                return delivery, Outcome.give_up("the subscription was deleted")
            message = Message(delivery.message_type, delivery.payload)
            try:
                return delivery, self.senders[subscription.channel.value].send(
                    delivery.id, message, subscription)
            except Exception as error:  # a bug of this attempt: it fails, the loop goes on
                HANDLED_ERRORS.labels(SERVICE, "delivery_attempt_failed").inc()
                log.error("delivery %s: the attempt failed", delivery.id, exc_info=error)
                return delivery, Outcome.retry(f"the attempt failed: {type(error).__name__}")

    def _current(self, subscription_id: str) -> Subscription | None:
        with self.units() as uow:
            return self.dispatcher.index(uow.subscriptions).get(subscription_id)

    def _record_safely(self, attempted: list[Attempted]) -> None:
        if not attempted:
            return
        try:
            self._record(attempted)
        except SQLAlchemyError as error:
            # Not recorded: the leases expire and these deliveries are attempted again.
            HANDLED_ERRORS.labels(SERVICE, "delivery_database_error").inc()
            log.warning("could not record %d outcomes: %s", len(attempted), error)

    def _record(self, attempted: list[Attempted]) -> None:
        """The outcomes and their events, in one transaction."""
        now = self.clock()
        lost = []
        events: list[tuple[CloudEvent, str]] = []
        with self.units() as uow:
            repository = uow.deliveries
            for delivery, outcome in attempted:
                attempts = delivery.attempts + 1
                status, next_attempt_at, reason = self._decide(outcome, attempts, now)
                if not repository.finish(delivery.id, self.owner, status=status,
                                         attempts=attempts, next_attempt_at=next_attempt_at,
                                         error=reason, now=now):
                    lost.append(delivery.id)
                    continue
                NOTIFICATION_ATTEMPTS.labels(delivery.channel, _OUTCOME_LABEL[status]).inc()
                if status != PENDING:
                    events.append(outcome_event(delivery, status, attempts, reason, now,
                                                self.event_source))
                if status == DEAD:
                    log.warning("delivery %s dead-lettered: %s", delivery.id, reason)
                elif status == PENDING:
                    log.info("delivery %s failed (attempt %d), retrying: %s", delivery.id,
                             attempts, reason)
            uow.publish(events)
            uow.commit()
        for delivery_id in lost:
            HANDLED_ERRORS.labels(SERVICE, "delivery_lease_lost").inc()
            log.warning("lease on delivery %s expired before its outcome was recorded",
                        delivery_id)

    def _decide(self, outcome: Outcome, attempts: int,
                now: datetime) -> tuple[str, datetime, str | None]:
        """(status, next attempt, reason) after this attempt, by the retry schedule."""
        if outcome.ok:
            return DELIVERED, now, None
        if outcome.permanent:
            return DEAD, now, outcome.reason
        if self.settings.retry.exhausted(attempts):
            return DEAD, now, f"gave up after {attempts} attempts: {outcome.reason}"
        return (PENDING, now + timedelta(seconds=self.settings.retry.delay(attempts)),
                outcome.reason)
