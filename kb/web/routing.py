"""Where a request goes, and where a redirect may send it.

- Paths under kb.API_PREFIX belong to the API alone: the static site, mounted at /, never answers
  them, so an unknown API route is the API's JSON 404 and a route asked with the wrong method its
  JSON 405 (`Allow` names the right ones), never the site's HTML page.
- HEAD is answered wherever GET is (as HTTP asks): the request runs as a GET and the body is
  left out; `is_head(scope)` tells a route (a HEAD search is not written to the query log).
- A redirect stays on this site: a `Location` the app or the site files made absolute from the
  request's Host header becomes relative, unless it is the configured base_url's origin.
- The site's 404 page speaks the language of the path: `/pl/...` gets `pl/404.html` (built per
  locale by kb.site), other paths the root `404.html`.
"""

from __future__ import annotations

import os
import stat
from typing import Any
from urllib.parse import urlsplit

import anyio
from starlette.exceptions import HTTPException
from starlette.responses import FileResponse, Response
from starlette.routing import Match, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kb import API_PREFIX

HEAD_KEY = "kb.head"  # set in the scope of a HEAD request answered as a GET


def is_api_path(path: str) -> bool:
    return path == API_PREFIX or path.startswith(f"{API_PREFIX}/")


def is_head(scope: Scope) -> bool:
    return bool(scope.get(HEAD_KEY))


class HeadAsGet:
    """Answers HEAD like GET, without the body (the headers, Content-Length included, are the GET's)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app({**scope, "method": "GET", HEAD_KEY: True}, receive, headers_only)


def local_location(location: str, base_origin: str | None) -> str:
    """`location` as a redirect target on this site: relative, unless it is on `base_origin`."""
    parts = urlsplit(location)
    if not parts.netloc and not parts.scheme:
        path = location
    elif base_origin and f"{parts.scheme}://{parts.netloc}".lower() == base_origin:
        return location
    else:
        path = parts.path + (f"?{parts.query}" if parts.query else "") + (f"#{parts.fragment}" if parts.fragment else "")
    # '//host/…' and '/\host/…' would leave the site again: one slash is a path on this one
    stripped = path.lstrip("/\\")
    return "/" + stripped if path[:1] in ("/", "\\") or not path else path


class LocalRedirects:
    """Rewrites the `Location` of every response with `local_location`."""

    def __init__(self, app: ASGIApp, base_url: str = "") -> None:
        self.app = app
        parts = urlsplit(base_url)
        self.base_origin = f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def rewritten(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(name, local_location(value.decode("latin-1"), self.base_origin).encode("latin-1")
                            if name.lower() == b"location" else value) for name, value in message.get("headers", [])]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, rewritten)


class SiteFiles(StaticFiles):
    """The built site (HTML mode); a missing page under /<locale>/ gets that locale's 404 page."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        try:
            response = await super().get_response(path, scope)
        except HTTPException as exc:
            if exc.status_code != 404:
                raise
            response = None
        if response is not None and response.status_code != 404:
            return response
        found = await anyio.to_thread.run_sync(self._locale_404, path)
        if found is not None:
            return FileResponse(found[0], stat_result=found[1], status_code=404)
        if response is None:
            raise HTTPException(status_code=404)
        return response

    def _locale_404(self, path: str) -> tuple[str, os.stat_result] | None:
        first = path.replace("\\", "/").strip("/").split("/", 1)[0]
        if not first or first.startswith("."):
            return None
        full, found = self.lookup_path(f"{first}/404.html")
        return (full, found) if found is not None and stat.S_ISREG(found.st_mode) else None


class SiteMount(Mount):
    """The site at /, for every path but the API's."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http" and is_api_path(scope.get("path", "")):
            return Match.NONE, {}
        return super().matches(scope)


def site_mount(directory: Any) -> SiteMount:
    return SiteMount("/", app=SiteFiles(directory=directory, html=True), name="site")
