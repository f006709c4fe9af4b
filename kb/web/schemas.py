"""Request and response models of the HTTP API: they are the OpenAPI schema at /docs."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from kb import API_PREFIX
from kb.search.engine import MAX_QUERY_CHARS

# Not blank: some character that is not white space. Spelled out, because JSON Schema's
# ECMAScript `\S`, Python's and pydantic's (Rust) disagree on U+FEFF and U+0085.
NOT_BLANK = r"[^\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff\u0085]"
MAX_REASON_CHARS = 500

Decision = Literal["answer", "clarify", "handoff"]
Review = Literal["human", "machine", "reviewed"]
LocaleFrom = Literal["lang", "accept-language", "detected", "default"]


class ErrorDetail(BaseModel):
    param: str | None = Field(description="The parameter or body field at fault; null when none is.")
    message: str


class ErrorResponse(BaseModel):
    error: ErrorDetail


class Support(BaseModel):
    locale: str
    channels: list[str]
    hours: str
    timezone: str


class Hit(BaseModel):
    id: str
    locale: str = Field(description="Locale of the version served.")
    title: str
    snippet: str
    snippet_html: str = Field(description="The snippet, HTML-escaped, query terms in <mark>.")
    url: str
    anchor: str = Field(description="Section anchor in the URL; empty for the whole article.")
    category: str
    score: float
    machine_translated: bool
    review: Review
    stale: bool = Field(description="A translation whose source changed since it was translated.")
    fallback: bool = Field(description="Not in the shopper's locale: served in the next one of the fallback chain.")
    matched_locale: str = Field(description="Locale of the passage that matched the query.")


class SearchResponse(BaseModel):
    query: str
    locale: str = Field(description="The shopper's locale.")
    locale_from: LocaleFrom = Field(description="How the locale was chosen.")
    decision: Decision
    confidence: float = Field(ge=0, le=1)
    hits: list[Hit]
    support: Support | None = Field(description="Support contact when the decision is handoff.")
    generation: str = Field(description="The index generation that answered (it changes when `kb index` swaps in a new one).")
    search_id: str | None = Field(description=f"Send it back with POST {API_PREFIX}/click when the shopper opens a result "
                                              "(null when the query log is off).")


class AnswerRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    question: str = Field(min_length=1, max_length=MAX_QUERY_CHARS, pattern=NOT_BLANK)
    lang: str | None = Field(default=None, min_length=1, max_length=35, description="Shopper's locale (else Accept-Language, else detected).")


class AnswerBody(BaseModel):
    id: str
    title: str
    markdown: str
    text: str


class Citation(BaseModel):
    id: str
    title: str
    url: str
    locale: str
    score: float
    machine_translated: bool
    review: Review
    stale: bool
    fallback: bool


class AnswerResponse(BaseModel):
    question: str
    locale: str
    decision: Decision
    confidence: float = Field(ge=0, le=1)
    answer: AnswerBody | None
    citations: list[Citation]
    alternatives: list[Citation]
    support: Support | None


class Suggestion(BaseModel):
    id: str
    title: str
    url: str
    locale: str
    machine_translated: bool
    fallback: bool


class SuggestResponse(BaseModel):
    suggestions: list[Suggestion]


class ArticleResponse(BaseModel):
    id: str
    locale: str
    title: str
    category: str
    markdown: str
    updated: str
    review: Review
    machine_translated: bool
    stale: bool
    fallback: bool
    url: str
    available_locales: list[str]


class LocaleInfo(BaseModel):
    code: str
    name: str = Field(description="The locale's name in its own language.")
    rtl: bool


class LocalesResponse(BaseModel):
    source_locale: str
    locales: list[LocaleInfo]


class CategoryInfo(BaseModel):
    key: str
    title: str


class CategoriesResponse(BaseModel):
    locale: str
    categories: list[CategoryInfo]


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    article_id: str = Field(min_length=1, max_length=120)
    locale: str = Field(min_length=1, max_length=35)
    helpful: bool
    reason: str | None = Field(default=None, max_length=MAX_REASON_CHARS)


class FeedbackResponse(BaseModel):
    ok: Literal[True] = True


class ClickRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    search_id: str = Field(pattern=r"^[0-9a-f]{32}$", description=f"search_id of the {API_PREFIX}/search response.")
    article_id: str = Field(min_length=1, max_length=120, description="The result the shopper opened.")


class ClickResponse(BaseModel):
    recorded: bool = Field(description="False when the search is unknown (not logged, or pruned), already has "
                                       "its click, or did not return that article.")


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    generation: str
    articles: int = Field(description="Articles in the live index (each counted once, whatever its locales).")
    embedder: str


# -- admin: the review queue ----------------------------------------------------------------------
class ReviewItem(BaseModel):
    id: str
    locale: str
    title: str
    category: str
    path: str
    review: str
    stale: bool
    reasons: list[str]
    source_locale: str
    source_hash: str | None
    current_hash: str
    updated: str
    demand: int | None = Field(description="Searches that served the article in this locale (null without a query log).")


class ReviewQueue(BaseModel):
    ordering: str = Field(description="'demand' (from the query log) or 'heuristic'.")
    note: str
    items: list[ReviewItem]


class ApproveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    by: str = Field(min_length=1, max_length=100, pattern=NOT_BLANK, description="Who approves.")


class ApproveResponse(BaseModel):
    id: str
    locale: str
    path: str
    review: str
    reviewed_by: str
    reviewed_on: str
    source_hash: str
    previous_hash: str | None
