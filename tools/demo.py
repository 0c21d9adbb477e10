"""``make demo``: a realistic organisation, seeded through the public API of a running platform.

Run beside ``make run`` (same default ports and ``OKR_ADMIN_TOKEN``, or the token that
``make run`` generated in ``.okr-data/admin-token``). It creates, as the executive and as
each department's head:

* a collective target, *Grow new-customer revenue*, owned by sales and marketing, whose
  revenue key result sums the revenue each department sources;
* each department's own objective and key results, contributing to it;
* a finance budget objective and a production capacity objective, with links from the
  marketing and sales objectives to them;

then plays a few weeks of weekly check-ins (one per key result and week elapsed in the
quarter), and waits until the metrics service shows the target's roll-up. Run again, it
finds what it seeded (by title) and plays the check-ins again.

Before the check-ins it subscribes the head of sales, with the notification service's
default rules, to a webhook receiver the demo itself runs on loopback while it waits (``make
run`` allows loopback targets; a deployment does not), and prints what arrives: the
production capacity the sales objective depends on slipping, for one.
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
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

from shared.config import env_int, env_str

REPOSITORY = Path(__file__).resolve().parents[1]
TARGET_TITLE = "Grow new-customer revenue"


class DemoFailed(Exception):
    """The platform refused or could not answer a request the demo depends on."""


@dataclass
class Client:
    base: str
    token: str
    session: requests.Session = field(default_factory=requests.Session)

    def as_token(self, token: str) -> Client:
        return Client(self.base, token, self.session)

    def call(self, method: str, path: str, body: Any = None, expect: tuple[int, ...] = (200, 201),
             **params: Any) -> Any:
        response = self.session.request(
            method, self.base + path, json=body, params=params or None, timeout=10,
            headers={"Authorization": f"Bearer {self.token}"})
        if response.status_code not in expect:
            raise DemoFailed(f"{method} {path} answered {response.status_code}: "
                             f"{response.text[:500]}")
        return response.json() if response.content else None


@dataclass(frozen=True)
class KeyResultPlan:
    department: str
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


SALES_REVENUE = "Revenue from sales-sourced new customers"
MARKETING_REVENUE = "Revenue from marketing-sourced new customers"

DEPARTMENT_OBJECTIVES = (
    ObjectivePlan("sales", "Win new enterprise customers", "Head of sales", (
        KeyResultPlan("sales", SALES_REVENUE, "increase", 0, 700_000, "EUR",
                      (40_000, 95_000, 150_000, 210_000, 260_000, 330_000, 370_000, 420_000,
                       470_000, 520_000, 560_000, 600_000),
                      (0.7, 0.7, 0.65, 0.6, 0.6, 0.65, 0.6, 0.55, 0.6, 0.6, 0.6, 0.6)),
        KeyResultPlan("sales", "Win rate of qualified opportunities", "increase", 18, 30, "%",
                      (18, 19, 20, 20, 21, 22, 22, 23, 24, 24, 25, 25),
                      (0.6,) * 12),
    )),
    ObjectivePlan("marketing", "Fill the pipeline with qualified leads", "Head of marketing", (
        KeyResultPlan("marketing", MARKETING_REVENUE, "increase", 0, 300_000, "EUR",
                      (10_000, 30_000, 55_000, 80_000, 110_000, 140_000, 165_000, 190_000,
                       215_000, 240_000, 260_000, 280_000),
                      (0.8,) * 12),
        KeyResultPlan("marketing", "Marketing-qualified leads", "increase", 0, 1_200, "leads",
                      (90, 190, 300, 410, 500, 610, 700, 800, 900, 990, 1_080, 1_150),
                      (0.8,) * 12),
        KeyResultPlan("marketing", "Cost per qualified lead", "decrease", 250, 180, "EUR",
                      (245, 240, 236, 230, 226, 220, 215, 211, 205, 200, 196, 192),
                      (0.7,) * 12),
    )),
    ObjectivePlan("finance", "Fund growth within the Q4 budget", "Head of finance", (
        KeyResultPlan("finance", "Campaign budget approved", "boolean", 0, 1, None,
                      (0, 1), (0.9, 1.0)),
        KeyResultPlan("finance", "Discount approvals answered within 24 h", "increase", 60, 95,
                      "%", (62, 66, 70, 74, 78, 80, 83, 85, 88, 90, 91, 92), (0.7,) * 12),
    )),
    ObjectivePlan("production", "Deliver onboarding capacity for new customers",
                  "Head of production", (
        KeyResultPlan("production", "New customers onboarded per week", "increase", 10, 40,
                      "customers", (10, 11, 12, 12, 13, 14, 14, 15, 15, 16, 16, 17),
                      (0.5, 0.45, 0.4, 0.4, 0.35, 0.35, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3)),
    )),
)

# (from department's objective, link kind, to department's objective, note)
LINKS = (
    ("marketing", "funded_by", "finance", "campaign spend comes from the Q4 budget"),
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


def _admin_token() -> str:
    token = os.environ.get("OKR_ADMIN_TOKEN", "").strip()
    if token:
        return token
    kept = Path(env_str("OKR_DATA_DIR", str(REPOSITORY / ".okr-data"))) / "admin-token"
    if kept.exists():
        return kept.read_text().strip()
    raise DemoFailed("no admin token: set OKR_ADMIN_TOKEN, or start the platform with "
                     "`make run` first (it keeps one in .okr-data/admin-token)")


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def ensure_cycle(admin: Client, key: str, starts: date, ends: date) -> None:
    found = admin.session.get(f"{admin.base}/v1/cycles/{key}", timeout=10,
                              headers={"Authorization": f"Bearer {admin.token}"})
    if found.status_code == 200:
        return
    admin.call("POST", "/v1/cycles", {"key": key, "starts_on": starts.isoformat(),
                                      "ends_on": ends.isoformat()})


def head_tokens(admin: Client) -> dict[str, str]:
    departments = {plan.department for plan in DEPARTMENT_OBJECTIVES}
    return {department: admin.call("POST", "/v1/tokens", {
        "name": f"Head of {department} (demo)", "role": "head", "department": department,
    })["token"] for department in sorted(departments)}


def find_objective(client: Client, cycle: str, title: str, department: str | None = None,
                   ) -> dict[str, Any] | None:
    params: dict[str, Any] = {"cycle": cycle, "page_size": 100}
    if department:
        params["department"] = department
    found: list[dict[str, Any]] = client.call("GET", "/v1/objectives", **params)
    return next((item for item in found if item["title"] == title), None)


def seed(admin: Client, heads: dict[str, str], cycle: str) -> dict[str, Any]:
    """Create the organisation, or find it; returns objective and key result ids by title."""
    ids: dict[str, Any] = {"objectives": {}, "key_results": {}}
    target = find_objective(admin, cycle, TARGET_TITLE)
    fresh = target is None
    if target is None:
        target = admin.call("POST", "/v1/objectives", {
            "cycle": cycle, "kind": "collective", "departments": ["sales", "marketing"],
            "owner": "CEO", "title": TARGET_TITLE,
            "description": "Sales and marketing own this together; their revenue adds up."})
        revenue = admin.call("POST", f"/v1/objectives/{target['id']}/key-results", {
            "title": "New-customer revenue", "measure": "increase", "start": 0,
            "target": 1_000_000, "unit": "EUR", "aggregation": "sum"})
        admin.call("POST", f"/v1/objectives/{target['id']}/key-results", {
            "title": "Customers who stay past onboarding", "measure": "increase", "start": 0,
            "target": 40, "unit": "customers", "weight": 0.5})
        ids["target_revenue"] = revenue["id"]
    ids["target"] = target["id"]
    key_results_of_target = admin.call("GET", f"/v1/objectives/{target['id']}/key-results")
    ids["key_results"].update({kr["title"]: kr["id"] for kr in key_results_of_target})

    for plan in DEPARTMENT_OBJECTIVES:
        head = admin.as_token(heads[plan.department])
        objective = find_objective(head, cycle, plan.title, plan.department)
        if objective is None:
            objective = head.call("POST", "/v1/objectives", {
                "cycle": cycle, "kind": "department", "departments": [plan.department],
                "owner": plan.owner, "title": plan.title})
            for kr in plan.key_results:
                body: dict[str, Any] = {"title": kr.title, "measure": kr.measure}
                if kr.measure != "boolean":
                    body.update(start=kr.start, target=kr.target, unit=kr.unit)
                head.call("POST", f"/v1/objectives/{objective['id']}/key-results", body)
        ids["objectives"][plan.department] = objective["id"]
        for kr in head.call("GET", f"/v1/objectives/{objective['id']}/key-results"):
            ids["key_results"][kr["title"]] = kr["id"]

    if fresh:
        for department in ("sales", "marketing"):
            head = admin.as_token(heads[department])
            head.call("POST", "/v1/contributions", {
                "child_type": "objective", "child_id": ids["objectives"][department],
                "parent_type": "objective", "parent_id": ids["target"], "weight": 1})
        for title in (SALES_REVENUE, MARKETING_REVENUE):
            department = "sales" if title == SALES_REVENUE else "marketing"
            admin.as_token(heads[department]).call("POST", "/v1/contributions", {
                "child_type": "key_result", "child_id": ids["key_results"][title],
                "parent_type": "key_result", "parent_id": ids["target_revenue"]})
        for source, kind, target_department, note in LINKS:
            admin.as_token(heads[source]).call("POST", "/v1/links", {
                "kind": kind, "from_type": "objective", "from_id": ids["objectives"][source],
                "to_type": "objective", "to_id": ids["objectives"][target_department],
                "note": note})
    return ids


def play_check_ins(admin: Client, heads: dict[str, str], ids: dict[str, Any], weeks: int,
                   run: str) -> int:
    """One check-in per key result and elapsed week, as the department's CRM or head would."""
    count = 0
    for week in range(weeks):
        items_by_department: dict[str, list[dict[str, Any]]] = {}
        for plan in DEPARTMENT_OBJECTIVES:
            for kr in plan.key_results:
                value = kr.weekly[min(week, len(kr.weekly) - 1)]
                confidence = kr.confidence[min(week, len(kr.confidence) - 1)]
                items_by_department.setdefault(plan.department, []).append({
                    "key_result_id": ids["key_results"][kr.title], "value": value,
                    "confidence": confidence, "note": f"week {week + 1}",
                    "source": "system" if kr.unit == "EUR" else "person",
                    "idempotency_key": f"demo-{run}-{kr.title}-week-{week + 1}"})
        for department, items in items_by_department.items():
            result = admin.as_token(heads[department]).call(
                "POST", "/v1/check-ins/batch", {"items": items})
            if result["failed"]:
                raise DemoFailed(f"check-ins of {department} refused: {result['results']}")
            count += result["applied"]
    retention = ids["key_results"].get("Customers who stay past onboarding")
    if retention:
        admin.call("POST", f"/v1/key-results/{retention}/check-ins",
                   {"value": min(40, 3 * weeks), "confidence": 0.6, "note": "from the ERP"})
        count += 1
    return count


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


