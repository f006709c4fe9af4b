"""The review queue in the browser: the queue, one item side by side, edit, approve, send back.

The queue is `kb review list`'s (kb.translate.review.review_queue with the query log's demand).
Approving reuses kb.translate.review.approve with the signed-in editor's name. Every write checks
that the file is still the one the editor opened (kb.web.admin.editing.save); when it is not, the
conflict page shows both versions. `kb index` and `kb serve --watch` see the new file like any edit.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from kb.analytics.store import logged_demand
from kb.content.article import Article
from kb.content.frontmatter import update_fields
from kb.content.library import Library
from kb.content.locales import UnknownLocale, normalize_locale
from kb.errors import KbError
from kb.site.render import render_markdown
from kb.translate.review import Demand, approve, remember_sources, review_queue, source_diff
from kb.translate.sources import SourceStore
from kb.web.admin.desk import NO_STORE, PREFIX, Desk, DeskError, Form, rel_path
from kb.web.admin.editing import Conflict, Edit, EditError, apply_edit, check, file_hash, save, send_back
from kb.web.admin.session import Session

STATES = {"all": "Machine drafts and stale", "machine": "Machine drafts", "stale": "Stale translations"}
DONE = {"saved": "Saved.", "approved": "Approved: the file now says who reviewed it, and when.",
        "machine": "Sent back: the translation is a machine draft again.", "unchanged": "Nothing had changed."}
ACTIONS = ("save", "approve", "machine")


class Preview(BaseModel):
    markdown: str = Field(max_length=1_000_000)


_ANCHORS = re.compile(r'<a class="anchor" href="#[^"]*"[^>]*>#</a>|(?<=<h[1-6]) id="[^"]*"')


def html_of(markdown: str) -> str:
    """Sanitised HTML of a Markdown body, as the site renders it (links elsewhere on the site dropped;
    no heading ids, since source, translation and preview share one page)."""
    def resolve(_tag: str, url: str) -> str | None:
        return url if url.lower().startswith(("http://", "https://", "mailto:", "tel:")) else None

    return _ANCHORS.sub("", render_markdown(markdown, resolve).html)


def diff_lines(diff: str) -> list[tuple[str, str]]:
    """A unified diff as (kind, line) for colouring: add, del, hunk, head or same."""
    out = []
    for line in diff.splitlines():
        kind = ("head" if line.startswith(("+++", "---")) else "add" if line.startswith("+") else
                "del" if line.startswith("-") else "hunk" if line.startswith("@@") else "same")
        out.append((kind, line))
    return out


def review_router(desk: Desk) -> APIRouter:
    router = APIRouter(prefix=PREFIX, include_in_schema=False)

    def pair(library: Library, locale: str, aid: str) -> tuple[Article, Article]:
        try:
            code = normalize_locale(locale)
        except UnknownLocale as exc:
            raise DeskError(404, str(exc)) from exc
        article = library.get(aid, code)
        source = library.source(aid)
        if article is None or not article.is_translation or source is None or source is article:
            raise DeskError(404, f"no {code} translation with id {aid!r}")
        return article, source

    @router.get("/review")
    def queue(request: Request, *, session: Session = Depends(desk.signed_in),
              locale: Annotated[str, Query(max_length=35)] = "",
              state: Annotated[str, Query(max_length=10)] = "all") -> Response:
        library = desk.library()
        targets = [code for code in library.config.locales if code != library.source_locale]
        if locale and locale not in targets:
            raise DeskError(422, f"locale: {locale!r} is not a translation locale here; use one of {', '.join(targets)}")
        if state not in STATES:
            raise DeskError(422, f"state: use one of {', '.join(STATES)}")
        remember_sources(library, SourceStore(desk.data))  # as `kb review list` does: what later diffs start from
        counts = logged_demand(desk.data, desk.store)
        found = review_queue(library, [locale] if locale else None, Demand(*counts) if counts else None)
        items = [i for i in found.items if state == "all" or (state == "stale" and i.stale)
                 or (state == "machine" and i.review == "machine")]
        return desk.page(request, "queue.html", session, items=items, note=found.note, locales=targets,
                         locale=locale, state=state, states=STATES)

    def item_page(request: Request, session: Session, locale: str, aid: str, status: int = 200,
                  error: str = "", edit: Edit | None = None) -> Response:
        library = desk.library()
        article, source = pair(library, locale, aid)
        raw = article.path.read_text(encoding="utf-8")
        sources = SourceStore(desk.data)
        stale = library.is_stale(article)
        if not stale:
            sources.save(source)  # the source this translation matches: a later change can be diffed
        diff = source_diff(library, aid, article.locale, sources) if stale else None
        form = edit or Edit(article.title, list(article.meta.questions), article.body.strip("\n"))
        queue_ids = [(i.locale, i.id) for i in review_queue(library, [article.locale]).items]
        after = [q for q in queue_ids if q != (article.locale, aid)]
        return desk.page(
            request, "item.html", session, status=status, article=article, source=source, raw=raw,
            file_hash=file_hash(raw), path=rel_path(article.path, library.root),
            source_path=rel_path(source.path, library.root), source_raw=source.path.read_text(encoding="utf-8"),
            source_html=html_of(source.body), html=html_of(form.body), stale=stale, diff=diff,
            diff_lines=diff_lines(diff.diff) if diff else [], form=form, error=error,
            done=DONE.get(request.query_params.get("done", ""), ""), next_item=after[0] if after else None)

    @router.get("/review/{locale}/{id}")
    def item(request: Request, *, session: Session = Depends(desk.signed_in), locale: Annotated[str, PathParam(max_length=35)],
             aid: Annotated[str, PathParam(alias="id", max_length=120)]) -> Response:
        return item_page(request, session, locale, aid)

    @router.post("/review/{locale}/{id}")
    def act(request: Request, *, session: Session = Depends(desk.signed_in), form: Form = Depends(desk.form),
            locale: Annotated[str, PathParam(max_length=35)],
            aid: Annotated[str, PathParam(alias="id", max_length=120)]) -> Response:
        desk.check_csrf(session, form)
        action = form.get("action")
        if action not in ACTIONS:
            raise DeskError(422, f"action: use one of {', '.join(ACTIONS)}")
        library = desk.library()
        article, _ = pair(library, locale, aid)
        raw = article.path.read_text(encoding="utf-8")
        text = raw.replace("\r\n", "\n")
        edit = Edit.from_form(form.get("title"), form.get("questions"), form.get("body")) if form.has("body") else None
        try:
            if edit is not None:
                edited = apply_edit(text, edit)
                if edited != text:
                    edited = update_fields(edited, {"updated": dt.date.today()})
                text = edited
            if action == "machine":
                text = send_back(text)
            check(text, aid)
        except (EditError, KbError, ValueError) as exc:
            return item_page(request, session, article.locale, aid, status=422, error=str(exc), edit=edit)
        written = save(article.path, form.get("file_hash"), text, desk.write_lock)
        if isinstance(written, Conflict):
            return desk.page(request, "conflict.html", session, status=409, article=article, mine=text,
                             on_disk=written.on_disk, disk_hash=written.disk_hash, action=action, edit=edit,
                             path=rel_path(article.path, library.root))
        done = "machine" if action == "machine" else "saved" if written else "unchanged"
        if action == "approve":
            try:
                with desk.write_lock:
                    approve(desk.library(), aid, article.locale, session.editor, sources=SourceStore(desk.data))
            except KbError as exc:
                return item_page(request, session, article.locale, aid, status=409, error=str(exc))
            done = "approved"
        where = f"{PREFIX}/review/{article.locale}/{aid}?{urlencode({'done': done})}"
        return RedirectResponse(where, status_code=303, headers=NO_STORE)

    @router.post("/api/preview")
    def preview(request: Request, body: Preview) -> JSONResponse:
        """Sanitised HTML of the Markdown being edited (the item page's live preview)."""
        session = desk.session_of(request)
        if session is None:
            raise DeskError(401, "sign in again: the session ended")
        if not session.csrf_ok(request.headers.get("x-csrf-token")):
            raise DeskError(403, "CSRF token missing or wrong: reload the page")
        return JSONResponse({"html": html_of(body.markdown)}, headers=NO_STORE)

    return router
