"""Signing in and out of the admin desk, and its home page (kb.web.admin.session says how)."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response

from kb.translate.review import review_queue
from kb.web.admin.desk import NO_STORE, PREFIX, Desk, DeskError, Form, retry_after, safe_target
from kb.web.admin.session import (
    COOKIE,
    COOKIE_PATH,
    SIGNIN_COOKIE,
    SIGNIN_SECONDS,
    Session,
    server_secret,
    signin_ok,
    signin_token,
)
from kb.web.auth import FailedAttempts, client_address


def _cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path=COOKIE_PATH, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")


def _forget(response: Response, request: Request, name: str) -> None:
    response.delete_cookie(name, path=COOKIE_PATH, httponly=True, samesite="strict",
                           secure=request.url.scheme == "https")


def signin_router(desk: Desk) -> APIRouter:
    router = APIRouter(prefix=PREFIX, include_in_schema=False)

    def signin_form(request: Request, target: str, status: int = 200, message: str = "",
                    headers: dict[str, str] | None = None) -> Response:
        nonce = secrets.token_urlsafe(24)
        response = desk.page(request, "signin.html", None, status=status, headers=headers, target=target,
                             csrf=signin_token(server_secret(desk.data), nonce), message=message,
                             enabled=desk.enabled, signed_out=request.query_params.get("signed_out") == "1")
        _cookie(response, request, SIGNIN_COOKIE, nonce, SIGNIN_SECONDS)
        return response

    @router.get("/")
    def home(request: Request, session: Session = Depends(desk.signed_in)) -> Response:
        queue = review_queue(desk.library())
        counts = {"all": len(queue.items), "machine": sum(i.review == "machine" for i in queue.items),
                  "stale": sum(i.stale for i in queue.items)}
        return desk.page(request, "home.html", session, counts=counts, logging=desk.store is not None)

    @router.get("/sign-in")
    def sign_in_page(request: Request, next: Annotated[str | None, Query(max_length=2000)] = None) -> Response:
        target = safe_target(next)
        if desk.session_of(request) is not None:
            return RedirectResponse(target, status_code=303, headers=NO_STORE)
        return signin_form(request, target)

    @router.post("/sign-in")
    def sign_in(request: Request, form: Form = Depends(desk.form)) -> Response:
        # one budget of wrong keys per address for this form and the admin API (kb.web.auth)
        failures, client = FailedAttempts.of(request.app), client_address(request)
        target = safe_target(form.get("next"))
        wait = failures.retry_after(client)
        if wait:
            raise DeskError(429, f"too many wrong keys from this address: try again in {wait} s",
                            headers=retry_after(wait))
        if not signin_ok(server_secret(desk.data), request.cookies.get(SIGNIN_COOKIE), form.get("csrf")):
            raise DeskError(403, "the sign-in form is out of date or did not come from this desk (CSRF token "
                                 "missing or wrong): open the sign-in page again")
        if not desk.enabled:
            raise DeskError(503, "the admin desk is off: set KB_ADMIN_KEY or run 'kb admin-key' first")
        editor = desk.editor_of(form.get("key").strip())
        if editor is None:
            failures.failed(client)
            return signin_form(request, target, status=401, message="That is not an admin key.")
        token, session = desk.sessions.create(editor)
        response = RedirectResponse(target, status_code=303, headers=NO_STORE)
        _cookie(response, request, COOKIE, token, int(session.expires - session.created))
        _forget(response, request, SIGNIN_COOKIE)
        return response

    @router.post("/sign-out")
    def sign_out(request: Request, form: Form = Depends(desk.form)) -> Response:
        session = desk.session_of(request)
        if session is not None:
            desk.check_csrf(session, form)
            desk.sessions.drop(request.cookies.get(COOKIE))
        response = RedirectResponse(f"{PREFIX}/sign-in?signed_out=1", status_code=303, headers=NO_STORE)
        _forget(response, request, COOKIE)
        return response

    return router