def subscribe_head_of_sales(notifications_url: str, token: str, inbox: WebhookInbox) -> bool:
    """The head of sales, on the default rules, as a webhook to the demo's receiver."""
    secret = "whsec_" + b64encode(secrets.token_bytes(32)).decode()
    try:
        response = requests.post(
            f"{notifications_url}/v1/subscriptions", timeout=10,
            headers={"Authorization": f"Bearer {token}"},
            json={"recipient": "Head of sales (demo)", "channel": "webhook", "url": inbox.url,
                  "secret": secret})
    except requests.RequestException as error:
        _say(f"notifications: cannot reach {notifications_url} ({error}); no subscription")
        return False
    if response.status_code != 201:
        _say(f"notifications: subscription refused ({response.status_code}): "
             f"{response.text[:300]}")
        return False
    return True


def wait_for_rollup(metrics_url: str, token: str, target: str, timeout: float,
                    ) -> dict[str, Any] | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            response = requests.get(f"{metrics_url}/v1/rollups/{target}", timeout=5,
                                    params={"depth": 2},
                                    headers={"Authorization": f"Bearer {token}"})
            if response.status_code == 200 and (response.json().get("progress") or 0) > 0:
                body: dict[str, Any] = response.json()
                return body
        except requests.RequestException:
            pass
        time.sleep(1)
    return None


