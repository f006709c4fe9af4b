"""Content gaps in the browser: the clusters of `kb gaps`, and "write an article" for one of them.

The clusters come from kb.analytics.gaps, embedded with the engine's own embedder (its USE part
when it is the ensemble), so no other model is loaded. "Write an article" opens a new Markdown file with the cluster's title and its
queries as `questions:`, to download or to save into the content folder (never over a file).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from kb.analytics.gaps import GAPS_EMBEDDER, GapCluster, gaps_from_store
from kb.analytics.retention import parse_duration
from kb.content.library import Library
from kb.translate.sources import write_atomic
from kb.web.admin.desk import NO_STORE, PREFIX, Desk, DeskError, Form, rel_path
from kb.web.admin.editing import EditError, new_id, skeleton, skeleton_path
from kb.web.admin.session import Session

if TYPE_CHECKING:
    from kb.search.embedders import Embedder
    from kb.search.engine import Engine

MAX_QUESTIONS = 12


def clustering_embedder(engine: Engine) -> Embedder:
    """The engine's embedder (already loaded), or the part of it that `kb gaps`' similarity threshold
    was tuned for (USE multilingual is one part of the default ensemble)."""
    model = engine.embedder
    for part in (model, *getattr(model, "parts", ())):
        if getattr(part, "name", None) == GAPS_EMBEDDER:
            return part
    return model


def label_locale(cluster: GapCluster) -> str:
    """The locale the cluster's label was asked in."""
    for locale, texts in cluster.examples.items():
        if cluster.label in texts:
            return locale
    return next(iter(cluster.locales), "")


def write_link(cluster: GapCluster, library: Library) -> dict[str, str | list[str]]:
    """Query parameters of "write an article" for `cluster`: its label, locale, questions, a category."""
    locale = label_locale(cluster)
    questions = list(dict.fromkeys([cluster.label, *cluster.examples.get(locale, [])]))[:MAX_QUESTIONS]
    near = library.group(cluster.nearest.id) if cluster.nearest else {}
    category = next(iter(near.values())).category if near else next(iter(library.config.categories), "")
    return {"title": cluster.label, "locale": locale, "category": category, "q": questions}


def gaps_router(desk: Desk) -> APIRouter:
    router = APIRouter(prefix=PREFIX, include_in_schema=False)

    @router.get("/gaps")
    def gaps(request: Request, *, session: Session = Depends(desk.signed_in), since: Annotated[str, Query(max_length=12)] = "30d",
             locale: Annotated[str, Query(max_length=35)] = "",
             limit: Annotated[int, Query(ge=1, le=100)] = 20) -> Response:
        library = desk.library()
        try:
            window = parse_duration(since)
        except ValueError as exc:
            raise DeskError(422, f"since: {exc}") from exc
        if locale and locale not in library.config.locales:
            raise DeskError(422, f"locale: use one of {', '.join(library.config.locales)}")
        report = None
        if desk.store is not None:
            report = gaps_from_store(desk.store, since=window, since_text=since, locale=locale or None,
                                     engine=desk.engine, embedder=clustering_embedder(desk.engine), limit=limit)
        links = [(label_locale(c), urlencode(write_link(c, library), doseq=True)) for c in report.clusters] if report else []
        return desk.page(request, "gaps.html", session, report=report, links=links, since=since, locale=locale,
                         locales=library.config.locales)

    def new_form(request: Request, session: Session, library: Library, fields: dict[str, str], status: int = 200,
                 error: str = "", saved: str = "") -> Response:
        text = ""
        if not error:
            try:
                text = build(library, fields)
            except EditError as exc:
                error = str(exc)
        return desk.page(request, "new_article.html", session, status=status, fields=fields, text=text, error=error,
                         saved=saved, locales=library.config.locales, categories=list(library.config.categories))

    def build(library: Library, fields: dict[str, str]) -> str:
        if fields["locale"] not in library.config.locales:
            raise EditError(f"locale: use one of {', '.join(library.config.locales)}")
        if fields["category"] not in library.config.categories:
            raise EditError(f"category: use one of {', '.join(library.config.categories)}")
        questions = [q for q in fields["questions"].replace("\r\n", "\n").split("\n") if q.strip()]
        return skeleton(fields["id"], fields["title"], fields["category"], questions, dt.date.today())

    @router.get("/gaps/new")
    def new_article(request: Request, *, session: Session = Depends(desk.signed_in), title: Annotated[str, Query(max_length=300)] = "",
                    locale: Annotated[str, Query(max_length=35)] = "",
                    category: Annotated[str, Query(max_length=100)] = "",
                    q: Annotated[list[str] | None, Query(max_length=500)] = None) -> Response:
        library = desk.library()
        fields = {"id": new_id(title), "title": title or "New article", "locale": locale or library.source_locale,
                  "category": category or next(iter(library.config.categories), ""),
                  "questions": "\n".join((q or [title])[:MAX_QUESTIONS])}
        return new_form(request, session, library, fields)

    @router.post("/gaps/new")
    def write_article(request: Request, *, session: Session = Depends(desk.signed_in), form: Form = Depends(desk.form)) -> Response:
        desk.check_csrf(session, form)
        library = desk.library()
        fields = {name: form.get(name).strip() for name in ("id", "title", "locale", "category", "questions")}
        try:
            text = build(library, fields)
        except EditError as exc:
            return new_form(request, session, library, fields, status=422, error=str(exc))
        if form.get("action") == "download":
            return Response(text, media_type="text/markdown; charset=utf-8", headers={
                **NO_STORE, "content-disposition": f'attachment; filename="{fields["id"]}.md"'})
        path = skeleton_path(library.root, fields["locale"], fields["category"], fields["id"])
        shown = rel_path(path, library.root)
        if library.get(fields["id"], fields["locale"]) is not None or not write_atomic(path, text, create_only=True):
            return new_form(request, session, library, fields, status=409,
                            error=f"{shown} (or an article with id {fields['id']!r} in {fields['locale']}) exists "
                                  f"already: nothing was overwritten; choose another id")
        return new_form(request, session, library, fields, status=201, saved=shown)

    return router
