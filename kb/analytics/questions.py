"""Suggested questions learned from resolved searches (issue 15, item 4).

A resolved search (Store.resolved_searches: a result opened and no new search from that client
within `[questions] window_seconds`, or the article marked helpful from it) is evidence that its
query belongs to that article. The rule, in order:

1. the query as stored (already scrubbed) is scrubbed again and loses its placeholders (<order>,
   <email>, ...): "cancel order <number>" suggests "cancel order"; fewer than two words is no question;
2. the evidence goes to the article version the shopper's locale is served (Library.resolve);
3. per locale, queries are grouped by meaning: greedily, the most asked first, a query joins the
   first group whose first query is at least `similarity` close (cosine of the index's embedder);
4. a group suggests article A when at least `min_clients` distinct clients (never fewer than two)
   resolved on A; its confidence is the share of the group's clients that resolved on A (the
   others found another article); its text is the one most clients asked of A;
5. a suggestion as close as `similarity` to the article's title, its questions (accepted ones
   included) or a rejected question of it is dropped: it says nothing new or was turned down;
6. at most `per_article` per article version, most clients first.

`auto` picks the suggestions with at least `accept_clients` clients and `accept_confidence`
(while the article version holds fewer than `per_article` learned questions); `decide` writes
decisions to learned-questions.toml (kb/content/learned.py), from where they reach the index.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kb.analytics.scrub import scrub
from kb.analytics.store import ResolvedSearch
from kb.content.config import Questions
from kb.content.learned import LearnedQuestion, Status, load_learned, normalize_question, question_id, save_learned
from kb.content.library import Library

Embed = Callable[[list[str]], np.ndarray]  # texts -> L2-normalised rows (an embedder's encode_queries)
_PLACEHOLDER = re.compile(r"<(?:secret|email|iban|order|card|number|id|dob|address|name|phone)>")  # kb.analytics.scrub's
_WORD = re.compile(r"\w", re.UNICODE)
MAX_CHARS = 200


@dataclass(frozen=True)
class Suggestion:
    id: str
    article: str
    locale: str  # of the article version it joins
    question: str
    clients: int  # distinct clients that resolved on this article with a query of this meaning
    searches: int
    confidence: float  # clients / all the clients of the group (whatever article they found)
    variants: list[str] = field(default_factory=list)  # other texts of the group, most asked first

    def as_dict(self) -> dict[str, object]:
        return {"id": self.id, "article": self.article, "locale": self.locale, "question": self.question,
                "clients": self.clients, "searches": self.searches, "confidence": self.confidence,
                "variants": self.variants}


def question_text(query: str) -> str | None:
    """The question a stored query suggests, or None when too little of it is left."""
    text = _PLACEHOLDER.sub(" ", scrub(query))
    text = " ".join(text.split()).strip(" ,;:-")
    words = [w for w in text.split() if _WORD.search(w)]
    if len(words) < 2 or len(text) > MAX_CHARS:
        return None
    return text


@dataclass
class _Group:
    head: int  # row of its first text in the embeddings
    texts: Counter[str] = field(default_factory=Counter)
    clients: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # article -> clients
    searches: Counter[str] = field(default_factory=Counter)  # article -> searches
    by_article: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))


def suggest(resolved: Iterable[ResolvedSearch], library: Library, embed: Embed, settings: Questions,
            decided: Sequence[LearnedQuestion] = ()) -> list[Suggestion]:
    """The suggestions the resolved searches support under `settings`, most clients first;
    suggestions already decided (accepted or rejected) are left out."""
    floor = max(2, settings.min_clients)
    per_locale: dict[str, list[tuple[str, str, str]]] = defaultdict(list)  # locale -> (text, article, client)
    for r in resolved:
        text = question_text(r.query)
        found = library.resolve(r.article_id, r.locale) if text else None
        if found is None or text is None:
            continue
        per_locale[found[0].locale].append((text, r.article_id, r.client))
    out: list[Suggestion] = []
    for locale, rows in sorted(per_locale.items()):
        out += _suggest_locale(locale, rows, library, embed, settings, floor, decided)
    out.sort(key=lambda s: (-s.clients, -s.confidence, s.article, s.question))
    kept: list[Suggestion] = []
    count: Counter[tuple[str, str]] = Counter()
    for s in out:
        if count[(s.article, s.locale)] < settings.per_article:
            count[(s.article, s.locale)] += 1
            kept.append(s)
    return kept


def _suggest_locale(locale: str, rows: list[tuple[str, str, str]], library: Library, embed: Embed,
                    settings: Questions, floor: int, decided: Sequence[LearnedQuestion]) -> list[Suggestion]:
    askers: dict[str, set[str]] = defaultdict(set)
    for text, _, client in rows:
        askers[normalize_question(text)].add(client)
    spelled: dict[str, str] = {}
    for text, _, _ in rows:
        spelled.setdefault(normalize_question(text), text)
    keys = sorted(askers, key=lambda k: (-len(askers[k]), k))  # the most asked first
    vectors = embed([spelled[k] for k in keys])
    groups: list[_Group] = []
    group_of: dict[str, _Group] = {}
    for row, key in enumerate(keys):
        target = None
        if groups:
            heads = vectors[[g.head for g in groups]]
            sims = heads @ vectors[row]
            best = int(np.argmax(sims))
            if sims[best] >= settings.similarity:
                target = groups[best]
        if target is None:
            target = _Group(head=row)
            groups.append(target)
        group_of[key] = target
    for text, aid, client in rows:
        g = group_of[normalize_question(text)]
        g.clients[aid].add(client)
        g.searches[aid] += 1
        g.by_article[aid][text] += 1
    rejected = {(e.article, e.locale): [] for e in decided}
    for e in decided:
        if e.status == "rejected":
            rejected[(e.article, e.locale)].append(e.question)
    out: list[Suggestion] = []
    for g in groups:
        everyone = set().union(*g.clients.values())
        for aid, clients in g.clients.items():
            if len(clients) < floor:
                continue
            texts = g.by_article[aid].most_common()
            best = min(texts, key=lambda t: (-t[1], len(t[0]), t[0]))[0]
            out.append(Suggestion(question_id(aid, locale, best), aid, locale, best, len(clients), g.searches[aid],
                                  round(len(clients) / len(everyone), 4),
                                  [t for t, _ in texts if t != best][:5]))
    return _new_only(out, library, embed, settings, decided, rejected)


def _new_only(found: list[Suggestion], library: Library, embed: Embed, settings: Questions,
              decided: Sequence[LearnedQuestion], rejected: dict[tuple[str, str], list[str]]) -> list[Suggestion]:
    """Drop what the article already says (title, questions) or an editor turned down."""
    done = {e.id for e in decided}
    fresh = [s for s in found if s.id not in done]
    if not fresh:
        return []
    known: dict[tuple[str, str], list[str]] = {}
    for s in fresh:
        article = library.get(s.article, s.locale)
        if article is not None and (s.article, s.locale) not in known:
            known[(s.article, s.locale)] = [article.title, *article.questions, *rejected.get((s.article, s.locale), [])]
    theirs = [t for texts in known.values() for t in texts if t.strip()]
    vectors = embed([s.question for s in fresh] + theirs)
    mine, others = vectors[:len(fresh)], vectors[len(fresh):]
    start: dict[tuple[str, str], int] = {}
    at = 0
    for key, texts in known.items():
        start[key] = at
        at += len([t for t in texts if t.strip()])
    out = []
    for i, s in enumerate(fresh):
        key = (s.article, s.locale)
        n = len([t for t in known.get(key, []) if t.strip()])
        block = others[start.get(key, 0):start.get(key, 0) + n]
        if n and float(np.max(block @ mine[i])) >= settings.similarity:
            continue
        out.append(s)
    return out


def auto(suggestions: Sequence[Suggestion], settings: Questions, decided: Sequence[LearnedQuestion] = ()) -> list[Suggestion]:
    """The suggestions the automatic rule accepts (none when `auto_accept` is off)."""
    if not settings.auto_accept:
        return []
    held = Counter((e.article, e.locale) for e in decided if e.status == "accepted")
    out = []
    for s in suggestions:
        if s.clients >= settings.accept_clients and s.confidence >= settings.accept_confidence \
                and held[(s.article, s.locale)] < settings.per_article:
            held[(s.article, s.locale)] += 1
            out.append(s)
    return out


def decide(root: Path | str, chosen: Iterable[Suggestion], status: Status, by: str,
           today: dt.date | None = None) -> list[LearnedQuestion]:
    """Record `status` for the chosen suggestions in `<root>/learned-questions.toml`; returns the new entries."""
    today = today or dt.date.today()
    entries = load_learned(root)
    new = [LearnedQuestion(s.article, s.locale, s.question, status, by, today, s.clients, s.confidence) for s in chosen]
    if new:
        save_learned(root, [*entries, *new])
    return new
