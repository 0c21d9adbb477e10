"""The console's pages over real HTTP, against the real goals and metrics APIs: sign-in,
the session's security, the targets and an objective, check-ins and their refusals, a
stale edit, a revoked token; and the number of API calls a page makes."""

from __future__ import annotations

import html
import re
import time
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.console.config import ConsoleConfig
from services.console.entrypoints.web.app import create_app
from tests.console.conftest import ROLLUP_SECONDS, Platform, Seeded, wait_until

# The package's platform starts within the first test's time: minutes on a busy machine.
pytestmark = pytest.mark.timeout(900)

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
#: The version of the objective's own edit form (each key result's form has its own).
VERSION = re.compile(r'action="/objectives/[^"/]+/edit".*?name="version" value="([^"]*)"', re.S)


def whole_percent(ratio: float) -> str:
    """``ratio`` as the pages write a percentage: half up on its decimal (0.575 → 58 %)."""
    return f"{Decimal(repr(ratio)).scaleb(2).quantize(Decimal(1), ROUND_HALF_UP)} %"


def signed_in(platform: Platform, token: str) -> requests.Session:
    browser = requests.Session()
    form = browser.get(platform.console_url + "/sign-in", timeout=30)
    answer = browser.post(platform.console_url + "/sign-in", timeout=30,
                          data={"token": token, "csrf_token": csrf_of(form.text)})
    assert answer.status_code == 200 and urlsplit(answer.url).path == "/targets", answer.text
    return browser


def csrf_of(page: str) -> str:
    found = CSRF.search(page)
    assert found, page
    return found.group(1)


def check_ins_of(platform: Platform, key_result_id: str) -> list[dict[str, Any]]:
    response = platform.api("goals", "GET", f"/v1/key-results/{key_result_id}/check-ins",
                            params={"page_size": 100})
    assert response.status_code == 200
    return list(response.json())


def test_unknown_token_is_refused_on_the_form_and_signs_nobody_in(platform: Platform) -> None:
    browser = requests.Session()
    form = browser.get(platform.console_url + "/sign-in", timeout=30)
    answer = browser.post(platform.console_url + "/sign-in", timeout=30,
                          data={"token": "not-a-token-anyone-minted",
                                "csrf_token": csrf_of(form.text)})
    assert answer.status_code == 401
    assert "unknown or revoked" in answer.text
    after = browser.get(platform.console_url + "/targets", timeout=30)
    assert urlsplit(after.url).path == "/sign-in"


