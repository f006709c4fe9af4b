"""What shoppers tell us: POST /feedback ("was this helpful?") and POST /click (the result opened).

When the analytics store cannot take them, both answer 503 with Retry-After: the client may send
them again; the failure is counted in /healthz (kb/web/writes.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from starlette.exceptions import HTTPException

from kb import API_PREFIX
from kb.content.locales import negotiate
from kb.search.engine import Engine
from kb.web import schemas as m
from kb.web.errors import ApiError, documented
from kb.web.writes import RETRY_AFTER_SECONDS, StoreWrites

if TYPE_CHECKING:
    from kb.analytics.store import Store

UNAVAILABLE = {503: "The analytics store cannot take it now: send it again after Retry-After seconds"}


def _stored(writes: StoreWrites, what: str, write: Any) -> Any:
    done, result = writes.attempt(what, write)
    if not done:
        raise HTTPException(503, f"the analytics store cannot take this now; send it again in "
                                 f"{RETRY_AFTER_SECONDS} seconds", headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    return result


def feedback_router(engine: Engine, store: Store | None, writes: StoreWrites | None = None) -> APIRouter:
    api = APIRouter(prefix=API_PREFIX, tags=["feedback"])
    writes = writes or StoreWrites()

    @api.post("/click", response_model=m.ClickResponse, responses=documented(400, 413, 422, 503, text=UNAVAILABLE))
    def click(body: m.ClickRequest) -> m.ClickResponse:
        """The shopper opened a result of a search: its first click is kept for the content-gap report."""
        if store is None:
            return m.ClickResponse(recorded=False)
        return m.ClickResponse(recorded=_stored(writes, "record a click",
                                                lambda: store.record_click(body.search_id, body.article_id)))

    @api.post("/feedback", response_model=m.FeedbackResponse, status_code=201,
              responses=documented(400, 404, 413, 422, 503, text=UNAVAILABLE))
    def feedback(body: m.FeedbackRequest) -> m.FeedbackResponse:
        """Was this article helpful? Stored per article and locale, the reason scrubbed of personal data."""
        if body.article_id not in engine.index.by_id:
            raise ApiError(404, "article_id", f"no article with id {body.article_id!r}")
        locale = negotiate([body.locale], engine.locales)
        if locale is None:
            raise ApiError(422, "locale", f"{body.locale!r} is not served here; use one of {', '.join(engine.locales)}")
        if store is not None:
            _stored(writes, "store feedback", lambda: store.add_feedback(
                article_id=body.article_id, locale=locale, helpful=body.helpful, reason=body.reason,
                search_id=body.search_id))
        return m.FeedbackResponse()

    return api
