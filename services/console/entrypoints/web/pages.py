"""The console's pages: sign-in, collective targets, an objective, check-ins and edits.

Every page asks the goals and metrics APIs as the signed-in person; a page's calls do not
grow with the number of items it lists (the tests count them), except an objective's
page, which reads each of its own key results' check-in history.
"""

from __future__ import annotations

import math
import os
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date
from typing import Any
from urllib.parse import quote

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from services.console.adapters.api_client import ApiClient, Refused, SignedOut
from services.console.domain import presentation
from services.console.entrypoints.web.app import api, console_config
from services.console.entrypoints.web.app import sign_in as start_session
from services.console.entrypoints.web.locale import reader_locale

pages = Blueprint("pages", __name__)

TARGETS_PER_PAGE = 25
SIGN_IN_REASONS = {
    "expired": "Your session has ended. Sign in again.",
    "refused": "Your token is no longer accepted (revoked or expired). Sign in with a valid one.",
    "signed_out": "You are signed out.",
}


@pages.app_template_filter("path_part")
def path_part(value: Any) -> str:
    """``value`` as one segment of a URL path (or a query value): every reserved character
    quoted, ``/`` too, as ``url_for`` does."""
    return quote(str(value), safe="")


def signed_in() -> bool:
    return bool(session.get("token"))


@pages.get("/")
def home() -> Response:
    return redirect(url_for("pages.targets" if signed_in() else "pages.sign_in"))


@pages.get("/sign-in")
def sign_in() -> str:
    return render_template("sign_in.html", notice=SIGN_IN_REASONS.get(request.args.get("reason",
                                                                                       "")))


@pages.post("/sign-in")
def sign_in_with_token() -> Response | tuple[str, int]:
    token = request.form.get("token", "").strip()
    if not token or len(token) > 512 or not token.isprintable():
        return render_template("sign_in.html", error="Enter the token you were given."), 422
    config = console_config()
    from flask import current_app
    client = ApiClient(current_app.extensions["okr.console.http"], config.goals_url, token,
                       config.api_timeout_seconds)
    try:
        who = client.get("/v1/tokens/self").body
    except (SignedOut, Refused):
        return render_template("sign_in.html",
                               error="That token is not accepted: it is unknown or revoked."), 401
    start_session(token, who)
    return redirect(url_for("pages.targets"))


@pages.post("/sign-out")
def sign_out() -> Response:
    session.clear()
    return redirect(url_for("pages.sign_in", reason="signed_out"))


def _require_sign_in() -> Response | None:
    return None if signed_in() else redirect(url_for("pages.sign_in"))


@pages.get("/targets")
def targets() -> Response | str | tuple[str, int]:
    """The collective targets of a cycle: two API calls whatever their number, made at once
    when the cycle is known beforehand (named in the URL, or the current cycle of the
    person's last visit, kept in the session), so the page waits for the slower of the
    two rather than for both in turn."""
    if (gone := _require_sign_in()) is not None:
        return gone
    goals, metrics = api("goals"), api("metrics")
    wanted = request.args.get("cycle")
    page = _page_number(request.args.get("page"))
    guess = wanted or session.get("current_cycle")
    cycles_call = in_background(lambda: goals.get_all("/v1/cycles"))
    guessed = _collective_page(metrics, guess, page) if guess and _cycle_key(guess) else None
    cycles = cycles_call.result()
    cycle = _chosen_cycle(cycles, wanted)
    listed: list[Any] = []
    total_pages = 0
    if cycle is not None:
        if guessed is None or guessed[0] != cycle["key"]:  # guessed wrong, or none: ask now
            guessed = _collective_page(metrics, cycle["key"], page, speculative=False)
        assert guessed is not None
        _, listed, total_pages = guessed
        if not wanted and session.get("current_cycle") != cycle["key"]:
            session["current_cycle"] = cycle["key"]
    return render_template("targets.html", cycles=cycles, cycle=cycle, targets=listed,
                           page=page, total_pages=total_pages)


def in_background(call: Callable[[], Any]) -> Future[Any]:
    """``call()`` on this process's small pool of threads (made after gunicorn forked)."""
    global _pool, _pool_pid
    with _pool_lock:  # gunicorn's threads of one worker share one pool
        if _pool is None or _pool_pid != os.getpid():
            _pool = ThreadPoolExecutor(8, thread_name_prefix="console-api")
            _pool_pid = os.getpid()
        pool = _pool
    return pool.submit(call)


_pool: ThreadPoolExecutor | None = None
_pool_pid = 0
_pool_lock = threading.Lock()


