"""Subscriptions: who hears what, through which channel, and how often.

A subscription's digest goes out once its oldest waiting item has waited
``digest_interval_seconds``; or, when it carries a ``digest_schedule`` (a local time of day
on chosen weekdays in an IANA time zone, ``domain/schedules.py``), at the schedule's first
run after its oldest waiting item: items collected during the week all go out on Monday
09:00 Europe/Berlin, and one that arrives after a run waits for the next run.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from services.notifications.domain.errors import InvalidInput
from services.notifications.domain.notices import NOTIFIABLE_EVENT_TYPES, STATUSES
from services.notifications.domain.schedules import DigestSchedule, ScheduleError, parse_schedule
from services.notifications.domain.targets import TargetPolicy, check_webhook_url
from shared.contract.keys import DEPARTMENT_KEY

EMAIL_ADDRESS = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$")
#: What makes an address read as another: Unicode's default-ignorable code points (shown as
#: nothing: zero-width and direction marks, fillers, variation selectors, tags) and blank
#: symbols (U+2800 braille blank, U+FFFC). Format characters (Cf), private-use ones (Co,
#: shown as a box or nothing) and unassigned ones (Cn, in this Python's Unicode tables) are
#: refused as well.
_UNSEEN = frozenset({"Cf", "Co", "Cn"})
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f"
    "\u202a-\u202e\u2060-\u206f\u2800\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufffc"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff]")
SECRET_PREFIX = "whsec_"
MIN_SECRET_BYTES = 24
MIN_DIGEST_SECONDS = 1
MAX_DIGEST_SECONDS = 7 * 24 * 3600
_FORM_ONLY = TargetPolicy(allow_private=True)  # a URL's form, whatever its address


class Channel(StrEnum):
    WEBHOOK = "webhook"  # signed JSON (Standard Webhooks)
    EMAIL = "email"
    SLACK = "slack"  # a Slack incoming webhook: Block Kit
    TEAMS = "teams"  # a Microsoft Teams incoming webhook: an Adaptive Card

    @property
    def has_url(self) -> bool:
        return self is not Channel.EMAIL

    @property
    def signed(self) -> bool:
        """Only our own webhooks carry a secret; a chat hook's URL is its secret."""
        return self is Channel.WEBHOOK


class DeliveryMode(StrEnum):
    IMMEDIATE = "immediate"
    DIGEST = "digest"


@dataclass(frozen=True)
class Filters:
    """Each non-empty filter must match (AND); within one, any value matches (OR).

    A subscription with no filter at all follows the default rules (see ``rules``).
    """

    departments: frozenset[str] = frozenset()
    objectives: frozenset[str] = frozenset()
    event_types: frozenset[str] = frozenset()
    statuses: frozenset[str] = frozenset()

    @property
    def empty(self) -> bool:
        return not (self.departments or self.objectives or self.event_types or self.statuses)

    def to_dict(self) -> dict[str, list[str]]:
        return {"departments": sorted(self.departments), "objectives": sorted(self.objectives),
                "event_types": sorted(self.event_types), "statuses": sorted(self.statuses)}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Filters:
        data = data or {}
        filters = cls(departments=frozenset(data.get("departments") or ()),
                      objectives=frozenset(data.get("objectives") or ()),
                      event_types=frozenset(data.get("event_types") or ()),
                      statuses=frozenset(data.get("statuses") or ()))
        filters.check()
        return filters

    def check(self) -> None:
        for department in self.departments:
            if not DEPARTMENT_KEY.fullmatch(department):
                raise InvalidInput(f"unknown department key {department!r}",
                                   "filters.departments")
        unknown = sorted(self.event_types - {t.value for t in NOTIFIABLE_EVENT_TYPES})
        if unknown:
            raise InvalidInput(f"unknown event type(s): {', '.join(unknown)}; known: "
                               + ", ".join(sorted(t.value for t in NOTIFIABLE_EVENT_TYPES)),
                               "filters.event_types")
        unknown = sorted(self.statuses - STATUSES)
        if unknown:
            raise InvalidInput(f"unknown status(es): {', '.join(unknown)}; known: "
                               + ", ".join(sorted(STATUSES)), "filters.statuses")


