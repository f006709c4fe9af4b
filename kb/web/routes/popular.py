"""GET /popular: the articles shoppers open most, for the site's home page and its "no match" page.

Counted from the query log (the result a search's shopper opened first, over the last
POPULAR_DAYS days, in the shopper's locale); kb.toml's editor-chosen `popular` list fills the
rest, and stands alone while the log knows none (or is off).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from kb import API_PREFIX
from kb.search.engine import Engine, article_url
from kb.web.errors import documented
from kb.web.params import AcceptLanguage, Lang, shopper_locale

if TYPE_CHECKING:
    from kb.analytics.store import Store

logger = logging.getLogger("kb.api")
POPULAR_DAYS = 90


class PopularArticle(BaseModel):
    id: str
    title: str
    url: str
    category: str
    locale: str = Field(description="Locale of the version served.")
    machine_translated: bool
    fallback: bool = Field(description="Not in the shopper's locale: served in the next one of the fallback chain.")


class PopularResponse(BaseModel):
    locale: str = Field(description="The shopper's locale.")
    source: Literal["analytics", "editor"] = Field(
        description="analytics: ranked by how often shoppers opened them from search (editor's choices fill up); "
                    "editor: kb.toml's popular list alone.")
    articles: list[PopularArticle]


def popular_router(engine: Engine, store: Store | None) -> APIRouter:
    api = APIRouter(prefix=API_PREFIX, tags=["content"])

    @api.get("/popular", response_model=PopularResponse, responses=documented(422))
    def popular(lang: Lang = None, limit: Annotated[int, Query(ge=1, le=20, description="How many (1–20).")] = 5,
                accept_language: AcceptLanguage = None) -> PopularResponse:
        """The articles shoppers open most, in the shopper's locale."""
        locale = shopper_locale(engine, lang, accept_language)
        index = engine.index
        opened: list[str] = []
        if store is not None:
            since = dt.datetime.now(dt.UTC) - dt.timedelta(days=POPULAR_DAYS)
            try:
                opened = [aid for aid, _ in store.opened_most(locale=locale, since=since, limit=limit * 2)]
            except Exception:  # the home page still gets the editor's list when the store is down
                logger.exception("could not read the popular articles")
        chosen = [str(aid) for aid in engine.config.get("popular") or []]
        articles: list[PopularArticle] = []
        for aid in dict.fromkeys(opened + chosen):
            served = engine.serve(index, aid, locale) if aid in index.by_id else None
            if served is None:
                continue
            record, machine, fallback = served
            articles.append(PopularArticle(
                id=aid, title=record.title, url=article_url(index.manifest["config"]["base_url"], record),
                category=record.category, locale=record.locale, machine_translated=machine, fallback=fallback))
            if len(articles) >= limit:
                break
        source = "analytics" if any(a.id in opened for a in articles) else "editor"
        return PopularResponse(locale=locale, source=source, articles=articles)

    return api