def test_every_answer_carries_a_strict_policy_and_the_cookie_is_httponly_lax(
        platform: Platform, seeded: Seeded) -> None:
    browser = requests.Session()
    form = browser.get(platform.console_url + "/sign-in", timeout=30)
    answer = browser.post(platform.console_url + "/sign-in", allow_redirects=False, timeout=30,
                          data={"token": seeded.sales_head_token,
                                "csrf_token": csrf_of(form.text)})
    assert answer.status_code == 302
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain HTTP here; over HTTPS it is set
    assert seeded.sales_head_token not in answer.headers["Location"]
    for path in ("/sign-in", "/targets", f"/objectives/{seeded.target_id}",
                 "/static/console.css"):
        page = browser.get(platform.console_url + path, timeout=30)
        assert page.status_code == 200, path
        policy = page.headers["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "unsafe-inline" not in policy
        assert page.headers["X-Content-Type-Options"] == "nosniff"
        assert page.headers["X-Frame-Options"] == "DENY"
        assert "<script" not in page.text and "style=" not in page.text
        assert seeded.sales_head_token not in page.text


def test_targets_page_shows_the_cycles_collective_target_with_status_in_words(
        platform: Platform, seeded: Seeded) -> None:
    browser = signed_in(platform, seeded.sales_head_token)
    page = browser.get(platform.console_url + "/targets", params={"cycle": seeded.cycle},
                       timeout=30).text
    rollup = platform.api("metrics", "GET", f"/v1/rollups/{seeded.target_id}").json()
    assert "Grow new-customer revenue" in page
    assert whole_percent(rollup["progress"]) in page
    words = {"on_track": "On track", "at_risk": "At risk", "off_track": "Off track",
             "no_data": "No data yet"}[rollup["status"]]
    assert f'class="status {rollup["status"]}">{words}<' in page


def test_targets_page_tells_each_departments_part_the_forecast_and_why_of_a_target(
        platform: Platform, seeded: Seeded) -> None:
    browser = signed_in(platform, seeded.sales_head_token)
    page = browser.get(platform.console_url + "/targets", params={"cycle": seeded.cycle},
                       timeout=30).text
    [listed] = [item for item in platform.api("metrics", "GET", "/v1/rollups", params={
        "cycle": seeded.cycle, "kind": "collective"}).json()
        if item["objective_id"] == seeded.target_id]
    row = re.search(rf'<tr>\s*<th scope="row"><a href="/objectives/{seeded.target_id}">'
                    r'(.*?)</tr>', page, re.S)
    assert row is not None, page
    parts = dict(re.findall(r'<li class="part" data-department="([^"]+)">.*?</a>: ([^<]*)</li>',
                            row.group(1), re.S))
    assert set(parts) == {"sales", "marketing"} == {
        part["department"] for part in listed["gap_by_department"]}
    for part in listed["gap_by_department"]:
        said = parts[part["department"]]
        assert said.startswith(f"{whole_percent(part['progress'])} of its part, "), said
        assert ("behind" in said) == (round(part["share"] * 100, 1) > 0), said
    forecast = re.search(r'<p class="forecast">([^<]*)</p>', row.group(1))
    assert forecast is not None
    if listed["forecast"] is None:
        assert forecast.group(1) == "No forecast yet"
    else:
        assert forecast.group(1).startswith(f"On pace for {whole_percent(listed['forecast'])} by ")
    if listed["why"]:
        assert listed["why"].splitlines()[0] in html.unescape(row.group(1))


def test_an_owner_without_a_part_in_a_target_is_said_to_have_none_yet(
        platform: Platform, seeded: Seeded) -> None:
    cycle = "CONSOLE-PARTS"
    cycle_of_seed = platform.api("goals", "GET", f"/v1/cycles/{seeded.cycle}").json()
    platform.create("/v1/cycles", {"key": cycle, "starts_on": cycle_of_seed["starts_on"],
                                   "ends_on": cycle_of_seed["ends_on"]})
    target = platform.create("/v1/objectives", {
        "cycle": cycle, "kind": "collective", "departments": ["sales", "finance"],
        "owner": "CEO", "title": "Profitable growth"})
    sales = platform.create("/v1/objectives", {
        "cycle": cycle, "kind": "department", "departments": ["sales"], "owner": "Owner",
        "title": "Sell at list price"})
    key_result = platform.create(f"/v1/objectives/{sales['id']}/key-results", {
        "title": "Deals at list price", "measure": "increase", "start": 0, "target": 10,
        "unit": "deals"})
    platform.create("/v1/contributions", {"child_type": "objective", "child_id": sales["id"],
                                          "parent_type": "objective", "parent_id": target["id"]})
    platform.create(f"/v1/key-results/{key_result['id']}/check-ins", {"value": 4})
    client = sign_in_client(console_app(platform), seeded.sales_head_token)

    def parts_said() -> dict[str, str] | None:
        page = client.get(f"/targets?cycle={cycle}").get_data(as_text=True)
        said = dict(re.findall(r'<li class="part" data-department="([^"]+)">.*?</a>'
                               r'(?:: ([^<]*))?</li>', page, re.S))
        # sales' part shows at 0 % once the contribution is rolled up, and at 40 % once the
        # check-in is too (the consumer may take them in two batches)
        return said if said.get("sales", "").startswith("40 % of its part, ") else None

    said = wait_until(parts_said, ROLLUP_SECONDS, "the target rolled up with sales' check-in")
    assert said["finance"] == "no part yet", said


def test_an_archived_target_reads_archived_not_a_live_status(
        platform: Platform, seeded: Seeded) -> None:
    cycle = "CONSOLE-ARCHIVED"
    cycle_of_seed = platform.api("goals", "GET", f"/v1/cycles/{seeded.cycle}").json()
    platform.create("/v1/cycles", {"key": cycle, "starts_on": cycle_of_seed["starts_on"],
                                   "ends_on": cycle_of_seed["ends_on"]})
    live, gone = (platform.create("/v1/objectives", {
        "cycle": cycle, "kind": "collective", "departments": ["sales", "marketing"],
        "owner": "CEO", "title": title}) for title in ("Live target", "Dropped target"))
    archived = platform.api("goals", "PATCH", f"/v1/objectives/{gone['id']}",
                            json={"status": "archived"}, headers={"If-Match": '"1"'})
    assert archived.status_code == 200, archived.text

    def rolled_up_archived() -> bool:
        answer = platform.api("metrics", "GET", f"/v1/rollups/{gone['id']}")
        return answer.status_code == 200 and answer.json().get("archived") is True

    wait_until(rolled_up_archived, ROLLUP_SECONDS, "the archived target rolled up")
    wait_until(lambda: platform.api("metrics", "GET", f"/v1/rollups/{live['id']}"
                                    ).status_code == 200, ROLLUP_SECONDS, "the live target")
    client = sign_in_client(console_app(platform), seeded.sales_head_token)
    targets = client.get(f"/targets?cycle={cycle}").get_data(as_text=True)
    rows = {title: row for title, row in re.findall(
        r'<th scope="row"><a href="[^"]+">([^<]+)</a></th>(.*?)</tr>', targets, re.S)}
    assert '<span class="status archived">Archived</span>' in rows["Dropped target"]
    assert not re.search(r'class="status (on_track|at_risk|off_track|no_data)"',
                         rows["Dropped target"])
    assert "Archived" not in rows["Live target"]
    assert re.search(r'class="status (on_track|at_risk|off_track|no_data)"', rows["Live target"])
    department = client.get(f"/departments/sales?cycle={cycle}").get_data(as_text=True)
    owned = {re.sub(r"<[^>]+>", "", item).split(" (")[0].strip(): item for item in re.findall(
        r'<li class="owned">(.*?)</li>', department, re.S)}
    assert '<span class="status archived">Archived</span>' in owned["Dropped target"]
    assert "Archived" not in owned["Live target"]


def test_an_unknown_cycle_or_department_is_a_404_that_says_so(
        platform: Platform, seeded: Seeded) -> None:
    client = sign_in_client(console_app(platform), seeded.sales_head_token)
    for path in ("/targets?cycle=nosuch", "/departments/sales?cycle=nosuch"):
        answer = client.get(path)
        assert answer.status_code == 404, path
        assert "There is no cycle 'nosuch'" in html.unescape(answer.get_data(as_text=True))
    unknown = client.get(f"/departments/nosuch?cycle={seeded.cycle}")
    assert unknown.status_code == 404
    assert "There is no department 'nosuch': it does not exist" in html.unescape(
        unknown.get_data(as_text=True))
    # what the goals API would refuse (422) is the console's own 404, asking nothing:
    # hyphens alone, and letters or digits that are not ASCII ('é', '²', Arabic-Indic 1,
    # 'ß', 'µ', a modifier letter)
    for key in ("Sales%20Team", "-", "---", "sal%C3%A9", "%C2%B2", "%D9%A1", "%C3%9F",
                "%CE%BC", "%E1%B5%83"):
        malformed = client.get(f"/departments/{key}")
        assert malformed.status_code == 404, key
        said = html.unescape(malformed.get_data(as_text=True))
        assert "a department key is 2 to 40 lower-case letters, digits or hyphens, " \
               "starting with a letter" in said, key
        assert "no such objective" not in said


def test_a_page_number_that_is_not_ascii_digits_is_a_404_that_says_so(
        platform: Platform, seeded: Seeded) -> None:
    """'²', '①' and Arabic-Indic one are digits to str.isdigit; the page links write 0-9."""
    client = sign_in_client(console_app(platform), seeded.sales_head_token)
    for page in ("%C2%B2", "%E2%91%A0", "%C2%B3", "%D9%A1", "%201", "0", "-1", "1.0", "",
                 "100000"):
        answer = client.get(f"/targets?cycle={seeded.cycle}&page={page}")
        assert answer.status_code == 404, page
        assert "a page is a number from 1 to 99999 in the digits 0 to 9" in html.unescape(
            answer.get_data(as_text=True)), page
    for page in ("1", "01", "00001"):  # leading zeros are the same number, as in the APIs
        first = client.get(f"/targets?cycle={seeded.cycle}&page={page}")
        assert first.status_code == 200 and "Grow new-customer revenue" in first.get_data(
            as_text=True), page


def test_target_page_shows_each_departments_part_and_the_production_dependency(
        platform: Platform, seeded: Seeded) -> None:
    browser = signed_in(platform, seeded.sales_head_token)
    page = browser.get(f"{platform.console_url}/objectives/{seeded.target_id}", timeout=30).text
    assert 'data-department="sales"' in page and 'data-department="marketing"' in page
    assert "Win new enterprise customers" in page
    assert "Fill the pipeline with qualified leads" in page
    sales_page = browser.get(f"{platform.console_url}/objectives/{seeded.sales_objective_id}",
                             timeout=30).text
    production = platform.api("metrics", "GET",
                              f"/v1/rollups/{seeded.production_objective_id}").json()
    assert "supplied by <strong>production</strong>" in sales_page
    assert "Deliver onboarding capacity" in sales_page
    assert f'class="status {production["status"]}"' in sales_page
    assert "<svg" in sales_page and "<circle" in sales_page  # its check-in history


def test_department_page_shows_what_it_depends_on_and_who_depends_on_it(
        platform: Platform, seeded: Seeded) -> None:
    browser = signed_in(platform, seeded.sales_head_token)
    production = platform.api("metrics", "GET",
                              f"/v1/rollups/{seeded.production_objective_id}").json()
    sales = browser.get(f"{platform.console_url}/departments/sales",
                        params={"cycle": seeded.cycle}, timeout=30).text
    owned = re.findall(r'<li class="owned">(.*?)</li>', sales, re.S)
    assert any("Win new enterprise customers" in item for item in owned)
    assert any("Grow new-customer revenue" in item and "collective, with marketing" in item
               for item in owned)
    (outgoing,) = re.findall(r'<li class="outgoing">(.*?)</li>', sales, re.S)
    assert "supplied by" in outgoing and "Deliver onboarding capacity" in outgoing
    assert f'class="status {production["status"]}"' in outgoing
    production_page = browser.get(f"{platform.console_url}/departments/production",
                                  params={"cycle": seeded.cycle}, timeout=30).text
    (incoming,) = re.findall(r'<li class="incoming">(.*?)</li>', production_page, re.S)
    assert "Win new enterprise customers" in incoming and "supplied by" in incoming
    hostile = browser.get(f"{platform.console_url}/departments/..%2Fetc", timeout=30)
    assert hostile.status_code == 404


def test_department_page_lists_only_the_chosen_cycles_links_each_with_its_other_end(
        platform: Platform, seeded: Seeded) -> None:
    """The goals API lists a department's links of every cycle; the page shows those of
    the cycle chosen, each other end with its title and figures, never 'a objective'.
    (Marketing's key result link: sales keeps no link to a key result, whose cycle's key
    results the page would list once more, and the stale test counts that listing.)"""
    cycle = "CONSOLE-LINKS"
    cycle_of_seed = platform.api("goals", "GET", f"/v1/cycles/{seeded.cycle}").json()
    platform.create("/v1/cycles", {"key": cycle, "starts_on": cycle_of_seed["starts_on"],
                                   "ends_on": cycle_of_seed["ends_on"]})

    def objective(department: str, title: str) -> str:
        return str(platform.create("/v1/objectives", {
            "cycle": cycle, "kind": "department", "departments": [department],
            "owner": "Owner", "title": title})["id"])

    sales, marketing, finance = (objective(department, title) for department, title in (
        ("sales", "Close the year"), ("marketing", "Launch the campaign"),
        ("finance", "Fund it")))
    marketing_kr, finance_kr = (platform.create(f"/v1/objectives/{item}/key-results", {
        "title": title, "measure": "increase", "start": 0, "target": 80, "unit": "k EUR"})["id"]
        for item, title in ((marketing, "Campaign spend"), (finance, "Budget released")))
    platform.create(f"/v1/key-results/{finance_kr}/check-ins", {"value": 20})
    for kind, from_type, from_id, to_type, to_id in (
            ("funded_by", "objective", sales, "objective", finance),
            ("depends_on", "key_result", marketing_kr, "key_result", finance_kr)):
        platform.create("/v1/links", {"kind": kind, "from_type": from_type, "from_id": from_id,
                                      "to_type": to_type, "to_id": to_id})
    client = sign_in_client(console_app(platform), seeded.sales_head_token)

    def listed(key: str, department: str, direction: str = "outgoing") -> list[str]:
        page = client.get(f"/departments/{department}?cycle={key}").get_data(as_text=True)
        assert "a objective" not in page and "a key_result" not in page
        return [re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", "", item))).strip()
                for item in re.findall(rf'<li class="{direction}">(.*?)</li>', page, re.S)]

    def rolled_up() -> list[str] | None:
        said = listed(cycle, "sales") + listed(cycle, "marketing")
        return said if len(said) == 2 and not any(
            "Status unavailable" in item or "another cycle" in item for item in said) else None

    funded, depends = wait_until(rolled_up, ROLLUP_SECONDS, "every end rolled up")
    finance_rollup = platform.api("metrics", "GET", f"/v1/rollups/{finance}").json()
    status = {"on_track": "On track", "at_risk": "At risk", "off_track": "Off track",
              "no_data": "No data yet"}[finance_rollup["status"]]
    assert funded.startswith("funded by finance: Fund it 25 % ") and status in funded, funded
    assert depends.startswith("depends on finance: Budget released 20 k EUR of 80 k EUR "), \
        depends
    assert status in depends  # a key result's status is its objective's
    # the seeded cycle's pages: their own link only, none of this cycle's
    [seeded_link] = listed(seeded.cycle, "sales")
    assert "Deliver onboarding capacity" in seeded_link
    assert listed(seeded.cycle, "marketing") == []
    assert listed(seeded.cycle, "finance", "incoming") == []
    assert sorted(item.split(":")[0] for item in listed(cycle, "finance", "incoming")) == [
        "marketing", "sales"]


def test_check_in_without_the_forms_csrf_token_is_refused_and_changes_nothing(
        platform: Platform, seeded: Seeded) -> None:
    browser = signed_in(platform, seeded.sales_head_token)
    before = check_ins_of(platform, seeded.sales_key_result_id)
    for token in ("", "forged-token"):
        answer = browser.post(
            f"{platform.console_url}/key-results/{seeded.sales_key_result_id}/check-ins",
            data={"value": "7", "objective_id": seeded.sales_objective_id, "csrf_token": token},
            timeout=30)
        assert answer.status_code == 400
    assert check_ins_of(platform, seeded.sales_key_result_id) == before


def test_check_in_on_marketings_key_result_is_refused_in_the_apis_words(
        platform: Platform, seeded: Seeded) -> None:
    browser = signed_in(platform, seeded.sales_head_token)
    page = browser.get(f"{platform.console_url}/objectives/{seeded.marketing_objective_id}",
                       timeout=30).text
    before = check_ins_of(platform, seeded.marketing_key_result_id)
    answer = browser.post(
        f"{platform.console_url}/key-results/{seeded.marketing_key_result_id}/check-ins",
        data={"value": "300", "objective_id": seeded.marketing_objective_id,
              "csrf_token": csrf_of(page)}, timeout=30)
    refusal = platform.api("goals", "POST",
                           f"/v1/key-results/{seeded.marketing_key_result_id}/check-ins",
                           token=seeded.sales_head_token, json={"value": 300})
    assert refusal.status_code == 403
    assert "Check-in refused: " + refusal.json()["detail"] in answer.text.replace("&#39;", "'")
    assert check_ins_of(platform, seeded.marketing_key_result_id) == before


def test_a_stale_edit_names_who_changed_the_objective_since(platform: Platform,
                                                            seeded: Seeded) -> None:
    browser = signed_in(platform, seeded.sales_head_token)
    page = browser.get(f"{platform.console_url}/objectives/{seeded.sales_objective_id}",
                       timeout=30).text
    opened_version = VERSION.search(page)
    assert opened_version
    current = platform.api("goals", "GET", f"/v1/objectives/{seeded.sales_objective_id}")
    changed = platform.api("goals", "PATCH", f"/v1/objectives/{seeded.sales_objective_id}",
                           headers={"If-Match": current.headers["ETag"]},
                           json={"description": "changed meanwhile by the CEO"})
    assert changed.status_code == 200
    writer = platform.api("goals", "GET", "/v1/audit",
                          params={"item_id": seeded.sales_objective_id}).json()[0]["actor"]
    answer = browser.post(
        f"{platform.console_url}/objectives/{seeded.sales_objective_id}/edit",
        data={"version": html.unescape(opened_version.group(1)), "title": "Mine", "owner": "Owner",
              "description": "", "csrf_token": csrf_of(page)}, timeout=30)
    assert f"changed by {writer} since you opened it" in answer.text
    after = platform.api("goals", "GET", f"/v1/objectives/{seeded.sales_objective_id}").json()
    assert after["title"] == "Win new enterprise customers"


def test_a_revoked_token_ends_the_session(platform: Platform) -> None:
    minted = platform.create("/v1/tokens", {"name": "Soon revoked", "role": "head",
                                            "department": "finance"})
    browser = signed_in(platform, minted["token"])
    assert platform.api("goals", "DELETE", f"/v1/tokens/{minted['id']}").status_code == 204
    answer = browser.get(platform.console_url + "/targets", timeout=30)
    assert urlsplit(answer.url).path == "/sign-in"
    assert "no longer accepted" in answer.text
    again = browser.get(platform.console_url + "/targets", timeout=30)
    assert urlsplit(again.url).path == "/sign-in"  # the session is gone, not just one page


def test_sign_out_ends_the_session(platform: Platform, seeded: Seeded) -> None:
    browser = signed_in(platform, seeded.sales_head_token)
    page = browser.get(platform.console_url + "/targets", timeout=30).text
    answer = browser.post(platform.console_url + "/sign-out", data={"csrf_token": csrf_of(page)},
                          timeout=30)
    assert "You are signed out." in answer.text
    assert urlsplit(browser.get(platform.console_url + "/targets", timeout=30).url).path \
        == "/sign-in"


# -- in-process console (the same app), to measure and to age its session ----------------


class CountingSession(requests.Session):
    """The console's own HTTP client, counting the calls it makes (a measurement)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def request(self, method: str | bytes, url: str | bytes, *args: Any,
                **kwargs: Any) -> requests.Response:
        self.calls.append(f"{method!s} {urlsplit(str(url)).path}")
        return super().request(method, url, *args, **kwargs)


def console_app(platform: Platform, http: requests.Session | None = None,
                **environ: str) -> Any:
    config = ConsoleConfig.from_env({"OKR_GOALS_URL": platform.urls["goals"],
                                     "OKR_METRICS_URL": platform.urls["metrics"],
                                     "OKR_NOTIFICATIONS_URL": platform.urls["notifications"],
                                     **environ})
    app = create_app(config, http)
    app.testing = True
    return app


def sign_in_client(app: Any, token: str) -> Any:
    client = app.test_client()
    form = client.get("/sign-in").get_data(as_text=True)
    answer = client.post("/sign-in", data={"token": token, "csrf_token": csrf_of(form)})
    assert answer.status_code == 302
    return client


def test_targets_page_makes_the_same_calls_for_one_target_as_for_many(
        platform: Platform, seeded: Seeded) -> None:
    cycle = "CONSOLE-COUNT"
    cycle_of_seed = platform.api("goals", "GET", f"/v1/cycles/{seeded.cycle}").json()
    platform.create("/v1/cycles", {"key": cycle, "starts_on": cycle_of_seed["starts_on"],
                                   "ends_on": cycle_of_seed["ends_on"]})
    http = CountingSession()
    client = sign_in_client(console_app(platform, http), seeded.sales_head_token)

    def targets_in_page() -> int:
        return client.get(f"/targets?cycle={cycle}").get_data(as_text=True).count(
            'scope="row"')

    def calls_for_page(expected_targets: int) -> list[str]:
        wait_until(lambda: targets_in_page() == expected_targets, 120,
                   f"{expected_targets} targets rolled up")
        http.calls.clear()
        assert targets_in_page() == expected_targets
        return list(http.calls)

    def add_targets(count: int) -> None:
        for index in range(count):
            platform.create("/v1/objectives", {"cycle": cycle, "kind": "collective",
                                               "departments": ["sales", "marketing"],
                                               "owner": "CEO", "title": f"Target {index}"})

    add_targets(1)
    one = calls_for_page(1)
    add_targets(5)
    six = calls_for_page(6)
    assert sorted(one) == sorted(six)  # made at once: in either order
    assert len(six) <= 3, six


def test_one_token_signing_in_over_and_over_never_signs_anybody_else_out(
        platform: Platform, seeded: Seeded) -> None:
    """The attack: one viewer token signed in more times than the console keeps sessions.
    Its own oldest sessions end; the head of sales stays signed in."""
    viewer = platform.create("/v1/tokens", {"name": "Scripted viewer", "role": "viewer"})
    app = console_app(platform, OKR_CONSOLE_MAX_SESSIONS="8",
                      OKR_CONSOLE_MAX_SESSIONS_PER_TOKEN="3")
    head = sign_in_client(app, seeded.sales_head_token)
    flood = [sign_in_client(app, viewer["token"]) for _ in range(12)]
    assert head.get("/targets").status_code == 200
    assert [client.get("/targets").status_code for client in flood[-4:]] == [302, 200, 200, 200]
    assert app.session_interface.store.counts()[0] == 1 + 3


def test_session_ends_after_its_lifetime_whatever_happened_since(platform: Platform,
                                                                 seeded: Seeded) -> None:
    app = console_app(platform)
    client = sign_in_client(app, seeded.sales_head_token)
    assert client.get("/targets").status_code == 200
    with client.session_transaction() as session:
        session["signed_in_at"] = time.time() - 8 * 3600 - 1
    answer = client.get("/targets")
    assert answer.status_code == 302 and "reason=expired" in answer.headers["Location"]
    assert app.session_interface.store.counts()[0] == 0  # deleted, not only forgotten
    assert client.get("/targets").headers["Location"].endswith("/sign-in")


@pytest.fixture(scope="module")
def hostile_client(platform: Platform, seeded: Seeded) -> Any:
    return sign_in_client(console_app(platform), seeded.sales_head_token)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.text(max_size=40), confidence=st.text(max_size=10), note=st.text(max_size=60),
       item=st.text(min_size=1, max_size=80))
def test_hostile_check_in_forms_are_answered_without_a_server_error_and_change_nothing(
        hostile_client: Any, platform: Platform, seeded: Seeded, value: str, confidence: str,
        note: str, item: str) -> None:
    with hostile_client.session_transaction() as session:
        csrf = session["csrf_token"]
    data = {"value": value, "confidence": confidence, "note": note, "csrf_token": csrf,
            "objective_id": seeded.marketing_objective_id}
    answer = hostile_client.post(
        f"/key-results/{seeded.marketing_key_result_id}/check-ins", data=data)
    assert answer.status_code in (302, 303)
    odd = hostile_client.post(f"/key-results/{requests.utils.quote(item, safe='')}/check-ins",
                              data={**data, "objective_id": item})
    assert odd.status_code < 500
    page = hostile_client.get(f"/objectives/{requests.utils.quote(item, safe='')}")
    assert page.status_code < 500
    assert check_ins_of(platform, seeded.marketing_key_result_id)[0]["value"] == 240


# -- the department page's stale key results ----------------------------------------------


def stale_items(page: str) -> list[str]:
    return [" ".join(html.unescape(re.sub(r"<[^>]+>", "", item)).split())
            for item in re.findall(r'<li class="stale">(.*?)</li>', page, re.S)]


def test_department_page_lists_stale_key_results_from_one_call_whatever_their_number(
        platform: Platform, seeded: Seeded) -> None:
    """In a cycle of its own: a key result never checked in is stale at once, one checked
    in just now only once the console's OKR_CONSOLE_STALE_AFTER_DAYS has passed; the page
    asks the goals API once for them, however many there are."""
    cycle = "CONSOLE-STALE"
    cycle_of_seed = platform.api("goals", "GET", f"/v1/cycles/{seeded.cycle}").json()
    platform.create("/v1/cycles", {"key": cycle, "starts_on": cycle_of_seed["starts_on"],
                                   "ends_on": cycle_of_seed["ends_on"]})
    objective = platform.create("/v1/objectives", {
        "cycle": cycle, "kind": "department", "departments": ["sales"], "owner": "Owner",
        "title": "Keep the pipeline fresh"})

    def add_key_result(title: str) -> dict[str, Any]:
        return platform.create(f"/v1/objectives/{objective['id']}/key-results", {
            "title": title, "measure": "increase", "start": 0, "target": 40,
            "unit": "calls"})

    add_key_result("Calls never logged")
    checked = add_key_result("Calls logged today")
    answer = platform.create(f"/v1/key-results/{checked['id']}/check-ins", {"value": 1234})
    last = datetime.fromisoformat(answer["key_result"]["last_checkin_at"])
    path = f"/departments/sales?cycle={cycle}"

    fortnight = sign_in_client(console_app(platform), seeded.sales_head_token)

    def rolled_up_items() -> list[str] | None:
        items = stale_items(fortnight.get(path).get_data(as_text=True))
        return items if any("Keep the pipeline fresh" in item for item in items) else None

    (never,) = wait_until(rolled_up_items, ROLLUP_SECONDS, "the objective rolled up")
    # the one checked in today is not stale after the default 14 days
    assert never.startswith("Calls never logged in Keep the pipeline fresh")
    assert "last check-in never" in never and "value 0 calls" in never

    http = CountingSession()
    at_once = console_app(platform, http, OKR_CONSOLE_STALE_AFTER_DAYS="0.0000001")
    client = sign_in_client(at_once, seeded.sales_head_token)

    def calls_for(expected: int) -> tuple[list[str], list[str]]:
        http.calls.clear()
        page = client.get(path, headers={"Accept-Language": "de-DE"}).get_data(as_text=True)
        items = stale_items(page)
        assert len(items) == expected, items
        return list(http.calls), items

    one_call, items = calls_for(2)
    assert [item.split(" in ")[0] for item in items] == ["Calls never logged",
                                                          "Calls logged today"]
    assert f"{last.day:02d}.{last.month:02d}.{last.year}" in items[1]  # the reader's locale
    assert "1,234 calls" in items[1]
    for index in range(3):
        add_key_result(f"More calls {index}")
    more_calls, _ = calls_for(5)
    assert sorted(one_call) == sorted(more_calls)
    assert one_call.count("GET /v1/key-results") == 1
    assert not [call for call in one_call if call.startswith("GET /v1/key-results/")]


def test_a_department_that_owns_nothing_yet_has_an_empty_page(
        platform: Platform, seeded: Seeded) -> None:
    """The metrics service knows a department by what it owns; the goals service by its
    creation. A department created a moment ago is a page with nothing on it yet."""
    platform.create("/v1/departments", {"key": "legal-new", "name": "Legal"})
    client = sign_in_client(console_app(platform), seeded.sales_head_token)
    answer = client.get(f"/departments/legal-new?cycle={seeded.cycle}")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert "legal-new" in answer.get_data(as_text=True)