@dataclass(frozen=True)
class Subscription:
    id: str
    recipient: str
    department: str | None
    channel: Channel
    target: str  # the webhook URL or the e-mail address
    secret: str | None = field(repr=False)  # webhooks only; never shown, never logged
    filters: Filters
    mode: DeliveryMode
    digest_interval_seconds: int
    created_by: str
    created_at: datetime
    updated_at: datetime
    version: int = 1
    digest_schedule: DigestSchedule | None = None  # None: every digest_interval_seconds

    @classmethod
    def new(cls, *, recipient: str, department: str | None, channel: Channel, target: str,
            secret: str | None, filters: Filters, mode: DeliveryMode,
            digest_interval_seconds: int, created_by: str, now: datetime,
            digest_schedule: DigestSchedule | None = None) -> Subscription:
        subscription = cls(id=str(uuid.uuid4()), recipient=recipient, department=department,
                           channel=channel, target=target, secret=secret, filters=filters,
                           mode=mode, digest_interval_seconds=digest_interval_seconds,
                           created_by=created_by, created_at=now, updated_at=now,
                           digest_schedule=digest_schedule)
        subscription.check()
        return subscription

    @property
    def follows_defaults(self) -> bool:
        return self.filters.empty

    def digest_due_at(self, oldest: datetime) -> datetime:
        """When the digest whose oldest waiting item came at ``oldest`` goes out: the
        schedule's first run after it, else ``digest_interval_seconds`` after it."""
        if self.digest_schedule is not None:
            return self.digest_schedule.next_run(oldest)
        return oldest + timedelta(seconds=self.digest_interval_seconds)

    def digest_due(self, oldest: datetime, now: datetime) -> bool:
        return now >= self.digest_due_at(oldest)

    def changed(self, now: datetime, **changes: Any) -> Subscription:
        updated = replace(self, **changes, updated_at=now, version=self.version + 1)
        updated.check()
        return updated

    def check(self) -> None:
        if not self.recipient.strip() or len(self.recipient) > 200:
            raise InvalidInput("recipient must be 1 to 200 characters", "recipient")
        if self.department is not None and not DEPARTMENT_KEY.fullmatch(self.department):
            raise InvalidInput(f"unknown department key {self.department!r}", "department")
        if not MIN_DIGEST_SECONDS <= self.digest_interval_seconds <= MAX_DIGEST_SECONDS:
            raise InvalidInput(f"digest_interval_seconds must be between {MIN_DIGEST_SECONDS} "
                               f"and {MAX_DIGEST_SECONDS}", "digest_interval_seconds")
        self.filters.check()
        if self.channel.has_url:
            # the URL's form on every path that makes or changes a subscription (port 0
            # included); whether its address may be called depends on the operator's
            # policy and is checked where that is known (subscribing, and each send)
            check_webhook_url(self.target, _FORM_ONLY)
        if self.channel is Channel.EMAIL:
            if not EMAIL_ADDRESS.fullmatch(self.target):
                raise InvalidInput(f"{self.target!r} is not an e-mail address", "email")
            if _INVISIBLE.search(self.target) or any(
                    unicodedata.category(character) in _UNSEEN for character in self.target):
                # a direction override or a zero-width character: it reads as another
                raise InvalidInput("an e-mail address has no invisible or direction-changing "
                                   "characters", "email")
            if self.secret is not None:
                raise InvalidInput("only webhook subscriptions have a secret", "secret")
        elif self.channel.signed:
            check_secret(self.secret)
        elif self.secret is not None:
            raise InvalidInput(f"a {self.channel.value} hook has no secret: its URL is one",
                               "secret")


def check_secret(secret: str | None) -> None:
    """A Standard Webhooks secret: ``whsec_`` and base64 of at least 24 random bytes."""
    if not secret or not secret.startswith(SECRET_PREFIX):
        raise InvalidInput(f"a webhook needs a secret 'whsec_<base64 of at least "
                           f"{MIN_SECRET_BYTES} random bytes>'", "secret")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("the secret after 'whsec_' must be base64", "secret") from None
    if len(key) < MIN_SECRET_BYTES:
        raise InvalidInput(f"the secret must hold at least {MIN_SECRET_BYTES} bytes", "secret")


def schedule_from(data: object) -> DigestSchedule | None:
    """A ``digest_schedule`` from its JSON form (``None``: none), or ``InvalidInput``
    naming the field at fault (unknown zone, bad time, no weekday)."""
    if data is None:
        return None
    try:
        return parse_schedule(data, "digest_schedule")
    except ScheduleError as error:
        raise InvalidInput(f"{error.field}: {error.message}", error.field) from None
