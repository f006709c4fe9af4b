"""Build small help centers on disk for tests (imported by test_library.py and test_check.py)."""

from __future__ import annotations

from pathlib import Path

from kb.content.problems import Problem

KB_TOML = """\
name = "Test Help Center"
source_locale = "en"
locales = {locales}
[categories.orders]
title = {{ en = "Orders", de = "Bestellungen" }}
[categories.returns]
title = {{ en = "Returns", de = "Rücksendungen" }}
"""


def write_config(root: Path, locales: tuple[str, ...] = ("en", "de", "de-AT", "fr")) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    listed = "[" + ", ".join(f'"{code}"' for code in locales) + "]"
    path = root / "kb.toml"
    path.write_text(KB_TOML.format(locales=listed), encoding="utf-8")
    return path


def article_text(
    article_id: str,
    title: str,
    body: str,
    category: str = "orders",
    updated: str = "2026-01-15",
    **extra: str,
) -> str:
    """An article file: id, title, category, updated, then any extra 'key: value' lines."""
    lines = ["---", f"id: {article_id}", f"title: {title}", f"category: {category}", f"updated: {updated}"]
    lines += [f"{key}: {value}" for key, value in extra.items()]
    lines.append("---")
    return "\n".join(lines) + "\n" + body


def write(root: Path, rel: str, text: str | bytes) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def rel_path(problem: Problem, root: Path) -> str:
    """The problem's file relative to the help-center root, whatever form the checker printed."""
    return Path(problem.path).resolve().relative_to(root.resolve()).as_posix()
