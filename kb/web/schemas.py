"""Request and response models of the HTTP API: they are the OpenAPI schema at /docs.

The results of the engine (kb.search.results) and of the review queue are dataclasses; their
schemas here are built from them (`from_dataclass`), field for field, so a field exists once.
One function per result turns it into its response (`search_response`, `answer_response`, ...);
`search_json` gives the CLI the very JSON the API sends.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model

from kb import API_PREFIX
from kb.content.article import Review
from kb.content.text import VISIBLE_MESSAGE, has_visible, visible_pattern
from kb.search import results as r
from kb.search.engine import MAX_QUERY_CHARS
from kb.translate import review as rv

# Not blank: some character that shows, not only white space, control or format characters
# (kb.content.text.visible_pattern spells them out: JSON Schema's ECMAScript `\S`, Python's and
# pydantic's (Rust) disagree). The pattern documents the rule; `Visible` applies it in full.
NOT_BLANK = visible_pattern()
MAX_REASON_CHARS = 500


def _require_visible(value: str) -> str:
    if not has_visible(value):
        raise ValueError(VISIBLE_MESSAGE)
    return value


Visible = AfterValidator(_require_visible)


def from_dataclass(cls: type, name: str | None = None, *, exclude: tuple[str, ...] = (),
                   types: dict[str, Any] | None = None, fields: dict[str, dict[str, Any]] | None = None,
                   after: dict[str, tuple[str, Any, dict[str, Any]]] | None = None) -> type[BaseModel]:
    """A pydantic model (named `name`, else like dataclass `cls`) with the dataclass's fields in its
    order, all required; a field's `doc` metadata (kb.search.results.doc) is its description. `types` replaces a field's
    type (a nested dataclass by its model, a dict by a model); `fields` adds pydantic settings
    (bounds, a description); `after` adds a field the dataclass has not ({after this field: (name,
    type, settings)})."""
    hints = typing.get_type_hints(cls)
    spec: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in exclude:
            settings = {"description": f.metadata.get("doc"), **(fields or {}).get(f.name, {})}
            spec[f.name] = ((types or {}).get(f.name, hints[f.name]), Field(**settings))
        if f.name in (after or {}):
            added, kind, extra = (after or {})[f.name]
            spec[added] = (kind, Field(**extra))
    return create_model(name or cls.__name__, __module__=__name__, **spec)


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


# -- search, answer, suggest: from the engine's results -------------------------------------------
BOUNDED = {"confidence": {"ge": 0, "le": 1}}
SEARCH_ID = (str | None, {"description": f"Send it back with POST {API_PREFIX}/click when the shopper opens a "
                                         "result or citation (null when the query log is off)."})

Hit = from_dataclass(r.Hit)
SearchResponse = from_dataclass(r.SearchResult, "SearchResponse", exclude=("took_ms",), fields=BOUNDED,
                                types={"hits": list[Hit], "support": Support | None},
                                after={"generation": ("search_id", *SEARCH_ID)})
Citation = from_dataclass(r.Citation)
AnswerBody = from_dataclass(r.AnswerBody)
AnswerResponse = from_dataclass(r.Answer, "AnswerResponse", exclude=("generation",), fields=BOUNDED,
                                types={"answer": AnswerBody | None, "citations": list[Citation],
                                       "alternatives": list[Citation], "support": Support | None},
                                after={"support": ("search_id", *SEARCH_ID)})
Suggestion = from_dataclass(r.Suggestion)
SuggestResponse = from_dataclass(r.Suggestions, "SuggestResponse", types={"suggestions": list[Suggestion]})


class AnswerRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    question: Annotated[str, Visible] = Field(min_length=1, max_length=MAX_QUERY_CHARS, pattern=NOT_BLANK)
    lang: str | None = Field(default=None, min_length=1, max_length=35, description="Shopper's locale (else Accept-Language, else detected).")
    track: bool = Field(default=False, description=f"The client reports the article the shopper opens with POST "
                        f"{API_PREFIX}/click, so an answer without a click counts as a content gap.")


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
    search_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$", description=(
        "search_id of the search the shopper opened the article from: a helpful answer marks that search "
        "resolved, evidence for a suggested question (kb questions)."))


class FeedbackResponse(BaseModel):
    ok: Literal[True] = True


class ClickRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    search_id: str = Field(pattern=r"^[0-9a-f]{32}$", description=f"search_id of the {API_PREFIX}/search or "
                                                                  f"{API_PREFIX}/answer response.")
    article_id: str = Field(min_length=1, max_length=120, description="The result the shopper opened.")


class ClickResponse(BaseModel):
    recorded: bool = Field(description="False when the search is unknown (not logged, or pruned), already has "
                                       "its click, or did not return that article.")


class Health(BaseModel):
    status: Literal["ok", "degraded"] = Field("ok", description="degraded (HTTP 503) while a reason holds.")
    generation: str = Field(description="The index generation served.")
    articles: int = Field(description="Articles in the live index (each counted once, whatever its locales).")
    embedder: str
    reasons: list[str] = Field(default_factory=list, description=(
        "Why it is degraded: the newest index generation was refused (the one named in `generation` keeps "
        "serving), the analytics store's last write failed, or the last retention prune failed."))
    store_write_failures: int = Field(0, description="Writes to the analytics store that failed since start-up.")
    ranking: str = Field("", description=(
        "The ranking weights served and why: the default, or the help center's own calibration measured by "
        "`kb index` on its articles' questions, with its evidence (docs/search.md)."))


# -- admin: the review queue ----------------------------------------------------------------------
ReviewItem = from_dataclass(rv.QueueItem, "ReviewItem", fields={"demand": {
    "description": "Searches that served the article in this locale (null without a query log)."}},
    after={"stale": ("reasons", list[str], {})})


class ReviewQueue(BaseModel):
    ordering: str = Field(description="'demand' (from the query log) or 'heuristic'.")
    note: str
    items: list[ReviewItem]  # type: ignore[valid-type]


class ApproveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    by: Annotated[str, Visible] = Field(min_length=1, max_length=100, pattern=NOT_BLANK, description="Who approves.")


ApproveResponse = from_dataclass(rv.Approval, "ApproveResponse")


# -- results to responses: one function per result ------------------------------------------------
def search_response(result: r.SearchResult, search_id: str | None = None) -> BaseModel:
    return SearchResponse.model_validate({**dataclasses.asdict(result), "search_id": search_id})


def search_json(result: r.SearchResult, search_id: str | None = None) -> dict[str, Any]:
    """The search result as the API sends it (`kb search --json` prints this)."""
    return search_response(result, search_id).model_dump(mode="json")


def answer_response(answer: r.Answer, search_id: str | None = None) -> BaseModel:
    return AnswerResponse.model_validate({**dataclasses.asdict(answer), "search_id": search_id})


def suggest_response(suggestions: r.Suggestions) -> BaseModel:
    return SuggestResponse.model_validate(dataclasses.asdict(suggestions))


def review_response(queue: rv.Queue) -> ReviewQueue:
    return ReviewQueue.model_validate(queue.to_dict())


def approve_response(approval: rv.Approval) -> BaseModel:
    return ApproveResponse.model_validate(dataclasses.asdict(approval))
