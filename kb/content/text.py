"""Markdown to readable plain text: what search embeds and shows as snippets, and what the site
turns into descriptions and its offline search index."""

from __future__ import annotations

import re

_MD_NOISE = re.compile(r"(\*\*|__|`|^#+\s*|^\s*[-*+]\s+|^\s*\d+\.\s+|^\s*\|?[-:| ]{3,}\|?\s*$)", re.M)
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_TABLE_RULE = re.compile(r"^[ \t]*\|?[ \t]*:?-{3,}:?[ \t]*(\|[ \t]*:?-{3,}:?[ \t]*)*\|?[ \t]*$", re.M)
_TABLE_ROW = re.compile(r"^[ \t]*\|(.*)\|[ \t]*$", re.M)


def _row(match: re.Match[str]) -> str:
    """A table row as one line: cells apart (' · '), the row closed (';'), so that flattened
    text such as a snippet does not run the cells and rows together."""
    cells = [cell.strip() for cell in match.group(1).split("|")]
    return " · ".join(cell for cell in cells if cell) + ";"


def plain(markdown: str) -> str:
    """Markdown → readable plain text (links keep their text, markup is dropped)."""
    text = _LINK.sub(r"\1", markdown)
    text = _TABLE_ROW.sub(_row, _TABLE_RULE.sub("", text))
    text = _MD_NOISE.sub("", text)
    text = text.replace("|", " ")
    return re.sub(r"[ \t]+", " ", re.sub(r"\n{2,}", "\n", text)).strip()
