"""The HTTP API (FastAPI, OpenAPI at /docs), versioned under /v1, and the static site on the same port.

Errors have one JSON shape (see kb.web.errors). Searches, answers and feedback are logged
through the analytics store, scrubbed of personal data. Endpoints are plain functions, so the
engine runs in the threadpool.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, FastAPI, Header, Query
from fastapi import Path as PathParam
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

import kb
from kb.analytics.retention import Pruner
from kb.analytics.retention import retention_days as configured_retention
from kb.content.locales import is_rtl, locale_name, negotiate
from kb.search.detect import choose_locale
from kb.search.engine import Engine, article_url
from kb.translate.live import live_translator
from kb.web import schemas as m
from kb.web.errors import HANDLERS, MAX_BODY_BYTES, ApiError, Guard, documented
from kb.web.routes.gaps import gaps_router
from kb.web.routes.review import admin_router
from kb.web.security import SecurityConfig
from kb.web.security import install as install_security

if TYPE_CHECKING:
    from kb.analytics.store import Store

logger = logging.getLogger("kb.api")

QueryText = Annotated[str, Query(min_length=1, max_length=m.MAX_QUERY_CHARS, pattern=m.NOT_BLANK,
                                 description="What the shopper typed (1–500 characters).")]
Lang = Annotated[str | None, Query(min_length=1, max_length=35, description="Shopper's locale: one of the enabled locales "
                                   "(regional forms such as de-AT are matched to them); else Accept-Language, "
                                   "else the query's language, else the source locale.")]
AcceptLanguage = Annotated[str | None, Header(description="Used for the locale when lang is not given.")]


# -- helpers --------------------------------------------------------------------------------------
def _locale(engine: Engine, lang: str | None, accept_language: str | None) -> str:
    """The shopper's locale for requests without a query: lang, Accept-Language, source locale."""
    return choose_locale("", lang, accept_language, engine.locales, engine.source_locale)[0]


def _category_title(config: dict[str, Any], key: str, locale: str) -> str:
    titles = config["categories"].get(key, {}).get("title", {})
    for code in (locale, locale.split("-")[0], config["source_locale"]):
        if code in titles:
            return str(titles[code])
    return key


def _log(store: Store | None, **row: Any) -> None:
    if store is None:
        return
    try:
        store.log_query(**row)
    except Exception:  # the shopper gets the answer even when the log is down
        logger.exception("could not write the query log")


def _pin_schema(schema: dict[str, Any], engine: Engine) -> None:
    """Name what this index serves: locales and categories as enums, article ids as examples."""
    locales, ids = engine.locales, sorted(engine.index.by_id)[:5]
    enums = {"lang": locales, "category": list(engine.config["categories"])}
    for operations in schema["paths"].values():
        for operation in operations.values():
            for param in operation.get("parameters", []):
                if param["in"] == "query" and enums.get(param["name"]):
                    kept = {k: v for k, v in param["schema"].items() if k not in ("anyOf", "maxLength")}
                    param["schema"] = {**kept, "type": "string", "enum": enums[param["name"]]}
                elif param["in"] == "path" and param["name"] == "id":
                    param["schema"]["examples"] = ids
    models = schema["components"]["schemas"]
    models["AnswerRequest"]["properties"]["lang"]["anyOf"][0]["enum"] = locales
    models["FeedbackRequest"]["properties"]["locale"]["enum"] = locales
    models["FeedbackRequest"]["properties"]["article_id"]["examples"] = ids


def _install_openapi(app: FastAPI, engine: Engine) -> None:
    """/openapi.json follows the live index: rebuilt when `kb index` swaps in a new generation."""
    cache: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        generation = engine.index.generation
        if cache.get("generation") != generation:
            app.openapi_schema = None
            schema = FastAPI.openapi(app)
            _pin_schema(schema, engine)
            cache.update(generation=generation, schema=schema)
        return cache["schema"]

    app.openapi = openapi  # type: ignore[method-assign]


