"""Headings, anchors and sections of a Markdown body (shared by check, search and site)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from markdown.extensions.toc import slugify_unicode

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_ATTR = re.compile(r"\s*\{[^}]*\}\s*$")


def slugify(text: str) -> str:
    return slugify_unicode(text, "-")


@dataclass
class Section:
    heading: str  # '' for the text before the first heading
    level: int
    anchor: str  # '' for the lead section
    text: str
    line: int  # 1-based line within the body


def split_sections(body: str) -> list[Section]:
    """Split a body at its headings; anchors are unique like Python-Markdown's toc extension."""
    sections: list[Section] = []
    used: set[str] = set()
    heading, level, anchor, start = "", 0, "", 1
    buf: list[str] = []
    in_fence = False
    for number, line in enumerate(body.split("\n"), start=1):
        if _FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else _HEADING.match(line)
        if match:
            sections.append(Section(heading, level, anchor, "\n".join(buf).strip(), start))
            heading = _ATTR.sub("", match.group(2)).strip()
            level = len(match.group(1))
            anchor = _unique(slugify(heading), used)
            start, buf = number, []
        else:
            buf.append(line)
    sections.append(Section(heading, level, anchor, "\n".join(buf).strip(), start))
    return [s for s in sections if s.heading or s.text]


def anchors(body: str) -> set[str]:
    return {s.anchor for s in split_sections(body) if s.anchor}


def _unique(slug: str, used: set[str]) -> str:
    base, n = slug or "section", 0
    candidate = base
    while candidate in used:
        n += 1
        candidate = f"{base}_{n}"
    used.add(candidate)
    return candidate
