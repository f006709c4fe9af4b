"""GET /: the first page in the shopper's language.

A remembered choice (the `kb_lang` cookie, which the site's script sets when the shopper picks a
language on the root page or in the language menu) wins; else Accept-Language chooses among the
enabled locales whose pages are built, regional forms matched as the API matches them (`de-AT`
reads `de`). Either way the answer is a redirect relative to `/` (`de/`), so a site served under
a path prefix behind a proxy lands on its own `de/`. With neither, the site's root page lets the
shopper choose; its script makes the same choice where the site is hosted without `kb serve`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from kb.content.locales import negotiate, parse_accept_language

LANG_COOKIE = "kb_lang"  # the site's script (kb/site/static/site.js) writes it
# the answer depends on both headers: caches must keep one per combination, or none
HEADERS = {"Vary": "Accept-Language, Cookie", "Cache-Control": "private, no-cache"}


def landing_locale(cookie: str | None, accept_language: str | None, locales: list[str]) -> str | None:
    """The locale `/` leads to: the remembered one when still enabled, else Accept-Language's best."""
    if cookie:
        chosen = negotiate([cookie[:35]], locales)
        if chosen is not None:
            return chosen
    return negotiate(parse_accept_language(accept_language or "")[:20], locales)


def install_landing(app: FastAPI, site: Path, locales: Callable[[], list[str]]) -> None:
    """GET and HEAD / on `app`: redirect to the shopper's locale, else the built root page."""
    root_page = site / "index.html"

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    def landing(request: Request) -> Response:
        built = [code for code in locales() if (site / code).is_dir()]
        locale = landing_locale(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"), built)
        if locale is not None:
            return RedirectResponse(f"{locale}/", status_code=302, headers=HEADERS)
        if root_page.is_file():
            return FileResponse(root_page, headers=HEADERS)
        return RedirectResponse(f"{built[0]}/" if built else "docs", status_code=302, headers=HEADERS)
