"""Editing key results and objectives, "My notifications" and dates in the reader's locale,
over real HTTP against the console ``make run`` starts and the real goals, metrics and
notifications APIs."""

from __future__ import annotations

import html
import re
from datetime import date
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.console.conftest import Platform, Seeded
from tests.console.test_console_pages import (
    VERSION,
    console_app,
    csrf_of,
    sign_in_client,
    signed_in,
)

pytestmark = pytest.mark.timeout(900)


def page_text(answer: requests.Response) -> str:
    return html.unescape(answer.text)


def key_result_form(page: str, key_result_id: str) -> dict[str, str]:
    """The fields of the edit form of one key result, as the page shows them."""
    found = re.search(rf'<form method="post" action="/key-results/{key_result_id}/edit".*?'
                      r'</form>', page, re.S)
    assert found, page
    return {name: html.unescape(value) for name, value in
            re.findall(r'name="([a-z_]+)" value="([^"]*)"', found.group(0))}


def key_result(platform: Platform, key_result_id: str) -> dict[str, Any]:
    answer = platform.api("goals", "GET", f"/v1/key-results/{key_result_id}")
    assert answer.status_code == 200
    return dict(answer.json())


@pytest.fixture()
def own_key_result(platform: Platform, seeded: Seeded) -> tuple[str, str]:
    """A key result of a fresh sales objective: the edits of one test touch no other."""
    objective = platform.create("/v1/objectives", {
        "cycle": seeded.cycle, "kind": "department", "departments": ["sales"],
        "owner": "Owner", "title": "Renew the biggest accounts"})
    made = platform.create(f"/v1/objectives/{objective['id']}/key-results", {
        "title": "Accounts renewed", "measure": "increase", "start": 0, "target": 12,
        "unit": "accounts"})
    return str(objective["id"]), str(made["id"])


def test_a_head_edits_a_key_result_of_their_department(
        platform: Platform, seeded: Seeded, own_key_result: tuple[str, str]) -> None:
    objective_id, key_result_id = own_key_result
    browser = signed_in(platform, seeded.sales_head_token)
    page = browser.get(f"{platform.console_url}/objectives/{objective_id}", timeout=30).text
    form = key_result_form(page, key_result_id)
    assert form["title"] == "Accounts renewed" and form["unit"] == "accounts"
    answer = browser.post(f"{platform.console_url}/key-results/{key_result_id}/edit", timeout=30,
                          data={**form, "title": "Key accounts renewed", "target": "15",
                                "weight": "2"})
    assert "Key result saved." in answer.text
    after = key_result(platform, key_result_id)
    assert (after["title"], after["target"], after["weight"], after["unit"]) == (
        "Key accounts renewed", 15, 2, "accounts")
    assert after["version"] > int(form["version"].strip('"'))


def test_a_key_result_edit_the_api_refuses_is_shown_in_its_words_and_changes_nothing(
        platform: Platform, seeded: Seeded, own_key_result: tuple[str, str]) -> None:
    objective_id, key_result_id = own_key_result
    browser = signed_in(platform, seeded.sales_head_token)
    page = browser.get(f"{platform.console_url}/objectives/{objective_id}", timeout=30).text
    form = key_result_form(page, key_result_id)
    before = key_result(platform, key_result_id)
    refusal = platform.api("goals", "PATCH", f"/v1/key-results/{key_result_id}",
                           token=seeded.sales_head_token,
                           headers={"If-Match": f'"{form["version"]}"'},
                           json={"start": 12.0, "target": 12.0})
    assert refusal.status_code == 422
    answer = browser.post(f"{platform.console_url}/key-results/{key_result_id}/edit", timeout=30,
                          data={**form, "start": "12", "target": "12"})
    assert "Not saved: " + refusal.json()["detail"] in page_text(answer)
    not_a_number = browser.post(f"{platform.console_url}/key-results/{key_result_id}/edit",
                                timeout=30, data={**form, "target": "twelve"})
    assert "Not saved: Target must be a number" in page_text(not_a_number)
    assert key_result(platform, key_result_id) == before


