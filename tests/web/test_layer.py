"""The HTTP layer stays in kb/web: no package below it imports FastAPI, Starlette or kb.web, and
the API prefix is written once (kb.API_PREFIX). Read from the source, so nothing is imported."""

from __future__ import annotations

import ast
from pathlib import Path

import kb

KB = Path(kb.__file__).resolve().parent
BELOW_WEB = ("content", "search", "translate", "analytics", "site")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_no_package_below_web_imports_the_http_stack() -> None:
    found = []
    for package in BELOW_WEB:
        for path in sorted((KB / package).rglob("*.py")):
            if path.name == "cli.py":  # a command: the command-line layer, above kb/web
                continue
            bad = {n for n in _imports(path) if n.split(".")[0] in ("fastapi", "starlette") or n.startswith("kb.web")}
            found += [f"{path.relative_to(KB.parent)}: {name}" for name in sorted(bad)]
    assert not found, found


def test_the_api_prefix_is_written_once() -> None:
    written = [f"{path.relative_to(KB.parent)}:{node.lineno}" for path in sorted(KB.rglob("*.py"))
               for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
               if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("/v1")]
    assert written == ["kb/__init__.py:7"], written
    assert kb.API_PREFIX == "/v1"