# -- routes -------------------------------------------------------------------------------------
def _router(engine: Engine, store: Store | None) -> APIRouter:
    api = APIRouter(prefix="/v1")

    @api.get("/search", response_model=m.SearchResponse, tags=["search"], responses=documented(422))
    def search(q: QueryText, lang: Lang = None,
               k: Annotated[int, Query(ge=1, le=50, description="How many articles (1–50).")] = 10,
               category: Annotated[str | None, Query(max_length=100, description="Only this category key.")] = None,
               track: Annotated[bool, Query(description="The client reports the result the shopper opens with "
                                            "POST /v1/click (the site's search page does), so a search without a "
                                            "click counts as a content gap.")] = False,
               accept_language: AcceptLanguage = None) -> m.SearchResponse:
        """Search the help center in any language; each article served in the shopper's locale."""
        result = engine.search(q, lang=lang, accept_language=accept_language, k=k, category=category)
        top = result.hits[0] if result.hits else None
        search_id = uuid.uuid4().hex if store is not None else None
        _log(store, endpoint="search", locale=result.locale, query=result.query, decision=result.decision,
             confidence=result.confidence, top_ids=[h.id for h in result.hits], top_scores=[h.score for h in result.hits],
             served_machine=bool(top and top.machine_translated), served_fallback=bool(top and top.fallback),
             generation=result.generation, search_id=search_id, tracks_clicks=track)
        return m.SearchResponse(query=result.query, locale=result.locale, locale_from=result.locale_from,
                                decision=result.decision, confidence=result.confidence,
                                hits=[m.Hit(**h.to_dict()) for h in result.hits],
                                support=m.Support(**result.support) if result.support else None,
                                generation=result.generation, search_id=search_id)

    @api.post("/click", response_model=m.ClickResponse, tags=["feedback"], responses=documented(400, 413, 422))
    def click(body: m.ClickRequest) -> m.ClickResponse:
        """The shopper opened a result of a search: its first click is kept for the content-gap report."""
        if store is None:
            return m.ClickResponse(recorded=False)
        try:
            return m.ClickResponse(recorded=store.record_click(body.search_id, body.article_id))
        except Exception:  # like the query log: a broken store never fails the shopper's page
            logger.exception("could not record a click")
            return m.ClickResponse(recorded=False)

    @api.post("/answer", response_model=m.AnswerResponse, tags=["search"], responses=documented(400, 413, 422))
    def answer(body: m.AnswerRequest, accept_language: AcceptLanguage = None) -> m.AnswerResponse:
        """For chatbots: answer, clarify (choose among the alternatives) or handoff (to a person)."""
        out = engine.answer(body.question, lang=body.lang, accept_language=accept_language)
        cited = out["citations"] + out["alternatives"]
        _log(store, endpoint="answer", locale=out["locale"], query=out["question"], decision=out["decision"],
             confidence=out["confidence"], top_ids=[c["id"] for c in cited], top_scores=[c["score"] for c in cited],
             served_machine=bool(cited and cited[0]["machine_translated"]),
             served_fallback=bool(cited and cited[0]["fallback"]), generation=out["generation"])
        return m.AnswerResponse.model_validate(out)

    @api.get("/suggest", response_model=m.SuggestResponse, tags=["search"], responses=documented(422))
    def suggest(q: QueryText, lang: Lang = None, accept_language: AcceptLanguage = None) -> m.SuggestResponse:
        """Search-as-you-type: article titles in the shopper's locale."""
        found = engine.suggest(q, lang=lang, accept_language=accept_language)
        return m.SuggestResponse(suggestions=[m.Suggestion(**s) for s in found])

    @api.get("/articles/{id}", response_model=m.ArticleResponse, tags=["content"], responses=documented(404, 422))
    def article(article_id: Annotated[str, PathParam(alias="id", max_length=120)], lang: Lang = None,
                accept_language: AcceptLanguage = None) -> m.ArticleResponse:
        """One article as a shopper in `lang` is served it (own version, else fallback, flagged)."""
        locale = _locale(engine, lang, accept_language)
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
            url=article_url(index.manifest["config"]["base_url"], record), available_locales=ordered)

    @api.get("/locales", response_model=m.LocalesResponse, tags=["content"], responses=documented())
    def locales() -> m.LocalesResponse:
        """The enabled locales, each with its name in its own language."""
        return m.LocalesResponse(source_locale=engine.source_locale, locales=[
            m.LocaleInfo(code=code, name=locale_name(code), rtl=is_rtl(code)) for code in engine.locales])

    @api.get("/categories", response_model=m.CategoriesResponse, tags=["content"], responses=documented(422))
    def categories(lang: Lang = None, accept_language: AcceptLanguage = None) -> m.CategoriesResponse:
        """Category keys with their titles in the shopper's locale."""
        locale = _locale(engine, lang, accept_language)
        config = engine.config
        return m.CategoriesResponse(locale=locale, categories=[
            m.CategoryInfo(key=key, title=_category_title(config, key, locale)) for key in config["categories"]])

    @api.post("/feedback", response_model=m.FeedbackResponse, status_code=201, tags=["feedback"],
              responses=documented(400, 404, 413, 422))
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


