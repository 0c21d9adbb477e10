"""What an outside attacker found in the console, each over real HTTP against the real
goals and metrics APIs: sessions kept server-side (a copied cookie is worthless after
sign-out), numbers read as typed, a summing key result's value, tokens no header can
carry, pages without the metrics service, the If-Match of an edit, and the console's own
error pages."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import html
import re
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from services.console.adapters.sessions import SESSION_ID
from tests.conftest import free_port
from tests.console.conftest import Platform, Seeded, wait_until
from tests.console.test_console_pages import (
    VERSION,
    check_ins_of,
    console_app,
    csrf_of,
    sign_in_client,
    signed_in,
)

# The package's platform starts within the first test's time: minutes on a busy machine.
pytestmark = pytest.mark.timeout(900)

COOKIE = "okr_console"
ROLLUP_SECONDS = 120


def text_of(page: str) -> str:
    """A page's text as a reader sees it: tags dropped, entities read, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def own_objective(platform: Platform, title: str, department: str = "sales") -> str:
    assert platform.seeded is not None
    return str(platform.create("/v1/objectives", {
        "cycle": platform.seeded.cycle, "kind": "department", "departments": [department],
        "owner": "Owner", "title": title})["id"])


def key_result(platform: Platform, objective_id: str, title: str, **fields: Any) -> str:
    return str(platform.create(f"/v1/objectives/{objective_id}/key-results", {
        "title": title, "measure": "increase", "start": 0, "target": 100, "unit": "deals",
        **fields})["id"])


# -- 1. sessions ---------------------------------------------------------------------------


def test_the_cookie_carries_only_a_random_id_never_the_token(platform: Platform,
                                                             seeded: Seeded) -> None:
    browser = requests.Session()
    form = browser.get(platform.console_url + "/sign-in", timeout=30)
    anonymous = browser.cookies.get(COOKIE)
    browser.post(platform.console_url + "/sign-in", timeout=30,
                 data={"token": seeded.sales_head_token, "csrf_token": csrf_of(form.text)})
    cookie = browser.cookies.get(COOKIE)
    assert cookie is not None and SESSION_ID.fullmatch(cookie), cookie
    assert cookie != anonymous  # a new id at sign-in: no session fixation
    for readable in (cookie, _base64_of(cookie)):
        assert seeded.sales_head_token not in readable
        assert "Head of sales" not in readable
    again = signed_in(platform, seeded.sales_head_token).cookies.get(COOKIE)
    assert again != cookie  # random, not derived from the token


def _base64_of(text: str) -> str:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("latin-1")
    except (binascii.Error, ValueError):
        return ""


def test_a_cookie_copied_before_sign_out_signs_nobody_in_after(platform: Platform,
                                                               seeded: Seeded) -> None:
    browser = signed_in(platform, seeded.sales_head_token)
    thief = requests.Session()
    thief.cookies.set(COOKIE, browser.cookies[COOKIE])
    assert urlsplit(thief.get(platform.console_url + "/targets", timeout=30).url).path \
        == "/targets"  # the copy is as good as the original while the session lasts
    page = browser.get(platform.console_url + "/targets", timeout=30).text
    browser.post(platform.console_url + "/sign-out", data={"csrf_token": csrf_of(page)},
                 timeout=30)
    after = thief.get(platform.console_url + "/targets", timeout=30)
    assert urlsplit(after.url).path == "/sign-in"
    assert "Head of sales" not in after.text


def test_sign_out_expiry_and_a_revoked_token_delete_the_server_side_session(
        platform: Platform, seeded: Seeded) -> None:
    app = console_app(platform)
    store = app.session_interface.store
    client = sign_in_client(app, seeded.sales_head_token)
    assert store.counts()[0] == 1
    page = client.get("/targets").get_data(as_text=True)
    client.post("/sign-out", data={"csrf_token": csrf_of(page)})
    assert store.counts()[0] == 0

    minted = platform.create("/v1/tokens", {"name": "Revoked in the console test",
                                            "role": "head", "department": "finance"})
    client = sign_in_client(app, minted["token"])
    assert store.counts()[0] == 1
    assert platform.api("goals", "DELETE", f"/v1/tokens/{minted['id']}").status_code == 204
    assert "reason=refused" in client.get("/targets").headers["Location"]
    assert store.counts()[0] == 0


