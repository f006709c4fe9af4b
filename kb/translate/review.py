"""The review queue (machine drafts and stale translations), source diffs, and approval.

Order of the queue: by shopper demand when the query log has searches (how often search
served the article to shoppers in that locale, in its own version, by fallback or machine
translated), else by a traffic-free heuristic. The caller reads the demand from the query log
(kb.analytics.store.Store.served_counts) and hands it in as a `Demand`. Ties, and the heuristic itself: stale before merely unreviewed (a
stale text may now be wrong), then category order in kb.toml, then sources with more
alternative questions, then the most recently updated source.

Approving sets `reviewed_by`, `reviewed_on` and a fresh `source_hash` with
`frontmatter.update_fields`, so no other line of the file changes. A machine draft becomes
`review: reviewed`; a translation written by a person keeps `review: human`.
"""

from __future__ import annotations

import datetime as dt
import difflib
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from pydantic import ValidationError

from kb.content.article import Article, FrontMatter
from kb.content.frontmatter import FrontMatterError, parse, update_fields
from kb.content.library import Library
from kb.content.reader import display_path
from kb.errors import KbError
from kb.translate.drafts import target_locales
from kb.translate.sources import SourceStore, write_atomic

HEURISTIC = ("no query log yet: stale before unreviewed, then category order, "
             "then sources with more questions, then the most recently updated source")


class NotFound(KbError):
    """No article with that id in that locale."""


@dataclass
class Demand:
    """How often search served each article, by the shopper locale of the search."""

    counts: Mapping[tuple[str, str], int]  # (article id, shopper locale) -> searches
    searches: int  # logged in all

    def of(self, aid: str, locale: str) -> int:
        """Searches in `locale` or a regional form of it (de-AT counts for de) that served `aid`."""
        return sum(n for (i, loc), n in self.counts.items() if i == aid and (loc == locale or loc.startswith(locale + "-")))


@dataclass
class QueueItem:
    id: str
    locale: str
    title: str
    category: str
    path: str
    review: str
    stale: bool
    source_locale: str
    source_hash: str | None
    current_hash: str
    updated: str
    demand: int | None

    @property
    def reasons(self) -> list[str]:
        return [r for r, on in (("stale", self.stale), ("machine", self.review == "machine")) if on]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "reasons": self.reasons}


@dataclass
class Queue:
    items: list[QueueItem]
    ordering: str  # "demand" or "heuristic"
    note: str

    def to_dict(self) -> dict[str, Any]:
        return {"ordering": self.ordering, "note": self.note, "items": [i.to_dict() for i in self.items]}


def review_queue(library: Library, locales: Iterable[str] | None = None, demand: Demand | None = None) -> Queue:
    """Machine drafts and stale translations in `locales` (default: all but the source), most urgent first."""
    categories = list(library.config.categories)
    rows: list[tuple[tuple[Any, ...], QueueItem]] = []
    use_demand = demand is not None and demand.searches > 0
    for locale in target_locales(library, locales):
        for article in library.in_locale(locale):
            source = library.source(article.id)
            if not article.is_translation or source is None or source is article:
                continue
            stale = library.is_stale(article)
            if not (stale or article.is_machine):
                continue
            wanted = demand.of(article.id, locale) if use_demand and demand else None
            item = QueueItem(
                id=article.id, locale=locale, title=article.title, category=article.category,
                path=display_path(article.path, library.root), review=article.review, stale=stale,
                source_locale=source.locale, source_hash=article.meta.source_hash, current_hash=source.hash,
                updated=article.meta.updated.isoformat(), demand=wanted)
            order = categories.index(source.category) if source.category in categories else len(categories)
            key = (0 if stale else 1, order, -len(source.meta.questions), -source.meta.updated.toordinal(),
                   article.id, locale)
            rows.append(((-(wanted or 0), *key), item))
    rows.sort(key=lambda row: row[0])
    if use_demand and demand:
        note = f"by shopper demand: searches that served the article in that locale ({demand.searches} logged)"
        return Queue([item for _, item in rows], "demand", note)
    return Queue([item for _, item in rows], "heuristic", HEURISTIC)


def remember_sources(library: Library, sources: SourceStore) -> int:
    """Keep a copy of every source that a translation is up to date with, so that a later change
    to it can be diffed. Returns how many copies were added."""
    added = 0
    for article in library.articles:
        source = library.source(article.id) if article.is_translation else None
        if source is not None and source is not article and article.meta.source_hash == source.hash:
            added += sources.save(source)
    return added


