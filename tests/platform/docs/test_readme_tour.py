"""The README's tour works, and every route the README and docs/ show exists.

The three APIs run as they do under ``make run`` (the ``platform`` fixture of this
folder's ``conftest.py``). The tour's shell blocks are taken from
``README.md`` as written and run with bash, curl and jq against the goals API; the routes
are checked against each service's own ``/openapi.json``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from tests.platform.docs.conftest import REPOSITORY, SERVICES, Platform, path_template

README = REPOSITORY / "README.md"
PAGES = [README, *sorted((REPOSITORY / "docs").glob("*.md"))]

pytestmark = pytest.mark.timeout(240)


def _section(text: str, heading: str) -> str:
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else None]


def tour() -> str:
    """The shell blocks of the README's "A short tour", in order."""
    blocks = re.findall(r"^```sh\n(.*?)^```", _section(README.read_text(), "A short tour"),
                        re.MULTILINE | re.DOTALL)
    assert len(blocks) >= 3
    return "\n".join(blocks)


@pytest.mark.skipif(not (shutil.which("curl") and shutil.which("jq")),
                    reason="the tour needs curl and jq (make tools installs them)")
def test_the_readme_tour_runs_against_the_goals_api(platform: Platform) -> None:
    env = {**os.environ, "G": platform.urls["goals"], "OKR_DATA_DIR": str(platform.data_dir)}
    result = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", tour()], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout.splitlines()
    assert '{"kind":"supplied_by","from_department":"sales","to_department":"production"}' in out
    assert '{"value":180000,"confidence":0.7,"current":180000}' in out
    assert ('[{"title":"Grow new-customer revenue","kind":"collective",'
            '"departments":["marketing","sales"]},{"title":"sales-sourced new business",'
            '"kind":"department","departments":["sales"]}]') in out
    assert '[{"child_type":"objective","weight":1},{"child_type":"objective","weight":1}]' in out
    assert ('[{"kind":"supplied_by","from_department":"sales",'
            '"note":"new customers need onboarding capacity"}]') in out
    assert '[{"value":180000,"author":"Head of sales","source":"system"}]' in out
    assert 'ETag: "1"' in [line.strip() for line in out]
    assert any('"title":"Win 40 new customers"' in line and '"version":2' in line
               for line in out)
    assert out[-2:] == ['{"index":0,"status":201}', '{"index":1,"status":404}']


# -- every route shown in the README and docs/ exists ----------------------------------------

#: How a page names each service's base URL.
_BASES = {
    r"\$G|\$\{G\}|(?:localhost|127\.0\.0\.1):8081": "goals",
    r"(?:localhost|127\.0\.0\.1):8082": "metrics",
    r"\$N|(?:localhost|127\.0\.0\.1):8083": "notifications",
}
_PARAMETER = re.compile(r"^(?:\$\w+|\$\{\w+\}|[A-Z][A-Z_]*)$")  # $SALES_KR, SUBSCRIPTION_ID


def shown_requests(text: str) -> Iterator[tuple[str, str]]:
    """(service, path template) of every URL a page shows, e.g. ``$G/v1/objectives/$O``."""
    for pattern, service in _BASES.items():
        for match in re.finditer(rf"(?:{pattern})(/v1/[^\s\"'?`\\)]*)", text):
            segments = match.group(1).rstrip("/").split("/")
            yield service, "/".join("{}" if _PARAMETER.match(s) else s for s in segments)


def documented_routes(text: str) -> Iterator[tuple[str, str]]:
    """(service, path template) of every route in the tables of api.md, by section."""
    for service in SERVICES:
        section = _section(text, next(line[3:] for line in text.splitlines()
                                      if line.lower().startswith(f"## {service} service")))
        for row in re.findall(r"^\|(.*?)\|", section, re.MULTILINE):
            for path in re.findall(r"`(/v1/[^`]*)`", row):
                yield service, path_template(path)


def test_every_route_the_pages_show_exists(platform: Platform) -> None:
    shown = {(page.name, service, path) for page in PAGES
             for service, path in shown_requests(page.read_text())}
    shown |= {("api.md", service, path)
              for service, path in documented_routes((REPOSITORY / "docs/api.md").read_text())}
    assert len({path for _, _, path in shown}) > 20
    assert {(page, service, path) for page, service, path in shown
            if path not in platform.routes[service]} == set()


def test_a_route_that_does_not_exist_is_noticed() -> None:
    assert set(shown_requests('curl $G/v1/objectives/$O/key-results "$N/v1/nothing?x=1"')) == {
        ("goals", "/v1/objectives/{}/key-results"), ("notifications", "/v1/nothing")}
