"""Split an article file into YAML front matter and Markdown body, keeping line numbers.

YAML anchors and aliases are refused: they are never needed in front matter and are the
tool of 'billion laughs' style blow-ups.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

DELIM = "---"


class FrontMatterError(ValueError):
    def __init__(self, message: str, line: int, hint: str = "") -> None:
        super().__init__(message)
        self.line = line
        self.hint = hint


@dataclass
class Parsed:
    meta: dict[str, Any]
    body: str
    body_line: int  # 1-based line number of the body's first line
    field_lines: dict[str, int] = field(default_factory=dict)


class _NoAliasLoader(yaml.SafeLoader):
    def compose_node(self, parent: Any, index: Any) -> Any:  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.MarkedYAMLError(
                None, None, "YAML aliases (*name) are not allowed in front matter", event.start_mark
            )
        event = self.peek_event()
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            raise yaml.MarkedYAMLError(
                None, None, "YAML anchors (&name) are not allowed in front matter", event.start_mark
            )
        return super().compose_node(parent, index)


def parse(text: str) -> Parsed:
    """Parse 'front matter + body' text. Raises FrontMatterError with a 1-based file line."""
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.split("\n")
    if not lines or lines[0].rstrip() != DELIM:
        raise FrontMatterError(
            "no front matter: the file must start with a line '---'",
            1,
            "add a YAML block between two '---' lines at the top (id, title, category, updated)",
        )
    end = None
    for i in range(1, len(lines)):
        if lines[i].rstrip() == DELIM:
            end = i
            break
    if end is None:
        raise FrontMatterError(
            "front matter is not closed", 1, "add a line '---' after the last front matter field"
        )
    block = "\n".join(lines[1:end])
    node: Any = None
    try:
        loader = _NoAliasLoader(block)
        try:
            node = loader.get_single_node()
            meta = loader.construct_document(node) if node is not None else {}
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = (mark.line + 2) if mark is not None else 2
        problem = exc.problem or str(exc)
        raise FrontMatterError(
            f"invalid YAML in front matter: {problem}",
            line,
            "fix the YAML syntax (quote values that contain ':' or start with a special character)",
        ) from exc
    except yaml.YAMLError as exc:
        raise FrontMatterError(f"invalid YAML in front matter: {exc}", 2, "fix the YAML syntax") from exc
    except (ValueError, TypeError, OverflowError) as exc:
        # PyYAML's constructors raise plain errors for values that look typed but are not,
        # e.g. 'updated: 2026-13-45' or '!!int abc'; a bad file must not stop the loader.
        raise FrontMatterError(
            f"invalid YAML in front matter: value cannot be read: {exc}",
            _failing_line(node),
            "write dates as YYYY-MM-DD with a real month and day; quote text that only looks like a date or number",
        ) from exc
    except RecursionError as exc:
        raise FrontMatterError(
            "invalid YAML in front matter: values are nested too deeply", 2, "write plain 'field: value' lines"
        ) from exc
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise FrontMatterError("front matter must be a mapping of 'field: value' lines", 2, "write one 'field: value' per line")
    field_lines: dict[str, int] = {}
    if node is not None and isinstance(node, yaml.MappingNode):
        for key_node, _ in node.value:
            field_lines[str(key_node.value)] = key_node.start_mark.line + 2
    body = "\n".join(lines[end + 1 :])
    return Parsed(meta=meta, body=body, body_line=end + 2, field_lines=field_lines)


def _failing_line(node: Any) -> int:
    """1-based file line of the first scalar in `node` that PyYAML cannot construct (else 2)."""

    def search(current: Any) -> int | None:
        if isinstance(current, yaml.MappingNode):
            children = [n for pair in current.value for n in pair]
        elif isinstance(current, yaml.SequenceNode):
            children = list(current.value)
        else:
            probe = yaml.SafeLoader("")
            try:
                probe.construct_document(current)
            except Exception:
                return current.start_mark.line + 2
            finally:
                probe.dispose()
            return None
        for child in children:
            found = search(child)
            if found is not None:
                return found
        return None

    try:
        return search(node) or 2
    except RecursionError:
        return 2


def _scalar(value: Any) -> str:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    dumped = yaml.safe_dump(value, allow_unicode=True, default_flow_style=True, width=10_000)
    return dumped.strip().removesuffix("...").strip()


def render(meta: dict[str, Any], body: str) -> str:
    """Serialize front matter (keys in the given order) and body into file text."""
    out = [DELIM]
    for key, value in meta.items():
        if value is None:
            continue
        if isinstance(value, list) and key == "questions":
            out.append(f"{key}:")
            out.extend(f"  - {_scalar(item)}" for item in value)
        else:
            out.append(f"{key}: {_scalar(value)}")
    out.append(DELIM)
    text = "\n".join(out) + "\n" + body.lstrip("\n")
    return text if text.endswith("\n") else text + "\n"


_TOP_KEY = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*:")


def update_fields(text: str, changes: dict[str, Any]) -> str:
    """Set top-level scalar fields in a file's front matter, touching no other line.

    Existing 'key: value' lines are replaced in place; new keys go before the closing '---'.
    """
    lines = text.split("\n")
    parse(text)  # validates structure first; raises FrontMatterError if broken
    start = 1
    end = next(i for i in range(start, len(lines)) if lines[i].rstrip() == DELIM)
    pending = dict(changes)
    i = start
    while i < end:
        match = _TOP_KEY.match(lines[i])
        if match and match.group(1) in pending:
            key = match.group(1)
            # drop continuation lines of a previous multi-line value
            j = i + 1
            while j < end and (lines[j].startswith((" ", "\t", "-")) and not _TOP_KEY.match(lines[j])):
                j += 1
            value = pending.pop(key)
            lines[i:j] = [] if value is None else [f"{key}: {_scalar(value)}"]
            end -= (j - i) - (0 if value is None else 1)
            i += 0 if value is None else 1
            continue
        i += 1
    new = [f"{k}: {_scalar(v)}" for k, v in pending.items() if v is not None]
    lines[end:end] = new
    return "\n".join(lines)
