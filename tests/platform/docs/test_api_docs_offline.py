"""Every service's ``/docs`` renders in a real browser from the service's own files.

Headless Chromium (``tests/support/browser.py``) resolves no host but this machine, as if
offline; the page must still draw one operation block for every operation of the service's
OpenAPI document, load its scripts, styles and the document from the service itself, and
log no error (a blocked or failed load, a Content-Security-Policy violation, a script
error).
"""

from __future__ import annotations

import pytest
import requests
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.platform.docs.conftest import SERVICES, Platform
from tests.support.browser import console, outside_requests, requested_urls

pytestmark = pytest.mark.timeout(240)

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
#: Generous: drawing the page parses a 1.6 MB script, on a machine that may be busy.
RENDER_SECONDS = 90

_OPERATIONS_SHOWN = """
return Array.from(document.querySelectorAll('.opblock')).map(function (block) {
  return [block.querySelector('.opblock-summary-method').textContent,
          block.querySelector('.opblock-summary-path').getAttribute('data-path')];
});"""


def operations(url: str) -> set[tuple[str, str]]:
    document = requests.get(f"{url}/openapi.json", timeout=30).json()
    return {(method.upper(), path) for path, item in document["paths"].items()
            for method in item if method in HTTP_METHODS}


@pytest.mark.parametrize("service", SERVICES)
def test_docs_show_every_operation_from_the_services_own_files(
        platform: Platform, browser: WebDriver, service: str) -> None:
    url = platform.urls[service]
    expected = operations(url)
    assert expected  # else the comparison below proves nothing

    browser.get(f"{url}/docs")
    WebDriverWait(browser, RENDER_SECONDS).until(
        lambda driver: len(driver.execute_script(_OPERATIONS_SHOWN)) >= len(expected))

    shown = [tuple(operation) for operation in browser.execute_script(_OPERATIONS_SHOWN)]
    assert sorted(shown) == sorted(expected)
    assert outside_requests(browser) == []
    loaded = requested_urls(browser)
    assert f"{url}/openapi.json" in loaded
    assert any(u.startswith(f"{url}/docs/assets/") and u.endswith(".js") for u in loaded)
    assert any(u.startswith(f"{url}/docs/assets/") and u.endswith(".css") for u in loaded)
    errors = [entry for entry in console(browser) if entry["level"] == "SEVERE"]
    assert errors == []


def test_a_page_that_reaches_outside_is_caught(platform: Platform, browser: WebDriver) -> None:
    """The checks above would see a CDN: the browser cannot reach one, and says so."""
    browser.get(f"{platform.urls['goals']}/docs")
    browser.execute_script(
        "var s = document.createElement('script');"
        "s.src = 'https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js';"
        "document.body.appendChild(s);")
    WebDriverWait(browser, RENDER_SECONDS).until(
        lambda driver: any(entry["level"] == "SEVERE" for entry in console(driver)))
