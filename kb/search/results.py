"""What the engine hands back: one typed shape per result, read by the API, the CLI and `kb eval`.

kb.web.schemas builds the API's JSON schemas from these dataclasses, field by field in this order,
and shows a field's `doc` as its description: a field added here is in the API.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from kb.content.article import Review

Decision = Literal["answer", "clarify", "handoff"]
LocaleFrom = Literal["lang", "accept-language", "detected", "default"]


def doc(text: str) -> Any:
    """A dataclass field with what it means (the API's schema shows it as the field's description)."""
    return field(metadata={"doc": text})


@dataclass
class Hit:
    """One article found by a search, served in the shopper's locale."""

    id: str
    locale: str = doc("Locale of the version served.")
    title: str
    snippet: str
    snippet_html: str = doc("The snippet, HTML-escaped, query terms in <mark>.")
    url: str
    anchor: str = doc("Section anchor in the URL; empty for the whole article.")
    section: str = doc("Heading of that section (the snippet's) in the served version's locale; empty when "
                       "the snippet is the article's opening or its whole text.")
    category: str
    score: float
    machine_translated: bool
    review: Review
    stale: bool = doc("A translation whose source changed since it was translated.")
    fallback: bool = doc("Not in the shopper's locale: served in the next one of the fallback chain.")
    matched_locale: str = doc("Locale of the passage that matched the query.")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SearchResult:
    query: str
    locale: str = doc("The shopper's locale.")
    locale_from: LocaleFrom = doc("How the locale was chosen.")
    decision: Decision
    confidence: float
    count: int = doc("How many articles are relevant enough to show (within the relevance cut of the best); "
                     "`hits` holds the first k of them.")
    hits: list[Hit]
    support: dict[str, Any] | None = doc("Support contact when the decision is clarify or handoff.")  # kb.toml [support.<locale>]
    generation: str = doc("The index generation that answered (it changes when `kb index` swaps in a new one).")
    took_ms: float


@dataclass
class Citation:
    """An article an answer cites, or offers as an alternative."""

    id: str
    title: str
    url: str
    locale: str
    score: float
    machine_translated: bool
    review: Review
    stale: bool
    fallback: bool

    @classmethod
    def of(cls, hit: Hit) -> Citation:
        return cls(id=hit.id, title=hit.title, url=hit.url, locale=hit.locale, score=hit.score,
                   machine_translated=hit.machine_translated, review=hit.review, stale=hit.stale,
                   fallback=hit.fallback)


@dataclass
class AnswerBody:
    """The answering article itself, as Markdown and as plain text."""

    id: str
    title: str
    markdown: str
    text: str


@dataclass
class Answer:
    """For chatbots: answer (with the article), clarify (choose among the alternatives) or
    handoff; the support contact comes with clarify and handoff, so "none of these" leads to a person."""

    question: str
    locale: str = doc("The shopper's locale.")
    locale_from: LocaleFrom = doc("How the locale was chosen.")
    decision: Decision
    confidence: float
    answer: AnswerBody | None
    citations: list[Citation]
    alternatives: list[Citation]
    support: dict[str, Any] | None
    generation: str


@dataclass
class Suggestion:
    """A title offered while the shopper types."""

    id: str
    title: str
    url: str
    locale: str
    machine_translated: bool
    fallback: bool


@dataclass
class Suggestions:
    """Search-as-you-type for the text typed so far."""

    query: str
    locale: str = doc("The shopper's locale.")
    locale_from: LocaleFrom = doc("How the locale was chosen.")
    decision: Decision = doc("What a search for the text typed so far decides, as in /v1/search; clarify when "
                             "it would hand off but titles go on from the typed words. With handoff there are no "
                             "suggestions (nonsense offers nothing).")
    suggestions: list[Suggestion]
