"""Request and response bodies of the notifications API (the OpenAPI document is built
from these). Secrets are load-only: no response ever contains one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from services.notifications.domain.deliveries import STATUSES as DELIVERY_STATUSES
from services.notifications.domain.notices import NOTIFIABLE_EVENT_TYPES, STATUSES
from services.notifications.domain.schedules import WEEKDAYS
from services.notifications.domain.subscriptions import (
    MAX_DIGEST_SECONDS,
    MIN_DIGEST_SECONDS,
    Channel,
    DeliveryMode,
)
from shared.contract.keys import DEPARTMENT_KEY
from shared.web.aliases import deprecated_alias, member_of
from shared.web.boundary import single_line
from shared.web.dates import Timestamp
from shared.web.numbers import JsonInteger

EVENT_TYPES = sorted(t.value for t in NOTIFIABLE_EVENT_TYPES)
Validators = list[Callable[[Any], Any]]
RECIPIENT: Validators = [validate.Length(min=1, max=200), single_line]
URL: Validators = [validate.Length(min=1, max=2000), single_line]
EMAIL: Validators = [validate.Length(min=3, max=254), single_line]
SECRET: Validators = [validate.Length(min=1, max=200), single_line]


def _department() -> fields.String:
    return fields.String(validate=validate.Regexp(DEPARTMENT_KEY, error=(
        "not a department key (lower case letters, digits, '-')")))


class FiltersSchema(Schema):
    """Each filter given must match (AND); any value within one matches (OR). No filter at
    all: the default rules apply (see the service description)."""

    departments = fields.List(_department(), load_default=list)
    objectives = fields.List(fields.String(validate=[validate.Length(min=1, max=64),
                                                     single_line]), load_default=list)
    event_types = fields.List(fields.String(validate=validate.OneOf(
        EVENT_TYPES, error="unknown event type {input!r}; known: {choices}")), load_default=list)
    statuses = fields.List(fields.String(validate=validate.OneOf(
        sorted(STATUSES), error="unknown status {input!r}; known: {choices}")),
        load_default=list)


class DigestScheduleSchema(Schema):
    """When the digest goes out: a local time of day on chosen weekdays in the recipient's
    IANA time zone (e.g. Mondays 09:00 Europe/Berlin). A time that does not exist that day
    (clocks moved forward) runs as far after the jump; one that occurs twice runs once."""

    time = fields.String(required=True, metadata={
        "description": "local time of day, HH:MM (24-hour)", "example": "09:00",
        "pattern": "^[0-2][0-9]:[0-5][0-9]$"})
    weekdays = fields.List(fields.String(metadata={"enum": list(WEEKDAYS)}), required=True,
                           metadata={"description": "one to seven days", "minItems": 1,
                                     "maxItems": 7, "example": ["monday"]})
    time_zone = fields.String(required=True, metadata={
        "description": "IANA time zone name", "example": "Europe/Berlin"})

    @post_load
    def _canonical_days(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        """Days as the subscription keeps them (lower case, once each, Monday first), so a
        retry that names them otherwise is the same request (Idempotency-Key); anything
        else is left for the schedule's own checks to refuse in words."""
        days = data.get("weekdays")
        if (isinstance(days, list) and 0 < len(days) <= len(WEEKDAYS)
                and all(isinstance(day, str) and day.lower() in WEEKDAYS for day in days)):
            named = {day.lower() for day in days}
            data["weekdays"] = [day for day in WEEKDAYS if day in named]
        return data


def _digest_schedule() -> fields.Nested:
    return fields.Nested(DigestScheduleSchema, allow_none=True, metadata={
        "description": "send the digest at the schedule's first run after its oldest item "
                       "instead of after digest_interval_seconds; null: by the interval"})


