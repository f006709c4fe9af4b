"""Errors of the HTTP API: one JSON shape for all of them, the body limit and the catch-all.

Every error is `{"error": {"param": <name or null>, "message": ...}}`: 400 malformed JSON, 404
unknown id or route, 405, 413 body over the limit, 422 invalid parameter (named in `param`); any
other exception is a 500 with the message "internal error", its traceback in the log only.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kb.content.text import VISIBLE_MESSAGE
from kb.search.detect import BadLocale
from kb.search.engine import QueryError
from kb.web import schemas as m
from kb.web.schemas import NOT_BLANK

logger = logging.getLogger("kb.api")

MAX_BODY_BYTES = 16 * 1024


class ApiError(Exception):
    def __init__(self, status: int, param: str | None, message: str) -> None:
        super().__init__(message)
        self.status, self.param, self.message = status, param, message


def error_body(param: str | None, message: str) -> dict[str, Any]:
    return {"error": {"param": param, "message": message}}


def json_error(status: int, param: str | None, message: str) -> JSONResponse:
    return JSONResponse(error_body(param, message), status_code=status)


ERRORS = {400: "Malformed request body", 401: "No admin key sent", 403: "Wrong admin key", 404: "Not found",
          413: f"Request body over {MAX_BODY_BYTES // 1024} KiB", 422: "Invalid parameter (named in error.param)", 500: "Internal error",
          503: "Admin API disabled"}


def documented(*codes: int, text: dict[int, str] | None = None) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` of a route for its error `codes` and the catch-all 500, each with the
    error body; `text` words a code for this route (e.g. what 404 means there)."""
    words = {**ERRORS, **(text or {})}
    return {code: {"model": m.ErrorResponse, "description": words[code]} for code in (*codes, 500)}


# -- middleware: body limit and the catch-all ------------------------------------------------
class Guard:
    """Refuses bodies over the limit (413) and turns any unhandled exception into a JSON 500.
    `wider`: path prefixes with a limit of their own (the admin desk's forms carry whole articles)."""

    def __init__(self, app: ASGIApp, max_body_bytes: int = MAX_BODY_BYTES,
                 wider: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.wider = dict(wider or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        limit = next((n for prefix, n in self.wider.items() if path.startswith(prefix)), self.max_body_bytes)
        too_large = json_error(413, "body", f"the request body is larger than {limit} bytes")
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > limit:
            await too_large(scope, receive, send)
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > limit:
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
                await json_error(500, None, "internal error")(scope, receive, send)


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
        return json_error(400, "body", f"malformed JSON: {detail} at character {pos}")
    param = _param_of(loc)
    message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    if first.get("type") == "string_pattern_mismatch" and (first.get("ctx") or {}).get("pattern") == NOT_BLANK:
        message = VISIBLE_MESSAGE
    if loc == ("body",) and "json" not in request.headers.get("content-type", ""):
        message = "send a JSON object with Content-Type: application/json"
    elif first.get("type") == "extra_forbidden":
        message = f"unknown field {param!r}"
    return json_error(422, param, message)


async def _on_http(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return JSONResponse(error_body(None, str(exc.detail)), status_code=exc.status_code, headers=exc.headers)


async def _on_api(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return json_error(exc.status, exc.param, exc.message)


async def _on_query(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, QueryError)
    status = 404 if exc.param in ("id", "article_id") else 422
    message = str(exc).removeprefix(f"{exc.param}: ")
    return json_error(status, exc.param, message)


async def _on_bad_locale(_request: Request, exc: Exception) -> JSONResponse:
    return json_error(422, "lang", str(exc).removeprefix("lang: "))


Handler = Callable[[Request, Exception], Awaitable[JSONResponse]]
HANDLERS: dict[type[Exception], Handler] = {
    RequestValidationError: _on_validation, StarletteHTTPException: _on_http, ApiError: _on_api,
    QueryError: _on_query, BadLocale: _on_bad_locale,
}
