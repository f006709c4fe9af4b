"""Markdown to readable plain text: what search embeds and shows as snippets, and what the site
turns into descriptions and its offline search index. And what counts as visible text in what a
shopper types (one definition for the API's schemas, its checks and the engine)."""

from __future__ import annotations

import html
import re
import unicodedata
from functools import cache

_MD_NOISE = re.compile(r"(\*\*|__|`|^#+\s*|^\s*[-*+]\s+|^\s*\d+\.\s+|^\s*\|?[-:| ]{3,}\|?\s*$)", re.M)
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_TABLE_RULE = re.compile(r"^[ \t]*\|?[ \t]*:?-{3,}:?[ \t]*(\|[ \t]*:?-{3,}:?[ \t]*)*\|?[ \t]*$", re.M)
_TABLE_ROW = re.compile(r"^[ \t]*\|(.*)\|[ \t]*$", re.M)


def _row(match: re.Match[str]) -> str:
    """A table row as one line: cells apart (' · '), the row closed (';'), so that flattened
    text such as a snippet does not run the cells and rows together."""
    cells = [cell.strip() for cell in match.group(1).split("|")]
    return " · ".join(cell for cell in cells if cell) + ";"

# Raw HTML in Markdown: never part of plain text. Elements whose content is no text go whole (an
# unclosed one up to the end), comments and declarations too; other tags go and leave their text;
# autolinks (<https://…>, <name@host>) leave their address.
_HTML_DROPPED = re.compile(
    r"<!--.*?(?:-->|\Z)|<!\[CDATA\[.*?(?:\]\]>|\Z)|<[!?][^<>]*>"
    r"|<(script|style|iframe|object|embed|template|noscript|textarea|select|svg|math)\b[^>]*>.*?(?:</\1\s*>|\Z)",
    re.IGNORECASE | re.DOTALL)
_AUTOLINK = re.compile(r"<([a-zA-Z][a-zA-Z0-9+.-]{1,31}:[^<>\s]*|[^<>\s@]+@[^<>\s@]+)>")
_BLOCK = r"(?:address|article|aside|blockquote|br|dd|details|div|dl|dt|figcaption|figure|footer|h[1-6]|header|hr|li|main|nav|ol|p|pre|section|summary|table|tbody|td|tfoot|th|thead|tr|ul)"
_TAG = re.compile(r"</?([a-zA-Z][a-zA-Z0-9-]*)(?:\s(?:[^<>\"']|\"[^\"]*\"|'[^']*')*)?/?>")
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z][a-zA-Z0-9]{1,31});")
_IS_BLOCK = re.compile(_BLOCK, re.IGNORECASE)
_BLANK_LINE = re.compile(r"^[ \t]+$", re.M)  # a line that held only tags
_TAG_START = re.compile(r"<(?=[a-zA-Z/!?])")  # what is left of a tag pieced together ("<<b>i>")


def _untag(match: re.Match[str]) -> str:
    return " " if _IS_BLOCK.fullmatch(match.group(1)) else ""


def _entity(match: re.Match[str]) -> str:
    char = html.unescape(match.group(0))
    return match.group(0) if char in ("<", ">") else char  # text written as &lt;b&gt; never turns into a tag


def strip_html(text: str) -> str:
    """`text` without raw HTML: no tag survives, the text between tags stays, entities are decoded."""
    if "<" in text:
        text = _HTML_DROPPED.sub(" ", text)
        text = _AUTOLINK.sub(r"\1", text)
        text = _TAG.sub(_untag, text)
        while (shorter := _TAG_START.sub("", text)) != text:  # "<</" leaves "</" after one pass
            text = shorter
        text = _BLANK_LINE.sub("", text)
    return _ENTITY.sub(_entity, text) if "&" in text else text


def plain(markdown: str) -> str:
    """Markdown → readable plain text (links keep their text, markup and raw HTML are dropped)."""
    text = _LINK.sub(r"\1", strip_html(markdown))
    text = _TABLE_ROW.sub(_row, _TABLE_RULE.sub("", text))
    text = _MD_NOISE.sub("", text)
    text = text.replace("|", " ")
    return re.sub(r"[ \t]+", " ", re.sub(r"\n{2,}", "\n", text)).strip()


# -- visible text -----------------------------------------------------------------------------------
# Invisible: white space, control characters (Cc: NUL, ESC, …) and format characters (Cf: zero-width
# spaces and joiners U+200B..U+200F, word joiner U+2060, byte-order mark U+FEFF, soft hyphen, bidi marks…).
_INVISIBLE_CATEGORIES = ("Cc", "Cf", "Zs", "Zl", "Zp")


def is_invisible(char: str) -> bool:
    return char.isspace() or unicodedata.category(char) in _INVISIBLE_CATEGORIES


def visible(text: str) -> str:
    """`text` without control and format characters (a control that is white space, a tab or a line
    break, becomes a space), trimmed: empty when nothing in it shows."""
    return "".join((" " if char.isspace() else "") if unicodedata.category(char) in ("Cc", "Cf") else char
                   for char in text).strip()


def has_visible(text: str) -> bool:
    return any(not is_invisible(char) for char in text)


def _ranges(codes: list[int]) -> str:
    out, start = [], None
    for i, code in enumerate(codes):
        start = code if start is None else start
        if i + 1 == len(codes) or codes[i + 1] != code + 1:
            out.append(f"\\u{start:04x}" if start == code else f"\\u{start:04x}-\\u{code:04x}")
            start = None
    return "".join(out)


@cache
def visible_pattern() -> str:
    """The same rule as a regular expression for schemas: one character that shows. Written with
    \\uXXXX escapes, which ECMAScript (JSON Schema), Python and pydantic's Rust engine read alike; the
    Basic Multilingual Plane only (the few invisible characters above it are caught by has_visible)."""
    return "[^" + _ranges([c for c in range(0x10000) if is_invisible(chr(c))]) + "]"


VISIBLE_MESSAGE = "must contain a visible character (not only spaces, control or zero-width characters)"
