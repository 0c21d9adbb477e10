"""A real headless Chromium for the tests of pages, driven by selenium.

Debian's ``chromium`` and ``chromium-driver`` (``make tools`` installs them). The browser
resolves no host name but ``localhost`` (``--host-resolver-rules``), so a page that reaches
for a CDN fails as it would offline; :func:`outside_requests` lists any request that left
the machine all the same (to an address written as a number).

Use it from a ``conftest.py``::

    from tests.support.browser import browser, chromium, pytest_runtest_makereport  # noqa: F401

``browser`` is one Chromium per test module (``chromium``); when a test that used it
fails, a screenshot, the page's HTML and its console are written to ``test-artefacts/``
(ignored by git).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

ROOT = Path(__file__).resolve().parents[2]
ARTEFACTS = ROOT / "test-artefacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})

_FAILED = pytest.StashKey[bool]()


def chromium_options() -> Options:
    options = Options()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new", "--window-size=1280,1600", "--disable-gpu",
        "--disable-dev-shm-usage",  # /dev/shm is small in containers
        # Offline: no name resolves but localhost; no background traffic of the browser's own.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-default-apps", "--disable-extensions", "--no-first-run",
        "--no-default-browser-check", "--disable-features=Translate,MediaRouter",
    ):
        options.add_argument(argument)
    if os.geteuid() == 0:
        options.add_argument("--no-sandbox")  # Chromium refuses to run as root with one
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return options


@pytest.fixture(scope="module")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    """One headless Chromium for the module's tests (starting one takes a second or two)."""
    log = tmp_path_factory.mktemp("chromedriver") / "chromedriver.log"
    driver = webdriver.Chrome(options=chromium_options(),
                              service=Service(executable_path=CHROMEDRIVER, log_output=str(log)))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def browser(chromium: webdriver.Chrome,
            request: pytest.FixtureRequest) -> Iterator[webdriver.Chrome]:
    """The module's Chromium, its console emptied; if the test fails, the evidence is kept."""
    console(chromium)
    yield chromium
    if request.node.stash.get(_FAILED, False):
        save_evidence(chromium, request.node.nodeid)


def click_and_wait(driver: webdriver.Chrome, element: WebElement, seconds: float = 30) -> None:
    """Click a link or a form's button and wait until the next page has replaced this
    one: a click returns before the browser has navigated, and an element found on the old
    page in between is stale by the time it is read."""
    page = driver.find_element("css selector", "html")
    element.click()
    WebDriverWait(driver, seconds).until(expected_conditions.staleness_of(page))
    WebDriverWait(driver, seconds).until(
        lambda d: d.execute_script("return document.readyState") == "complete")


def save_evidence(driver: webdriver.Chrome, name: str) -> Path:
    """Write a screenshot, the page's HTML and its console log; returns the screenshot."""
    ARTEFACTS.mkdir(exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_")
    screenshot = ARTEFACTS / f"{stem}.png"
    driver.save_screenshot(str(screenshot))
    (ARTEFACTS / f"{stem}.html").write_text(driver.page_source)
    (ARTEFACTS / f"{stem}.console.txt").write_text(
        "\n".join(f"{entry['level']} {entry['message']}" for entry in console(driver)))
    return screenshot


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call" and report.failed:
        item.stash[_FAILED] = True
    return report


def console(driver: webdriver.Chrome) -> list[dict[str, Any]]:
    """The console entries (errors, failed loads, policy violations) since the last call."""
    entries: list[dict[str, Any]] = driver.get_log("browser")
    return entries


def requested_urls(driver: webdriver.Chrome) -> list[str]:
    """The page's own URL and every resource it loaded (scripts, styles, images, fetches)."""
    urls: list[str] = driver.execute_script(
        "return [location.href].concat("
        "performance.getEntriesByType('resource').map(function (e) { return e.name; }))")
    return urls


def outside_requests(driver: webdriver.Chrome) -> list[str]:
    """The URLs the page requested from anywhere but this machine (data: URIs are local)."""
    return [url for url in requested_urls(driver)
            if urlsplit(url).scheme not in ("data", "blob", "about")
            and urlsplit(url).hostname not in LOCAL_HOSTS]
