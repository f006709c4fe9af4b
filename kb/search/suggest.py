"""Search-as-you-type: the titles to offer for what has been typed so far.

The words typed so far are whole words, and the last one is still being typed (unless
punctuation follows it): it is completed against the words of the locale's titles and
`questions`. A title is offered when it holds every typed content word (stop words and words
common to the locale's titles count only for the order) and a completion of the last word;
titles sharing more of the typed words come first. Semantic matches fill the list only once the
last word is a word of the help center, for a query with a content word, and when the engine
would not hand it off: nonsense ("xyzzy") offers nothing, and "Wie kann ich meine B" offers
titles that go on with a B-word rather than whatever "Wie kann ich meine" is close to.

In a script without spaces (Chinese, Thai: kb/search/scripts.py) a run of letters is no word: a
typed run counts as held, or as going on, where a title's run contains it ("如何退" in "如何退货").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from kb.search import scripts
from kb.search.index import Index
from kb.search.lexical import stopwords
from kb.search.snippets import WORD


@dataclass(frozen=True)
class Entry:
    article_id: str
    text: str
    words: frozenset[str]
    title: bool


MIN_FINISHED = 3  # a word being typed is taken as finished from this length, if it is a known word
MIN_FINISHED_IDEOGRAPHIC = 2  # ...from this length in Han or kana (most Chinese words are two characters)
LONG_WORD = 5  # ...and from this length whether known or not (words of another language)
COMMON_SHARE = 0.1  # a word in this share of a locale's titles and questions is no content word...
COMMON_MIN_ENTRIES = 20  # ...when the locale has at least this many of them


class Titles:
    """The live titles and questions of one index generation, per locale, with their words, and
    per locale the words too common in them to mean anything alone ("how", "ich", "jak")."""

    def __init__(self, index: Index) -> None:
        self.path = index.path
        self.by_locale: dict[str, list[Entry]] = {}
        for row, passage in enumerate(index.passages):
            if passage.kind in ("title", "question") and index.live(row):
                text = scripts.normalize(passage.text, passage.locale.split("-")[0])
                entry = Entry(passage.article_id, passage.text, frozenset(WORD.findall(text)),
                              passage.kind == "title")
                self.by_locale.setdefault(passage.locale, []).append(entry)
        self.common: dict[str, frozenset[str]] = {}
        for locale, entries in self.by_locale.items():
            counts = Counter(word for entry in entries for word in entry.words)
            floor = COMMON_SHARE * len(entries) if len(entries) >= COMMON_MIN_ENTRIES else float("inf")
            self.common[locale] = frozenset(word for word, n in counts.items() if n >= floor)


@dataclass(frozen=True)
class Typed:
    whole: list[str]  # words finished (lowercase)
    partial: str | None  # the word still being typed
    content: list[str]  # the whole words that are not stop words
    partial_content: bool  # the word being typed is not a stop word


def typed(prefix: str, locale: str, common: frozenset[str] = frozenset()) -> Typed:
    found = WORD.findall(scripts.normalize(prefix, locale.split("-")[0]))
    ends_in_word = bool(found) and WORD.fullmatch(prefix[-1]) is not None
    partial = found[-1] if ends_in_word else None
    whole = found[:-1] if ends_in_word else found
    stop = stopwords(locale) | common
    return Typed(whole, partial, [w for w in whole if w not in stop], partial is not None and partial not in stop)


def _holds(entry: Entry, word: str) -> bool:
    if word in entry.words:
        return True
    return scripts.unspaced(word) and any(word in own for own in entry.words if scripts.unspaced(own))


def _goes_on(entry: Entry, partial: str) -> bool:
    if any(word.startswith(partial) for word in entry.words):
        return True
    return scripts.unspaced(partial) and any(partial in own for own in entry.words if scripts.unspaced(own))


def prefix_matches(titles: Titles, locale: str, text: Typed, k: int) -> list[str]:
    """Article ids whose title or question goes on from what was typed, best first."""
    if not text.content and not text.partial:
        return []
    scored: list[tuple[int, int, int, int, str]] = []
    for order, entry in enumerate(titles.by_locale.get(locale, [])):
        if any(not _holds(entry, w) for w in text.content):
            continue
        if text.partial and not _goes_on(entry, text.partial):
            continue
        shared = sum(1 for w in text.whole if _holds(entry, w))
        if text.whole and not shared:
            continue  # "Wie kann ich meine B": a B-word alone is not enough
        scored.append((-shared, 0 if entry.title else 1, len(entry.text), order, entry.article_id))
    picked: list[str] = []
    for *_, aid in sorted(scored):
        if aid not in picked:
            picked.append(aid)
            if len(picked) >= k:
                break
    return picked


def fill_query(prefix: str, text: Typed, known: Callable[[str], bool]) -> str | None:
    """What the semantic fill searches for: the typed text once its last word is finished or a
    word of the help center (`known`), and when one of its content words is; else None."""
    def finished(word: str) -> bool:
        # a long word counts even when this help center's words lack it: a German shopper's
        # "Paket" must reach an article written only in English; nonsense is then left to the
        # engine's handoff, which the caller checks
        return len(word) >= LONG_WORD or known(word)

    shortest = MIN_FINISHED_IDEOGRAPHIC if text.partial and scripts.IDEOGRAPHIC.search(text.partial) else MIN_FINISHED
    if text.partial is not None and (len(text.partial) < shortest or not finished(text.partial)):
        return None
    content = text.content + ([text.partial] if text.partial and text.partial_content else [])
    return prefix if any(finished(word) for word in content) else None
