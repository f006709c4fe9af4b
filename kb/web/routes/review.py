"""Admin API for review tools: the review queue and approving a translation.

`GET /v1/admin/review` and `POST /v1/admin/review/{id}/{locale}/approve` need the admin key,
sent as `Authorization: Bearer KEY` or `X-API-Key: KEY`; kb.web.auth says where the
key comes from and how it is checked. Without a key the endpoints answer 503: the admin API is off.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Query
from fastapi import Path as PathParam
from pydantic import BaseModel

from kb import API_PREFIX
from kb.analytics.store import logged_demand
from kb.content.library import Library
from kb.content.locales import UnknownLocale, normalize_locale
from kb.errors import KbError
from kb.translate.review import Demand, NotFound, approve, review_queue
from kb.translate.sources import SourceStore
from kb.web import schemas as m
from kb.web.auth import require_admin
from kb.web.errors import ApiError, documented

if TYPE_CHECKING:
    from kb.analytics.store import Store

WORDS = {404: "No such article", 409: "Cannot approve", 422: "Invalid parameter",
         503: "Admin API disabled, or content unavailable"}


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

    router = APIRouter(prefix=f"{API_PREFIX}/admin", tags=["admin"],
                       dependencies=[Depends(require_admin(data, admin_key, admin_key_file))])

    @router.get("/review", response_model=m.ReviewQueue, responses=documented(401, 403, 422, 503, text=WORDS))
    def review(locale: Annotated[list[str] | None, Query(description="Only these locales (repeat the parameter).")] = None
               ) -> m.ReviewQueue:
        """The review queue: machine drafts and stale translations, most wanted first."""
        lib = library()
        codes = [locale_of(code, "locale") for code in locale or []]
        counts = logged_demand(data, store)
        try:
            queue = review_queue(lib, codes, Demand(*counts) if counts else None)
        except KbError as exc:
            raise ApiError(422, "locale", str(exc)) from exc
        return m.review_response(queue)

    @router.post("/review/{id}/{locale}/approve", response_model=m.ApproveResponse,
                 responses=documented(401, 403, 404, 409, 422, 503, text=WORDS))
    def approve_translation(article_id: Annotated[str, PathParam(alias="id", max_length=120)],
                            locale: Annotated[str, PathParam(max_length=35)], body: m.ApproveRequest) -> BaseModel:
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
        return m.approve_response(done)

    return router
