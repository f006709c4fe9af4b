"""What shoppers tell us: POST /feedback ("was this helpful?") and POST /click (the result opened)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from fastapi import APIRouter

from kb import API_PREFIX
from kb.content.locales import negotiate
from kb.search.engine import Engine
from kb.web import schemas as m
from kb.web.errors import ApiError, documented

if TYPE_CHECKING:
    from kb.analytics.store import Store

logger = logging.getLogger("kb.api")


def feedback_router(engine: Engine, store: Store | None) -> APIRouter:
    api = APIRouter(prefix=API_PREFIX, tags=["feedback"])

    @api.post("/click", response_model=m.ClickResponse, responses=documented(400, 413, 422))
    def click(body: m.ClickRequest) -> m.ClickResponse:
        """The shopper opened a result of a search: its first click is kept for the content-gap report."""
        if store is None:
            return m.ClickResponse(recorded=False)
        try:
            return m.ClickResponse(recorded=store.record_click(body.search_id, body.article_id))
        except Exception:  # like the query log: a broken store never fails the shopper's page
            logger.exception("could not record a click")
            return m.ClickResponse(recorded=False)

    @api.post("/feedback", response_model=m.FeedbackResponse, status_code=201, responses=documented(400, 404, 413, 422))
    def feedback(body: m.FeedbackRequest) -> m.FeedbackResponse:
        """Was this article helpful? Stored per article and locale, the reason scrubbed of personal data."""
        if body.article_id not in engine.index.by_id:
            raise ApiError(404, "article_id", f"no article with id {body.article_id!r}")
        locale = negotiate([body.locale], engine.locales)
        if locale is None:
            raise ApiError(422, "locale", f"{body.locale!r} is not served here; use one of {', '.join(engine.locales)}")
        if store is not None:
            store.add_feedback(article_id=body.article_id, locale=locale, helpful=body.helpful, reason=body.reason)
        return m.FeedbackResponse()

    return api
