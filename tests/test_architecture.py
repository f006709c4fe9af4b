"""The layers of kb import only downward, no modules import each other in a circle, the HTTP
stack stays in kb/web and the API prefix is written once.

content <- search <- translate, analytics <- site <- web <- cli (kb/errors.py and kb/__init__.py
sit below everything). Read from the source with ast, so nothing is imported; an import inside a
function counts like one at the top, because a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import kb

KB = Path(kb.__file__).resolve().parent
LAYER = {"errors": 0, "__init__": 0, "content": 1, "search": 2, "translate": 3, "analytics": 3,
         "site": 4, "web": 5, "cli": 6}


def _module(path: Path) -> str:
    parts = list(path.relative_to(KB.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every module `path` imports, and for `from m import x` also `m.x` (x may be a module)."""
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            targets.add(node.module)
            targets.update(f"{node.module}.{a.name}" for a in node.names)
    return targets


def _graph() -> dict[str, set[str]]:
    modules = {_module(p): p for p in KB.rglob("*.py") if "migrations" not in p.parts}
    return {name: {t for t in _imports(path) if t in modules and t != name} for name, path in modules.items()}


def _layer(module: str) -> int:
    parts = module.split(".")
    return LAYER[parts[1] if len(parts) > 1 else "__init__"]


def test_every_package_has_a_layer() -> None:
    packages = {p.name for p in KB.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages <= set(LAYER), packages - set(LAYER)


def test_imports_run_only_downward() -> None:
    upward = [f"{a} -> {b}" for a, targets in sorted(_graph().items()) for b in sorted(targets)
              if _layer(b) > _layer(a)]
    assert not upward, upward


def test_same_layer_packages_do_not_import_each_other() -> None:
    sideways = [f"{a} -> {b}" for a, targets in sorted(_graph().items()) for b in sorted(targets)
                if _layer(a) == _layer(b) > 0 and a.split(".")[1] != b.split(".")[1]]
    assert not sideways, sideways


def test_no_import_circles() -> None:
    graph = _graph()
    # a package's __init__ re-exporting its own modules is not a circle of design: leave those edges out
    edges = {a: {b for b in targets if not (b.startswith(a + ".") and a.count(".") >= 1)}
             for a, targets in graph.items()}
    circles: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                circles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [])
    assert not circles, circles


def test_no_package_below_web_imports_the_http_stack() -> None:
    found = [f"{p.relative_to(KB.parent)}: {name}" for p in sorted(KB.rglob("*.py"))
             if _layer(_module(p)) < LAYER["web"]
             for name in sorted(_imports(p)) if name.split(".")[0] in ("fastapi", "starlette")]
    assert not found, found


def test_the_api_prefix_is_written_once() -> None:
    written = [f"{path.relative_to(KB.parent)}:{node.lineno}" for path in sorted(KB.rglob("*.py"))
               for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
               if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("/v1")]
    assert written == ["kb/__init__.py:7"], written
    assert kb.API_PREFIX == "/v1"


def test_files_stay_short_or_say_why() -> None:
    long = [str(p.relative_to(KB.parent)) for p in KB.rglob("*.py")
            if len(p.read_text(encoding="utf-8").splitlines()) > 400
            and "longer than 400 lines" not in p.read_text(encoding="utf-8")[:2000]]
    assert not long, long
