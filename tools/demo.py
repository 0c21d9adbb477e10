"""``make demo``: a realistic organisation, seeded through the public API of a running platform.

Run beside ``make run``. It finds the platform where ``make run`` says it listens
(``$OKR_DATA_DIR/platform.env``; ``OKR_GOALS_URL`` and the others, or the options, win) and
authenticates with ``OKR_ADMIN_TOKEN`` or the token ``make run`` keeps in
``$OKR_DATA_DIR/admin-token``. It creates, as the executive and as each department's head:

* a collective target, *Grow new-customer revenue*, owned by sales and marketing, whose
  revenue key result sums the revenue each department sources;
* each department's own objective and key results, contributing to it;
* a finance budget objective and a production capacity objective, with links from the
  marketing and sales objectives to them;

then plays one batch of check-ins per week elapsed in the quarter, and waits until the
metrics service shows the target's roll-up.

**What it seeded is found by keys of its own, never by title.** Every item it creates is
recorded, under the demo's own key (``sales.revenue``, ``link.sales.supplied_by``...), with
the id the API gave it, in ``$OKR_DATA_DIR/demo-state.json`` (beside the admin token, mode
0600; ``make reset`` deletes it with the databases). Run again, it asks the API for each
recorded id: an item that is still there is reused, one that is gone (deleted, or a
platform reset) is created again. Objectives have no external key of their own in the API
and titles are neither unique nor stable (the README's tour creates a target with the same
title; anyone may rename one), so a record of ids is the one key that cannot match someone
else's item. The same file keeps the head tokens it minted (reused while they work, else
revoked and minted again) and how many weeks of check-ins each key result has had, so a
second run plays only the weeks that passed since, never the quarter's history again
(replaying old weeks over newer values would make every status flap and notify).

Before the check-ins it subscribes the head of sales, with the notification service's
default rules, to a webhook receiver it runs on loopback while it waits (``make run``
allows loopback targets; a deployment does not), prints what arrives, and deletes the
subscription when its receiver stops (and any the demo left before, found by its
recipient, *Head of sales (demo)*), so no dead subscription stays behind.

What it did goes to stderr for people; the last line on stdout is a JSON report for
scripts: what was created and what was found again, each count taken from the API's
answers.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import sys
import threading
import time
from base64 import b64encode
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

from shared.config import env_int, env_str
from tools.run import read_platform_env

REPOSITORY = Path(__file__).resolve().parents[1]
TARGET_TITLE = "Grow new-customer revenue"
STATE_FILE = "demo-state.json"
DEMO_RECIPIENT = "Head of sales (demo)"
#: The kinds of item the demo seeds, in the order it reports them.
KINDS = ("objectives", "key_results", "contributions", "links")
_ROUTES = {"objectives": "/v1/objectives", "key_results": "/v1/key-results",
           "contributions": "/v1/contributions", "links": "/v1/links"}


class DemoFailed(Exception):
    """The platform refused or could not answer a request the demo depends on."""


@dataclass
class Client:
    base: str
    token: str
    session: requests.Session = field(default_factory=requests.Session)

    def as_token(self, token: str) -> Client:
        return Client(self.base, token, self.session)

    def request(self, method: str, path: str, body: Any = None,
                headers: dict[str, str] | None = None, **params: Any) -> requests.Response:
        return self.session.request(
            method, self.base + path, json=body, params=params or None, timeout=10,
            headers={"Authorization": f"Bearer {self.token}", **(headers or {})})

    def call(self, method: str, path: str, body: Any = None, expect: tuple[int, ...] = (200, 201),
             headers: dict[str, str] | None = None, **params: Any) -> Any:
        response = self.request(method, path, body, headers, **params)
        if response.status_code not in expect:
            raise DemoFailed(f"{method} {path} answered {response.status_code}: "
                             f"{response.text[:500]}")
        return response.json() if response.content else None

    def found(self, path: str) -> bool:
        """Whether ``GET path`` finds the item (200) or not (404); anything else fails."""
        response = self.request("GET", path)
        if response.status_code not in (200, 404):
            raise DemoFailed(f"GET {path} answered {response.status_code}: "
                             f"{response.text[:500]}")
        return response.status_code == 200


@dataclass(frozen=True)
class KeyResultPlan:
    key: str  # the demo's own key for it, in its record
    title: str
    measure: str
    start: float
    target: float
    unit: str | None
    weekly: tuple[float, ...]  # the value reported each week (the last one repeats)
    confidence: tuple[float, ...]


@dataclass(frozen=True)
class ObjectivePlan:
    department: str
    title: str
    owner: str
    key_results: tuple[KeyResultPlan, ...]


DEPARTMENT_OBJECTIVES = (
    ObjectivePlan("sales", "Win new enterprise customers", "Head of sales", (
        KeyResultPlan("sales.revenue", "Revenue from sales-sourced new customers", "increase",
                      0, 700_000, "EUR",
                      (40_000, 95_000, 150_000, 210_000, 260_000, 330_000, 370_000, 420_000,
                       470_000, 520_000, 560_000, 600_000),
                      (0.7, 0.7, 0.65, 0.6, 0.6, 0.65, 0.6, 0.55, 0.6, 0.6, 0.6, 0.6)),
        KeyResultPlan("sales.win-rate", "Win rate of qualified opportunities", "increase",
                      18, 30, "%", (18, 19, 20, 20, 21, 22, 22, 23, 24, 24, 25, 25),
                      (0.6,) * 12),
    )),
    ObjectivePlan("marketing", "Fill the pipeline with qualified leads", "Head of marketing", (
        KeyResultPlan("marketing.revenue", "Revenue from marketing-sourced new customers",
                      "increase", 0, 300_000, "EUR",
                      (10_000, 30_000, 55_000, 80_000, 110_000, 140_000, 165_000, 190_000,
                       215_000, 240_000, 260_000, 280_000),
                      (0.8,) * 12),
        KeyResultPlan("marketing.leads", "Marketing-qualified leads", "increase", 0, 1_200,
                      "leads", (90, 190, 300, 410, 500, 610, 700, 800, 900, 990, 1_080, 1_150),
                      (0.8,) * 12),
        KeyResultPlan("marketing.lead-cost", "Cost per qualified lead", "decrease", 250, 180,
                      "EUR", (245, 240, 236, 230, 226, 220, 215, 211, 205, 200, 196, 192),
                      (0.7,) * 12),
    )),
    ObjectivePlan("finance", "Fund growth within the quarter's budget", "Head of finance", (
        KeyResultPlan("finance.budget", "Campaign budget approved", "boolean", 0, 1, None,
                      (0, 1), (0.9, 1.0)),
        KeyResultPlan("finance.approvals", "Discount approvals answered within 24 h",
                      "increase", 60, 95, "%",
                      (62, 66, 70, 74, 78, 80, 83, 85, 88, 90, 91, 92), (0.7,) * 12),
    )),
    ObjectivePlan("production", "Deliver onboarding capacity for new customers",
                  "Head of production", (
        KeyResultPlan("production.onboarded", "New customers onboarded per week", "increase",
                      10, 40, "customers", (10, 11, 12, 12, 13, 14, 14, 15, 15, 16, 16, 17),
                      (0.5, 0.45, 0.4, 0.4, 0.35, 0.35, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3)),
    )),
)

#: The collective target's own key results (admins write and check in on them).
TARGET_REVENUE = KeyResultPlan("target.revenue", "New-customer revenue", "increase", 0,
                               1_000_000, "EUR", (), ())
TARGET_RETENTION = KeyResultPlan("target.retention", "Customers who stay past onboarding",
                                 "increase", 0, 40, "customers",
                                 tuple(min(40, 3 * week) for week in range(1, 13)),
                                 (0.6,) * 12)

# (from department's objective, link kind, to department's objective, note)
LINKS = (
    ("marketing", "funded_by", "finance", "campaign spend comes from the quarter's budget"),
    ("sales", "supplied_by", "production", "every new customer needs onboarding capacity"),
    ("sales", "depends_on", "finance", "enterprise deals need discount approvals in a day"),
)


def current_quarter(today: date) -> tuple[str, date, date]:
    quarter = (today.month - 1) // 3
    starts = date(today.year, quarter * 3 + 1, 1)
    ends = (date(today.year + 1, 1, 1) if quarter == 3
            else date(today.year, quarter * 3 + 4, 1)) - timedelta(days=1)
    return f"{today.year}-Q{quarter + 1}", starts, ends


def weeks_elapsed(starts: date, today: date) -> int:
    return max(1, min(12, (today - starts).days // 7 + 1))


def data_dir() -> Path:
    return Path(env_str("OKR_DATA_DIR", str(REPOSITORY / ".okr-data"))).resolve()


def _admin_token(folder: Path) -> str:
    token = os.environ.get("OKR_ADMIN_TOKEN", "").strip()
    if token:
        return token
    kept = folder / "admin-token"
    if kept.exists():
        return kept.read_text().strip()
    raise DemoFailed(f"no admin token: set OKR_ADMIN_TOKEN, or start the platform with "
                     f"`make run` first (it keeps one in {kept})")


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- the record of what the demo seeded -------------------------------------------------------

class State:
    """``demo-state.json``: the ids of what the demo seeded, by its own keys, its head
    tokens, and the weeks of check-ins each key result has had. Saved after every change,
    so a run that is interrupted leaves a record the next one can go on from."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.data: dict[str, Any] = json.loads(path.read_text())
        except FileNotFoundError:
            self.data = {}
        except (OSError, ValueError) as error:
            raise DemoFailed(f"cannot read {path} ({error}): delete it, or `make reset`"
                             ) from error
        self.data.setdefault("tokens", {})
        self.data.setdefault("cycles", {})

    @property
    def tokens(self) -> dict[str, dict[str, str]]:
        tokens: dict[str, dict[str, str]] = self.data["tokens"]
        return tokens

    def cycle(self, key: str) -> dict[str, Any]:
        record: dict[str, Any] = self.data["cycles"].setdefault(key, {})
        for kind in (*KINDS, "weeks_played"):
            record.setdefault(kind, {})
        return record

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        # created readable by this user only: it holds the head tokens
        with os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600),
                       "w") as file:
            file.write(json.dumps(self.data, indent=1, sort_keys=True) + "\n")
        partial.replace(self.path)


