"""The content as served: GET /articles/{id}, /locales and /categories."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from fastapi import Path as PathParam

from kb import API_PREFIX
from kb.content.locales import is_rtl, locale_name
from kb.search.engine import Engine, article_url
from kb.web import schemas as m
from kb.web.errors import ApiError, documented
from kb.web.params import AcceptLanguage, Lang, shopper_locale


def _category_title(config: dict[str, Any], key: str, locale: str) -> str:
    titles = config["categories"].get(key, {}).get("title", {})
    for code in (locale, locale.split("-")[0], config["source_locale"]):
        if code in titles:
            return str(titles[code])
    return key


def articles_router(engine: Engine) -> APIRouter:
    api = APIRouter(prefix=API_PREFIX, tags=["content"])

    @api.get("/articles/{id}", response_model=m.ArticleResponse, responses=documented(404, 422))
    def article(article_id: Annotated[str, PathParam(alias="id", max_length=120)], lang: Lang = None,
                accept_language: AcceptLanguage = None) -> m.ArticleResponse:
        """One article as a shopper in `lang` is served it (own version, else fallback, flagged)."""
        locale = shopper_locale(engine, lang, accept_language)
        index = engine.index
        served = engine.serve(index, article_id, locale)
        if served is None:
            raise ApiError(404, "id", f"no article with id {article_id!r}")
        record, machine, fallback = served
        versions = index.by_id[article_id]
        ordered = [loc for loc in engine.locales if loc in versions] + sorted(set(versions) - set(engine.locales))
        return m.ArticleResponse(
            id=record.id, locale=record.locale, title=record.title, category=record.category,
            markdown=record.body.strip(), updated=record.updated, review=record.review,  # type: ignore[arg-type]
            machine_translated=machine, stale=record.stale, fallback=fallback,
            url=article_url(index.manifest["config"]["base_url"], record, page_locale=locale),
            available_locales=ordered)

    @api.get("/locales", response_model=m.LocalesResponse, responses=documented())
    def locales() -> m.LocalesResponse:
        """The enabled locales, each with its name in its own language."""
        return m.LocalesResponse(source_locale=engine.source_locale, locales=[
            m.LocaleInfo(code=code, name=locale_name(code), rtl=is_rtl(code)) for code in engine.locales])

    @api.get("/categories", response_model=m.CategoriesResponse, responses=documented(422))
    def categories(lang: Lang = None, accept_language: AcceptLanguage = None) -> m.CategoriesResponse:
        """Category keys with their titles in the shopper's locale."""
        locale = shopper_locale(engine, lang, accept_language)
        config = engine.config
        return m.CategoriesResponse(locale=locale, categories=[
            m.CategoryInfo(key=key, title=_category_title(config, key, locale)) for key in config["categories"]])

    return api