def _cycle_key(text: str) -> bool:
    return 0 < len(text) <= 40 and all(c.isascii() and (c.isalnum() or c in "._-")
                                       for c in text)


def _collective_page(metrics: ApiClient, cycle: str, page: int, speculative: bool = True
                     ) -> tuple[str, list[Any], int] | None:
    """One page of the cycle's collective roll-ups and the number of pages. A page past
    the last is empty; a refusal of a guessed cycle (unknown: 400) is no answer."""
    try:
        answer = metrics.get("/v1/rollups", cycle=cycle, kind="collective", page=page,
                             page_size=TARGETS_PER_PAGE)
    except Refused as refusal:
        if refusal.status == 404:  # 404: a page past the last
            return cycle, [], 0
        if speculative:
            return None
        raise
    return cycle, answer.body, _total_pages(answer.headers)


def _chosen_cycle(cycles: list[dict[str, Any]], wanted: str | None) -> dict[str, Any] | None:
    if wanted:
        for cycle in cycles:
            if cycle["key"] == wanted:
                return cycle
    today = date.today().isoformat()
    current = [c for c in cycles if c.get("starts_on", "") <= today <= c.get("ends_on", "")]
    if current:
        return current[0]
    return max(cycles, key=lambda c: c.get("starts_on", ""), default=None)


def _page_number(text: str | None) -> int:
    return int(text) if text and text.isdigit() and 0 < int(text) < 100_000 else 1


def _total_pages(headers: Any) -> int:
    import json
    try:
        return int(json.loads(headers.get("X-Pagination", "{}")).get("total_pages", 1))
    except (ValueError, TypeError, AttributeError):
        return 1


@pages.get("/objectives/<objective_id>")
def objective(objective_id: str) -> Response | str | tuple[str, int]:
    if (gone := _require_sign_in()) is not None:
        return gone
    if not _safe_id(objective_id):
        return _not_found()
    goals, metrics = api("goals"), api("metrics")
    try:
        found = goals.get(f"/v1/objectives/{objective_id}")
    except Refused as refusal:
        if refusal.status == 404:
            return _not_found()
        raise
    item = found.body
    key_results = goals.get_all(f"/v1/objectives/{objective_id}/key-results")
    charts = {}
    for key_result in key_results:
        history = goals.get(f"/v1/key-results/{key_result['id']}/check-ins",
                            page_size=20).body
        charts[key_result["id"]] = (history, presentation.history_chart(
            history, key_result.get("start"), key_result.get("target"), key_result.get("unit"),
            locale=reader_locale()))
    tree = _optional(lambda: metrics.get(f"/v1/rollups/{objective_id}", depth=1).body)
    explanation = _optional(lambda: metrics.get(f"/v1/rollups/{objective_id}/explain").body)
    parents = [_optional(lambda edge=edge: goals.get(f"/v1/objectives/{edge['parent_id']}").body)
               for edge in goals.get_all("/v1/contributions", child_id=objective_id, limit=100)]
    audit = _optional(lambda: goals.get("/v1/audit", item_id=objective_id, page_size=20).body)
    children = [child for child in (tree or {}).get("children", [])
                if child.get("type") == "objective"]
    return render_template(
        "objective.html", objective=item, version=found.version, key_results=key_results,
        charts=charts, tree=tree, explanation=explanation, children=children,
        parts=_department_parts(children), parents=[p for p in parents if p],
        links=(tree or {}).get("links", []), audit=audit, may_edit=_may_write(item),
        attempt=secrets.token_urlsafe(16))