def test_over_https_the_session_cookie_is_secure(platform: Platform, seeded: Seeded) -> None:
    client = console_app(platform).test_client()
    https = "https://console.example"
    form = client.get("/sign-in", base_url=https)
    answer = client.post("/sign-in", base_url=https, data={
        "token": seeded.sales_head_token, "csrf_token": csrf_of(form.get_data(as_text=True))})
    assert answer.status_code == 302
    for cookie in (form.headers["Set-Cookie"], answer.headers["Set-Cookie"]):
        assert "; Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_a_bounded_store_lets_the_newest_sign_in_and_drops_the_oldest(
        platform: Platform, seeded: Seeded) -> None:
    config = dataclasses.replace(console_app(platform).extensions["okr.console.config"],
                                 max_sessions=2)
    from services.console.entrypoints.web.app import create_app
    app = create_app(config)
    clients = [sign_in_client(app, seeded.sales_head_token) for _ in range(3)]
    assert app.session_interface.store.counts()[0] == 2
    assert clients[0].get("/targets").headers["Location"].endswith("/sign-in")
    assert all(client.get("/targets").status_code == 200 for client in clients[1:])


# -- 2. numbers as typed -------------------------------------------------------------------


def test_a_decimal_comma_is_checked_in_as_typed_and_what_is_not_a_number_is_refused(
        platform: Platform, seeded: Seeded) -> None:
    objective_id = own_objective(platform, "Numbers as typed")
    kr = key_result(platform, objective_id, "Deals with decimals")
    browser = signed_in(platform, seeded.sales_head_token)
    page = browser.get(f"{platform.console_url}/objectives/{objective_id}", timeout=30).text

    def check_in(value: str, confidence: str = "") -> str:
        answer = browser.post(f"{platform.console_url}/key-results/{kr}/check-ins", timeout=30,
                              data={"value": value, "confidence": confidence,
                                    "objective_id": objective_id,
                                    "csrf_token": csrf_of(page)})
        assert answer.status_code == 200
        return text_of(answer.text)

    assert "Checked in" in check_in("12,5", "80,5")
    assert "Checked in" in check_in("3", "33.3333")
    (latest, previous, *_) = check_ins_of(platform, kr)
    assert (previous["value"], previous["confidence"]) == (12.5, 0.805)
    assert latest["confidence"] == 0.333333  # not rounded to 0.3333
    for typed, why in (("\u0661\u0662", "digits 0 to 9"),  # Arabic-Indic ١٢
                       ("1,234.5", "thousands separator"),
                       ("1,234", "could be read as 1234 or as 1.234"),
                       ("NaN", "not-a-number"), ("Infinity", "infinity"),
                       ("1e400", "without an exponent")):
        said = check_in(typed)
        assert "Not checked in: the value is not read." in said and why in said, typed
    said = check_in("7", confidence="\u0667\u0660")
    assert "Not checked in: the confidence is not read." in said and "digits 0 to 9" in said
    assert check_ins_of(platform, kr) == [latest, previous]


# -- 3. a summing key result --------------------------------------------------------------


def test_a_summing_key_result_shows_the_rolled_up_sum_not_its_start(
        platform: Platform, seeded: Seeded) -> None:
    objective_id = own_objective(platform, "Sums shown")
    part = key_result(platform, objective_id, "Deals of one team")
    total = key_result(platform, objective_id, "Deals of every team", aggregation="sum",
                       target=200)
    platform.create("/v1/contributions", {"child_type": "key_result", "child_id": part,
                                          "parent_type": "key_result", "parent_id": total})
    platform.create(f"/v1/key-results/{part}/check-ins", {"value": 30})

    def summed() -> float | None:
        tree = platform.api("metrics", "GET", f"/v1/rollups/{objective_id}",
                            params={"depth": 1})
        if tree.status_code != 200:
            return None
        node = next((c for c in tree.json()["children"] if c.get("key_result_id") == total),
                    None)
        return node["current"] if node and node.get("current") == 30 else None

    wait_until(summed, ROLLUP_SECONDS, "the sum rolled up")
    goals_says = platform.api("goals", "GET", f"/v1/key-results/{total}").json()["current"]
    assert goals_says == 0  # the goals API's current of a sum is its start
    browser = signed_in(platform, seeded.sales_head_token)
    page = browser.get(f"{platform.console_url}/objectives/{objective_id}", timeout=30).text
    article = re.search(rf'id="kr-{total}".*?</article>', page, re.S)
    assert article is not None
    current = re.search(r'class="current">([^<]*)<', article.group(0))
    assert current is not None and current.group(1) == "30 deals"


# -- 4. a token no header can carry --------------------------------------------------------


@pytest.mark.parametrize("token", ["токен€-0123456789", "日本語のトークン", "tab\tinside",
                                   "caf\u00e9-latin-1-but-not-a-token"])
