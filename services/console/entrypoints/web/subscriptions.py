"""My notifications: the subscriptions of the signed-in head's department (an admin's: all
of them), listed, created, changed and removed through the notifications API with the
person's own token (docs/notifications.md#who-sees-subscriptions-and-deliveries).

The API decides who may see and change what and what is valid; the console sends only
what the form holds, and shows the API's refusals in its words. A change or removal is
sent with ``If-Match`` = the version the form was shown with, so an edit of a subscription
someone changed since is refused (412) and said so.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from services.console.adapters.api_client import Refused
from services.console.domain.number_input import NotANumber, read_number
from services.console.entrypoints.web.app import api
from services.console.entrypoints.web.pages import (
    _require_sign_in,
    _safe_id,
    _version_in_form,
)

subscriptions = Blueprint("subscriptions", __name__)

#: The notifications API's channels, modes and statuses (its public contract), in words.
CHANNELS = {"email": "E-mail", "webhook": "Webhook (signed JSON)", "slack": "Slack",
            "teams": "Microsoft Teams"}
URL_CHANNELS = ("webhook", "slack", "teams")
MODES = {"immediate": "At once (alarms), the rest in a digest", "digest": "Only in the digest"}
STATUSES = {"on_track": "On track", "at_risk": "At risk", "off_track": "Off track",
            "no_data": "No data yet"}
#: The API's bounds of ``digest_interval_seconds``, here in minutes.
MAX_DIGEST_MINUTES = 7 * 24 * 60
#: The least number of minutes a person can type that comes to the API's least, 1 second.
MIN_DIGEST_MINUTES = "0.017"
SUBSCRIPTIONS = "/v1/subscriptions"


def _may_subscribe() -> bool:
    return session.get("role") in ("head", "admin")


@subscriptions.get("/notifications")
def my_notifications() -> Response | str:
    if (gone := _require_sign_in()) is not None:
        return gone
    listed = api("notifications").get_all(SUBSCRIPTIONS)
    return render_template("notifications.html", subscriptions=listed, channels=CHANNELS,
                           url_channels=URL_CHANNELS, modes=MODES, statuses=STATUSES,
                           may_subscribe=_may_subscribe(),
                           max_digest_minutes=MAX_DIGEST_MINUTES)


@subscriptions.post("/notifications")
def subscribe() -> Response:
    if (gone := _require_sign_in()) is not None:
        return gone
    back = url_for("subscriptions.my_notifications")
    channel = request.form.get("channel", "")
    if channel not in CHANNELS:
        flash("Not subscribed: choose a channel.", "error")
        return redirect(back)
    body: dict[str, Any] = {"recipient": request.form.get("recipient", "").strip(),
                            "channel": channel, "mode": request.form.get("mode", "immediate")}
    if channel in URL_CHANNELS:
        body["url"] = request.form.get("url", "").strip()
        secret = request.form.get("secret", "").strip()
        if secret and channel == "webhook":
            body["secret"] = secret
    else:
        body["email"] = request.form.get("email", "").strip()
    department = request.form.get("department", "").strip()
    if department and session.get("role") == "admin":  # a head's is their own (the API's)
        body["department"] = department
    problem = _digest_and_filters(body, {})
    if problem:
        flash(f"Not subscribed: {problem}", "error")
        return redirect(back)
    try:
        api("notifications").post(SUBSCRIPTIONS, body)
    except Refused as refusal:
        flash(f"Not subscribed: {refusal.in_words()}", "error")
        return redirect(back)
    flash(f"Subscribed {body['recipient']}.", "ok")
    return redirect(back)


@subscriptions.post("/notifications/<subscription_id>/edit")
def change_subscription(subscription_id: str) -> Response | tuple[str, int]:
    if (gone := _require_sign_in()) is not None:
        return gone
    back = url_for("subscriptions.my_notifications")
    version = _version_in_form(request.form.get("version", ""))
    if not _safe_id(subscription_id) or version is None:
        flash("Open My notifications again before changing a subscription.", "error")
        return redirect(back)
    notifications = api("notifications")
    try:  # the filters it has beyond statuses are kept as they are
        current = notifications.get(f"{SUBSCRIPTIONS}/{subscription_id}").body
    except Refused as refusal:
        flash(_refusal_words(refusal), "error")
        return redirect(back)
    changes: dict[str, Any] = {"recipient": request.form.get("recipient", "").strip()}
    if request.form.get("mode"):
        changes["mode"] = request.form["mode"]
    if current.get("channel") in URL_CHANNELS and request.form.get("url", "").strip():
        changes["url"] = request.form["url"].strip()  # blank: the URL stays (never shown
        # in full to those who may not change it, and a secret for those who may)
    if current.get("channel") == "email":
        changes["email"] = request.form.get("email", "").strip()
    secret = request.form.get("secret", "").strip()
    if secret and current.get("channel") == "webhook":
        changes["secret"] = secret
    problem = _digest_and_filters(changes, current.get("filters") or {})
    if problem:
        flash(f"Not changed: {problem}", "error")
        return redirect(back)
    try:
        notifications.patch(f"{SUBSCRIPTIONS}/{subscription_id}", changes, version)
    except Refused as refusal:
        flash(_refusal_words(refusal), "error")
        return redirect(back)
    flash(f"Changed the subscription of {changes['recipient']}.", "ok")
    return redirect(back)


@subscriptions.post("/notifications/<subscription_id>/delete")
def unsubscribe(subscription_id: str) -> Response:
    if (gone := _require_sign_in()) is not None:
        return gone
    back = url_for("subscriptions.my_notifications")
    version = _version_in_form(request.form.get("version", ""))
    if not _safe_id(subscription_id) or version is None:
        flash("Open My notifications again before removing a subscription.", "error")
        return redirect(back)
    try:
        api("notifications").delete(f"{SUBSCRIPTIONS}/{subscription_id}", version)
    except Refused as refusal:
        flash(_refusal_words(refusal), "error")
        return redirect(back)
    flash("Subscription removed.", "ok")
    return redirect(back)


def _refusal_words(refusal: Refused) -> str:
    if refusal.status == 412:
        return ("Not changed: this subscription was changed by someone else since you opened "
                "it. Here it is as it is now; make your change again.")
    if refusal.status == 404:
        return "Not changed: there is no such subscription (removed, or not yours to see)."
    return f"Not changed: {refusal.in_words()}"


def _digest_and_filters(body: dict[str, Any], filters: dict[str, Any]) -> str | None:
    """Adds the digest interval (minutes in the form, seconds in the API) and the statuses
    filter (kept beside the subscription's other ``filters``) to ``body``; or says what is
    wrong with them."""
    minutes_text = request.form.get("digest_minutes", "").strip()
    if minutes_text:
        bounds = (f"the digest interval is a number of minutes, at least one second's worth "
                  f"({MIN_DIGEST_MINUTES}) and at most {MAX_DIGEST_MINUTES:,}")
        try:
            minutes = read_number(minutes_text)
        except NotANumber as why:
            return f"{bounds}: {why}"
        seconds = minutes * 60
        if not 1 <= seconds <= MAX_DIGEST_MINUTES * 60:  # the API's bounds, never rounded in
            return f"{bounds}; {minutes_text} is not."
        body["digest_interval_seconds"] = round(seconds)  # to the second: the API's unit
    chosen = [status for status in request.form.getlist("statuses") if status in STATUSES]
    if chosen or filters.get("statuses"):
        body["filters"] = {**{name: value for name, value in filters.items()
                              if name in ("departments", "objectives", "event_types")},
                           "statuses": chosen}
    return None