def test_a_key_result_of_another_department_is_not_offered_and_its_edit_is_refused(
        platform: Platform, seeded: Seeded) -> None:
    browser = signed_in(platform, seeded.sales_head_token)
    page = browser.get(f"{platform.console_url}/objectives/{seeded.marketing_objective_id}",
                       timeout=30).text
    assert f"/key-results/{seeded.marketing_key_result_id}/edit" not in page
    before = key_result(platform, seeded.marketing_key_result_id)
    refusal = platform.api("goals", "PATCH", f"/v1/key-results/{seeded.marketing_key_result_id}",
                           token=seeded.sales_head_token,
                           headers={"If-Match": f'"{before["version"]}"'}, json={"target": 1})
    assert refusal.status_code == 403
    answer = browser.post(
        f"{platform.console_url}/key-results/{seeded.marketing_key_result_id}/edit",
        timeout=30, data={"csrf_token": csrf_of(page), "version": str(before["version"]),
                          "objective_id": seeded.marketing_objective_id, "target": "1"})
    assert "Not saved: " + refusal.json()["detail"] in page_text(answer)
    assert key_result(platform, seeded.marketing_key_result_id) == before


def test_a_stale_key_result_edit_names_who_changed_it_since(
        platform: Platform, seeded: Seeded, own_key_result: tuple[str, str]) -> None:
    objective_id, key_result_id = own_key_result
    browser = signed_in(platform, seeded.sales_head_token)
    page = browser.get(f"{platform.console_url}/objectives/{objective_id}", timeout=30).text
    form = key_result_form(page, key_result_id)
    changed = platform.api("goals", "PATCH", f"/v1/key-results/{key_result_id}",
                           headers={"If-Match": f'"{form["version"]}"'}, json={"target": 30})
    assert changed.status_code == 200
    writer = platform.api("goals", "GET", "/v1/audit",
                          params={"item_id": key_result_id}).json()[0]["actor"]
    answer = browser.post(f"{platform.console_url}/key-results/{key_result_id}/edit", timeout=30,
                          data={**form, "target": "14"})
    assert f"this key result was changed by {writer} since you opened it" in page_text(answer)
    assert key_result(platform, key_result_id)["target"] == 30


def test_an_objective_is_archived_from_its_edit_form(
        platform: Platform, seeded: Seeded, own_key_result: tuple[str, str]) -> None:
    objective_id, _ = own_key_result
    browser = signed_in(platform, seeded.sales_head_token)
    page = browser.get(f"{platform.console_url}/objectives/{objective_id}", timeout=30).text
    version = VERSION.search(page)
    assert version and '<select id="status" name="status">' in page
    answer = browser.post(f"{platform.console_url}/objectives/{objective_id}/edit", timeout=30,
                          data={"csrf_token": csrf_of(page), "title": "Renew the biggest accounts",
                                "owner": "Owner", "description": "", "status": "archived",
                                "version": html.unescape(version.group(1))})
    assert "Saved." in answer.text
    assert platform.api("goals", "GET",
                        f"/v1/objectives/{objective_id}").json()["status"] == "archived"


# -- My notifications ---------------------------------------------------------------------


def subscriptions_of(platform: Platform, department: str) -> list[dict[str, Any]]:
    answer = platform.api("notifications", "GET", "/v1/subscriptions",
                          params={"department": department, "page_size": 100})
    assert answer.status_code == 200
    return list(answer.json())


def subscription_forms(page: str, subscription_id: str) -> dict[str, str]:
    found = re.search(rf'<article class="card subscription" id="sub-{subscription_id}".*?'
                      r'</article>', page, re.S)
    assert found, page
    return {name: html.unescape(value) for name, value in
            re.findall(r'name="([a-z_]+)" value="([^"]*)"', found.group(0))}


def test_a_head_subscribes_their_department_and_changes_the_subscription_here(
        platform: Platform, seeded: Seeded) -> None:
    browser = signed_in(platform, seeded.sales_head_token)
    page = browser.get(f"{platform.console_url}/notifications", timeout=30).text
    assert "<h1>My notifications</h1>" in page
    answer = browser.post(f"{platform.console_url}/notifications", timeout=30, data={
        "csrf_token": csrf_of(page), "recipient": "Sales desk", "channel": "email",
        "email": "sales-desk@example.org", "mode": "immediate", "digest_minutes": "30"})
    assert "Subscribed Sales desk." in answer.text
    (made,) = [s for s in subscriptions_of(platform, "sales") if s["recipient"] == "Sales desk"]
    assert (made["channel"], made["email"], made["digest_interval_seconds"]) == (
        "email", "sales-desk@example.org", 1800)
    assert "sales-desk@example.org" in answer.text  # listed on the page

    form = subscription_forms(answer.text, made["id"])
    changed = browser.post(f"{platform.console_url}/notifications/{made['id']}/edit",
                           timeout=30, data={**form, "mode": "digest", "statuses": "off_track",
                                             "email": "sales-desk@example.org"})
    assert "Changed the subscription of Sales desk." in changed.text
    now = platform.api("notifications", "GET", f"/v1/subscriptions/{made['id']}").json()
    assert (now["mode"], now["filters"]["statuses"]) == ("digest", ["off_track"])

    stale = browser.post(f"{platform.console_url}/notifications/{made['id']}/edit", timeout=30,
                         data={**form, "recipient": "Somebody else",
                               "email": "sales-desk@example.org"})
    assert "changed by someone else since you opened it" in stale.text
    assert platform.api("notifications", "GET",
                        f"/v1/subscriptions/{made['id']}").json()["recipient"] == "Sales desk"

    current = subscription_forms(stale.text, made["id"])
    removed = browser.post(f"{platform.console_url}/notifications/{made['id']}/delete",
                           timeout=30, data={"csrf_token": current["csrf_token"],
                                             "version": current["version"]})
    assert "Subscription removed." in removed.text
    assert all(s["id"] != made["id"] for s in subscriptions_of(platform, "sales"))


