"""The README and docs/ hold together: links resolve, the files they name exist, and the
configuration page lists exactly the environment variables the code reads.

Links: every relative markdown link in ``README.md`` and ``docs/*.md`` points to a file
of the repository, and its ``#anchor`` (if any) to a heading of that file, named the way
GitHub names heading anchors. Code blocks and inline code are not links.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from services.console.config import ConsoleConfig
from services.goals.config import GoalsConfig
from services.metrics.config import MetricsConfig
from services.notifications.config import NotificationsConfig

REPOSITORY = Path(__file__).resolve().parents[3]
PAGES = [REPOSITORY / "README.md", *sorted((REPOSITORY / "docs").glob("*.md"))]
CONFIGURATION = REPOSITORY / "docs" / "configuration.md"

_FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"(?<!!)\[[^\]\n]*\]\(([^)\s]+)\)")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
_VARIABLE = re.compile(r"\b((?:OKR|GRAFANA)_[A-Z0-9_]*[A-Z0-9])\b")


def prose(text: str) -> str:
    """The text without fenced code blocks and inline code."""
    return _INLINE_CODE.sub("", _FENCE.sub("", text))


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to '-'."""
    text = heading.replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for heading in _HEADING.findall(_FENCE.sub("", page.read_text())):
        anchor = github_anchor(heading)
        count = seen.get(anchor, 0)
        seen[anchor] = count + 1
        found.add(anchor if count == 0 else f"{anchor}-{count}")
    return found


def relative_links(page: Path) -> Iterator[str]:
    for target in _LINK.findall(prose(page.read_text())):
        if not re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            yield target


def broken_links(page: Path) -> list[str]:
    broken = []
    for target in relative_links(page):
        path, _, anchor = target.partition("#")
        if path.startswith("/"):
            broken.append(f"{target}: absolute path")
            continue
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and (linked.suffix != ".md" or anchor not in anchors(linked)):
            broken.append(f"{target}: no heading #{anchor} in {linked.name}")
    return broken


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_relative_link_resolves_to_a_file_and_heading(page: Path) -> None:
    assert broken_links(page) == []


def test_a_link_to_a_missing_heading_or_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other page\n\n## The `make run` part\n")
    page = tmp_path / "page.md"
    page.write_text("[ok](other.md#the-make-run-part) [ok](#here) `[code](nowhere.md)`\n"
                    "# Here\n[gone](missing.md) [bad](other.md#nothing) [abs](/etc/passwd)\n"
                    "```\n[in a block](nowhere.md)\n```\n")
    assert broken_links(page) == ["missing.md: no such file",
                                  "other.md#nothing: no heading #nothing in other.md",
                                  "/etc/passwd: absolute path"]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_no_page_names_a_path_of_this_machine(page: Path) -> None:
    assert str(REPOSITORY) not in page.read_text()


_REPOSITORY_PATH = re.compile(
    r"(?:services|shared|tools|tests|deploy|bench|docs|requirements|\.ci)/[\w./-]*"
    r"|Dockerfile|docker-compose\.yml|Makefile|pyproject\.toml")
#: Paths the pages name that runs create, not the repository.
GENERATED = {"bench/results/"}


def named_paths(text: str) -> set[str]:
    """Repository paths a page names in inline code, e.g. `shared/messaging/relay.py`."""
    return {code for code in re.findall(r"`([^`\n]+)`", _FENCE.sub("", text))
            if _REPOSITORY_PATH.fullmatch(code) and code not in GENERATED}


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_file_a_page_names_exists(page: Path) -> None:
    assert {path for path in named_paths(page.read_text())
            if not (REPOSITORY / path).exists()} == set()


def test_named_paths_are_found_in_inline_code_only() -> None:
    assert named_paths("`shared/config.py` `services/<service>/x` `okr-goals serve` "
                       "`Dockerfile`\n```\n`tests/in_a_block.py`\n```\n") == {
        "shared/config.py", "Dockerfile"}


def test_the_docs_index_lists_every_page() -> None:
    index = (REPOSITORY / "docs" / "README.md").read_text()
    pages = {page.name for page in PAGES if page.parent.name == "docs"} - {"README.md"}
    assert {page for page in pages if f"]({page})" not in index} == set()


# -- the configuration page against the code --------------------------------------------------

class _Recording(dict[str, str]):
    """An environment that remembers every variable asked for."""

    def __init__(self, values: Mapping[str, str]) -> None:
        super().__init__(values)
        self.asked: set[str] = set()

    def get(self, key: str, default: object = None) -> object:  # type: ignore[override]
        self.asked.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> str:
        self.asked.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self.asked.add(key)
        return super().__contains__(key)


def read_by_the_services(tmp_path: Path) -> set[str]:
    """Every variable the configurations (the three services, the console) ask for, and
    every ``OKR_*`` name written out in the runtime code (commands, launcher, demo)."""
    environ = _Recording({"OKR_DATA_DIR": str(tmp_path)})
    GoalsConfig.from_env(environ)
    MetricsConfig.from_env(environ)
    NotificationsConfig.from_env(environ)
    ConsoleConfig.from_env(environ)
    written = set()
    for folder in ("services", "shared", "tools"):
        for source in (REPOSITORY / folder).rglob("*.py"):
            written.update(re.findall(r"[\"'](OKR_[A-Z0-9_]*[A-Z0-9])[\"']", source.read_text()))
    return {name for name in environ.asked | written if _VARIABLE.fullmatch(name)}


def documented() -> set[str]:
    return set(_VARIABLE.findall(CONFIGURATION.read_text()))


def test_every_variable_the_code_reads_is_documented(tmp_path: Path) -> None:
    read = read_by_the_services(tmp_path)
    assert len(read) > 40
    assert read - documented() == set()


def test_every_documented_variable_is_read_somewhere(tmp_path: Path) -> None:
    places = [place for folder in ("services", "shared", "tools", "tests", "bench", "deploy")
              for pattern in ("*.py", "*.sh", "*.yml", "*.yaml", "*.example")
              for place in (REPOSITORY / folder).rglob(pattern)]
    places += [REPOSITORY / "docker-compose.yml", REPOSITORY / ".ci" / "run"]
    text = "\n".join(place.read_text(errors="replace") for place in places
                     if place.is_file() and place != Path(__file__))
    read = read_by_the_services(tmp_path)
    assert {name for name in documented() - read if name not in text} == set()