def create_app(data_dir: Path | str = ".kb", site_dir: Path | str | None = None, engine: Engine | None = None,
               store: Store | None = None, *, database_url: str | None = None, log_queries: bool = True,
               max_body_bytes: int = MAX_BODY_BYTES, content_dir: Path | str | None = None,
               security: SecurityConfig | None = None, retention_days: float | None | bool = True) -> FastAPI:
    """The API for the index in `data_dir`, and the static site in `site_dir` when it exists.

    `store`: an open kb.analytics.store.Store; by default one is opened from `database_url`,
    else KB_DATABASE_URL, else `<data_dir>/kb.sqlite` (and closed with the app).
    `log_queries=False` logs nothing (feedback is then not stored either).
    Articles missing in a locale are machine-translated on the fly when a model is installed
    (kb.translate.live); the admin API (kb.web.routes.review) works on `content_dir` ("content").
    `security`: CORS origins and rate limits (kb.web.security; default from the environment and kb.toml).
    `retention_days`: the store is pruned to it at start-up and daily (True: KB_RETENTION_DAYS, default 90;
    None or False: never).
    """
    engine = engine or Engine(data_dir, translator=live_translator(data_dir))
    days = configured_retention() if retention_days is True else retention_days or None
    owned = None
    if store is None and log_queries:
        from kb.analytics.store import open_store

        store = owned = open_store(data_dir, database_url)
    if not log_queries:
        store = None

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        pruner = app.state.pruner = Pruner(store, days).start() if store is not None and days else None
        yield
        if pruner is not None:
            pruner.stop()
        if owned is not None:
            owned.close()

    app = FastAPI(title="kb help center API", version=kb.__version__, lifespan=lifespan,
                  description="Multilingual search, answers for chatbots, articles and feedback. "
                              "Errors: `{\"error\": {\"param\", \"message\"}}`.",
                  exception_handlers=HANDLERS)  # type: ignore[arg-type]
    app.state.engine, app.state.store = engine, store
    app.add_middleware(Guard, max_body_bytes=max_body_bytes)
    app.include_router(_router(engine, store))
    app.include_router(admin_router(data_dir, content_dir or "content", store))
    app.include_router(gaps_router(data_dir, engine, store))
    _install_openapi(app, engine)
    install_security(app, security or SecurityConfig.from_env(engine.config))

    @app.get("/healthz", response_model=m.Health, tags=["ops"], responses=documented())
    def healthz() -> m.Health:
        index = engine.index
        return m.Health(generation=index.generation, articles=len(index.by_id), embedder=engine.embedder.name)

    site = Path(site_dir) if site_dir is not None else None
    if site is not None and site.is_dir():
        if (site / engine.source_locale).is_dir():
            target = f"/{engine.source_locale}/"

            @app.get("/", include_in_schema=False)
            def root() -> RedirectResponse:
                return RedirectResponse(target)

        app.mount("/", StaticFiles(directory=site, html=True), name="site")
    else:
        @app.get("/", include_in_schema=False)
        def root_docs() -> RedirectResponse:
            return RedirectResponse("/docs")

    return app