def test_a_subscription_the_api_refuses_is_shown_in_its_words_and_none_is_made(
        platform: Platform, seeded: Seeded) -> None:
    browser = signed_in(platform, seeded.sales_head_token)
    page = browser.get(f"{platform.console_url}/notifications", timeout=30).text
    before = subscriptions_of(platform, "sales")
    body = {"recipient": "Broken", "channel": "email", "email": "not an address",
            "mode": "immediate"}
    refusal = platform.api("notifications", "POST", "/v1/subscriptions",
                           token=seeded.sales_head_token, json=body)
    assert refusal.status_code == 422
    answer = browser.post(f"{platform.console_url}/notifications", timeout=30,
                          data={**body, "csrf_token": csrf_of(page)})
    assert "Not subscribed: " + refusal.json()["detail"] in page_text(answer)
    for minutes in ("0", "-5", "nan", "1e9", "soon"):
        bad = browser.post(f"{platform.console_url}/notifications", timeout=30, data={
            **body, "email": "fine@example.org", "digest_minutes": minutes,
            "csrf_token": csrf_of(page)})
        assert "Not subscribed: the digest interval is a number of minutes" in bad.text
    assert subscriptions_of(platform, "sales") == before


def test_the_digest_interval_is_read_as_typed_like_any_number_of_the_console(
        platform: Platform, seeded: Seeded) -> None:
    """Minutes are read by the console's number rule (digits 0-9, a point or a comma, no
    exponent), and an interval under the API's one second is refused, not rounded up."""
    browser = signed_in(platform, seeded.sales_head_token)
    page = browser.get(f"{platform.console_url}/notifications", timeout=30).text
    body = {"recipient": "Digest reader", "channel": "email", "email": "reader@example.org",
            "mode": "digest", "csrf_token": csrf_of(page)}
    before = subscriptions_of(platform, "sales")
    for minutes, why in (("\u0663", "digits 0 to 9"),  # Arabic-Indic three
                         ("1e2", "without an exponent"),
                         ("0.001", "0.001 is not"),  # 0.06 seconds
                         ("10081", "10081 is not")):
        bad = browser.post(f"{platform.console_url}/notifications", timeout=30,
                           data={**body, "digest_minutes": minutes})
        assert "Not subscribed: the digest interval is a number of minutes" in page_text(bad)
        assert why in page_text(bad), minutes
    assert subscriptions_of(platform, "sales") == before
    answer = browser.post(f"{platform.console_url}/notifications", timeout=30,
                          data={**body, "digest_minutes": "12,5"})
    assert "Subscribed Digest reader." in answer.text
    (made,) = [s for s in subscriptions_of(platform, "sales")
               if s["recipient"] == "Digest reader"]
    assert made["digest_interval_seconds"] == 12.5 * 60


def test_another_departments_head_neither_sees_nor_changes_a_subscription(
        platform: Platform, seeded: Seeded) -> None:
    made = platform.api("notifications", "POST", "/v1/subscriptions", json={
        "recipient": "Sales private", "department": "sales", "channel": "email",
        "email": "private@example.org"})
    assert made.status_code == 201
    marketing = platform.create("/v1/tokens", {"name": "Head of marketing", "role": "head",
                                               "department": "marketing"})
    browser = signed_in(platform, marketing["token"])
    page = browser.get(f"{platform.console_url}/notifications", timeout=30).text
    assert "private@example.org" not in page and "Sales private" not in page
    answer = browser.post(
        f"{platform.console_url}/notifications/{made.json()['id']}/edit", timeout=30,
        data={"csrf_token": csrf_of(page), "version": "1", "recipient": "Taken over",
              "mode": "digest"})
    assert "there is no such subscription" in page_text(answer)
    assert platform.api("notifications", "GET", f"/v1/subscriptions/{made.json()['id']}"
                        ).json()["recipient"] == "Sales private"


