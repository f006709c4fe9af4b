"""Markdown to readable plain text: what search embeds and shows as snippets, and what the site
turns into descriptions and its offline search index."""

from __future__ import annotations

import re

_MD_NOISE = re.compile(r"(\*\*|__|`|^#+\s*|^\s*[-*+]\s+|^\s*\d+\.\s+|^\s*\|?[-:| ]{3,}\|?\s*$)", re.M)
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")


def plain(markdown: str) -> str:
    """Markdown → readable plain text (links keep their text, markup is dropped)."""
    text = _LINK.sub(r"\1", markdown)
    text = _MD_NOISE.sub("", text)
    text = text.replace("|", " ")
    return re.sub(r"[ \t]+", " ", re.sub(r"\n{2,}", "\n", text)).strip()
