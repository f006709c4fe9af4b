"""Admin API for review tools: the review queue and approving a translation.

`GET /v1/admin/review` and `POST /v1/admin/review/{id}/{locale}/approve` need the admin key,
sent as `Authorization: Bearer KEY` or `X-API-Key: KEY`. The key comes from the KB_ADMIN_KEY
environment variable, else the file named by KB_ADMIN_KEY_FILE (or `admin_key_file`), else
`<data_dir>/admin_key`. Without any, the endpoints answer 503: the admin API is off.
"""

from __future__ import annotations

import datetime as dt
import hmac
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Header, Query
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from kb.content.library import Library
from kb.content.locales import UnknownLocale, normalize_locale
from kb.errors import KbError
from kb.search.api_errors import ApiError
from kb.search.api_models import ErrorResponse
from kb.translate.review import NotFound, approve, load_demand, review_queue
from kb.translate.sources import SourceStore

if TYPE_CHECKING:
    from kb.analytics.store import Store

KEY_ENV = "KB_ADMIN_KEY"
KEY_FILE_ENV = "KB_ADMIN_KEY_FILE"
KEY_FILE = "admin_key"


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
    by: str = Field(min_length=1, max_length=100, pattern=r"\S", description="Who approves.")


class ApproveResponse(BaseModel):
    id: str
    locale: str
    path: str
    review: str
    reviewed_by: str
    reviewed_on: str
    source_hash: str
    previous_hash: str | None


def configured_key(data_dir: Path | str, admin_key: str | None = None, admin_key_file: Path | str | None = None) -> str | None:
    """The admin key: `admin_key`, KB_ADMIN_KEY, the key file (KB_ADMIN_KEY_FILE, `admin_key_file`,
    `<data_dir>/admin_key`), or None when the admin API is off."""
    key = admin_key or os.environ.get(KEY_ENV, "")
    if key.strip():
        return key.strip()
    for candidate in (os.environ.get(KEY_FILE_ENV), admin_key_file, Path(data_dir) / KEY_FILE):
        if candidate and Path(candidate).is_file():
            text = Path(candidate).read_text(encoding="utf-8").strip()
            if text:
                return text
    return None


def _responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    text = {401: "No admin key sent", 403: "Wrong admin key", 404: "No such article", 409: "Cannot approve",
            422: "Invalid parameter", 503: "Admin API disabled, or content unavailable"}
    return {code: {"model": ErrorResponse, "description": text[code]} for code in codes}


def admin_router(data_dir: Path | str, content_dir: Path | str, store: Store | None = None, *,
                 admin_key: str | None = None, admin_key_file: Path | str | None = None) -> APIRouter:
    """Routes under /v1/admin for the help center in `content_dir` (read on every request)."""
    data, content = Path(data_dir), Path(content_dir)

    def require_key(authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
                    x_api_key: Annotated[str | None, Header(include_in_schema=False)] = None) -> None:
        expected = configured_key(data, admin_key, admin_key_file)
        if expected is None:
            raise ApiError(503, None, f"admin API disabled: set {KEY_ENV}")
        sent = x_api_key
        if sent is None and authorization:
            scheme, _, value = authorization.partition(" ")
            sent = value.strip() if scheme.lower() == "bearer" else None
        if not sent:
            raise HTTPException(401, "admin key required: send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'",
                                headers={"WWW-Authenticate": "Bearer"})
        if not hmac.compare_digest(sent.encode("utf-8"), expected.encode("utf-8")):
            raise ApiError(403, None, "wrong admin key")

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

    router = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[Depends(require_key)])

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
