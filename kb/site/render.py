"""Article Markdown → safe HTML: Python-Markdown, then nh3 with links rewritten to site URLs."""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import unquote

import markdown
import nh3

from kb.content.sections import slugify
from kb.content.text import plain
from kb.site import fastinline

EXTENSIONS = ["tables", "fenced_code", "toc", "attr_list"]

TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "del", "details", "div", "dl", "dt", "em",
    "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark",
    "ol", "p", "pre", "s", "samp", "small", "span", "strong", "sub", "summary", "sup", "table", "tbody", "td",
    "tfoot", "th", "thead", "tr", "u", "ul",
}
_HEADING_ATTRS = {"id"}
ATTRIBUTES: dict[str, set[str]] = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "abbr": {"title"},
    "ol": {"start"},
    "th": {"style", "colspan", "rowspan", "scope"},
    "td": {"style", "colspan", "rowspan"},
    **{f"h{n}": _HEADING_ATTRS for n in range(1, 7)},
}
CLASSES = {"a": {"anchor"}, "code": {f"language-{lang}" for lang in (
    "text", "bash", "shell", "console", "json", "yaml", "toml", "html", "css", "javascript", "python", "sql")}}
URL_SCHEMES = {"http", "https", "mailto", "tel"}

_EMPTY_IMG = re.compile(r"<img(?![^>]*\ssrc=)[^>]*>")
Resolver = Callable[[str, str], str | None]  # (tag, url) -> site url, or None to drop the link


@dataclass
class TocEntry:
    level: int
    anchor: str
    text: str


@dataclass
class Rendered:
    html: str
    toc: list[TocEntry] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)  # link targets that lead nowhere on the site


_local = threading.local()  # Markdown instances are not thread-safe: one set per thread


def _slugify(value: str, _sep: str) -> str:
    return slugify(value)


def new_markdown(anchor_title: str, fast: bool = True) -> markdown.Markdown:
    """A Markdown converter with the site's extensions; `fast`: with the quicker inline pass (same HTML)."""
    md = markdown.Markdown(extensions=EXTENSIONS, extension_configs={"toc": {
        "slugify": _slugify, "permalink": "#", "permalink_class": "anchor", "permalink_title": anchor_title,
    }})
    if fast:
        fastinline.install(md)
    return md


def _markdown(anchor_title: str) -> markdown.Markdown:
    """A Markdown converter for `anchor_title`, built once per thread and reset before each use."""
    cache: dict[str, markdown.Markdown] | None = getattr(_local, "converters", None)
    if cache is None:
        cache = _local.converters = {}
    md = cache.get(anchor_title)
    if md is None:
        md = cache[anchor_title] = new_markdown(anchor_title)
    else:
        md.reset()
    return md


def render_markdown(body: str, resolve: Resolver, anchor_title: str = "Link to this section") -> Rendered:
    """Convert and sanitize one article body. `resolve` maps each href/src to a site URL (or None)."""
    md = _markdown(anchor_title)
    raw = md.convert(body)
    toc = [TocEntry(t["level"], t["id"], html.unescape(t["name"])) for t in _flatten(md.toc_tokens)]
    own = {entry.anchor for entry in toc}
    dropped: list[str] = []

    def rewrite(tag: str, attr: str, value: str) -> str | None:
        if (tag, attr) not in (("a", "href"), ("img", "src")):
            return value
        if value.startswith("#"):
            url = value if unquote(value[1:]) in own else None
        else:
            url = resolve(tag, value)
        if url is None:
            dropped.append(value)
        return url

    clean = nh3.clean(raw, tags=TAGS, attributes=ATTRIBUTES, allowed_classes=CLASSES, url_schemes=URL_SCHEMES,
                      attribute_filter=rewrite, filter_style_properties={"text-align"}, link_rel=None,
                      strip_comments=True)
    clean = _EMPTY_IMG.sub("", clean)
    return Rendered(html=clean, toc=toc, dropped=dropped)


def _flatten(tokens: list[dict]) -> list[dict]:
    out: list[dict] = []
    for token in tokens:
        out.append(token)
        out.extend(_flatten(token.get("children", [])))
    return out


# Every URL an article body may contain, found without rendering: used to hash a page's inputs.
_URLS = re.compile(
    r"(?=[\]\[ hs])"  # (a quick look at the first character: any match starts with one of these)
    r"(?:\]\(\s*<?([^)\s>]+)"  # inline links and images
    r"|^[ ]{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)"  # reference definitions
    r"|(?:href|src)\s*=\s*[\"']?([^\"'\s>]+))",  # raw HTML
    re.MULTILINE | re.IGNORECASE,
)


def link_targets(body: str) -> list[str]:
    return sorted({next(g for g in m.groups() if g) for m in _URLS.finditer(body)})


_RAW_HTML = re.compile(r"<(script|style)\b.*?</\1\s*>|<[^>]*>", re.IGNORECASE | re.DOTALL)


_TABLE_ROW = re.compile(r"^[ \t]*\|(.*)\|[ \t]*$", re.MULTILINE)
_RULE_CELL = re.compile(r"^:?-{3,}:?$")


def _table_row(match: re.Match[str]) -> str:
    """'| BLIK | Poland, in PLN |' -> 'BLIK: Poland, in PLN.', so a table's cells do not run together."""
    cells = [cell.strip() for cell in match.group(1).split("|")]
    cells = [cell for cell in cells if cell]
    if not cells or all(_RULE_CELL.match(cell) for cell in cells):
        return match.group(0)  # the rule under the header: plain() drops it
    text = cells[0] + (": " + "; ".join(cells[1:]) if len(cells) > 1 else "")
    return text if text[-1] in ".!?:;…" else text + "."


def plain_text(body: str) -> str:
    """Readable text of a Markdown body, raw HTML dropped (for descriptions, JSON-LD, search)."""
    return " ".join(_RAW_HTML.sub(" ", plain(_TABLE_ROW.sub(_table_row, body))).split())

