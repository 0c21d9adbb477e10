"""The notification rules in plain Python: matching, defaults, throttling, digests, retries,
and which webhook targets may be called (no I/O here)."""

from __future__ import annotations

import contextlib
import ipaddress
import random
import socket
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.notifications.domain.digests import build_digest
from services.notifications.domain.errors import InvalidInput
from services.notifications.domain.matching import SubscriptionIndex, matches
from services.notifications.domain.messages import DIGEST_TYPE, Message
from services.notifications.domain.retries import RetrySchedule
from services.notifications.domain.subscriptions import DeliveryMode, Filters
from services.notifications.domain.targets import TargetPolicy, check_webhook_url
from services.notifications.domain.throttling import Route, route
from shared.contract import EventType
from tests.notifications.builders import AT, notice, subscription

CHECKED_IN = EventType.KEY_RESULT_CHECKED_IN.value
STATUS_CHANGED = EventType.OBJECTIVE_STATUS_CHANGED.value


# -- default rules ---------------------------------------------------------------------------

def test_head_hears_when_an_item_their_department_depends_on_turns_at_risk() -> None:
    sales = subscription(department="sales")
    index = SubscriptionIndex([sales])
    production = dict(objective_id="capacity", kind="department", departments=("production",),
                      dependent_departments=frozenset({"sales"}))
    assert index.match(notice(**production, status="at_risk")) == [sales]
    assert index.match(notice(**production, status="off_track")) == [sales]
    assert index.match(notice(**production, status="on_track")) == []


def test_department_without_a_link_does_not_hear_another_departments_item() -> None:
    finance = subscription(department="finance")
    index = SubscriptionIndex([finance])
    assert index.match(notice(objective_id="capacity", kind="department",
                              departments=("production",),
                              dependent_departments=frozenset({"sales"}))) == []


def test_owners_of_a_collective_target_hear_every_status_change_and_executive_too() -> None:
    sales, finance = subscription(department="sales"), subscription(department="finance")
    executive = subscription(department=None, recipient="CEO")
    index = SubscriptionIndex([sales, finance, executive])
    heard = index.match(notice(status="on_track", previous_status="at_risk"))
    assert {s.id for s in heard} == {sales.id, executive.id}


def test_check_ins_reach_owning_department_defaults_but_only_as_routine() -> None:
    sales = subscription(department="sales")
    check_in = notice(event_type=CHECKED_IN, kind="department", departments=("sales",),
                      status=None)
    assert SubscriptionIndex([sales]).match(check_in) == [sales]
    assert check_in.routine
    assert route(check_in, sales, sent_in_last_hour=0, hourly_cap=10) is Route.DIGEST


# -- explicit filters through the index ------------------------------------------------------

def test_filters_combine_with_and_across_and_or_within() -> None:
    wanted = subscription(filters={"departments": ["sales", "finance"],
                                   "statuses": ["off_track"]})
    index = SubscriptionIndex([wanted])
    assert index.match(notice(status="off_track")) == [wanted]
    assert index.match(notice(status="at_risk")) == []
    assert index.match(notice(departments=("production",), status="off_track")) == []


def test_index_agrees_with_the_plain_definition_on_random_subscriptions() -> None:
    rng = random.Random(7)
    departments = ["sales", "marketing", "finance", "production"]
    statuses = ["on_track", "at_risk", "off_track"]
    types = [STATUS_CHANGED, CHECKED_IN, EventType.ROLLUP_CHANGED.value]
    objectives = [f"o{i}" for i in range(6)]
    subs = [subscription(filters={
        "departments": rng.sample(departments, rng.randint(0, 2)),
        "objectives": rng.sample(objectives, rng.randint(0, 2)),
        "event_types": rng.sample(types, rng.randint(0, 2)),
        "statuses": rng.sample(statuses, rng.randint(0, 1)),
    }) for _ in range(300)]
    subs = [s for s in subs if not s.follows_defaults]
    index = SubscriptionIndex(subs)
    for _ in range(200):
        n = notice(objective_id=rng.choice(objectives), event_type=rng.choice(types),
                   departments=tuple(rng.sample(departments, rng.randint(1, 2))),
                   status=rng.choice(statuses))
        expected = sorted(s.id for s in subs if matches(s.filters, n))
        assert [s.id for s in index.match(n)] == expected


def test_unknown_event_type_or_status_in_filters_is_refused() -> None:
    with pytest.raises(InvalidInput, match="unknown event type"):
        Filters.from_dict({"event_types": ["okr.nothing.happened"]})
    with pytest.raises(InvalidInput, match="unknown status"):
        Filters.from_dict({"statuses": ["fine"]})


# -- throttling ------------------------------------------------------------------------------

def test_hourly_cap_sends_the_excess_to_the_digest_instead_of_dropping_it() -> None:
    sales = subscription()
    alarm = notice()
    assert route(alarm, sales, sent_in_last_hour=2, hourly_cap=3) is Route.IMMEDIATE
    assert route(alarm, sales, sent_in_last_hour=3, hourly_cap=3) is Route.OVERFLOW
    digest_only = subscription(mode=DeliveryMode.DIGEST)
    assert route(alarm, digest_only, sent_in_last_hour=0, hourly_cap=3) is Route.DIGEST


