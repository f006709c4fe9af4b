"""The HTTP app, assembled in one place: the engine, the analytics store and the live translator,
the API's routers under kb.API_PREFIX (OpenAPI at /docs), its security, and the static site on
the same port.

Errors have one JSON shape (see kb.web.errors). Searches, answers and feedback are logged
through the analytics store, scrubbed of personal data. Endpoints are plain functions, so the
engine runs in the threadpool.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.responses import RedirectResponse

import kb
from kb.analytics.retention import Pruner
from kb.analytics.retention import retention_days as configured_retention
from kb.search.engine import Engine
from kb.translate.live import live_translator
from kb.web.admin import MAX_FORM_BYTES, install_admin
from kb.web.admin import PREFIX as ADMIN_PREFIX
from kb.web.docs import install_docs
from kb.web.errors import HANDLERS, MAX_BODY_BYTES, Guard
from kb.web.landing import install_landing
from kb.web.routes.articles import articles_router
from kb.web.routes.feedback import feedback_router
from kb.web.routes.gaps import gaps_router
from kb.web.routes.health import health_router
from kb.web.routes.popular import popular_router
from kb.web.routes.review import admin_router
from kb.web.routes.search import search_router
from kb.web.routing import HeadAsGet, LocalRedirects, site_mount
from kb.web.security import SecurityConfig
from kb.web.security import install as install_security
from kb.web.writes import StoreWrites

if TYPE_CHECKING:
    from kb.analytics.store import Store


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


def _mount_site(app: FastAPI, site_dir: Path | str | None, engine: Engine) -> None:
    """The static site at / when `site_dir` exists (/ leads to the shopper's locale: kb.web.landing);
    else / leads to /docs."""
    site = Path(site_dir) if site_dir is not None else None
    if site is not None and site.is_dir():
        install_landing(app, site, lambda: engine.locales)
        app.router.routes.append(site_mount(site))  # never for API paths: they get the API's JSON 404/405
    else:
        @app.get("/", include_in_schema=False)
        def root_docs() -> RedirectResponse:
            return RedirectResponse("/docs")


def create_app(data_dir: Path | str = ".kb", site_dir: Path | str | None = None, engine: Engine | None = None,
               store: Store | None = None, *, database_url: str | None = None, log_queries: bool = True,
               max_body_bytes: int = MAX_BODY_BYTES, content_dir: Path | str | None = None,
               security: SecurityConfig | None = None, retention_days: float | None | bool = True) -> FastAPI:
    """The API for the index in `data_dir`, and the static site in `site_dir` when it exists.

    `store`: an open kb.analytics.store.Store; by default one is opened from `database_url`,
    else KB_DATABASE_URL, else `<data_dir>/kb.sqlite` (and closed with the app).
    `log_queries=False` logs nothing (feedback is then not stored either).
    Articles missing in a locale are machine-translated on the fly when a model is installed
    (kb.translate.live); the admin API (kb.web.routes.review) and the editor's desk at /admin/
    (kb.web.admin) work on `content_dir` ("content").
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
                  exception_handlers=HANDLERS, docs_url=None, redoc_url=None)  # type: ignore[arg-type]
    writes = StoreWrites()  # failed writes to the store, shown by /healthz
    app.state.engine, app.state.store, app.state.writes = engine, store, writes
    app.add_middleware(Guard, max_body_bytes=max_body_bytes, wider={f"{ADMIN_PREFIX}/": MAX_FORM_BYTES})
    for router in (search_router(engine, store, writes), articles_router(engine), feedback_router(engine, store, writes),
                   admin_router(data_dir, content_dir or "content", store), gaps_router(data_dir, engine, store),
                   health_router(engine, writes), popular_router(engine, store)):
        app.include_router(router)
    install_admin(app, data_dir, content_dir or "content", engine, store)
    _install_openapi(app, engine)
    install_docs(app)  # Swagger UI and ReDoc with their assets from this server, not a CDN
    install_security(app, security or SecurityConfig.from_env(engine.config))
    app.add_middleware(LocalRedirects, base_url=str(engine.config.get("base_url") or ""))
    app.add_middleware(HeadAsGet)
    _mount_site(app, site_dir, engine)
    return app