# -- dates in the reader's locale ---------------------------------------------------------


def test_dates_are_written_in_the_readers_locale(platform: Platform, seeded: Seeded) -> None:
    browser = signed_in(platform, seeded.sales_head_token)
    cycle = platform.api("goals", "GET", f"/v1/cycles/{seeded.cycle}").json()
    starts = date.fromisoformat(cycle["starts_on"])

    def targets(language: str | None) -> str:
        headers = {"Accept-Language": language} if language is not None else {}
        answer = browser.get(f"{platform.console_url}/targets", params={"cycle": seeded.cycle},
                             headers=headers, timeout=30)
        assert answer.status_code == 200, language
        return page_text(answer)

    months = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
              "Dec")
    month = months[starts.month - 1]
    assert f"{starts.day:02d}.{starts.month:02d}.{starts.year}" in targets("de-DE,de;q=0.9")
    assert f"{month} {starts.day}, {starts.year}" in targets("en-US,en;q=0.5")
    assert f"{month} {starts.day}, {starts.year}" in targets("xx-Nope;q=1, en-US;q=0.8")
    british = f"{starts.day} {month} {starts.year}"
    assert british in targets(None)
    for hostile in ("*", ";;;", "q=0.5", "x" * 3000, "de\u00e9-CH", "../../etc"):
        assert british in targets(hostile)


# -- hostile forms ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def marketing_head_client(platform: Platform, seeded: Seeded) -> Any:
    """The in-process console, signed in as a head of marketing: may write marketing's key
    result, so a hostile edit reaches the API rather than being refused for its role."""
    minted = platform.create("/v1/tokens", {"name": "Hostile head", "role": "head",
                                            "department": "marketing"})
    return sign_in_client(console_app(platform), minted["token"])


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fields=st.dictionaries(
    st.sampled_from(["title", "start", "target", "unit", "weight", "version", "objective_id",
                     "recipient", "channel", "email", "url", "secret", "mode",
                     "digest_minutes", "statuses"]),
    st.text(max_size=30) | st.sampled_from(['"1"', "1e400", "nan", "-0", "0x10", "1,5"]),
    max_size=8), item=st.text(min_size=1, max_size=40))
def test_hostile_edit_and_subscription_forms_get_no_server_error_and_change_nothing(
        marketing_head_client: Any, platform: Platform, seeded: Seeded,
        fields: dict[str, str], item: str) -> None:
    client = marketing_head_client
    with client.session_transaction() as session:
        csrf = session["csrf_token"]
    before = key_result(platform, seeded.marketing_key_result_id)
    subscribed = subscriptions_of(platform, "marketing")
    data = {**fields, "csrf_token": csrf}
    data.setdefault("objective_id", seeded.marketing_objective_id)
    if data.get("version") == str(before["version"]):
        data["version"] = "0"  # a stale version: whatever the rest, nothing is written
    quoted = requests.utils.quote(item, safe="")
    for path in (f"/key-results/{seeded.marketing_key_result_id}/edit",
                 f"/key-results/{quoted}/edit", "/notifications",
                 f"/notifications/{quoted}/edit", f"/notifications/{quoted}/delete"):
        answer = client.post(path, data=data)
        assert answer.status_code < 500, (path, answer.status_code)
    assert key_result(platform, seeded.marketing_key_result_id) == before
    assert subscriptions_of(platform, "marketing") == subscribed


# -- the targets page's calls made at once ------------------------------------------------


@pytest.mark.parametrize("guess", ["GONE-CYCLE", "no such cycle/../", None])
def test_a_wrong_guess_of_the_current_cycle_is_asked_again(
        platform: Platform, seeded: Seeded, guess: str | None) -> None:
    client = sign_in_client(console_app(platform), seeded.sales_head_token)
    with client.session_transaction() as session:
        session["current_cycle"] = guess
    page = client.get("/targets").get_data(as_text=True)
    with client.session_transaction() as session:
        current = session["current_cycle"]
    assert current != guess
    assert re.search(rf'<option value="{re.escape(current)}" selected>', page)
    rollups = platform.api("metrics", "GET", "/v1/rollups", params={
        "cycle": current, "kind": "collective", "page_size": 25}).json()
    shown = re.findall(r'<th scope="row"><a href="/objectives/([^"]+)">', page)
    assert shown == [item["objective_id"] for item in rollups]
