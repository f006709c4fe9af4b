"""Search, answers for chatbots, and search-as-you-type: GET /search, POST /answer, GET /suggest.

Searches and answers are written to the query log (the store scrubs them of personal data); a
broken log never fails the shopper's request.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from kb import API_PREFIX
from kb.search.engine import Engine
from kb.web import schemas as m
from kb.web.errors import documented
from kb.web.params import AcceptLanguage, Lang, QueryText
from kb.web.routing import is_head
from kb.web.writes import StoreWrites

if TYPE_CHECKING:
    from kb.analytics.store import Store


def search_router(engine: Engine, store: Store | None, writes: StoreWrites | None = None) -> APIRouter:
    api = APIRouter(prefix=API_PREFIX, tags=["search"])
    writes = writes or StoreWrites()

    def _client(request: Request) -> str | None:
        """What tells shoppers apart: address (the proxy-resolved one) and user agent; the store keeps a keyed hash."""
        host = request.client.host if request.client else ""
        return f"{host}|{request.headers.get('user-agent', '')}" if host else None

    def _log(store: Store | None, **row: Any) -> None:
        if store is not None:  # the shopper gets the answer even when the log is down (counted in /healthz)
            writes.attempt("log a query", lambda: store.log_query(**row))

    @api.get("/search", response_model=m.SearchResponse, responses=documented(422))
    def search(request: Request, q: QueryText, lang: Lang = None,
               k: Annotated[int, Query(ge=1, le=50, description="How many articles (1–50).")] = 10,
               category: Annotated[str | None, Query(max_length=100, description="Only this category key.")] = None,
               track: Annotated[bool, Query(description="The client reports the result the shopper opens with "
                                            f"POST {API_PREFIX}/click (the site's search page does), so a search "
                                            "without a click counts as a content gap.")] = False,
               accept_language: AcceptLanguage = None) -> BaseModel:
        """Search the help center in any language; each article served in the shopper's locale."""
        result = engine.search(q, lang=lang, accept_language=accept_language, k=k, category=category)
        top = result.hits[0] if result.hits else None
        logged = store if not is_head(request.scope) else None  # a HEAD (a monitor's probe) is no shopper's search
        search_id = uuid.uuid4().hex if logged is not None else None
        _log(logged, endpoint="search", locale=result.locale, query=result.query, decision=result.decision,
             confidence=result.confidence, top_ids=[h.id for h in result.hits], top_scores=[h.score for h in result.hits],
             served_machine=bool(top and top.machine_translated), served_fallback=bool(top and top.fallback),
             generation=result.generation, search_id=search_id, tracks_clicks=track, client=_client(request))
        return m.search_response(result, search_id)

    @api.post("/answer", response_model=m.AnswerResponse, responses=documented(400, 413, 422))
    def answer(request: Request, body: m.AnswerRequest, accept_language: AcceptLanguage = None) -> BaseModel:
        """For chatbots: answer, clarify (choose among the alternatives) or handoff (to a person)."""
        out = engine.answer(body.question, lang=body.lang, accept_language=accept_language)
        cited = out.citations + out.alternatives
        search_id = uuid.uuid4().hex if store is not None else None
        _log(store, endpoint="answer", locale=out.locale, query=out.question, decision=out.decision,
             confidence=out.confidence, top_ids=[c.id for c in cited], top_scores=[c.score for c in cited],
             served_machine=bool(cited and cited[0].machine_translated),
             served_fallback=bool(cited and cited[0].fallback), generation=out.generation, search_id=search_id,
             tracks_clicks=body.track, client=_client(request))
        return m.answer_response(out, search_id)

    @api.get("/suggest", response_model=m.SuggestResponse, responses=documented(422))
    def suggest(q: QueryText, lang: Lang = None, accept_language: AcceptLanguage = None) -> BaseModel:
        """Search-as-you-type: article titles in the shopper's locale, and the decision for the text typed so far."""
        return m.suggest_response(engine.suggest(q, lang=lang, accept_language=accept_language))

    return api
