"""Translate a Markdown body without breaking it: only human text goes to the translator.

The body (never the front matter) is cut into literal Markdown and text segments. Kept as
they are: fenced and indented code blocks, HTML blocks and comments, thematic breaks,
setext underlines, table alignment rows, link reference definitions; heading marks, list
markers and task boxes, blockquote marks, table pipes and cell padding; inline code,
link and image destinations, autolinks, bare URLs, inline HTML, escapes, footnote
references and emphasis markers. Translated: heading, paragraph, list item and table cell
text, link text and image alt text, each run between two kept pieces on its own.

Each line is handled on its own (kb's articles keep a paragraph on one line), and the
segments of a whole body go to the translator in one batch, each distinct text once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

Translate = Callable[[list[str]], list[str]]

_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})")
_BLANK = re.compile(r"^\s*$")
_HEADING = re.compile(r"^(\s{0,3}#{1,6})(\s+)(.*?)(\s*\{[#.][^}]*\})?(\s+#+)?(\s*)$")
_EMPTY_HEADING = re.compile(r"^\s{0,3}#{1,6}\s*$")
_THEMATIC = re.compile(r"^\s{0,3}([-*_])(\s*\1){2,}\s*$")
_SETEXT = re.compile(r"^\s{0,3}(=+|-+)\s*$")
_REF_DEF = re.compile(r"^\s{0,3}\[(?!\^)[^\]]+\]:\s*\S")
_FOOTNOTE_DEF = re.compile(r"^(\s{0,3}\[\^[^\]]+\]:\s*)(.*)$")
_BLOCK_TAGS = (
    "address|article|aside|audio|blockquote|body|caption|center|col|colgroup|dd|details|dialog|dir|div|dl|dt|"
    "fieldset|figcaption|figure|footer|form|frame|frameset|h[1-6]|head|header|hr|html|iframe|legend|li|link|main|"
    "menu|menuitem|nav|noframes|ol|optgroup|option|p|param|picture|pre|script|section|source|style|summary|table|"
    "tbody|td|template|textarea|tfoot|th|thead|title|tr|track|ul|video"
)
# HTML blocks (CommonMark kinds 1-6, and a line holding nothing but one tag) stay as they are.
_HTML_BLOCK = re.compile(
    rf"^\s{{0,3}}(<!--|<\?|<![A-Za-z]|<!\[CDATA\[|</?(?:{_BLOCK_TAGS})(?:\s|/?>|$)"
    r"|</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>\s*$)",
    re.I,
)
_QUOTE = re.compile(r"^(\s{0,3}>\s?)(.*)$")
_LIST_ITEM = re.compile(r"^(\s*(?:[-*+]|\d{1,9}[.)])(?:\s+|$))(\[[ xX]\]\s+)?(.*)$")
_INDENTED = re.compile(r"^( {4,}|\t)")
_TABLE_ALIGN = re.compile(r"^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")

_INLINE = re.compile(
    r"""
    (?P<code>(?<!`)(?P<ticks>`+)(?!`).*?(?<!`)(?P=ticks)(?!`))
  | (?P<footref>\[\^[^\]\s]+\])
  | (?P<image>!\[(?P<alt>(?:[^\[\]\\]|\\.)*)\](?P<imgdest>\((?:[^()\s]|\([^()]*\))*(?:\s+(?:"[^"]*"|'[^']*'))?\s*\)|\[[^\]]*\]))
  | (?P<link>\[(?P<text>(?:[^\[\]\\]|\\.|\[[^\]]*\])*)\](?P<dest>\((?:[^()\s]|\([^()]*\))*(?:\s+(?:"[^"]*"|'[^']*'))?\s*\)|\[[^\]]*\]))
  | (?P<autolink><(?:[A-Za-z][A-Za-z0-9+.-]{1,31}:[^<>\s]*|[^<>\s@]+@[^<>\s@]+)>)
  | (?P<html></?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>|<!--.*?-->)
  | (?P<url>(?:https?://|www\.)[^\s<>()\[\]]*[^\s<>()\[\].,;:!?'"*_])
  | (?P<escape>\\[!-/:-@\[-`{-~])
  | (?P<emph>\*+|~~|(?<![^\W_])_+|_+(?![^\W_]))
    """,
    re.X,
)


@dataclass
class Template:
    """A Markdown body as literal pieces and text segments (by index into `texts`)."""

    pieces: list[str | int] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    _index: dict[str, int] = field(default_factory=dict)

    def literal(self, text: str) -> None:
        if text:
            self.pieces.append(text)

    def text(self, text: str) -> None:
        """Add human text: trimmed, and only when it has letters (else it stays literal)."""
        lead = text[: len(text) - len(text.lstrip())]
        core = text.strip()
        trail = text[len(lead) + len(core) :]
        if not any(ch.isalpha() for ch in core):
            self.literal(text)
            return
        self.literal(lead)
        if core not in self._index:
            self._index[core] = len(self.texts)
            self.texts.append(core)
        self.pieces.append(self._index[core])
        self.literal(trail)

    def render(self, translations: Mapping[str, str] | list[str]) -> str:
        """The body with each text replaced (by the list in `texts` order, or a mapping)."""
        if isinstance(translations, list):
            translations = dict(zip(self.texts, translations, strict=True))
        return "".join(p if isinstance(p, str) else translations.get(self.texts[p], self.texts[p])
                       for p in self.pieces)


def parse(body: str) -> Template:
    """Cut a Markdown body into literal pieces and translatable texts."""
    tpl = Template()
    lines = body.split("\n")
    i = 0
    prev_blank = True
    in_list = False
    while i < len(lines):
        line = lines[i]
        if i:
            tpl.literal("\n")
        fence = _FENCE.match(line)
        if fence:
            i = _copy_fence(tpl, lines, i, fence.group(2))
            prev_blank = False
            continue
        if _BLANK.match(line):
            tpl.literal(line)
            prev_blank = True
            i += 1
            continue
        if _INDENTED.match(line) and prev_blank and not in_list:
            tpl.literal(line)  # indented code block
            i += 1
            continue
        if _HTML_BLOCK.match(line):
            i = _copy_html(tpl, lines, i)
            prev_blank = False
            continue
        if "|" in line and i + 1 < len(lines) and _TABLE_ALIGN.match(lines[i + 1]) and "-" in lines[i + 1]:
            i = _table(tpl, lines, i)
            prev_blank = in_list = False
            continue
        indent = line[: len(line) - len(line.lstrip())]
        if not indent and not _LIST_ITEM.match(line):
            in_list = False
        if _LIST_ITEM.match(line):
            in_list = True
        _line(tpl, line)
        prev_blank = False
        i += 1
    return tpl


def translate_markdown(body: str, translate: Translate) -> str:
    """Translate the human text of a Markdown body with `translate` (a batch function)."""
    tpl = parse(body)
    if not tpl.texts:
        return body
    return tpl.render(translate(list(tpl.texts)))


# --- blocks ------------------------------------------------------------------------------

def _copy_fence(tpl: Template, lines: list[str], i: int, fence: str) -> int:
    tpl.literal(lines[i])
    close = re.compile(rf"^\s*{re.escape(fence[0])}{{{len(fence)},}}\s*$")
    i += 1
    while i < len(lines):
        tpl.literal("\n" + lines[i])
        i += 1
        if close.match(lines[i - 1]):
            break
    return i


def _copy_html(tpl: Template, lines: list[str], i: int) -> int:
    comment = lines[i].lstrip().startswith("<!--")
    tpl.literal(lines[i])
    done = comment and "-->" in lines[i]
    i += 1
    while i < len(lines) and not done:
        if not comment and _BLANK.match(lines[i]):
            break
        tpl.literal("\n" + lines[i])
        done = comment and "-->" in lines[i]
        i += 1
    return i


def _table(tpl: Template, lines: list[str], i: int) -> int:
    _row(tpl, lines[i])
    tpl.literal("\n" + lines[i + 1])
    i += 2
    while i < len(lines) and "|" in lines[i] and not _BLANK.match(lines[i]):
        tpl.literal("\n")
        _row(tpl, lines[i])
        i += 1
    return i


def _row(tpl: Template, line: str) -> None:
    cells = _split_cells(line)
    for n, cell in enumerate(cells):
        if n:
            tpl.literal("|")
        _inline(tpl, cell)


def _split_cells(line: str) -> list[str]:
    """Split a table row at pipes that are not escaped and not inside inline code."""
    cells, start, ticks, k = [], 0, 0, 0
    while k < len(line):
        ch = line[k]
        if ch == "\\":
            k += 2
            continue
        if ch == "`":
            run = len(line[k:]) - len(line[k:].lstrip("`"))
            ticks = 0 if ticks == run else (run if not ticks else ticks)
            k += run
            continue
        if ch == "|" and not ticks:
            cells.append(line[start:k])
            start = k + 1
        k += 1
    cells.append(line[start:])
    return cells


def _line(tpl: Template, line: str) -> None:
    """One line of a paragraph, heading, list item, blockquote or the like."""
    if _THEMATIC.match(line) or _SETEXT.match(line) or _REF_DEF.match(line) or _EMPTY_HEADING.match(line):
        tpl.literal(line)
        return
    quote = _QUOTE.match(line)
    if quote:
        tpl.literal(quote.group(1))
        _line(tpl, quote.group(2))
        return
    heading = _HEADING.match(line)
    if heading:
        marks, space, text, attrs, closing, tail = heading.groups()
        tpl.literal(marks + space)
        _inline(tpl, text)
        tpl.literal((attrs or "") + (closing or "") + tail)
        return
    item = _LIST_ITEM.match(line)
    if item:
        marker, box, rest = item.groups()
        tpl.literal(marker + (box or ""))
        if rest:
            _line(tpl, rest)
        return
    footnote = _FOOTNOTE_DEF.match(line)
    if footnote:
        tpl.literal(footnote.group(1))
        _inline(tpl, footnote.group(2))
        return
    indent = line[: len(line) - len(line.lstrip())]
    tpl.literal(indent)
    _inline(tpl, line[len(indent) :])


def _inline(tpl: Template, text: str) -> None:
    """Inline Markdown: text runs are translated, code, URLs, markup and markers kept."""
    pos = 0
    for m in _INLINE.finditer(text):
        tpl.text(text[pos : m.start()])
        pos = m.end()
        if m.group("link") is not None:
            tpl.literal("[")
            _inline(tpl, m.group("text"))
            tpl.literal("]" + m.group("dest"))
        elif m.group("image") is not None:
            tpl.literal("![")
            tpl.text(m.group("alt"))
            tpl.literal("]" + m.group("imgdest"))
        else:
            tpl.literal(m.group(0))
    tpl.text(text[pos:])
