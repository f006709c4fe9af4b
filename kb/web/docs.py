"""The API's documentation pages, served by `kb serve` itself: they work offline and behind a firewall.

/docs (Swagger UI) and /redoc (ReDoc) load their scripts, styles and icon from DOCS_ASSETS on this
server. The files come from the `fastapi-offline` package (MIT; it ships Swagger UI under Apache-2.0
and ReDoc under MIT, with their licences); FastAPI's own pages would fetch them from a CDN.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_ASSETS = "/docs/assets"
ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"
FILES = {"swagger_js": "swagger-ui-bundle.js", "swagger_css": "swagger-ui.css", "redoc_js": "redoc.standalone.js",
         "favicon": "favicon.png"}


def install_docs(app: FastAPI, docs_url: str = "/docs", redoc_url: str = "/redoc") -> None:
    """Swagger UI at `docs_url` and ReDoc at `redoc_url`, their assets under DOCS_ASSETS; create the
    app with `docs_url=None, redoc_url=None` so that FastAPI's CDN pages are not there too."""
    openapi_url = app.openapi_url or "/openapi.json"
    oauth2_redirect = f"{docs_url}/oauth2-redirect"
    app.mount(DOCS_ASSETS, StaticFiles(directory=ASSETS_DIR), name="docs-assets")

    def urls(request: Request) -> dict[str, str]:
        root = request.scope.get("root_path", "").rstrip("/")  # behind a proxy that serves the app under a path
        return {"openapi": root + openapi_url, **{name: f"{root}{DOCS_ASSETS}/{file}" for name, file in FILES.items()}}

    @app.get(docs_url, include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        url = urls(request)
        return get_swagger_ui_html(openapi_url=url["openapi"], title=f"{app.title} - Swagger UI",
                                   oauth2_redirect_url=oauth2_redirect, swagger_js_url=url["swagger_js"],
                                   swagger_css_url=url["swagger_css"], swagger_favicon_url=url["favicon"],
                                   swagger_ui_parameters=app.swagger_ui_parameters)

    @app.get(oauth2_redirect, include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(redoc_url, include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        url = urls(request)
        return get_redoc_html(openapi_url=url["openapi"], title=f"{app.title} - ReDoc", redoc_js_url=url["redoc_js"],
                              redoc_favicon_url=url["favicon"], with_google_fonts=False)
