"""Settled statuses: a status is announced at once only after it has held for a while.

A roll-up status can flap (a check-in corrected a minute later, a demo run twice):
``on_track -> off_track -> at_risk -> on_track`` within seconds is no news. So a status
change starts a wait of ``settle_seconds``; if the status still holds when the wait ends,
it is *settled* and announced (``previous_status``: the status announced before); if it
changed meanwhile, the new status starts its own wait, and a return to the status last
announced cancels the announcement altogether. Every change still goes into the digests
as it happens.

We hold for a time rather than apply hysteresis: the notification service sees statuses,
not the attainment behind them (the metrics service owns the thresholds), and a flap is a
matter of time (corrections, replays), not of a value wobbling around a threshold. A
status has held when the next change came ``settle_seconds`` or more later by the events'
own times (so a replay after an outage judges by when things happened), or when the wait
ran out on the clock of the worker with no change arriving.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from services.notifications.domain.notices import Notice


@dataclass(frozen=True)
class Watch:
    """What we know of one objective's status: the latest, and the last announced."""

    objective_id: str
    status: str
    since: datetime  # the time of the event that began it
    event_id: str
    notice: Notice  # the notice of that event
    due_at: datetime | None  # when it counts as settled; None: nothing waits
    announced: str | None = None
    announced_event_id: str | None = None
    announced_notice: Notice | None = None

    @property
    def waiting(self) -> bool:
        return self.due_at is not None


def observe(watch: Watch | None, notice: Notice, now: datetime,
            settle_seconds: float) -> tuple[Watch | None, list[Notice]]:
    """A status change seen: the watch after it, and what settled because of it.

    Returns ``(None, [])`` for a change older than the one already seen (out of order):
    it changes nothing. A waiting status that held ``settle_seconds`` by the events' times
    settles now, before the new status starts its wait."""
    assert notice.status is not None
    if watch is not None and notice.occurred_at < watch.since:
        return None, []
    settled: list[Notice] = []
    if watch is None:  # the status before this change is the baseline: no news
        watch = Watch(objective_id=notice.objective_id, status=notice.previous_status or "",
                      since=notice.occurred_at, event_id=notice.event_id, notice=notice,
                      due_at=None, announced=notice.previous_status)
    elif watch.waiting and notice.occurred_at - watch.since >= timedelta(
            seconds=settle_seconds):
        watch, held = settle(watch)
        settled.append(held)
    due = None if notice.status == watch.announced else now + timedelta(seconds=settle_seconds)
    return replace(watch, status=notice.status, since=notice.occurred_at,
                   event_id=notice.event_id, notice=notice, due_at=due), settled


def settle(watch: Watch) -> tuple[Watch, Notice]:
    """The waiting status is settled: the notice that announces it, and the watch after."""
    notice = replace(watch.notice, previous_status=watch.announced, settled=True)
    return replace(watch, due_at=None, announced=watch.status,
                   announced_event_id=watch.event_id, announced_notice=notice), notice


def settled_summary(notice: Notice) -> str:
    """What a settled change says in one line."""
    name = f"'{notice.title}'" if notice.title else "an objective"
    if notice.recovery:
        return f"{name} is back on track (was {notice.previous_status})"
    return f"{name} is now {notice.status} (was {notice.previous_status or 'no status'})"
