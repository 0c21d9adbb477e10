"""The outbox relay: publishes committed outbox rows to Kafka, in order, and marks them.

Guarantees:

* **In order per key.** Rows are read in ``position`` order and sent by an idempotent
  producer (``acks=all``), which keeps per-partition order across its retries. After a
  failure, sending resumes from the first unacknowledged row, so a consumer may see an
  event again, never a gap.
* **Nothing lost.** A row is marked published only after the broker acknowledged it
  (:mod:`shared.messaging.outbox_marks`). A relay killed between the acknowledgement and
  the mark sends the row again; consumers drop it by event id.
* **One relay at a time.** Several replicas may run; only the holder of the lease
  (:mod:`shared.messaging.leases`) publishes.
* **Broker outages.** While the broker is away the backlog grows in the database
  (``okr_outbox_pending_events``) and the relay retries with capped backoff.
* **Lost topics.** After every reconnection, and every ``OKR_RELAY_TOPIC_CHECK_SECONDS``,
  the relay checks that the broker still holds what it published
  (:mod:`shared.messaging.lost_topics`) and sends a lost topic's retained rows again.
  Published rows are purged after ``OKR_OUTBOX_RETENTION_HOURS``, in batches, once a
  minute (``shared/persistence/retention.py``); a purge that fails is counted and tried
  again, and publishing goes on.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from functools import partial

from kafka import KafkaProducer
from kafka.errors import KafkaError
from sqlalchemy import Engine, Table, select
from sqlalchemy.exc import SQLAlchemyError

from shared.cloudevents import KAFKA_CONTENT_TYPE
from shared.config import KafkaSettings, RelaySettings
from shared.messaging.backoff import Backoff
from shared.messaging.kafka_clients import new_producer
from shared.messaging.leases import Lease, LeaseLost, acquire_until, lease_for
from shared.messaging.lost_topics import BrokerUnavailable, LostTopics
from shared.messaging.outbox_marks import PublishedMark, PublishedMarks
from shared.observability.metrics import HANDLED_ERRORS
from shared.persistence.retention import Retention, purge_expired
from shared.runtime.housekeeping import purge_all

log = logging.getLogger(__name__)

PURGE_INTERVAL_SECONDS = 60


class OutboxRelay:
    def __init__(
        self,
        *,
        service: str,
        engine: Engine,
        outbox_table: Table,
        kafka: KafkaSettings,
        settings: RelaySettings,
        lease: Lease | None = None,
    ) -> None:
        self.service = service
        self.engine = engine
        self.table = outbox_table
        self.kafka = kafka
        self.settings = settings
        self.lease = lease or lease_for(engine, f"okr-relay-{service}",
                                        settings.sqlite_poll_seconds)
        self._producer: KafkaProducer | None = None
        self._marks = PublishedMarks(service=service, engine=engine, outbox_table=outbox_table)
        self._lost_topics = LostTopics(service=service, engine=engine,
                                       outbox_table=outbox_table, kafka=kafka)
        self._next_topic_check = 0.0
        self._next_purge = 0.0
        # published_at is null until published, so pending rows never age out
        self.retention = Retention(outbox_table, "published_at",
                                   timedelta(hours=settings.retention_hours))

    # -- the loop -------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Publish until ``stop`` is set; safe to run in several replicas (one is active)."""
        try:
            while not stop.is_set():
                if not acquire_until(self.lease, "outbox relay", stop, service=self.service,
                                     error_kind="relay_lease"):
                    return
                try:
                    self._publish_while_leased(stop)
                except LeaseLost as error:
                    # The database dropped the lease's session (a restart, a failover):
                    # another replica may hold it now, so stop and take it again first.
                    HANDLED_ERRORS.labels(self.service, "relay_lease_lost").inc()
                    log.warning("lost the outbox lease, taking it again: %s", error)
                    self._finish_marks()
                    self._discard_producer()
                    self.lease.release()
        finally:
            self._finish_marks()
            self._marks.shutdown()
            self._discard_producer(timeout=5)
            self.lease.release()

    def _publish_while_leased(self, stop: threading.Event) -> None:
        backoff = Backoff()
        needs_recovery = True
        while not stop.is_set():
            try:
                if needs_recovery or time.monotonic() >= self._next_topic_check:
                    self.recover_lost_topics()
                    needs_recovery = False
                published = self.publish_batch(wait_for_marks=False)
                self._purge_if_due()
                backoff.reset()
                if published < self.settings.batch_size:
                    self.wait_for_marks()
                    self.lease.wait_for_work(self.settings.fallback_poll_seconds, stop)
            except (BrokerUnavailable, KafkaError) as error:
                HANDLED_ERRORS.labels(self.service, "relay_broker_unavailable").inc()
                log.warning("broker unavailable, backlog kept: %s", error)
                self._discard_producer()
                needs_recovery = True
                backoff.wait(stop)
            except SQLAlchemyError as error:
                HANDLED_ERRORS.labels(self.service, "relay_database_unavailable").inc()
                log.warning("database unavailable: %s", error)
                backoff.wait(stop)

    def _finish_marks(self) -> None:
        """Wait for the marks in flight; a mark that fails leaves its row to be sent again."""
        try:
            self.wait_for_marks()
        except SQLAlchemyError:
            HANDLED_ERRORS.labels(self.service, "relay_database_unavailable").inc()

    # -- publishing -----------------------------------------------------------------------

    def publish_batch(self, *, wait_for_marks: bool = True) -> int:
        """Send one batch of pending rows; return how many the broker acknowledged.

        The broker's acknowledgements are written to the database in the background
        (``wait_for_marks=False``, as the loop does), overlapping with the next batch's
        sends; the next batch is sent only after this one was acknowledged, so per-key
        order holds. Rows being marked are skipped when the next batch is read.
        """
        table = self.table
        in_flight = self._marks.in_flight
        with self.engine.connect() as connection:
            rows = [row for row in connection.execute(
                select(table.c.position, table.c.topic, table.c.message_key, table.c.payload,
                       table.c.event_id)
                .where(table.c.published_at.is_(None))
                .order_by(table.c.position)
                .limit(self.settings.batch_size + len(in_flight))
            ) if row.position not in in_flight][: self.settings.batch_size]
        if not rows:
            self.wait_for_marks()
            return 0
        producer = self._get_producer()
        sent = []
        failure: Exception | None = None
        try:
            for row in rows:
                future = producer.send(
                    row.topic,
                    key=row.message_key.encode(),
                    value=row.payload.encode(),
                    headers=[("content-type", KAFKA_CONTENT_TYPE.encode()),
                             ("ce_id", row.event_id.encode())],
                )
                sent.append((row, future))
            producer.flush(timeout=self.kafka.request_timeout_ms / 1000 * 2)
        except KafkaError as error:
            failure = error
        marks: list[PublishedMark] = []
        for row, future in sent:
            if not future.is_done or future.failed():
                failure = failure or future.exception or BrokerUnavailable("send not acknowledged")
                break
            metadata = future.value
            marks.append(
                PublishedMark(row.position, metadata.partition, metadata.offset, row.topic))
        self.wait_for_marks()
        self._marks.submit(marks)
        if failure is not None or wait_for_marks:
            self.wait_for_marks()
        if failure is not None:
            raise BrokerUnavailable(str(failure)) from failure
        return len(marks)

    def wait_for_marks(self) -> None:
        """Wait until the acknowledged rows are marked published (raises if marking failed)."""
        self._marks.wait()

    def _get_producer(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = new_producer(self.kafka, client_id=f"{self.service}-relay")
        return self._producer

    def _discard_producer(self, timeout: float = 0) -> None:
        # A producer that failed keeps retrying in the background; a fresh one after
        # recovery starts from the database, the only record of what is still pending.
        if self._producer is not None:
            try:
                self._producer.close(timeout=timeout)
            except Exception:
                HANDLED_ERRORS.labels(self.service, "relay_producer_close").inc()
            self._producer = None

    # -- lost topics and retention --------------------------------------------------------

    def recover_lost_topics(self) -> set[str]:
        """Recreate missing topics and queue again the retained rows of any lost topic."""
        self._next_topic_check = time.monotonic() + self.settings.topic_check_seconds
        self.wait_for_marks()  # a late mark must not land after the rows are queued again
        lost = self._lost_topics.find()
        if lost:
            # A broker that lost its topics has lost its producer ids too: start afresh.
            self._discard_producer()
            self._lost_topics.queue_again(lost)
        return lost

    def _purge_if_due(self) -> None:
        """Forget published rows older than the retention window (once a minute)."""
        if time.monotonic() < self._next_purge:
            return
        self._next_purge = time.monotonic() + PURGE_INTERVAL_SECONDS
        self.purge_published()

    def purge_published(self) -> int:
        """Forget the published rows older than the retention window, in batches; how many
        (a failure is counted and logged, and 0 returned: publishing goes on)."""
        return purge_all(self.service, {self.retention.name: partial(
            purge_expired, self.engine, self.retention)}).get(self.retention.name, 0)