def test_a_token_no_header_can_carry_is_answered_not_a_valid_token(
        platform: Platform, token: str) -> None:
    browser = requests.Session()
    form = browser.get(platform.console_url + "/sign-in", timeout=30)
    answer = browser.post(platform.console_url + "/sign-in", timeout=30,
                          data={"token": token, "csrf_token": csrf_of(form.text)})
    assert answer.status_code == 422
    assert "This is not a valid token" in text_of(answer.text)


# -- 5. without the metrics service --------------------------------------------------------


def test_pages_show_the_goals_data_with_a_notice_when_the_metrics_service_is_down(
        platform: Platform, seeded: Seeded) -> None:
    app = console_app(platform)
    config = app.extensions["okr.console.config"]
    client = sign_in_client(app, seeded.sales_head_token)
    nothing_listens = f"http://127.0.0.1:{free_port()}"
    app.extensions["okr.console.config"] = dataclasses.replace(config,
                                                               metrics_url=nothing_listens)
    for path, shown in ((f"/targets?cycle={seeded.cycle}", "Grow new-customer revenue"),
                        (f"/objectives/{seeded.sales_objective_id}", "Enterprise deals closed"),
                        (f"/departments/sales?cycle={seeded.cycle}",
                         "Win new enterprise customers")):
        answer = client.get(path)
        assert answer.status_code == 200, path
        page = text_of(answer.get_data(as_text=True))
        assert shown in page, path
        assert "Progress figures are unavailable" in page, path
        assert "On track" not in page and "No data yet" not in page, path

    app.extensions["okr.console.config"] = dataclasses.replace(config,
                                                               goals_url=nothing_listens)
    answer = client.get(f"/targets?cycle={seeded.cycle}")
    assert answer.status_code == 503
    assert "The goals service could not be reached" in text_of(answer.get_data(as_text=True))


