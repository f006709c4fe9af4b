"""Admin API for review tools: the review queue and approving a translation.

`GET /v1/admin/review` and `POST /v1/admin/review/{id}/{locale}/approve` need the admin key,
sent as `Authorization: Bearer KEY` or `X-API-Key: KEY`; kb.web.auth says where the
key comes from and how it is checked. Without a key the endpoints answer 503: the admin API is off.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from kb.content.library import Library
from kb.content.locales import UnknownLocale, normalize_locale
from kb.errors import KbError
from kb.translate.review import NotFound, approve, load_demand, review_queue
from kb.translate.sources import SourceStore
from kb.web.auth import require_admin
from kb.web.errors import ApiError
from kb.web.schemas import NOT_BLANK, ErrorResponse

if TYPE_CHECKING:
    from kb.analytics.store import Store


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


def _responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    text = {401: "No admin key sent", 403: "Wrong admin key", 404: "No such article", 409: "Cannot approve",
            422: "Invalid parameter", 503: "Admin API disabled, or content unavailable"}
    return {code: {"model": ErrorResponse, "description": text[code]} for code in codes}


def admin_router(data_dir: Path | str, content_dir: Path | str, store: Store | None = None, *,
                 admin_key: str | None = None, admin_key_file: Path | str | None = None) -> APIRouter:
    """Routes under /v1/admin for the help center in `content_dir` (read on every request)."""
    data, content = Path(data_dir), Path(content_dir)

    def library() -> Library:
        try:
            return Library.load(content)
        except KbError as exc:
            raise ApiError(503, None, f"content not available: {exc}") from exc

    def locale_of(raw: str, param: str) -> str:
        try:
            return normalize_locale(raw)
        except UnknownLocale as exc:
            raise ApiError(422, param, str(exc)) from exc

    router = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[Depends(require_admin(data, admin_key, admin_key_file))])

    @router.get("/review", response_model=ReviewQueue, responses=_responses(401, 403, 422, 503))
    def review(locale: Annotated[list[str] | None, Query(description="Only these locales (repeat the parameter).")] = None
               ) -> ReviewQueue:
        """The review queue: machine drafts and stale translations, most wanted first."""
        lib = library()
        codes = [locale_of(code, "locale") for code in locale or []]
        try:
            queue = review_queue(lib, codes, load_demand(data, store))
        except KbError as exc:
            raise ApiError(422, "locale", str(exc)) from exc
        return ReviewQueue.model_validate(queue.to_dict())

    @router.post("/review/{id}/{locale}/approve", response_model=ApproveResponse,
                 responses=_responses(401, 403, 404, 409, 422, 503))
    def approve_translation(article_id: Annotated[str, PathParam(alias="id", max_length=120)],
                            locale: Annotated[str, PathParam(max_length=35)], body: ApproveRequest) -> ApproveResponse:
        """Approve a translation: review reviewed (a person's own translation stays human), reviewed_by,
        reviewed_on today, and source_hash set to the source as it is now."""
        lib = library()
        code = locale_of(locale, "locale")
        try:
            done = approve(lib, article_id, code, body.by, sources=SourceStore(data), today=dt.date.today())
        except NotFound as exc:
            raise ApiError(404, "id", str(exc)) from exc
        except KbError as exc:
            raise ApiError(409, None, str(exc)) from exc
        return ApproveResponse.model_validate(done.to_dict())

    return router