def metrics_line(metrics_url: str, target: str) -> str | None:
    try:
        text = requests.get(f"{metrics_url}/metrics", timeout=10).text
    except requests.RequestException:
        return None
    needle = f'objective_id="{target}"'
    return next((line for line in text.splitlines()
                 if line.startswith("okr_objective_progress_ratio{") and needle in line), None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make demo", description="Seed a realistic organisation into a running platform.")
    parser.add_argument("--goals-url", default=env_str(
        "OKR_GOALS_URL", f"http://127.0.0.1:{env_int('OKR_GOALS_PORT', 8081)}"))
    parser.add_argument("--metrics-url", default=env_str(
        "OKR_METRICS_URL", f"http://127.0.0.1:{env_int('OKR_METRICS_PORT', 8082)}"))
    parser.add_argument("--notifications-url", default=env_str(
        "OKR_NOTIFICATIONS_URL",
        f"http://127.0.0.1:{env_int('OKR_NOTIFICATIONS_PORT', 8083)}"))
    parser.add_argument("--wait", type=float, default=60.0,
                        help="seconds to wait for the roll-up in the metrics service")
    args = parser.parse_args(argv)
    try:
        admin = Client(args.goals_url.rstrip("/"), _admin_token())
        today = datetime.now(UTC).date()
        cycle, starts, ends = current_quarter(today)
        _say(f"seeding cycle {cycle} through {admin.base} ...")
        ensure_cycle(admin, cycle, starts, ends)
        heads = head_tokens(admin)
        inbox = WebhookInbox()
        subscribed = subscribe_head_of_sales(args.notifications_url.rstrip("/"),
                                             heads["sales"], inbox)
        ids = seed(admin, heads, cycle)
        weeks = weeks_elapsed(starts, today)
        applied = play_check_ins(admin, heads, ids, weeks, run=datetime.now(UTC).isoformat())
        _say(f"{len(ids['objectives']) + 1} objectives, {len(ids['key_results'])} key results, "
             f"{len(LINKS)} links; {applied} check-ins over {weeks} weeks")
    except (DemoFailed, requests.RequestException) as error:
        _say(f"demo failed: {error}")
        return 1
    _say(f"waiting up to {args.wait:.0f} s for the roll-up at {args.metrics_url} ...")
    rollup = wait_for_rollup(args.metrics_url.rstrip("/"), admin.token, ids["target"], args.wait)
    if rollup is None:
        _say(f"the metrics service showed no progress for {ids['target']} in {args.wait:.0f} s"
             " (is it running?)")
        return 1
    _say(f"'{TARGET_TITLE}' ({ids['target']}): progress {rollup['progress']:.2f}, expected "
         f"{rollup.get('expected_progress', 0):.2f}, status {rollup.get('status')}")
    for link in rollup.get("links", []):
        linked = link.get("linked_item") or {}
        progress = linked.get("progress")
        _say(f"  link {link['kind']}: {link['from_department']} -> {link['to_department']} "
             f"'{linked.get('title')}' (progress "
             f"{'no data' if progress is None else f'{progress:.2f}'}, {linked.get('status')})")
    line = metrics_line(args.metrics_url.rstrip("/"), ids["target"])
    _say(f"  /metrics: {line or 'not yet scraped'}")
    if subscribed:
        deadline, seen, quiet_since = time.monotonic() + 20, 0, time.monotonic()
        while time.monotonic() < deadline and not (seen and time.monotonic() - quiet_since > 3):
            time.sleep(0.5)
            if len(inbox.received) != seen:
                seen, quiet_since = len(inbox.received), time.monotonic()
        _say(f"  notifications: the head of sales received {len(inbox.received)} webhook(s)")
        for message in inbox.received[:5]:
            summary = message.get("data", {}).get("summary") or message.get("type")
            _say(f"    {summary}")
        inbox.close()
    _say(f"try: curl -H 'Authorization: Bearer <token>' "
         f"{args.metrics_url}/v1/rollups/{ids['target']}?depth=3")
    print(ids["target"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