# -- digests ---------------------------------------------------------------------------------

def test_digest_groups_changes_by_collective_target_and_by_department() -> None:
    items = [notice(event_type=CHECKED_IN, summary=f"c{i}", occurred_at=AT + timedelta(minutes=i))
             for i in range(3)]
    items += [notice(event_type=CHECKED_IN, objective_id="sales-1", title="Sales own",
                     kind="department", departments=("sales",), summary="s")]
    digest = build_digest(items)
    assert digest["count"] == 4
    (target,) = digest["collective_targets"]
    assert target["title"] == "Grow revenue"
    assert [c["summary"] for c in target["changes"]] == ["c0", "c1", "c2"]
    assert [g["department"] for g in digest["departments"]] == ["sales"]
    message = Message(DIGEST_TYPE, digest)
    assert "Collective target: Grow revenue" in message.text()
    assert "<h2>Department: sales</h2>" in message.html()


# -- retries ---------------------------------------------------------------------------------

def test_retry_schedule_doubles_up_to_the_cap_with_jitter_only_shortening() -> None:
    schedule = RetrySchedule(base_seconds=30, max_delay_seconds=300, max_attempts=5, jitter=0.2)
    assert [schedule.nominal_delay(n) for n in range(1, 6)] == [30, 60, 120, 240, 300]
    rng = random.Random(1)
    delays = [schedule.delay(3, rng) for _ in range(100)]
    assert all(96 <= d <= 120 for d in delays) and len(set(delays)) > 50
    assert not schedule.exhausted(4) and schedule.exhausted(5)


# -- webhook targets -------------------------------------------------------------------------

@pytest.mark.parametrize("url", [
    "ftp://example.org/hook", "file:///etc/passwd", "http://10.0.0.8/hook",
    "http://192.168.1.1/", "http://169.254.169.254/latest/meta-data", "http://127.0.0.1:9/x",
    "http://localhost/x", "http://[::1]/x", "http://user:pw@example.org/", "not a url",
    "http://example.org:99999/",
])
def test_bad_or_private_webhook_urls_are_refused(url: str) -> None:
    with pytest.raises(InvalidInput):
        check_webhook_url(url, TargetPolicy())


def test_operator_switches_allow_loopback_or_every_private_target() -> None:
    assert check_webhook_url("http://127.0.0.1:8/x", TargetPolicy(allow_loopback=True))
    with pytest.raises(InvalidInput):
        check_webhook_url("http://10.1.2.3/x", TargetPolicy(allow_loopback=True))
    assert check_webhook_url("http://10.1.2.3/x", TargetPolicy(allow_private=True))
    assert TargetPolicy().refusal(ipaddress.ip_address("::ffff:127.0.0.1")) is not None
    assert TargetPolicy().refusal(ipaddress.ip_address("93.184.216.34")) is None


@pytest.mark.parametrize("host", [
    "a..b.com", ".example.com", "a" * 70 + ".com", "\u200b.com", "á" + "b" * 62 + ".com",
    "ä" * 60 + ".com"], ids=["empty-label", "leading-dot", "long-label", "zero-width",
                             "long-encoded", "long-umlauts"])
def test_a_host_the_resolver_cannot_encode_is_refused_here_not_at_resolution(host: str) -> None:
    # getaddrinfo raises UnicodeError (not OSError) for these: it escaped as a 500
    with pytest.raises(InvalidInput) as refused:
        check_webhook_url(f"http://{host}/x", TargetPolicy())
    assert refused.value.field == "url" and "not a valid host name" in str(refused.value)


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=80))
def test_any_host_is_either_refused_clearly_or_one_the_resolver_can_encode(host: str) -> None:
    try:
        checked = check_webhook_url(f"http://{host}/x", TargetPolicy(allow_loopback=True))
    except InvalidInput as refused:
        assert refused.field == "url"
        return
    # a name, not a number, is encoded and then refused as such: never looked up here
    with contextlib.suppress(socket.gaierror):
        socket.getaddrinfo(checked, 80, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)


@pytest.mark.parametrize("address", ["2002:7f00:1::", "2002:a00:1::1", "2002:a9fe:a9fe::",
                                     "2001:0:4136:e378:8000:63bf:80ff:fffe"],
                         ids=["6to4-loopback", "6to4-private", "6to4-metadata",
                              "teredo-loopback-client"])
def test_an_ipv4_address_carried_in_ipv6_is_judged_as_that_address(address: str) -> None:
    # 2002:7f00:1:: is 6to4 for 127.0.0.1; the Teredo client 80ff:fffe is ~127.0.0.1
    assert TargetPolicy().refusal(ipaddress.ip_address(address)) is not None
    with pytest.raises(InvalidInput):
        check_webhook_url(f"http://[{address}]/x", TargetPolicy())
    assert TargetPolicy().refusal(ipaddress.ip_address("2002:5db8:d822::")) is None  # public


def test_a_site_local_ipv6_address_is_refused() -> None:
    # fec0::/10 is deprecated but may still route inside a network; Python 3.11 calls it
    # global (found by an outside attack)
    assert TargetPolicy().refusal(ipaddress.ip_address("fec0::1")) is not None
    with pytest.raises(InvalidInput):
        check_webhook_url("http://[fec0::1]/x", TargetPolicy())
