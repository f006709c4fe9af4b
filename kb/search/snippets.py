"""Snippets: the piece of a passage shown under a result, with the query's words marked (in any
script: words and cuts from kb/search/scripts.py)."""

from __future__ import annotations

import html
from functools import lru_cache

import numpy as np

from kb.content.sections import split_sections
from kb.content.text import plain
from kb.search import scripts
from kb.search.index import ArticleRecord, Index, Vectors
from kb.search.lexical import tokenize, words
from kb.search.passages import Passage, chunks

WORD = scripts.WORD  # a word: letters, digits and their combining marks (kb/search/scripts.py)
SNIPPET_CHARS = 240
LEAD_CHARS = 60  # a snippet starts about this far before its first marked word


@lru_cache(maxsize=100_000)
def _word_stems(word: str, locale: str) -> frozenset[str]:
    """The stems of one word of a snippet (cached: the same words come back query after query)."""
    return frozenset(tokenize(word, locale))


def query_terms(query: str, locale: str, query_locale: str | None = None) -> set[str]:
    """The stems, in `locale`, of the query's words that are not stop words of either language
    (a Polish "na" is not marked in a Polish snippet, nor in an English one)."""
    kept = words(query, query_locale) if query_locale else query.split()
    return set(tokenize(" ".join(kept), locale))


def _unspaced_marks(word: str, locale: str, terms: set[str]) -> list[tuple[int, int]]:
    """Stretches of a run without spaces covered by the query's bigrams: Han and kana from one
    bigram on, an alphabet written without spaces (Thai) from two in a row on; widened to whole
    characters."""
    hits = [(a, b) for a, b in scripts.gram_spans(word) if _word_stems(word[a:b], locale) & terms]
    merged: list[list[int]] = []  # [start, end, bigrams]
    for a, b in hits:
        if merged and a < merged[-1][1]:
            merged[-1][1], merged[-1][2] = b, merged[-1][2] + 1
        else:
            merged.append([a, b, 1])
    return [scripts.whole_characters(word, a, b) for a, b, n in merged
            if n >= 2 or scripts.IDEOGRAPHIC.search(word, a, b) or not scripts.unspaced(word[a:b])]


def marked(text: str, locale: str, terms: set[str]) -> list[tuple[int, int]]:
    """(start, end) of the stretches of `text` to mark: its words that share a stem with the
    query, and in a script without spaces the stretches its bigrams match (in order, disjoint)."""
    if not terms:
        return []
    out: list[tuple[int, int]] = []
    for m in WORD.finditer(text):
        if not scripts.unspaced(m.group(0)):
            if _word_stems(m.group(0), locale) & terms:
                out.append(m.span())
            continue
        out += [(m.start() + a, m.start() + b) for a, b in _unspaced_marks(m.group(0), locale, terms)]
    return out


def _start_before(text: str, pos: int) -> int:
    """Where a snippet showing `pos` starts: after a space up to LEAD_CHARS before it, else (text
    without spaces) after the last punctuation or at a character's start that far before."""
    start = max(0, pos - LEAD_CHARS)
    if not start:
        return 0
    space = text.rfind(" ", 0, start)
    if space >= 0 and start - space <= LEAD_CHARS:
        return space + 1
    for i in range(start, pos):
        if not WORD.match(text, i) and not text[i].isspace():
            return i + 1  # just after a punctuation mark
    return scripts.whole_characters(text, start, start)[0]


def _end_after(text: str, start: int) -> int:
    """Where a snippet from `start` ends: at the last space in SNIPPET_CHARS, else at a character's end."""
    end = min(len(text), start + SNIPPET_CHARS)
    if end == len(text):
        return end
    cut = text.rfind(" ", start, end)
    if cut > start + SNIPPET_CHARS // 2:
        return cut
    while end > start + 1 and scripts.MARK.match(text, end):
        end -= 1  # never part a letter from its marks
    return end


def snippet(text: str, query: str, locale: str, query_locale: str | None = None) -> tuple[str, str]:
    """(plain snippet, HTML snippet with <mark> around words that share a stem with the query)."""
    text = " ".join(text.split())
    marks = marked(text, locale, query_terms(query, locale, query_locale))
    start = _start_before(text, marks[0][0]) if len(text) > SNIPPET_CHARS and marks else 0
    end = _end_after(text, start)
    piece = text[start:end]
    prefix, suffix = ("…" if start else ""), ("…" if end < len(text) else "")
    out, last = [], start
    for a, b in marks:
        if a < start or b > end:
            continue
        out.append(html.escape(text[last:a]))
        out.append(f"<mark>{html.escape(text[a:b])}</mark>")
        last = b
    out.append(html.escape(text[last:end]))
    return prefix + piece + suffix, prefix + "".join(out) + suffix


# -- which section of the served version the snippet and its link show ----------------------------
LEAD_BONUS = 0.03  # articles open with the direct answer: the lead wins unless a section is clearly closer
TERM_BONUS = 0.06  # a section holding the query's words (PayPal, BLIK) is the one to show
COUNTERPART_BONUS = 0.04  # the section that matched, or its counterpart in the served version


@lru_cache(maxsize=50_000)
def _stems_of(text: str, locale: str) -> frozenset[str]:
    return frozenset(tokenize(text, locale))


def section_rows(index: Index, locale: str, aid: str) -> list[int]:
    span = index.manifest["articles"].get(f"{locale}/{aid}")
    if not span or span["end"] <= span["start"]:
        return []
    return [r for r in range(span["start"], span["end"]) if index.passages[r].kind == "section"]


def _order(anchors: list[str]) -> list[str]:
    return list(dict.fromkeys(anchors))


def pick_section(index: Index, vectors: Vectors, record: ArticleRecord, qvec: np.ndarray,
                 terms: set[str], matched: Passage) -> Passage | None:
    """The section of the served version to show: close to the query (dense), holding its words,
    and the one that matched or the matched one's counterpart (the same place in the article's
    order of sections) when the match was in another locale; the lead breaks near-ties."""
    rows = section_rows(index, record.locale, record.id)
    if rows:
        candidates = [index.passages[r] for r in rows]
        scores = np.asarray(vectors[rows] @ qvec, dtype=np.float64)
    else:  # a version made at request time (machine translation): its sections, from its text
        candidates = [Passage(record.id, record.locale, "section", s.anchor, s.heading, piece, piece)
                      for s in split_sections(record.body) for piece in chunks(plain(s.text))]
        scores = np.zeros(len(candidates))
    if not candidates:
        return None
    same = matched.locale == record.locale
    target: str | None = None  # the anchor of the matched section's counterpart
    if matched.kind == "section" and matched.article_id == record.id and not same:
        theirs = _order([index.passages[r].anchor for r in section_rows(index, matched.locale, record.id)])
        ours = _order([c.anchor for c in candidates])
        if len(theirs) == len(ours) and matched.anchor in theirs:
            target = ours[theirs.index(matched.anchor)]
    for i, passage in enumerate(candidates):
        if passage.anchor == "":
            scores[i] += LEAD_BONUS
        if terms:
            scores[i] += TERM_BONUS * len(terms & _stems_of(passage.text, record.locale)) / len(terms)
        if (passage == matched) if same else (passage.anchor == target):
            scores[i] += COUNTERPART_BONUS
    return candidates[int(np.argmax(scores))]
