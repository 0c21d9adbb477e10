"""Every plumbing metric the platform exports, in one place.

Names follow Prometheus conventions (base units, ``_total`` for counters). Labels are
bounded: a service name, a topic, a partition, a route template, never an id.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

#: Events a consumer finished with, by outcome: ``applied``, ``duplicate`` (its id was
#: already recorded, so nothing changed) or ``dead_lettered``.
EVENTS_CONSUMED = Counter(
    "okr_events_consumed_total",
    "Events a consumer finished with, by outcome.",
    ["service", "topic", "outcome"],
)

#: Messages between a consumer's position and the partition's high watermark, taken from
#: fetch responses (Tansu's ListOffsets answer is wrong for multi-record batches).
CONSUMER_LAG = Gauge(
    "okr_consumer_lag_messages",
    "Messages not yet consumed, from the fetch high watermark.",
    ["service", "topic", "partition"],
)

#: Errors that were handled rather than raised: retried transient failures, dead-lettered
#: messages, failed commits. The test suite fails when one occurs that it did not expect.
HANDLED_ERRORS = Counter(
    "okr_handled_errors_total",
    "Errors caught and handled (retried, dead-lettered or skipped), by kind.",
    ["service", "kind"],
)

#: Outbox rows the relay saw the broker acknowledge.
OUTBOX_PUBLISHED = Counter(
    "okr_outbox_published_total",
    "Outbox events acknowledged by the broker.",
    ["service", "topic"],
)

#: Rows queued again because the broker lost the topic they had been published to.
OUTBOX_REPUBLISHED = Counter(
    "okr_outbox_republished_total",
    "Outbox events queued again after the broker lost their topic.",
    ["service", "topic"],
)

#: Rows a housekeeping purge deleted because they were older than their table's retention
#: (``shared/persistence/retention.py``), by table.
ROWS_PURGED = Counter(
    "okr_rows_purged_total",
    "Rows deleted for being older than their table's retention, by table.",
    ["service", "table"],
)

#: Dead-lettered messages, by the topic they came from.
DEAD_LETTERED = Counter(
    "okr_dead_lettered_total",
    "Messages sent to a dead-letter topic.",
    ["service", "topic"],
)

HTTP_REQUESTS = Counter(
    "okr_http_requests_total",
    "HTTP requests served, by route template and status code.",
    ["service", "method", "route", "status"],
)

HTTP_REQUEST_DURATION = Histogram(
    "okr_http_request_duration_seconds",
    "Time to serve an HTTP request.",
    ["service", "method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)

#: The metrics service's series guard (``OKR_METRICS_MAX_SERIES``): series of each read-model
#: family left out of ``/metrics`` at the last scrape, by family. Rendered by the metrics
#: service's own exposition at scrape time (it is computed per scrape, not accumulated), so
#: only its name lives here.
SERIES_DROPPED = "okr_metrics_series_dropped"

#: Notification delivery attempts (webhook or e-mail), by channel and outcome: ``delivered``,
#: ``retried`` (a transient failure; tried again on the retry schedule) or ``dead`` (given
#: up and kept in the dead letter with its reason).
NOTIFICATION_ATTEMPTS = Counter(
    "okr_notification_attempts_total",
    "Notification delivery attempts, by channel and outcome.",
    ["channel", "outcome"],
)
