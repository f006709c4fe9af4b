"""The editor's desk at /admin/: the review queue, content gaps and the report, in the browser.

Signed in with the admin key (kb.web.admin.session); pages in kb.web.admin.{signin, review, gaps,
questions, report}; their templates and static files next to them. `install_admin` adds it all to the app.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from kb.web.admin.desk import HERE, PREFIX, Desk, DeskError, SignInRequired, to_sign_in
from kb.web.admin.gaps import gaps_router
from kb.web.admin.questions import questions_router
from kb.web.admin.report import report_router
from kb.web.admin.review import review_router
from kb.web.admin.signin import signin_router

if TYPE_CHECKING:
    from kb.analytics.store import Store
    from kb.search.engine import Engine

MAX_FORM_BYTES = 2 * 1024 * 1024  # a form carries a whole article (percent-encoded: up to 9 bytes a character)


def install_admin(app: FastAPI, data_dir: Path | str, content_dir: Path | str, engine: Engine, store: Store | None, *,
            admin_key: str | None = None, admin_key_file: Path | str | None = None) -> Desk:
    """Add the desk's pages and static files to `app`; call before the site is mounted at /."""
    desk = Desk(Path(data_dir), Path(content_dir), engine, store, admin_key, admin_key_file)
    app.add_exception_handler(DeskError, desk.on_error)
    app.add_exception_handler(SignInRequired, to_sign_in)
    for router in (signin_router(desk), review_router(desk), gaps_router(desk), questions_router(desk),
                   report_router(desk)):
        app.include_router(router)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=HERE / "static"), name="admin-static")
    return desk


__all__ = ["MAX_FORM_BYTES", "PREFIX", "Desk", "install_admin"]