def _department_parts(children: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each department's contributing objectives, with their progress and status."""
    parts: dict[str, list[dict[str, Any]]] = {}
    for child in children:
        for department in child.get("departments", []) or ["(unknown)"]:
            parts.setdefault(department, []).append(child)
    return [{"department": key, "objectives": items} for key, items in sorted(parts.items())]


def _may_write(item: dict[str, Any]) -> bool:
    if session.get("role") == "admin":
        return True
    return (session.get("role") == "head" and item.get("kind") == "department"
            and session.get("department") in item.get("departments", []))


def _optional(read: Any) -> Any:
    """What ``read()`` answers, or None when the API has no such thing or will not show it
    to this person (404, 403): the page is shown without it."""
    try:
        return read()
    except Refused as refusal:
        if refusal.status in (403, 404):
            return None
        raise


def _safe_id(text: str) -> bool:
    return 0 < len(text) <= 64 and all(c.isalnum() or c in "-_" for c in text)


def _not_found() -> tuple[str, int]:
    return render_template("message.html", title="Not found",
                           message="There is no such objective, or it was deleted."), 404


@pages.post("/key-results/<key_result_id>/check-ins")
def check_in(key_result_id: str) -> Response | tuple[str, int]:
    if (gone := _require_sign_in()) is not None:
        return gone
    objective_id = request.form.get("objective_id", "")
    if not (_safe_id(key_result_id) and _safe_id(objective_id)):
        return _not_found()
    back = url_for("pages.objective", objective_id=objective_id) + f"#kr-{key_result_id}"
    body: dict[str, Any] = {"note": request.form.get("note", "")}
    value = _finite(request.form.get("value", ""))
    if value is None:
        flash("The value must be a number, such as 12 or 12.5.", "error")
        return redirect(back)
    body["value"] = value
    confidence_text = request.form.get("confidence", "").strip()
    if confidence_text:
        confidence = _finite(confidence_text)
        if confidence is None or not 0 <= confidence <= 100:
            flash("Confidence is a percentage from 0 to 100.", "error")
            return redirect(back)
        body["confidence"] = round(confidence / 100, 4)
    attempt = request.form.get("attempt", "")
    headers = {"Idempotency-Key": attempt} if 0 < len(attempt) <= 200 and attempt.isascii() \
        and attempt.isprintable() else None
    try:
        api("goals").post(f"/v1/key-results/{key_result_id}/check-ins", body, headers)
    except Refused as refusal:
        flash(f"Check-in refused: {refusal.in_words()}", "error")
        return redirect(back)
    flash("Checked in. The roll-up follows within seconds.", "ok")
    return redirect(back)


def _finite(text: str) -> float | None:
    try:
        value = float(text.strip().replace(",", ""))
    except ValueError:
        return None
    return value if math.isfinite(value) and abs(value) <= 1e15 else None


@pages.post("/objectives/<objective_id>/edit")
def edit_objective(objective_id: str) -> Response | tuple[str, int]:
    if (gone := _require_sign_in()) is not None:
        return gone
    if not _safe_id(objective_id):
        return _not_found()
    back = url_for("pages.objective", objective_id=objective_id)
    version = request.form.get("version", "")
    if not version.strip('"').isdigit():
        flash("Open the objective again before editing it.", "error")
        return redirect(back)
    changes = {name: request.form[name].strip()
               for name in ("title", "description", "owner", "status") if name in request.form}
    goals = api("goals")
    try:
        goals.patch(f"/v1/objectives/{objective_id}", changes, if_match=version)
    except Refused as refusal:
        if refusal.status == 412:
            flash(f"Not saved: this objective was changed by {_last_writer(goals, objective_id)} "
                  "since you opened it. Here it is as it is now; make your change again.",
                  "error")
        else:
            flash(f"Not saved: {refusal.in_words()}", "error")
        return redirect(back)
    flash("Saved.", "ok")
    return redirect(back)


def _last_writer(goals: ApiClient, item_id: str) -> str:
    entries = _optional(lambda: goals.get("/v1/audit", item_id=item_id, page_size=1).body)
    return str(entries[0]["actor"]) if entries else "someone else"


@pages.get("/departments/<department>")
def department_page(department: str) -> Response | str | tuple[str, int]:
    """A department's objectives in a cycle, what it depends on and who depends on it."""
    if (gone := _require_sign_in()) is not None:
        return gone
    if not (0 < len(department) <= 40 and all(c.islower() or c.isdigit() or c == "-"
                                              for c in department)):
        return _not_found()
    goals, metrics = api("goals"), api("metrics")
    cycles = goals.get_all("/v1/cycles")
    cycle = _chosen_cycle(cycles, request.args.get("cycle"))
    owned: list[Any] = []
    links: list[Any] = []
    if cycle is not None:
        owned = metrics.get_all("/v1/rollups", cycle=cycle["key"], department=department)
        links = goals.get_all("/v1/links", department=department, direction="both")
    ends: dict[str, Any] = {item["objective_id"]: item for item in owned}
    if cycle is not None and any(link["from_id"] not in ends or link["to_id"] not in ends
                                 for link in links):
        ends.update({item["objective_id"]: item
                     for item in metrics.get_all("/v1/rollups", cycle=cycle["key"])})
    outgoing = [(link, ends.get(link["to_id"])) for link in links
                if link.get("from_department") == department]
    incoming = [(link, ends.get(link["from_id"])) for link in links
                if link.get("from_department") != department]
    return render_template("department.html", department=department, cycles=cycles,
                           cycle=cycle, owned=owned, outgoing=outgoing, incoming=incoming)
