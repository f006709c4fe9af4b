"""The HTTP API (FastAPI, OpenAPI at /docs), versioned under /v1, and the static site on the same port.

Every error is `{"error": {"param": <name or null>, "message": ...}}` with a 4xx status; anything
unexpected is a 500 with the message "internal error" (the traceback goes to the log only).
Searches, answers and feedback are logged through the analytics store, scrubbed of personal data.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Header, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import kb
from kb.content.locales import is_rtl, locale_name, negotiate
from kb.search import api_models as m
from kb.search.detect import BadLocale, choose_locale
from kb.search.engine import Engine, QueryError, article_url

logger = logging.getLogger("kb.api")

MAX_BODY_BYTES = 16 * 1024

QueryText = Annotated[str, Query(min_length=1, max_length=m.MAX_QUERY_CHARS, pattern=r"\S",
                                 description="What the shopper typed (1–500 characters).")]
Lang = Annotated[str | None, Query(max_length=35, description="Shopper's locale, e.g. de or pt-BR; "
                                   "else Accept-Language, else the query's language, else the source locale.")]
AcceptLanguage = Annotated[str | None, Header(description="Used for the locale when lang is not given.")]


class ApiError(Exception):
    def __init__(self, status: int, param: str | None, message: str) -> None:
        super().__init__(message)
        self.status, self.param, self.message = status, param, message


def error_body(param: str | None, message: str) -> dict[str, Any]:
    return {"error": {"param": param, "message": message}}


def _json(status: int, param: str | None, message: str) -> JSONResponse:
    return JSONResponse(error_body(param, message), status_code=status)


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    text = {400: "Malformed request body", 404: "Not found", 413: "Request body over 16 KiB",
            422: "Invalid parameter (named in error.param)", 500: "Internal error"}
    return {code: {"model": m.ErrorResponse, "description": text[code]} for code in (*codes, 500)}


# -- middleware: body limit and the catch-all ------------------------------------------------
class Guard:
    """Refuses bodies over the limit (413) and turns any unhandled exception into a JSON 500."""

    def __init__(self, app: ASGIApp, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = _json(413, "body", f"the request body is larger than {self.max_body_bytes} bytes")
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_body_bytes:
            await too_large(scope, receive, send)
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_body_bytes:
                await too_large(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        pending: list[Message] = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

        async def replay() -> Message:
            return pending.pop() if pending else await receive()

        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, replay, tracked)
        except Exception:
            logger.exception("internal error on %s %s", scope.get("method"), scope.get("path"))
            if not started:
                await _json(500, None, "internal error")(scope, receive, send)


# -- exception handlers -------------------------------------------------------------------------
def _param_of(loc: tuple[Any, ...]) -> str:
    names = [str(p) for p in loc[1:] if isinstance(p, str)]
    return names[-1] if names else str(loc[0]) if loc else "body"


async def _on_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = dict(exc.errors()[0])
    loc = tuple(first.get("loc", ()))
    if first.get("type") == "json_invalid":
        detail = (first.get("ctx") or {}).get("error", "invalid JSON")
        pos = loc[1] if len(loc) > 1 else "?"
        return _json(400, "body", f"malformed JSON: {detail} at character {pos}")
    param = _param_of(loc)
    message = str(first.get("msg", "invalid value"))
    if loc == ("body",) and "json" not in request.headers.get("content-type", ""):
        message = "send a JSON object with Content-Type: application/json"
    elif first.get("type") == "extra_forbidden":
        message = f"unknown field {param!r}"
    return _json(422, param, message)


async def _on_http(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return JSONResponse(error_body(None, str(exc.detail)), status_code=exc.status_code, headers=exc.headers)


async def _on_api(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return _json(exc.status, exc.param, exc.message)


async def _on_query(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, QueryError)
    status = 404 if exc.param in ("id", "article_id") else 422
    message = str(exc).removeprefix(f"{exc.param}: ")
    return _json(status, exc.param, message)


async def _on_bad_locale(_request: Request, exc: Exception) -> JSONResponse:
    return _json(422, "lang", str(exc).removeprefix("lang: "))


Handler = Callable[[Request, Exception], Awaitable[JSONResponse]]
HANDLERS: dict[type[Exception], Handler] = {
    RequestValidationError: _on_validation, StarletteHTTPException: _on_http, ApiError: _on_api,
    QueryError: _on_query, BadLocale: _on_bad_locale,
}


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


def _log(store: Any, **row: Any) -> None:
    if store is None:
        return
    try:
        store.log_query(**row)
    except Exception:  # the shopper gets the answer even when the log is down
        logger.exception("could not write the query log")


# -- routes -------------------------------------------------------------------------------------
def _router(engine: Engine, store: Any) -> APIRouter:
    api = APIRouter(prefix="/v1")

    @api.get("/search", response_model=m.SearchResponse, tags=["search"], responses=_errors(422))
    def search(q: QueryText, lang: Lang = None,
               k: Annotated[int, Query(ge=1, le=50, description="How many articles (1–50).")] = 10,
               category: Annotated[str | None, Query(max_length=100, description="Only this category key.")] = None,
               accept_language: AcceptLanguage = None) -> m.SearchResponse:
        """Search the help center in any language; each article served in the shopper's locale."""
        result = engine.search(q, lang=lang, accept_language=accept_language, k=k, category=category)
        top = result.hits[0] if result.hits else None
        _log(store, endpoint="search", locale=result.locale, query=result.query, decision=result.decision,
             confidence=result.confidence, top_ids=[h.id for h in result.hits], top_scores=[h.score for h in result.hits],
             served_machine=bool(top and top.machine_translated), served_fallback=bool(top and top.fallback),
             generation=result.generation)
        return m.SearchResponse(query=result.query, locale=result.locale, locale_from=result.locale_from,
                                decision=result.decision, confidence=result.confidence,
                                hits=[m.Hit(**h.to_dict()) for h in result.hits],
                                support=m.Support(**result.support) if result.support else None)

    @api.post("/answer", response_model=m.AnswerResponse, tags=["search"], responses=_errors(400, 413, 422))
    def answer(body: m.AnswerRequest, accept_language: AcceptLanguage = None) -> m.AnswerResponse:
        """For chatbots: answer, clarify (choose among the alternatives) or handoff (to a person)."""
        out = engine.answer(body.question, lang=body.lang, accept_language=accept_language)
        cited = out["citations"] + out["alternatives"]
        _log(store, endpoint="answer", locale=out["locale"], query=out["question"], decision=out["decision"],
             confidence=out["confidence"], top_ids=[c["id"] for c in cited], top_scores=[c["score"] for c in cited],
             served_machine=bool(cited and cited[0]["machine_translated"]),
             served_fallback=bool(cited and cited[0]["fallback"]), generation=engine.index.generation)
        return m.AnswerResponse.model_validate(out)

    @api.get("/suggest", response_model=m.SuggestResponse, tags=["search"], responses=_errors(422))
    def suggest(q: QueryText, lang: Lang = None, accept_language: AcceptLanguage = None) -> m.SuggestResponse:
        """Search-as-you-type: article titles in the shopper's locale."""
        found = engine.suggest(q, lang=lang, accept_language=accept_language)
        return m.SuggestResponse(suggestions=[m.Suggestion(**s) for s in found])

    @api.get("/articles/{id}", response_model=m.ArticleResponse, tags=["content"], responses=_errors(404, 422))
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

    @api.get("/locales", response_model=m.LocalesResponse, tags=["content"], responses=_errors())
    def locales() -> m.LocalesResponse:
        """The enabled locales, each with its name in its own language."""
        return m.LocalesResponse(source_locale=engine.source_locale, locales=[
            m.LocaleInfo(code=code, name=locale_name(code), rtl=is_rtl(code)) for code in engine.locales])

    @api.get("/categories", response_model=m.CategoriesResponse, tags=["content"], responses=_errors(422))
    def categories(lang: Lang = None, accept_language: AcceptLanguage = None) -> m.CategoriesResponse:
        """Category keys with their titles in the shopper's locale."""
        locale = _locale(engine, lang, accept_language)
        config = engine.config
        return m.CategoriesResponse(locale=locale, categories=[
            m.CategoryInfo(key=key, title=_category_title(config, key, locale)) for key in config["categories"]])

    @api.post("/feedback", response_model=m.FeedbackResponse, status_code=201, tags=["feedback"],
              responses=_errors(400, 404, 413, 422))
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
               store: Any = None, *, database_url: str | None = None, log_queries: bool = True,
               max_body_bytes: int = MAX_BODY_BYTES) -> FastAPI:
    """The API for the index in `data_dir`, and the static site in `site_dir` when it exists.

    `store`: an open kb.analytics.store.Store; by default one is opened from `database_url`,
    else KB_DATABASE_URL, else `<data_dir>/kb.sqlite` (and closed with the app).
    `log_queries=False` logs nothing (feedback is then not stored either).
    """
    engine = engine or Engine(data_dir)
    owned = None
    if store is None and log_queries:
        from kb.analytics.store import open_store

        store = owned = open_store(data_dir, database_url)
    if not log_queries:
        store = None

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if owned is not None:
            owned.close()

    app = FastAPI(title="kb help center API", version=kb.__version__, lifespan=lifespan,
                  description="Multilingual search, answers for chatbots, articles and feedback. "
                              "Errors: `{\"error\": {\"param\", \"message\"}}`.",
                  exception_handlers=HANDLERS)  # type: ignore[arg-type]
    app.state.engine, app.state.store = engine, store
    app.add_middleware(Guard, max_body_bytes=max_body_bytes)
    app.include_router(_router(engine, store))

    @app.get("/healthz", response_model=m.Health, tags=["ops"], responses=_errors())
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
