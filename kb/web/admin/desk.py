"""What every page of the admin desk shares: its folders, the signed-in editor, forms, templates.

Pages are Jinja templates with autoescape on, so whatever an editor typed is escaped wherever it
is shown; the only HTML inserted as is comes from kb.site.render (sanitised with nh3). Forms are
read here (application/x-www-form-urlencoded, parsed with the standard library) and every POST is
checked against the session's CSRF token before anything else happens.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from kb.content.library import Library
from kb.errors import KbError
from kb.web.admin.session import (
    COOKIE,
    COOKIE_PATH,
    Session,
    SessionStore,
    editor_for,
    session_hours,
)
from kb.web.auth import KeyFileError, load_keys, sent_key
from kb.web.errors import ApiError

if TYPE_CHECKING:
    from kb.analytics.store import Store
    from kb.search.engine import Engine

PREFIX = "/admin"
HERE = Path(__file__).resolve().parent
MAX_FORM_FIELDS = 500
NO_STORE = {"cache-control": "no-store", "x-robots-tag": "noindex"}


class DeskError(Exception):
    """A page that cannot be shown: rendered as the desk's error page with `status`."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


class SignInRequired(Exception):
    def __init__(self, target: str) -> None:
        super().__init__(target)
        self.target = target


@dataclass
class Form:
    fields: dict[str, list[str]]

    def get(self, name: str, default: str = "") -> str:
        values = self.fields.get(name)
        return values[0] if values else default

    def has(self, name: str) -> bool:
        return name in self.fields


def safe_target(target: str | None) -> str:
    """Where to go after signing in: a desk page, never another site."""
    if target and target.startswith(PREFIX + "/") and not target.startswith("//") and "\\" not in target:
        return target
    return PREFIX + "/"


def rel_path(path: Path, root: Path) -> str:
    """`path` as the editor knows it: inside the content folder."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.name


@dataclass
class Desk:
    data: Path
    content: Path
    engine: Engine
    store: Store | None
    admin_key: str | None = None
    admin_key_file: Path | str | None = None
    sessions: SessionStore = field(init=False)
    write_lock: threading.Lock = field(default_factory=threading.Lock)  # check-then-write of content files

    def __post_init__(self) -> None:
        self.sessions = SessionStore(self.data, session_hours() * 3600)
        self.env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                                      undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
        self.env.globals["prefix"] = PREFIX

    # -- who is asking -------------------------------------------------------------------
    @property
    def enabled(self) -> bool:
        """Whether any usable admin key is configured (a refused old key file counts as none)."""
        try:
            return bool(load_keys(self.data, self.admin_key, self.admin_key_file))
        except KeyFileError:
            return False

    def editor_of(self, key: str) -> str | None:
        return editor_for(key, self.data, self.admin_key, self.admin_key_file)

    def session_of(self, request: Request) -> Session | None:
        return self.sessions.get(request.cookies.get(COOKIE))

    def signed_in(self, request: Request) -> Session:
        """A page's dependency: the session, else off to the sign-in form (and back here after)."""
        session = self.session_of(request)
        if session is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise SignInRequired(target)
        return session

    def api_editor(self, request: Request) -> str:
        """The JSON endpoints' dependency: a session, or the admin key in Authorization / X-API-Key."""
        session = self.session_of(request)
        if session is not None:
            return session.editor
        key = sent_key(request.headers.get("authorization"), request.headers.get("x-api-key"))
        editor = self.editor_of(key) if key else None
        if editor is None:
            raise ApiError(401, None, "sign in at /admin/ or send the admin key as 'Authorization: Bearer KEY'")
        return editor

    # -- forms ---------------------------------------------------------------------------
    async def form(self, request: Request) -> Form:
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "application/x-www-form-urlencoded":
            raise DeskError(415, "send the form as application/x-www-form-urlencoded")
        try:
            text = (await request.body()).decode("utf-8")
            return Form(parse_qs(text, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS))
        except (UnicodeDecodeError, ValueError) as exc:
            raise DeskError(400, f"the form could not be read: {exc}") from exc

    @staticmethod
    def check_csrf(session: Session, form: Form) -> None:
        if not session.csrf_ok(form.get("csrf")):
            raise DeskError(403, "this form is out of date or did not come from the desk (CSRF token "
                                 "missing or wrong): open the page again and resend")

    # -- content -------------------------------------------------------------------------
    def library(self) -> Library:
        try:
            return Library.load(self.content)
        except KbError as exc:
            raise DeskError(503, f"the content in {self.content} cannot be read: {exc}") from exc

    # -- pages ---------------------------------------------------------------------------
    def page(self, request: Request, template: str, session: Session | None, status: int = 200,
             headers: dict[str, str] | None = None, **context: Any) -> HTMLResponse:
        html = self.env.get_template(template).render(request=request, session=session, **context)
        return HTMLResponse(html, status_code=status, headers={**NO_STORE, **(headers or {})})

    def on_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DeskError)
        if request.url.path.startswith(PREFIX + "/api/"):
            from kb.web.errors import json_error

            return json_error(exc.status, None, exc.message)
        return self.page(request, "error.html", self.session_of(request), status=exc.status, headers=exc.headers,
                         message=exc.message)


def to_sign_in(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    return RedirectResponse(f"{PREFIX}/sign-in?next={quote(safe_target(exc.target), safe='/')}", status_code=303,
                            headers=NO_STORE)


def retry_after(seconds: float) -> dict[str, str]:
    return {"retry-after": str(max(1, math.ceil(seconds)))}


__all__ = ["COOKIE", "COOKIE_PATH", "PREFIX", "Desk", "DeskError", "Form", "SignInRequired", "rel_path",
           "retry_after", "safe_target", "to_sign_in"]
