"""One article file read into an Article, or a Problem saying what is wrong with it and what to do."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import ValidationError

from kb.content.article import Article, FrontMatter
from kb.content.fastmatter import parse_fast
from kb.content.frontmatter import FrontMatterError
from kb.content.locales import UnknownLocale
from kb.content.nesting import MAX_NESTING, nesting_depth
from kb.content.problems import Problem

MAX_ARTICLE_BYTES = 1_000_000
# A line nests at most as deep as the run of indentation and list/quote marker characters it
# starts with, so a body without such a run longer than MAX_NESTING needs no exact count.
_DEEP_PREFIX = re.compile(rf"^[ \t>*+\-0-9.)]{{{MAX_NESTING + 1}}}", re.M)


def display_path(path: Path, root: Path) -> str:
    """A path as an editor would type it: relative to the working directory when possible."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def load_article(path: Path, locale: str, root: Path, problems: list[Problem]) -> Article | None:
    """Read one file; on failure append a Problem and return None (never raise)."""
    try:
        if path.stat().st_size > MAX_ARTICLE_BYTES:
            problems.append(Problem("error", "too-large", display_path(path, root), 1,
                f"file is {path.stat().st_size:,} bytes; articles are limited to {MAX_ARTICLE_BYTES:,}",
                "split it into several articles"))
            return None
        raw = path.read_bytes()
    except OSError as exc:
        problems.append(Problem("error", "unreadable", display_path(path, root), 1, f"cannot read file: {exc.strerror}", "check permissions"))
        return None
    if b"\x00" in raw:
        problems.append(Problem("error", "binary-file", display_path(path, root), 1, "file contains NUL bytes: not a text file",
            "replace it with a UTF-8 Markdown file or remove it"))
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        problems.append(Problem("error", "invalid-utf8", display_path(path, root), line,
            f"invalid UTF-8 at byte {exc.start} (0x{raw[exc.start]:02x})",
            "re-save the file as UTF-8 in your editor"))
        return None
    text = text.replace("\r\n", "\n")
    try:
        parsed = parse_fast(text)
    except FrontMatterError as exc:
        problems.append(Problem("error", "invalid-yaml" if "YAML" in str(exc) else "front-matter",
                                display_path(path, root), exc.line, str(exc), exc.hint))
        return None
    depth, line = nesting_depth(parsed.body) if _DEEP_PREFIX.search(parsed.body) else (0, 0)
    if depth > MAX_NESTING:
        problems.append(Problem("error", "too-deep", display_path(path, root), parsed.body_line + line,
            f"lists or quotes nested {depth} levels deep; at most {MAX_NESTING} are allowed",
            "flatten the nesting: split the list, or use headings and paragraphs"))
        return None
    try:
        meta = FrontMatter.model_validate(parsed.meta)
    except ValidationError as exc:
        for err in exc.errors():
            name = str(err["loc"][0]) if err["loc"] else ""
            kind = "missing-field" if err["type"] == "missing" else (
                "unknown-field" if err["type"] == "extra_forbidden" else "bad-field")
            line = parsed.field_lines.get(name, 2)
            msg = f"field {name!r}: {err['msg']}" if name else str(err["msg"])
            hint = _field_hint(name, kind)
            if err["type"] == "string_type" and isinstance(err.get("input"), int | float | bool):
                what = "true/false" if isinstance(err["input"], bool) else "a number"
                written = _yaml_text(text, line, name)
                msg += f" (YAML reads {written} as {what})"
                hint = f"put the value in quotes: {name}: \"{written}\""
            problems.append(Problem("error", kind, display_path(path, root), line, msg, hint))
        return None
    except UnknownLocale as exc:
        problems.append(Problem("error", "unknown-locale", display_path(path, root), parsed.field_lines.get("source_locale", 2),
            f"field 'source_locale': {exc}", "use an enabled locale code such as 'en'"))
        return None
    return Article(meta=meta, body=parsed.body, locale=locale, path=path,
                   body_line=parsed.body_line, field_lines=parsed.field_lines)


_HINTS = {
    "id": "use lowercase words joined by hyphens, e.g. 'cancel-order'; a translation keeps its source's id",
    "title": "write the article's title as text",
    "category": "use a category key from kb.toml",
    "updated": "write the date as YYYY-MM-DD",
    "tags": "write a list, e.g. [returns, refund]",
    "questions": "write a list of questions, one '- ' line each",
    "review": "use one of: human, machine, reviewed",
    "source_hash": "run 'kb review approve' or copy the hash that 'kb check' shows",
    "reviewed_on": "write the date as YYYY-MM-DD",
}


def _yaml_text(text: str, line: int, name: str) -> str:
    """The value of `name: value` as written on front-matter line `line` of the file."""
    lines = text.split("\n")
    written = lines[line - 1] if 0 < line <= len(lines) else ""
    key, sep, value = written.partition(":")
    return value.split(" #")[0].strip() if sep and key.strip() == name else "…"


def _field_hint(name: str, kind: str) -> str:
    if kind == "unknown-field":
        return "remove it or fix its spelling; allowed: " + ", ".join(FrontMatter.model_fields)
    return _HINTS.get(name, "see the article format in docs/content.md")