@dataclass
class Tally:
    """What this run created and what it found again, counted from the API's answers."""

    created: Counter[str] = field(default_factory=Counter)
    reused: Counter[str] = field(default_factory=Counter)

    def phrase(self, counts: Counter[str], kinds: tuple[str, ...]) -> str:
        labels = {"key_results": "key results", "check_ins": "check-ins"}
        return ", ".join(f"{counts[kind]} {labels.get(kind, kind)}" for kind in kinds)


class Seeder:
    """Finds each item the record names, or creates it and records it."""

    def __init__(self, admin: Client, state: State, cycle: str, tally: Tally) -> None:
        self.admin = admin
        self.state = state
        self.record = state.cycle(cycle)
        self.tally = tally

    def ensure(self, kind: str, key: str, create: Callable[[], tuple[dict[str, Any], bool]],
               ) -> str:
        """The id recorded under ``key`` if the API still has it; else ``create()``'s
        (which answers the item and whether it made it or found it already there)."""
        known = self.record[kind].get(key)
        if known and self.admin.found(f"{_ROUTES[kind]}/{known}"):
            self.tally.reused[kind] += 1
            return str(known)
        item, made = create()
        (self.tally.created if made else self.tally.reused)[kind] += 1
        self.record[kind][key] = item["id"]
        if kind == "key_results":
            self.record["weeks_played"].pop(key, None)  # a new key result has no history
        self.state.save()
        return str(item["id"])


