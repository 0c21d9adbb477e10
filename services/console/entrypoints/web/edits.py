"""Editing a key result: the fields the goals API lets a writer change (title, start,
target, unit, weight), sent with ``If-Match``: the quoted ETag of the version the form was
shown with.

The API decides who may and what is valid; its refusals are shown in its words, and a
stale edit (412: someone changed the key result since the form was shown) names who did,
from the audit log, when the reader may see it. Nothing is changed unless the API
accepted the whole edit.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, request, url_for
from werkzeug.wrappers import Response

from services.console.adapters.api_client import Refused
from services.console.domain.number_input import NotANumber, read_number
from services.console.entrypoints.web.app import api
from services.console.entrypoints.web.pages import (
    _last_writer,
    _not_found,
    _require_sign_in,
    _safe_id,
    _version_in_form,
)

edits = Blueprint("edits", __name__)

#: The number fields of a key result the API lets a writer change, in the form's words.
NUMBER_FIELDS = {"start": "Start", "target": "Target", "weight": "Weight"}


@edits.post("/key-results/<key_result_id>/edit")
def edit_key_result(key_result_id: str) -> Response | tuple[str, int]:
    if (gone := _require_sign_in()) is not None:
        return gone
    objective_id = request.form.get("objective_id", "")
    if not (_safe_id(key_result_id) and _safe_id(objective_id)):
        return _not_found()
    back = url_for("pages.objective", objective_id=objective_id) + f"#kr-{key_result_id}"
    version = _version_in_form(request.form.get("version", ""))
    if version is None:
        flash("Open the objective again before editing its key result.", "error")
        return redirect(back)
    changes: dict[str, Any] = {}
    if "title" in request.form:
        changes["title"] = request.form["title"].strip()
    unit = request.form.get("unit", "").strip()
    if unit:  # a unit is never removed, only changed (the API wants 1 character or more)
        changes["unit"] = unit
    for name, words in NUMBER_FIELDS.items():
        text = request.form.get(name)
        if text is None or (name == "weight" and not text.strip()):
            continue
        try:
            changes[name] = read_number(text)
        except NotANumber as why:
            flash(f"Not saved: {words} must be a number, such as 12 or 12.5. {why}", "error")
            return redirect(back)
    if not changes:
        flash("Not saved: nothing to change.", "error")
        return redirect(back)
    goals = api("goals")
    try:
        goals.patch(f"/v1/key-results/{key_result_id}", changes, version)
    except Refused as refusal:
        if refusal.status == 412:
            flash(f"Not saved: this key result was changed by "
                  f"{_last_writer(goals, key_result_id)} since you opened it. Here it is as "
                  "it is now; make your change again.", "error")
        elif refusal.status == 404:
            flash("Not saved: this key result no longer exists.", "error")
        else:
            flash(f"Not saved: {refusal.in_words()}", "error")
        return redirect(back)
    flash("Key result saved.", "ok")
    return redirect(back)