class SubscriptionSchema(Schema):
    id = fields.String(dump_only=True)
    recipient = fields.String(required=True, validate=RECIPIENT,
                              metadata={"description": "who hears (a person or a system)"})
    department = fields.String(allow_none=True, validate=validate.Regexp(
        DEPARTMENT_KEY, error="not a department key"), metadata={
        "description": "the recipient's department (default rules use it); heads: their own"})
    channel = fields.String(required=True, validate=validate.OneOf([c.value for c in Channel]))
    url = fields.String(validate=URL, allow_none=True, metadata={
        "description": "webhook: http(s) URL of the receiver; slack, teams: the incoming "
                       "webhook's URL (a secret: shown only to those who may change it); "
                       "null for e-mail"})
    email = fields.String(validate=EMAIL, allow_none=True, metadata={
        "description": "e-mail: the address; null for webhook, slack and teams"})
    secret = fields.String(load_only=True, validate=SECRET, metadata={
        "description": "webhook only: 'whsec_' + base64 of 24+ random bytes; never returned"})
    has_secret = fields.Boolean(dump_only=True)
    filters = fields.Nested(FiltersSchema, load_default=dict)
    mode = fields.String(load_default=DeliveryMode.IMMEDIATE.value,
                         validate=validate.OneOf([m.value for m in DeliveryMode]))
    digest_interval_seconds = JsonInteger(
        validate=validate.Range(min=MIN_DIGEST_SECONDS, max=MAX_DIGEST_SECONDS),
        metadata={"description": "how often this subscription's digest goes out (when it "
                                 "has no digest_schedule)"})
    digest_schedule = _digest_schedule()
    created_by = fields.String(dump_only=True)
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)
    version = fields.Integer(dump_only=True)

    @validates_schema
    def _one_target(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("channel") in {c.value for c in Channel if c.has_url} \
                and not data.get("url"):
            raise ValidationError(f"a {data['channel']} subscription needs 'url'", "url")
        if data.get("channel") == Channel.EMAIL.value and not data.get("email"):
            raise ValidationError("an e-mail subscription needs 'email'", "email")


class SubscriptionUpdateSchema(Schema):
    recipient = fields.String(validate=RECIPIENT)
    url = fields.String(validate=URL)
    email = fields.String(validate=EMAIL)
    secret = fields.String(load_only=True, validate=SECRET)
    filters = fields.Nested(FiltersSchema)
    mode = fields.String(validate=validate.OneOf([m.value for m in DeliveryMode]))
    digest_interval_seconds = JsonInteger(
        validate=validate.Range(min=MIN_DIGEST_SECONDS, max=MAX_DIGEST_SECONDS))
    digest_schedule = _digest_schedule()


class SubscriptionQuerySchema(Schema):
    department = _department()
    channel = fields.String(validate=validate.OneOf([c.value for c in Channel]))
    recipient = fields.String(validate=RECIPIENT)


class DeliverySchema(Schema):
    id = fields.String(metadata={"description": "also the webhook-id of every attempt"})
    subscription_id = fields.String()
    recipient = fields.String()
    channel = fields.String()
    kind = fields.String(metadata={"description": "'event' or 'digest'"})
    cause_event_id = member_of(fields.String, "event_id", metadata={
        "description": "the event that caused it (as in okr.notification.* events), or "
                       "'digest:<id>' for a digest"})
    event_id = deprecated_alias(fields.String, "cause_event_id", source="event_id")
    message_type = fields.String()
    objective_id = fields.String(allow_none=True)
    payload = fields.Dict()
    status = fields.String(metadata={"description": "pending, delivered or dead"})
    attempts = fields.Integer()
    next_attempt_at = Timestamp()
    last_error = fields.String(allow_none=True, metadata={
        "description": "why the last attempt failed (for dead ones: why it was given up)"})
    created_at = Timestamp()
    updated_at = Timestamp()
    delivered_at = Timestamp(allow_none=True)


class DeliveryQuerySchema(Schema):
    status = fields.String(validate=validate.OneOf(DELIVERY_STATUSES))
    subscription_id = fields.String(validate=validate.Length(min=1, max=64))