def _created(client: Client, path: str, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    item: dict[str, Any] = client.call("POST", path, body, expect=(201,))
    return item, True


def _edge(client: Client, path: str, body: dict[str, Any], match: dict[str, str],
          ) -> tuple[dict[str, Any], bool]:
    """Create a contribution or link; one that exists already (409: made by a run that was
    interrupted before it could record it) is found by ``match`` and adopted."""
    response = client.request("POST", path, body)
    if response.status_code == 201:
        return response.json(), True
    if response.status_code == 409:
        query: dict[str, Any] = {name: value for name, value in match.items()
                                 if name != "to_id"}
        if "from_id" in query:
            query = {"item_id": query.pop("from_id"), **query}
        found = client.call("GET", path, page_size=100, **query)
        adopted = next((item for item in found
                        if all(item.get(name) == value for name, value in match.items())), None)
        if adopted is not None:
            return adopted, False
    raise DemoFailed(f"POST {path} answered {response.status_code}: {response.text[:500]}")


def ensure_cycle(admin: Client, key: str, starts: date, ends: date) -> None:
    if admin.found(f"/v1/cycles/{key}"):
        return
    admin.call("POST", "/v1/cycles", {"key": key, "starts_on": starts.isoformat(),
                                      "ends_on": ends.isoformat()}, expect=(201,))


def head_tokens(admin: Client, state: State, tally: Tally) -> dict[str, str]:
    """A head token per department: the one recorded while it still works as that
    department's head, else the recorded one revoked and a new one minted."""
    heads = {}
    for department in sorted({plan.department for plan in DEPARTMENT_OBJECTIVES}):
        kept = state.tokens.get(department)
        if kept:
            response = admin.as_token(kept["token"]).request("GET", "/v1/tokens/self")
            who = response.json() if response.status_code == 200 else {}
            if (who.get("role"), who.get("department"), who.get("token_id")) == (
                    "head", department, kept["id"]):
                heads[department] = kept["token"]
                tally.reused["tokens"] += 1
                continue
            revoked = admin.request("DELETE", f"/v1/tokens/{kept['id']}")
            if revoked.status_code == 204:
                tally.created["tokens_revoked"] += 1
            elif revoked.status_code != 404:
                raise DemoFailed(f"DELETE /v1/tokens/{kept['id']} answered "
                                 f"{revoked.status_code}: {revoked.text[:300]}")
        minted = admin.call("POST", "/v1/tokens", {
            "name": f"Head of {department} (demo)", "role": "head", "department": department,
        }, expect=(201,))
        state.tokens[department] = {"id": minted["id"], "token": minted["token"]}
        state.save()
        tally.created["tokens"] += 1
        heads[department] = minted["token"]
    return heads


def seed(admin: Client, heads: dict[str, str], cycle: str, state: State, tally: Tally,
         ) -> dict[str, Any]:
    """Create the organisation, or find it by the record; the ids by the demo's keys."""
    seeder = Seeder(admin, state, cycle, tally)
    objectives: dict[str, str] = {}
    key_results: dict[str, str] = {}
    target = seeder.ensure("objectives", "target", partial(_created, admin, "/v1/objectives", {
        "cycle": cycle, "kind": "collective", "departments": ["sales", "marketing"],
        "owner": "CEO", "title": TARGET_TITLE,
        "description": "Sales and marketing own this together; their revenue adds up. "
                       "(seeded by make demo)"}))
    target_key_results: tuple[tuple[KeyResultPlan, dict[str, Any]], ...] = (
        (TARGET_REVENUE, {"aggregation": "sum"}), (TARGET_RETENTION, {"weight": 0.5}))
    for kr, extra in target_key_results:
        key_results[kr.key] = seeder.ensure("key_results", kr.key, partial(
            _created, admin, f"/v1/objectives/{target}/key-results", {
                "title": kr.title, "measure": kr.measure, "start": kr.start,
                "target": kr.target, "unit": kr.unit, **extra}))

    for plan in DEPARTMENT_OBJECTIVES:
        head = admin.as_token(heads[plan.department])
        objective = seeder.ensure("objectives", plan.department, partial(
            _created, head, "/v1/objectives", {
                "cycle": cycle, "kind": "department", "departments": [plan.department],
                "owner": plan.owner, "title": plan.title}))
        objectives[plan.department] = objective
        for kr in plan.key_results:
            body: dict[str, Any] = {"title": kr.title, "measure": kr.measure}
            if kr.measure != "boolean":
                body.update(start=kr.start, target=kr.target, unit=kr.unit)
            key_results[kr.key] = seeder.ensure("key_results", kr.key, partial(
                _created, head, f"/v1/objectives/{objective}/key-results", body))

    edges = [(department, "objective", objectives[department], target, {"weight": 1})
             for department in ("sales", "marketing")]
    edges += [(department, "key_result", key_results[f"{department}.revenue"],
               key_results[TARGET_REVENUE.key], {}) for department in ("sales", "marketing")]
    for department, item_type, child, parent, extra in edges:
        seeder.ensure("contributions", f"{department}.{item_type}", partial(
            _edge, admin.as_token(heads[department]), "/v1/contributions",
            {"child_type": item_type, "child_id": child, "parent_type": item_type,
             "parent_id": parent, **extra},
            {"child_id": child, "parent_id": parent}))
    for source, kind, destination, note in LINKS:
        from_id, to_id = objectives[source], objectives[destination]
        seeder.ensure("links", f"{source}.{kind}.{destination}", partial(
            _edge, admin.as_token(heads[source]), "/v1/links",
            {"kind": kind, "from_type": "objective", "from_id": from_id,
             "to_type": "objective", "to_id": to_id, "note": note},
            {"from_id": from_id, "to_id": to_id, "kind": kind}))
    return {"target": target, "objectives": objectives, "key_results": key_results}


def _weekly_plans() -> Iterator[tuple[str | None, KeyResultPlan]]:
    """(department whose head checks in, or None for the admin; plan) of every key result
    that gets weekly check-ins."""
    for plan in DEPARTMENT_OBJECTIVES:
        for kr in plan.key_results:
            yield plan.department, kr
    yield None, TARGET_RETENTION


def play_check_ins(admin: Client, heads: dict[str, str], ids: dict[str, Any], weeks: int,
                   cycle: str, state: State, tally: Tally) -> tuple[int, int] | None:
    """One check-in per key result and elapsed week it has not had yet, as the department's
    CRM or head would send it; the weeks played (first, last), or None when none was due.

    A second run plays only the weeks that passed since the first: replaying the quarter's
    history over newer values would move every status back and forth (and notify each
    time). Each check-in carries an ``idempotency_key`` made of the key result and the week,
    so a run interrupted mid-batch and started again does not apply one twice."""
    played: dict[str, int] = state.cycle(cycle)["weeks_played"]
    due = [week for week in range(1, weeks + 1)
           if any(played.get(kr.key, 0) < week for _, kr in _weekly_plans())]
    for week in due:
        batches: dict[str | None, list[tuple[str, dict[str, Any]]]] = {}
        for department, kr in _weekly_plans():
            if played.get(kr.key, 0) >= week:
                continue
            key_result = ids["key_results"][kr.key]
            batches.setdefault(department, []).append((kr.key, {
                "key_result_id": key_result, "value": kr.weekly[min(week, len(kr.weekly)) - 1],
                "confidence": kr.confidence[min(week, len(kr.confidence)) - 1],
                "note": f"week {week}", "source": "system" if kr.unit == "EUR" else "person",
                "idempotency_key": f"demo-{cycle}-{key_result}-week-{week}"}))
        for department, items in batches.items():
            client = admin if department is None else admin.as_token(heads[department])
            result = client.call("POST", "/v1/check-ins/batch",
                                 {"items": [item for _, item in items]})
            if result["failed"]:
                raise DemoFailed(f"check-ins of {department or 'the target'} refused: "
                                 f"{[r for r in result['results'] if r['status'] >= 400]}")
            for (key, _), outcome in zip(items, result["results"], strict=True):
                # 201: applied now; 200: the same key applied it before (an interrupted run)
                (tally.created if outcome["status"] == 201 else tally.reused)["check_ins"] += 1
                played[key] = week
            state.save()
    return (due[0], due[-1]) if due else None


# -- notifications -----------------------------------------------------------------------------

class WebhookInbox:
    """A webhook receiver on loopback that keeps what it is sent (signatures not checked)."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        inbox = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with contextlib.suppress(ValueError):
                    inbox.received.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/head-of-sales"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Subscription:
    """The demo's webhook subscription for the head of sales, for as long as its receiver runs."""

    client: Client
    id: str | None = None
    version: int = 1
    removed_before: int = 0

    def remove_left_over(self) -> None:
        """Delete every subscription of the demo's recipient (a run that was killed leaves
        one whose receiver is gone)."""
        listed = self.client.call("GET", "/v1/subscriptions", recipient=DEMO_RECIPIENT,
                                  page_size=100)
        for item in listed:
            if item.get("recipient") == DEMO_RECIPIENT:
                self.client.call("DELETE", f"/v1/subscriptions/{item['id']}", expect=(204, 404),
                                 headers={"If-Match": f'"{item["version"]}"'})
                self.removed_before += 1

    def subscribe(self, inbox: WebhookInbox) -> None:
        secret = "whsec_" + b64encode(secrets.token_bytes(32)).decode()
        created = self.client.call("POST", "/v1/subscriptions", {
            "recipient": DEMO_RECIPIENT, "channel": "webhook", "url": inbox.url,
            "secret": secret}, expect=(201,))
        self.id, self.version = created["id"], created["version"]

    def remove(self) -> None:
        if self.id is not None:
            self.client.call("DELETE", f"/v1/subscriptions/{self.id}", expect=(204, 404),
                             headers={"If-Match": f'"{self.version}"'})
            self.id = None


def wait_until_answering(urls: list[str], timeout: float) -> None:
    """Wait until each service's ``/healthz`` answers 200; DemoFailed after ``timeout``."""
    deadline = time.monotonic() + timeout
    for url in urls:
        said = False
        while True:
            try:
                if requests.get(f"{url}/healthz", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() >= deadline:
                raise DemoFailed(f"{url} did not answer within {timeout:.0f} s (is `make run` up?)")
            if not said:
                _say(f"waiting for {url} to answer ...")
                said = True
            time.sleep(0.5)


def wait_for_rollup(metrics_url: str, token: str, target: str, timeout: float,
                    quiet: float = 3.0) -> dict[str, Any] | None:
    """The target's roll-up once it shows progress and has not changed for ``quiet``
    seconds: the consumer works through the check-ins just played in batches, and a read
    in between would print a figure on its way."""
    deadline = time.monotonic() + timeout
    last: dict[str, Any] | None = None
    since = time.monotonic()
    while time.monotonic() < deadline:
        try:
            response = requests.get(f"{metrics_url}/v1/rollups/{target}", timeout=5,
                                    params={"depth": 2},
                                    headers={"Authorization": f"Bearer {token}"})
            body = response.json() if response.status_code == 200 else None
        except (requests.RequestException, ValueError):
            body = None
        if not isinstance(body, dict) or not body.get("progress"):
            last = None
        elif last is None or _rolled_up(body) != _rolled_up(last):
            last, since = body, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return body
        time.sleep(0.5)
    return last


def _rolled_up(body: dict[str, Any]) -> tuple[Any, ...]:
    """What the check-ins move in a roll-up; not what the clock moves (the expected
    progress grows with every read)."""
    return (body.get("progress"), body.get("status"), body.get("updated_at"))


def metrics_line(metrics_url: str, target: str) -> str | None:
    try:
        text = requests.get(f"{metrics_url}/metrics", timeout=10).text
    except requests.RequestException:
        return None
    needle = f'objective_id="{target}"'
    return next((line for line in text.splitlines()
                 if line.startswith("okr_objective_progress_ratio{") and needle in line), None)


def explain_lines(metrics_url: str, token: str, target: str) -> list[str]:
    """What holds the target back (``GET /v1/rollups/{id}/explain``, docs/explain.md)."""
    try:
        response = requests.get(f"{metrics_url}/v1/rollups/{target}/explain", timeout=10,
                                headers={"Authorization": f"Bearer {token}"})
    except requests.RequestException as error:
        return [f"  explain: not answered ({error})"]
    if response.status_code != 200:
        return [f"  explain: HTTP {response.status_code}"]
    body: dict[str, Any] = response.json()
    gap = body.get("gap")
    lines = [f"  explain: gap {'no data' if gap is None else f'{gap:+.4f}'} "
             "(expected progress - progress; positive: behind plan)"]
    lines.extend(f"    {part['department']}: {part['share']:+.4f} of the gap "
                 f"(weight {part['weight']:.3f})" for part in body.get("gap_by_department", []))
    for summed in body.get("sums", []):
        expected = summed.get("expected_amount")
        lines.append(f"    '{summed['title']}' sums {summed.get('value')} against "
                     f"{'no plan' if expected is None else f'{expected:,.0f}'} expected:")
        lines.extend(f"      {part['department']}: {part['amount']:,.0f} against "
                     + ("no plan" if part.get("expected_amount") is None
                        else f"{part['expected_amount']:,.0f}")
                     for part in summed.get("departments", []))
    for link in body.get("dependencies_at_risk", []):
        progress = link.get("progress")
        lines.append(f"    depends on {link['department']} '{link.get('title')}' "
                     f"({link['status']}, "
                     f"{'no data' if progress is None else f'{progress:.2f}'})")
    forecast = body.get("forecast") or {}
    attainment = forecast.get("attainment")
    told = "too little history" if attainment is None else f"{attainment:.3f}"
    lines.append(f"    forecast: {told} of the target at cycle end, "
                 f"reached on {forecast.get('reached_on')}")
    lines.append(f"    why: {body.get('why') or '-'}".replace("\n", " / "))
    return lines


def _wait_for_webhooks(inbox: WebhookInbox, seconds: float) -> None:
    """Until ``seconds`` have passed, or 3 s after the last webhook when one came."""
    deadline, seen, quiet_since = time.monotonic() + seconds, 0, time.monotonic()
    while time.monotonic() < deadline and not (seen and time.monotonic() - quiet_since > 3):
        time.sleep(0.5)
        if len(inbox.received) != seen:
            seen, quiet_since = len(inbox.received), time.monotonic()


def _default_url(variable: str, running: dict[str, str], port_variable: str, port: int) -> str:
    """``variable`` if set, else where a running ``make run`` says it serves, else the port."""
    return env_str(variable, running.get(variable) or
                   f"http://127.0.0.1:{env_int(port_variable, port)}")


def main(argv: list[str] | None = None) -> int:
    folder = data_dir()
    running = read_platform_env(folder)
    parser = argparse.ArgumentParser(
        prog="make demo", description="Seed a realistic organisation into a running platform.")
    parser.add_argument("--goals-url", default=_default_url(
        "OKR_GOALS_URL", running, "OKR_GOALS_PORT", 8081))
    parser.add_argument("--metrics-url", default=_default_url(
        "OKR_METRICS_URL", running, "OKR_METRICS_PORT", 8082))
    parser.add_argument("--notifications-url", default=_default_url(
        "OKR_NOTIFICATIONS_URL", running, "OKR_NOTIFICATIONS_PORT", 8083))
    parser.add_argument("--wait", type=float, default=60.0,
                        help="seconds to wait for the roll-up in the metrics service")
    parser.add_argument("--webhook-wait", type=float, default=20.0,
                        help="seconds to wait for webhooks to the head of sales")
    args = parser.parse_args(argv)
    metrics_url = args.metrics_url.rstrip("/")
    tally = Tally()
    subscription: Subscription | None = None
    inbox: WebhookInbox | None = None
    try:
        admin = Client(args.goals_url.rstrip("/"), _admin_token(folder))
        # `make run` names its URLs as it starts them: they may not answer for a while yet
        wait_until_answering([admin.base, metrics_url, args.notifications_url.rstrip("/")],
                             args.wait)
        state = State(folder / STATE_FILE)
        today = datetime.now(UTC).date()
        cycle, starts, ends = current_quarter(today)
        _say(f"seeding cycle {cycle} through {admin.base} (record: {state.path}) ...")
        ensure_cycle(admin, cycle, starts, ends)
        heads = head_tokens(admin, state, tally)
        try:
            subscription = Subscription(Client(args.notifications_url.rstrip("/"),
                                               heads["sales"], admin.session))
            subscription.remove_left_over()
            inbox = WebhookInbox()
            subscription.subscribe(inbox)
        except (DemoFailed, requests.RequestException) as error:
            _say(f"notifications: no subscription ({error})")
            subscription = None
        ids = seed(admin, heads, cycle, state, tally)
        weeks = weeks_elapsed(starts, today)
        played = play_check_ins(admin, heads, ids, weeks, cycle, state, tally)
        revoked = tally.created["tokens_revoked"]
        _say(f"created: {tally.phrase(tally.created, (*KINDS, 'check_ins', 'tokens'))}"
             + (f"; revoked {revoked} token(s) that no longer worked" if revoked else ""))
        _say(f"found from an earlier run: "
             f"{tally.phrase(tally.reused, (*KINDS, 'check_ins', 'tokens'))}")
        _say(f"check-ins: weeks {played[0]} to {played[1]} of {weeks} elapsed played"
             if played else f"check-ins: all {weeks} elapsed week(s) played before")
        if subscription is not None and subscription.removed_before:
            _say(f"notifications: removed {subscription.removed_before} subscription(s) "
                 "an earlier run left behind")
    except (DemoFailed, requests.RequestException) as error:
        _say(f"demo failed: {error}")
        _close(subscription, inbox)
        return 1
    try:
        _say(f"waiting up to {args.wait:.0f} s for the roll-up at {metrics_url} ...")
        rollup = wait_for_rollup(metrics_url, admin.token, ids["target"], args.wait)
        if rollup is None:
            _say(f"the metrics service showed no progress for {ids['target']} in "
                 f"{args.wait:.0f} s (is it running?)")
            return 1
        _say(f"'{TARGET_TITLE}' ({ids['target']}): progress {rollup['progress']:.2f}, "
             f"expected {rollup.get('expected_progress', 0):.2f}, status {rollup.get('status')}")
        for link in rollup.get("links", []):
            linked = link.get("linked_item") or {}
            progress = linked.get("progress")
            _say(f"  link {link['kind']}: {link['from_department']} -> {link['to_department']} "
                 f"'{linked.get('title')}' (progress "
                 f"{'no data' if progress is None else f'{progress:.2f}'}, "
                 f"{linked.get('status')})")
        line = metrics_line(metrics_url, ids["target"])
        _say(f"  /metrics: {line or 'not yet scraped'}")
        for text in explain_lines(metrics_url, admin.token, ids["target"]):
            _say(text)
        if inbox is not None:
            _wait_for_webhooks(inbox, args.webhook_wait)
            _say(f"  notifications: the head of sales received {len(inbox.received)} "
                 "webhook(s)")
            for message in inbox.received[:5]:
                summary = message.get("data", {}).get("summary") or message.get("type")
                _say(f"    {summary}")
        _say(f"try: curl -H 'Authorization: Bearer <token>' "
             f"{metrics_url}/v1/rollups/{ids['target']}?depth=3")
    finally:
        _close(subscription, inbox)
    print(json.dumps({
        "cycle": cycle, "target": ids["target"],
        "created": {kind: tally.created[kind] for kind in (*KINDS, "check_ins", "tokens")},
        "reused": {kind: tally.reused[kind] for kind in (*KINDS, "check_ins", "tokens")},
        "tokens_revoked": tally.created["tokens_revoked"],
        "weeks_played": list(played) if played else None, "weeks_elapsed": weeks,
        "webhooks_received": len(inbox.received) if inbox is not None else None,
    }))
    return 0


def _close(subscription: Subscription | None, inbox: WebhookInbox | None) -> None:
    """The receiver stops with the demo, so its subscription goes too."""
    if subscription is not None:
        try:
            subscription.remove()
        except (DemoFailed, requests.RequestException) as error:
            _say(f"notifications: could not delete the demo's subscription ({error}); "
                 "the next run deletes it")
    if inbox is not None:
        inbox.close()


if __name__ == "__main__":
    sys.exit(main())
