"""What the index holds for each article, and the keys and bytes it is written with.

An `ArticleRecord` is one line of articles.jsonl; a passage one line of passages.jsonl. A
`Part` is one article's share of a generation being built. The keys here decide what a build
may take from the previous generation as it is: equal passage keys give equal passages, equal
record keys give equal articles.jsonl lines.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kb.content.article import Article
from kb.content.library import Library
from kb.search.passages import Passage

# One article's entry in a manifest's "articles" (and in spans.marshal), by "locale/id": hash,
# phash, pkey, start and end (its vector rows), bytes and abytes (its byte spans in
# passages.jsonl and articles.jsonl), rkey. A plain dict: a large index holds millions of
# them, read and written with marshal.
Span = dict[str, Any]

PASSAGES = "passages.jsonl"  # a generation's passages, one JSON line each, article by article
ARTICLES = "articles.jsonl"  # its article records, one JSON line each


@dataclass
class ArticleRecord:
    """What the engine needs to serve an article, frozen with the index generation."""

    id: str
    locale: str
    title: str
    category: str
    path: str
    updated: str
    review: str
    machine: bool
    stale: bool
    is_translation: bool
    source_locale: str | None
    body: str
    hash: str


def article_records(library: Library) -> list[ArticleRecord]:
    out = []
    for a in library.articles:
        if library.get(a.id, a.locale) is not a:
            continue  # a duplicate id in one locale: kb check reports it; the first one wins
        out.append(ArticleRecord(
            id=a.id, locale=a.locale, title=a.title, category=a.category, path=str(a.path),
            updated=a.meta.updated.isoformat(), review=a.review, machine=a.is_machine,
            stale=library.is_stale(a), is_translation=a.is_translation, source_locale=a.meta.source_locale,
            body=a.body, hash=library.hash_of(a)))
    return out


@dataclass
class Part:
    """One article's share of the new generation: its passages either reused from the previous
    generation (rows and bytes there) or split now (items)."""

    rec: ArticleRecord
    pkey: str
    phash: str
    count: int
    old: Span | None = None  # the previous manifest entry when the passages are reused
    items: list[Passage] | None = None
    old_rows: tuple[int, int] | None = None  # the previous generation's vector rows, when the same
    vectors: np.ndarray | None = None  # float32, for passages embedded or read from the cache now

    @property
    def key(self) -> str:
        """The article's key in a manifest: "locale/id"."""
        return f"{self.rec.locale}/{self.rec.id}"

    def span(self, start: int) -> Span:
        """Its manifest entry with its vectors at rows `start` on (the writers add the rest)."""
        return {"hash": self.rec.hash, "phash": self.phash, "pkey": self.pkey, "start": start,
                "end": start + self.count}


def passage_hash(items: list[Passage]) -> str:
    return hashlib.sha256("\x1e".join(p.embed_text for p in items).encode()).hexdigest()[:20]


def split_version() -> str:
    """Changes when splitting articles into passages may change: passages are reused only under it."""
    from kb.content import article as article_mod
    from kb.content import sections as sections_mod
    from kb.content import text as text_mod
    from kb.search import passages as passages_mod

    # plain() (kb/content/text.py) makes each passage's text: a change there changes passages too
    modules = (passages_mod, sections_mod, article_mod, text_mod)
    sources = [Path(m.__file__).read_bytes() for m in modules if m.__file__]
    return hashlib.sha256(b"\x1e".join(sources)).hexdigest()[:16]


def _digest(values: tuple[str | bool | None, ...]) -> str:
    """A key for a sequence of strings, booleans and None: each value typed and length-prefixed,
    so different sequences never give the same bytes."""
    h = hashlib.sha256()
    for value in values:
        if isinstance(value, str):
            data = value.encode("utf-8", "surrogatepass")
            h.update(b"s%d:" % len(data))
            h.update(data)
        else:
            h.update(b"n" if value is None else b"t" if value else b"f")
    return h.hexdigest()[:24]


def passage_key(article: Article, version: str) -> str:
    """Everything `passages(article)` reads: equal keys give equal passages."""
    questions = article.questions
    return _digest((version, article.id, article.locale, article.title, str(len(questions)), *questions,
                    article.body))


_RECORD_FIELDS = tuple(name for name in ArticleRecord.__dataclass_fields__ if name != "body")


def record_key(part: Part) -> str:
    """Equal keys give equal articles.jsonl lines (the body is covered by the passage key; the
    other fields are str, bool or None)."""
    rec = vars(part.rec)
    return _digest((part.pkey, *(rec[name] for name in _RECORD_FIELDS)))


def serialize_passages(items: list[Passage]) -> bytes:
    return "".join(json.dumps(vars(p), ensure_ascii=False) + "\n" for p in items).encode("utf-8")


def serialize_record(rec: ArticleRecord) -> bytes:
    return (json.dumps(vars(rec), ensure_ascii=False) + "\n").encode("utf-8")