# -- diff -----------------------------------------------------------------------------------------
@dataclass
class SourceDiff:
    id: str
    locale: str
    source_path: str
    recorded_hash: str | None
    current_hash: str
    old_known: bool
    diff: str  # unified diff from the source as translated to the source now ("" when unchanged)
    current: str  # the source file now

    @property
    def changed(self) -> bool:
        return self.recorded_hash != self.current_hash

    def render(self) -> str:
        head = f"{self.locale}/{self.id}: translated from {self.source_path}"
        if not self.changed:
            return f"{head} as it is now (source_hash {self.current_hash}): nothing changed since."
        if self.old_known:
            return (f"{head}; what changed in the source since (source_hash {self.recorded_hash} → "
                    f"{self.current_hash}):\n{self.diff}")
        return (f"{head}; the source changed (source_hash {self.recorded_hash} → {self.current_hash}), but its text "
                f"as translated is unknown (no copy under .kb/sources, none in git history). The source now:\n"
                f"{self.current}")


def _pair(library: Library, aid: str, locale: str) -> tuple[Article, Article]:
    article = library.get(aid, locale)
    if article is None:
        raise NotFound(f"no {locale} article with id {aid!r}")
    if not article.is_translation:
        raise KbError(f"{display_path(article.path, library.root)} is not a translation (it has no source_locale)")
    source = library.source(aid)
    if source is None or source is article:
        raise KbError(f"{display_path(article.path, library.root)}: there is no source article with id {aid!r}")
    return article, source


def source_diff(library: Library, aid: str, locale: str, sources: SourceStore) -> SourceDiff:
    """What changed in the source of `aid` since its `locale` translation was made."""
    article, source = _pair(library, aid, locale)
    current = source.path.read_text(encoding="utf-8")
    recorded = article.meta.source_hash
    old = sources.get(recorded, source) if recorded and recorded != source.hash else None
    rel = display_path(source.path, library.root)
    diff = ""
    if old is not None:
        diff = "".join(difflib.unified_diff(old.splitlines(keepends=True), current.splitlines(keepends=True),
                                            fromfile=f"{rel} ({recorded})", tofile=f"{rel} ({source.hash})"))
    if recorded == source.hash:
        sources.save(source)
    return SourceDiff(aid, locale, rel, recorded, source.hash, old is not None, diff, current)


# -- approve --------------------------------------------------------------------------------------
@dataclass
class Approval:
    id: str
    locale: str
    path: str
    review: str
    reviewed_by: str
    reviewed_on: str
    source_hash: str
    previous_hash: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def approve(library: Library, aid: str, locale: str, by: str, *, sources: SourceStore | None = None,
            today: dt.date | None = None) -> Approval:
    """Mark the `locale` version of `aid` as checked against the source as it is now."""
    article, source = _pair(library, aid, locale)
    by = " ".join(by.split())
    if not by:
        raise KbError("say who approves: --by NAME")
    today = today or dt.date.today()
    review = "human" if article.review == "human" else "reviewed"
    raw = article.path.read_text(encoding="utf-8")
    crlf = "\r\n" in raw
    changes: dict[str, Any] = {"source_hash": source.hash, "review": review, "reviewed_by": by, "reviewed_on": today}
    text = update_fields(raw.replace("\r\n", "\n"), changes)
    try:
        FrontMatter.model_validate(parse(text).meta)
    except (FrontMatterError, ValidationError) as exc:
        raise KbError(f"{display_path(article.path, library.root)}: cannot approve: {exc}") from exc
    write_atomic(article.path, text.replace("\n", "\r\n") if crlf else text)
    if sources is not None:
        sources.save(source)
    return Approval(aid, locale, display_path(article.path, library.root), review, by, today.isoformat(), source.hash,
                    article.meta.source_hash)


def default_reviewer() -> str:
    """Who approves when --by is not given: KB_REVIEWER, else git's user.name, else the login name."""
    import getpass
    import subprocess

    name = os.environ.get("KB_REVIEWER", "").strip()
    if not name:
        try:
            name = subprocess.run(["git", "config", "user.name"], capture_output=True, text=True,
                                  timeout=5).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            name = ""
    if not name:
        try:
            name = getpass.getuser()
        except (KeyError, OSError):
            name = ""
    return name
