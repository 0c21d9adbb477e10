"""The head of sales in a real headless Chromium: signs in, sees the collective target
with both departments' parts and the production dependency, checks in and sees the new
value once rolled up, is refused on marketing's key result in words, subscribes to the
department's notifications by e-mail, signs out.
Screenshots of each step go to ``test-artefacts/`` (ignored by git)."""

from __future__ import annotations

from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from tests.console.conftest import Platform, Seeded, wait_until
from tests.console.test_console_pages import whole_percent
from tests.support.browser import click_and_wait, console, outside_requests, save_evidence

ROLLUP_SECONDS = 120

# The package's platform starts within this test's time: minutes on a busy machine.
pytestmark = pytest.mark.timeout(900)


def text_of(browser: WebDriver, css: str) -> str:
    return str(browser.find_element(By.CSS_SELECTOR, css).text)


def part_row(browser: WebDriver, department: str) -> Any:
    return browser.find_element(By.CSS_SELECTOR, f'tr.part[data-department="{department}"]')


def test_head_of_sales_checks_in_is_refused_on_marketing_and_signs_out(
        browser: WebDriver, platform: Platform, seeded: Seeded) -> None:
    browser.get(platform.console_url + "/")
    browser.find_element(By.ID, "token").send_keys(seeded.sales_head_token)
    click_and_wait(browser, browser.find_element(By.CSS_SELECTOR, "form button[type=submit]"))
    assert browser.current_url.endswith("/targets")
    assert "Head of sales (head of sales)" in text_of(browser, "header")
    # the collective target's row: both departments' parts, its forecast (or that there is
    # none yet) and what holds it back, as the roll-up list tells them
    [listed] = [item for item in platform.api("metrics", "GET", "/v1/rollups", params={
        "cycle": seeded.cycle, "kind": "collective"}).json()
        if item["objective_id"] == seeded.target_id]
    row = browser.find_element(By.XPATH, "//tr[th/a[normalize-space()="
                                         "'Grow new-customer revenue']]")
    save_evidence(browser, "console_0_targets")
    for part in listed["gap_by_department"]:
        said = row.find_element(By.CSS_SELECTOR,
                                f'li.part[data-department="{part["department"]}"]').text
        assert f"{whole_percent(part['progress'])} of its part" in said, said
    assert {part["department"] for part in listed["gap_by_department"]} == {"sales",
                                                                          "marketing"}
    forecast = row.find_element(By.CSS_SELECTOR, "p.forecast").text
    if listed["forecast"] is None:
        assert forecast == "No forecast yet"
    else:
        assert forecast.startswith(f"On pace for {whole_percent(listed['forecast'])} by "), forecast
    if listed["why"]:
        assert row.find_element(By.CSS_SELECTOR, "p.why").text == listed["why"]
    click_and_wait(browser, browser.find_element(By.LINK_TEXT, "Grow new-customer revenue"))
    save_evidence(browser, "console_1_collective_target")
    assert "Win new enterprise customers" in part_row(browser, "sales").text
    assert "Fill the pipeline with qualified leads" in part_row(browser, "marketing").text

    click_and_wait(browser, browser.find_element(By.LINK_TEXT, "Win new enterprise customers"))
    production = platform.api("metrics", "GET",
                              f"/v1/rollups/{seeded.production_objective_id}").json()
    link = text_of(browser, "li.link")
    assert "supplied by production" in link and "Deliver onboarding capacity" in link
    assert {"on_track": "On track", "at_risk": "At risk", "off_track": "Off track",
            "no_data": "No data yet"}[production["status"]] in link

    form = f"#kr-{seeded.sales_key_result_id} form.check-in"
    browser.find_element(By.CSS_SELECTOR, f"{form} input[name=value]").send_keys("9")
    browser.find_element(By.CSS_SELECTOR, f"{form} input[name=confidence]").send_keys("70")
    browser.find_element(By.CSS_SELECTOR, f"{form} textarea[name=note]").send_keys("two signed")
    click_and_wait(browser, browser.find_element(By.CSS_SELECTOR, f"{form} button"))
    assert "Checked in" in text_of(browser, "p.flash.ok")
    assert text_of(browser, f"#kr-{seeded.sales_key_result_id} .current") == "9 deals"

    def rolled_up() -> dict[str, Any] | None:
        tree = platform.api("metrics", "GET", f"/v1/rollups/{seeded.sales_objective_id}",
                            params={"depth": 1}).json()
        key_result = next(c for c in tree["children"] if c["type"] == "key_result")
        return tree if key_result.get("value") == 9 else None

    tree = wait_until(rolled_up, ROLLUP_SECONDS, "the check-in rolled up")
    browser.refresh()
    save_evidence(browser, "console_2_checked_in")
    assert whole_percent(tree["progress"]) in text_of(browser, "p.summary")

    browser.get(f"{platform.console_url}/objectives/{seeded.marketing_objective_id}")
    form = f"#kr-{seeded.marketing_key_result_id} form.check-in"
    browser.find_element(By.CSS_SELECTOR, f"{form} input[name=value]").send_keys("300")
    click_and_wait(browser, browser.find_element(By.CSS_SELECTOR, f"{form} button"))
    refusal = platform.api("goals", "POST",
                           f"/v1/key-results/{seeded.marketing_key_result_id}/check-ins",
                           token=seeded.sales_head_token, json={"value": 300}).json()["detail"]
    assert text_of(browser, "p.flash.error") == f"Check-in refused: {refusal}"
    save_evidence(browser, "console_3_refused_on_marketing")

    click_and_wait(browser, browser.find_element(By.LINK_TEXT, "My notifications"))
    Select(browser.find_element(By.ID, "n-channel")).select_by_value("email")
    browser.find_element(By.ID, "n-email").send_keys("head-of-sales@example.org")
    click_and_wait(browser, browser.find_element(By.CSS_SELECTOR,
                                                 'form[action="/notifications"] button'))
    assert text_of(browser, "p.flash.ok") == "Subscribed Head of sales."
    subscribed = platform.api("notifications", "GET", "/v1/subscriptions",
                              params={"department": "sales", "page_size": 100}).json()
    assert any(s["email"] == "head-of-sales@example.org" and s["recipient"] == "Head of sales"
               for s in subscribed)
    assert "head-of-sales@example.org" in text_of(browser, "section[aria-labelledby=listed]")
    save_evidence(browser, "console_4_subscribed")

    click_and_wait(browser, browser.find_element(By.CSS_SELECTOR, "form.who button"))
    assert "You are signed out." in text_of(browser, "main")
    browser.get(platform.console_url + "/targets")
    assert browser.current_url.endswith("/sign-in")
    save_evidence(browser, "console_5_signed_out")
    assert outside_requests(browser) == []
    assert [entry for entry in console(browser) if entry["level"] == "SEVERE"] == []
