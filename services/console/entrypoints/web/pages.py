"""The console's pages: sign-in, collective targets, an objective, check-ins and edits.

Every page asks the goals and metrics APIs as the signed-in person; a page's calls do not
grow with the number of items it lists (the tests count them), except an objective's
page, which reads each of its own key results' check-in history.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import quote

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from services.console.adapters.api_client import (
    VISIBLE_ASCII,
    ApiClient,
    Refused,
    SignedOut,
    Unavailable,
)
from services.console.domain import presentation
from services.console.domain.number_input import NotANumber, read_number
from services.console.entrypoints.web.app import api, console_config
from services.console.entrypoints.web.app import sign_in as start_session
from services.console.entrypoints.web.locale import reader_locale
from shared.contract.keys import CYCLE_KEY, DEPARTMENT_KEY, DEPARTMENT_KEY_FORM
from shared.web.dates import moment

pages = Blueprint("pages", __name__)
T = TypeVar("T")
VERSION = re.compile(r"[0-9]{1,19}")
#: A page number as the page links write it: ASCII digits only (``str.isdigit`` and
#: ``int()`` also take '²', '①' or an Arabic-Indic one), no sign, no spaces; leading zeros
#: are the same number (``01`` is page 1, as the APIs read it).
PAGE_NUMBER = re.compile(r"0*[1-9][0-9]{0,4}")

TARGETS_PER_PAGE = 25
STALE_SHOWN = 25
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
    if not token:
        return render_template("sign_in.html", error="Enter the token you were given."), 422
    if not VISIBLE_ASCII.fullmatch(token):  # no API could be asked with it
        return render_template("sign_in.html",
                               error="This is not a valid token: a token is up to 512 "
                                     "letters, digits and punctuation marks, without "
                                     "spaces or other alphabets."), 422
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
    page = _page_number(request.args.get("page", "1"))
    if page is None:
        return _no_such_page(request.args.get("page", ""))
    guess = wanted or session.get("current_cycle")
    cycles_call = in_background(lambda: goals.get_all("/v1/cycles"))
    guessed, metrics_down = _unless_metrics_down(
        lambda: _collective_page(metrics, guess, page) if guess and _cycle_key(guess) else None)
    cycles = cycles_call.result()
    if wanted and not _has_cycle(cycles, wanted):
        return _no_such_cycle(wanted)
    cycle = _chosen_cycle(cycles, wanted)
    listed: list[Any] = []
    total_pages = 0
    if cycle is not None:
        if not metrics_down and (guessed is None or guessed[0] != cycle["key"]):
            # guessed wrong, or none: ask now
            guessed, metrics_down = _unless_metrics_down(
                lambda: _collective_page(metrics, cycle["key"], page, speculative=False))
        if metrics_down:  # the targets without their figures, from the goals API
            listed, total_pages = _targets_without_figures(goals, cycle["key"], page)
        else:
            assert guessed is not None
            _, listed, total_pages = guessed
        if not wanted and session.get("current_cycle") != cycle["key"]:
            session["current_cycle"] = cycle["key"]
    return render_template("targets.html", cycles=cycles, cycle=cycle, targets=listed,
                           page=page, total_pages=total_pages, metrics_down=metrics_down)


def _targets_without_figures(goals: ApiClient, cycle: str, page: int
                             ) -> tuple[list[Any], int]:
    """One page of the cycle's collective targets as the goals API lists them, without
    their figures (the metrics service does not answer); a page past the last is empty."""
    try:
        answer = goals.get("/v1/objectives", cycle=cycle, kind="collective", page=page,
                           page_size=TARGETS_PER_PAGE)
    except Refused as refusal:
        if refusal.status != 404:
            raise
        return [], 0
    return [_without_figures(item) for item in answer.body], _total_pages(answer.headers)


def _without_figures(objective: dict[str, Any]) -> dict[str, Any]:
    """A goals API objective in the shape of a roll-up whose figures are unknown."""
    return {"objective_id": objective.get("id"), "title": objective.get("title"),
            "kind": objective.get("kind"), "departments": objective.get("departments", []),
            "cycle": objective.get("cycle"), "archived": objective.get("status") == "archived",
            "figures_unavailable": True}


def _unless_metrics_down(read: Callable[[], T]) -> tuple[T | None, bool]:
    """What ``read()`` (a metrics API call) answers, and False; or None and True when the
    metrics service does not answer: the page is then shown without progress figures."""
    try:
        return read(), False
    except Unavailable as error:
        if error.service != "metrics":
            raise
        return None, True


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
    return CYCLE_KEY.fullmatch(text) is not None


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


def _page_number(text: str) -> int | None:
    """A page number from 1 to 99,999 in ASCII digits, or None."""
    return int(text) if PAGE_NUMBER.fullmatch(text) else None


def _total_pages(headers: Any) -> int:
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
    tree, metrics_down = _unless_metrics_down(
        lambda: _optional(lambda: metrics.get(f"/v1/rollups/{objective_id}", depth=1).body))
    explanation = None if metrics_down else _unless_metrics_down(
        lambda: _optional(lambda: metrics.get(f"/v1/rollups/{objective_id}/explain").body))[0]
    _with_summed_values(key_results, tree)
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
        attempt=secrets.token_urlsafe(16), metrics_down=metrics_down)


def _with_summed_values(key_results: list[dict[str, Any]], tree: dict[str, Any] | None) -> None:
    """A summing key result's value is computed in the roll-up, never checked in: the goals
    API's ``current`` of one is its start (docs/api.md), so take the roll-up's. Without a
    roll-up (metrics down, or not rolled up yet) the value is unknown, not its start."""
    summed = {child.get("key_result_id"): child.get("current")
              for child in (tree or {}).get("children", []) if child.get("type") == "key_result"}
    for key_result in key_results:
        if key_result.get("aggregation") == "sum":
            key_result["current"] = summed.get(key_result.get("id"))


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


def _not_found(message: str = "There is no such objective, or it was deleted."
               ) -> tuple[str, int]:
    return render_template("message.html", title="Not found", message=message), 404


def _has_cycle(cycles: list[dict[str, Any]], key: str) -> bool:
    return any(cycle.get("key") == key for cycle in cycles)


def _no_such_cycle(key: str) -> tuple[str, int]:
    """A cycle named in the URL that the goals service does not have: said, not ignored."""
    return _not_found(f"There is no cycle {key[:40]!r}: it does not exist, or it was "
                      "deleted. Choose one from the list of cycles.")


def _no_such_page(text: str) -> tuple[str, int]:
    """A page number that is not one (``0``, ``-1``, ``²``, an Arabic-Indic digit,
    `` 1``): said, not taken as page 1."""
    return _not_found(f"There is no page {text[:20]!r}: a page is a number from 1 to "
                      "99999 in the digits 0 to 9.")


def _no_such_department(key: str, malformed: bool = False) -> tuple[str, int]:
    if malformed:
        return _not_found(f"There is no department {key[:40]!r}: a department key is "
                          f"{DEPARTMENT_KEY_FORM}, such as 'sales'.")
    return _not_found(f"There is no department {key!r}: it does not exist, or it was "
                      "deleted.")


@pages.post("/key-results/<key_result_id>/check-ins")
def check_in(key_result_id: str) -> Response | tuple[str, int]:
    if (gone := _require_sign_in()) is not None:
        return gone
    objective_id = request.form.get("objective_id", "")
    if not (_safe_id(key_result_id) and _safe_id(objective_id)):
        return _not_found()
    back = url_for("pages.objective", objective_id=objective_id) + f"#kr-{key_result_id}"
    body: dict[str, Any] = {"note": request.form.get("note", "")}
    try:
        body["value"] = read_number(request.form.get("value", ""))
    except NotANumber as why:
        flash(f"Not checked in: the value is not read. {why}", "error")
        return redirect(back)
    confidence_text = request.form.get("confidence", "").strip()
    if confidence_text:
        try:
            confidence = read_number(confidence_text)
        except NotANumber as why:
            flash(f"Not checked in: the confidence is not read. {why}", "error")
            return redirect(back)
        if not 0 <= confidence <= 100:
            flash("Not checked in: confidence is a percentage from 0 to 100.", "error")
            return redirect(back)
        body["confidence"] = float(Decimal(repr(confidence)) / 100)  # 80.5 % is 0.805
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


@pages.post("/objectives/<objective_id>/edit")
def edit_objective(objective_id: str) -> Response | tuple[str, int]:
    if (gone := _require_sign_in()) is not None:
        return gone
    if not _safe_id(objective_id):
        return _not_found()
    back = url_for("pages.objective", objective_id=objective_id)
    version = _version_in_form(request.form.get("version", ""))
    if version is None:
        flash("Open the objective again before editing it.", "error")
        return redirect(back)
    changes = {name: request.form[name].strip()
               for name in ("title", "description", "owner", "status") if name in request.form}
    goals = api("goals")
    try:
        goals.patch(f"/v1/objectives/{objective_id}", changes, version)
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


def _version_in_form(text: str) -> int | None:
    """The version the edit form was opened at (ASCII digits, as the page wrote it)."""
    return int(text) if VERSION.fullmatch(text) and int(text) < 2**63 else None


def _last_writer(goals: ApiClient, item_id: str) -> str:
    entries = _optional(lambda: goals.get("/v1/audit", item_id=item_id, page_size=1).body)
    return str(entries[0]["actor"]) if entries else "someone else"


@pages.get("/departments/<department>")
def department_page(department: str) -> Response | str | tuple[str, int]:
    """A department's objectives in a cycle, what it depends on and who depends on it, and
    its key results of the cycle without a recent check-in (one page of them: one call)."""
    if (gone := _require_sign_in()) is not None:
        return gone
    if not DEPARTMENT_KEY.fullmatch(department):
        return _no_such_department(department, malformed=True)
    goals, metrics = api("goals"), api("metrics")
    cycles = goals.get_all("/v1/cycles")
    wanted = request.args.get("cycle")
    if wanted and not _has_cycle(cycles, wanted):
        return _no_such_cycle(wanted)
    cycle = _chosen_cycle(cycles, wanted)
    owned: list[Any] = []
    links: list[Any] = []
    stale: list[Any] = []
    stale_total = 0
    metrics_down = False
    if cycle is not None:
        try:
            stale, stale_total = _stale_key_results(goals, department, cycle["key"])
        except Refused as refusal:  # the goals service has no such department
            if refusal.status != 400 or "department" not in refusal.errors.get("query", {}):
                raise
            return _no_such_department(department)
        try:
            found, metrics_down = _unless_metrics_down(lambda: metrics.get_all(
                "/v1/rollups", cycle=cycle["key"], department=department))
        except Refused as refusal:  # the goals API knows it (it answered above); metrics
            if refusal.status != 400:  # knows a department by what it owns: nothing yet
                raise
            found = []
        owned = found if found is not None else [
            _without_figures(item) for item in
            goals.get_all("/v1/objectives", cycle=cycle["key"], department=department)]
        links = goals.get_all("/v1/links", department=department, direction="both")
    outgoing: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
    incoming: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
    if cycle is not None and links:
        ends = _link_ends(goals, metrics, cycle["key"], owned, links, metrics_down)
        for link in links:
            ours, theirs = (("from", "to") if link.get("from_department") == department
                            else ("to", "from"))
            if ends.get(link[f"{ours}_id"]) is None:
                continue  # the department's end is of another cycle
            listed = outgoing if ours == "from" else incoming
            listed.append((link, ends.get(link[f"{theirs}_id"])))
    titles = {item["objective_id"]: item.get("title") for item in owned}
    return render_template("department.html", department=department, cycles=cycles,
                           cycle=cycle, owned=owned, outgoing=outgoing, incoming=incoming,
                           stale=[(item, titles.get(item.get("objective_id"))) for item in stale],
                           stale_total=stale_total,
                           stale_after_days=console_config().stale_after_days,
                           metrics_down=metrics_down)


def _link_ends(goals: ApiClient, metrics: ApiClient, cycle: str, owned: list[Any],
               links: list[dict[str, Any]], metrics_down: bool) -> dict[str, dict[str, Any]]:
    """The items of ``cycle`` that ``links`` join, by id, each with what the page shows of
    it: an objective's roll-up (or the goals API's objective, without figures, when the
    metrics service does not answer); a key result's title, value and target, with its
    objective's status. The goals API lists links of every cycle, so an id that is not
    here is of another cycle. A listing call per kind of item, never one per item."""
    ends: dict[str, dict[str, Any]] = {item["objective_id"]: item for item in owned}
    if any(link[f"{side}_id"] not in ends for link in links for side in ("from", "to")):
        everything = None if metrics_down else _unless_metrics_down(
            lambda: metrics.get_all("/v1/rollups", cycle=cycle))[0]
        if everything is None:
            everything = [_without_figures(item)
                          for item in goals.get_all("/v1/objectives", cycle=cycle)]
        ends.update({item["objective_id"]: item for item in everything})
    if any(link[f"{side}_type"] == "key_result" for link in links for side in ("from", "to")):
        for key_result in goals.get_all("/v1/key-results", cycle=cycle):
            objective = ends.get(key_result.get("objective_id")) or {}
            ends[key_result["id"]] = {  # no "status" when its objective's is unknown
                **key_result, "key_result_id": key_result["id"],
                # a sum's value is the roll-up's, not the goals API's `current` (its start)
                "current": None if key_result.get("aggregation") == "sum"
                else key_result.get("current"),
                "archived": objective.get("archived", False),
                **({"status": objective["status"]} if "status" in objective else {})}
    return ends


def _stale_key_results(goals: ApiClient, department: str, cycle: str) -> tuple[list[Any], int]:
    """The first page of the department's key results in ``cycle`` not checked in for
    ``OKR_CONSOLE_STALE_AFTER_DAYS`` (or never), the oldest first, and how many there are."""
    since = datetime.now(UTC) - timedelta(days=console_config().stale_after_days)
    answer = goals.get("/v1/key-results", department=department, cycle=cycle,
                       stale_before=moment(since), page_size=STALE_SHOWN)
    return answer.body, _total(answer.headers, len(answer.body))


def _total(headers: Any, default: int) -> int:
    """The ``total`` of a list's ``X-Pagination`` header (``default`` if it has none)."""
    try:
        return int(json.loads(headers.get("X-Pagination", "{}")).get("total", default))
    except (ValueError, TypeError, AttributeError):
        return default
