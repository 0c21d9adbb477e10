"""The service layers of metrics and notifications depend on their domain and on ports,
never on a concrete adapter, a web module or the composition root."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
FORBIDDEN = ("adapters", "entrypoints", "bootstrap")


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
    return names


@pytest.mark.parametrize("service", ["metrics", "notifications"])
def test_the_service_layer_imports_no_adapter_web_module_or_composition_root(
        service: str) -> None:
    offending = []
    for path in sorted((ROOT / "services" / service / "service_layer").glob("*.py")):
        for name in _imports(path):
            parts = name.split(".")
            if (name.startswith(f"services.{service}.")
                    and any(part in FORBIDDEN for part in parts)) \
                    or name.startswith(("shared.web", "flask")):
                offending.append(f"{path.relative_to(ROOT)}: {name}")
    assert offending == []