def test_a_hung_metrics_service_holds_one_page_for_the_timeout_not_every_page_after(
        platform: Platform, seeded: Seeded) -> None:
    """A metrics service that accepts connections and never answers: the first page waits
    out the timeout, and the pages after it, within the cool-off, do not ask it again."""
    asked: list[str] = []
    release = threading.Event()

    @Request.application
    def hung(request: Request) -> Response:
        asked.append(request.path)
        release.wait(30)
        return Response("{}", content_type="application/json")

    server = make_server("127.0.0.1", 0, hung, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        app = console_app(platform, OKR_CONSOLE_API_TIMEOUT_SECONDS="3",
                          OKR_CONSOLE_API_COOL_OFF_SECONDS="600")
        client = sign_in_client(app, seeded.sales_head_token)
        config = app.extensions["okr.console.config"]
        app.extensions["okr.console.config"] = dataclasses.replace(
            config, metrics_url=f"http://127.0.0.1:{server.server_port}")
        paths = (f"/objectives/{seeded.sales_objective_id}", f"/targets?cycle={seeded.cycle}",
                 f"/departments/sales?cycle={seeded.cycle}")
        first = client.get(paths[0])
        assert first.status_code == 200
        assert "Progress figures are unavailable" in text_of(first.get_data(as_text=True))
        assert len(asked) == 1  # the first call timed out; the page asked no more
        for path in paths:
            answer = client.get(path)
            assert answer.status_code == 200, path
            assert "Progress figures are unavailable" in text_of(
                answer.get_data(as_text=True)), path
        assert len(asked) == 1, asked
    finally:
        release.set()
        server.shutdown()
        thread.join(timeout=10)


def test_pages_asked_while_a_call_hangs_do_not_ask_the_hung_service_too(
        platform: Platform, seeded: Seeded) -> None:
    """A page that comes while another page's call to a hung metrics service has waited
    more than a third of the timeout does not wait beside it: the threads stay free."""
    asked: list[str] = []
    release = threading.Event()

    @Request.application
    def hung(request: Request) -> Response:
        asked.append(request.path)
        release.wait(30)
        return Response("{}", content_type="application/json")

    server = make_server("127.0.0.1", 0, hung, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        app = console_app(platform, OKR_CONSOLE_API_TIMEOUT_SECONDS="6",
                          OKR_CONSOLE_API_COOL_OFF_SECONDS="600")
        first_client = sign_in_client(app, seeded.sales_head_token)
        later_client = sign_in_client(app, seeded.sales_head_token)
        config = app.extensions["okr.console.config"]
        app.extensions["okr.console.config"] = dataclasses.replace(
            config, metrics_url=f"http://127.0.0.1:{server.server_port}")
        path = f"/objectives/{seeded.sales_objective_id}"
        first = threading.Thread(target=lambda: first_client.get(path), daemon=True)
        first.start()
        wait_until(lambda: len(asked) == 1, 30, "the first page asked the hung service")
        time.sleep(2.5)  # more than a third of the 6 s timeout
        for later in (path, f"/targets?cycle={seeded.cycle}"):
            answer = later_client.get(later)
            assert answer.status_code == 200, later
            assert "Progress figures are unavailable" in text_of(
                answer.get_data(as_text=True)), later
        assert len(asked) == 1, asked  # only the first page's call reached it
        first.join(timeout=30)
    finally:
        release.set()
        server.shutdown()
        thread.join(timeout=10)


# -- 7. If-Match -------------------------------------------------------------------------------


class RecordingSession(requests.Session):
    """The console's own HTTP client, keeping each call's method, path and headers."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str, dict[str, str]]] = []

    def request(self, method: str | bytes, url: str | bytes, *args: Any,
                **kwargs: Any) -> requests.Response:
        self.calls.append((str(method), urlsplit(str(url)).path,
                           dict(kwargs.get("headers") or {})))
        return super().request(method, url, *args, **kwargs)


def test_an_edit_sends_the_quoted_etag_it_read_and_a_stale_one_names_the_writer(
        platform: Platform, seeded: Seeded) -> None:
    objective_id = own_objective(platform, "Edited through the console")
    http = RecordingSession()
    client = sign_in_client(console_app(platform, http), seeded.sales_head_token)
    page = client.get(f"/objectives/{objective_id}").get_data(as_text=True)
    version = VERSION.search(page)
    assert version is not None
    read = platform.api("goals", "GET", f"/v1/objectives/{objective_id}")

    def edit(title: str, version_in_form: str) -> str:
        http.calls.clear()
        answer = client.post(f"/objectives/{objective_id}/edit", follow_redirects=True,
                             data={"version": version_in_form, "title": title,
                                   "owner": "Owner", "description": "",
                                   "csrf_token": csrf_of(page)})
        assert answer.status_code == 200
        return text_of(answer.get_data(as_text=True))

    assert "Saved." in edit("Edited once", html.unescape(version.group(1)))
    (patch,) = [headers for method, _, headers in http.calls if method == "PATCH"]
    assert patch["If-Match"] == read.headers["ETag"]
    assert re.fullmatch(r'"[0-9]+"', patch["If-Match"])  # docs/api.md: ETag: "<version>"
    stale = edit("Edited twice", html.unescape(version.group(1)))
    writer = platform.api("goals", "GET", "/v1/audit",
                          params={"item_id": objective_id}).json()[0]["actor"]
    assert f"changed by {writer} since you opened it" in stale
    for forged in ("\u0663", "\u00b2", '"1', "1 2", ""):
        assert "Open the objective again" in edit("Forged", forged)
        assert not [call for call in http.calls if call[0] == "PATCH"]
    after = platform.api("goals", "GET", f"/v1/objectives/{objective_id}").json()
    assert after["title"] == "Edited once"


# -- 8. the console's own error pages -------------------------------------------------------


def test_not_found_not_allowed_and_too_large_are_the_consoles_own_pages(
        platform: Platform, seeded: Seeded) -> None:
    browser = signed_in(platform, seeded.sales_head_token)
    page = browser.get(platform.console_url + "/targets", timeout=30).text
    answers = {
        404: browser.get(platform.console_url + "/no-such-page", timeout=30),
        405: browser.post(platform.console_url + "/targets", timeout=30,
                          data={"csrf_token": csrf_of(page)}),
        413: browser.post(platform.console_url + "/sign-in", timeout=30,
                          data={"csrf_token": csrf_of(page), "token": "x" * 100_000}),
    }
    words = {404: "Not found", 405: "Not allowed here", 413: "Too large"}
    for status, answer in answers.items():
        assert answer.status_code == status
        assert answer.headers["Content-Type"].startswith("text/html")
        assert 'class="brand"' in answer.text  # the console's layout
        assert f"<h1>{words[status]}</h1>" in answer.text
        assert "Content-Security-Policy" in answer.headers
        assert "Werkzeug" not in answer.text and "<title>" + str(status) not in answer.text
    assert "GET" in answers[405].headers["Allow"]


def test_a_form_from_no_session_of_this_console_is_refused_on_an_html_page(
        platform: Platform, seeded: Seeded) -> None:
    browser = signed_in(platform, seeded.sales_head_token)
    answer = browser.post(
        f"{platform.console_url}/key-results/{seeded.sales_key_result_id}/check-ins",
        data={"value": "7", "objective_id": seeded.sales_objective_id,
              "csrf_token": "forged-token"}, timeout=30)
    assert answer.status_code == 400
    assert answer.headers["Content-Type"].startswith("text/html")
    assert "<h1>Form expired</h1>" in answer.text and 'class="brand"' in answer.text
    assert "Content-Security-Policy" in answer.headers
