"""Snippets: the piece of a passage shown under a result, with the query's words marked."""

from __future__ import annotations

import html
import re
from functools import lru_cache

from kb.search.lexical import tokenize

WORD = re.compile(r"\w+", re.UNICODE)
SNIPPET_CHARS = 240


@lru_cache(maxsize=100_000)
def _word_stems(word: str, locale: str) -> frozenset[str]:
    """The stems of one word of a snippet (cached: the same words come back query after query)."""
    return frozenset(tokenize(word, locale))


def snippet(text: str, query: str, locale: str) -> tuple[str, str]:
    """(plain snippet, HTML snippet with <mark> around words that share a stem with the query)."""
    text = " ".join(text.split())
    terms = set(tokenize(query, locale))
    marks = [m for m in WORD.finditer(text) if terms and _word_stems(m.group(0), locale) & terms]
    start = 0
    if len(text) > SNIPPET_CHARS and marks:
        start = max(0, marks[0].start() - 60)
        start = text.rfind(" ", 0, start) + 1 if start else 0
    end = min(len(text), start + SNIPPET_CHARS)
    if end < len(text):
        cut = text.rfind(" ", start, end)
        end = cut if cut > start else end
    piece = text[start:end]
    prefix, suffix = ("…" if start else ""), ("…" if end < len(text) else "")
    out, last = [], start
    for m in marks:
        if m.start() < start or m.end() > end:
            continue
        out.append(html.escape(text[last:m.start()]))
        out.append(f"<mark>{html.escape(m.group(0))}</mark>")
        last = m.end()
    out.append(html.escape(text[last:end]))
    return prefix + piece + suffix, prefix + "".join(out) + suffix
