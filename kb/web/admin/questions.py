"""Suggested questions in the browser: what `kb questions list` shows, with accept and reject.

Suggestions come from kb.analytics.questions (the rule) over the store's resolved searches, grouped
with the engine's own embedder (already loaded); decisions go to learned-questions.toml in the
content folder under the signed-in editor's name, as `kb questions accept/reject` writes them.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from kb.analytics.questions import Suggestion, auto, decide, suggest
from kb.analytics.retention import parse_duration
from kb.content.learned import load_learned
from kb.web.admin.desk import PREFIX, Desk, DeskError, Form
from kb.web.admin.session import Session

DONE = {"accepted": "Accepted: searched with its article from the next `kb index` on.",
        "rejected": "Rejected: it will not be suggested again."}


def questions_router(desk: Desk) -> APIRouter:
    router = APIRouter(prefix=PREFIX, include_in_schema=False)

    def found(since: str) -> tuple[list[Suggestion], set[str]]:
        if desk.store is None:
            return [], set()
        try:
            window = parse_duration(since)
        except ValueError as exc:
            raise DeskError(422, f"since: {exc}") from exc
        library = desk.library()
        settings = library.config.questions
        decided = load_learned(desk.content)
        resolved = desk.store.resolved_searches(dt.timedelta(seconds=settings.window_seconds),
                                                since=dt.datetime.now(dt.UTC) - window)
        if not resolved:
            return [], set()
        out = suggest(resolved, library, desk.engine.embedder.encode_queries, settings, decided)
        return out, {s.id for s in auto(out, settings, decided)}

    def page(request: Request, session: Session, since: str, status: int = 200, done: str = "") -> Response:
        suggestions, chosen = found(since)
        return desk.page(request, "questions.html", session, status=status, suggestions=suggestions, chosen=chosen,
                         since=since, has_store=desk.store is not None, done=DONE.get(done, ""))

    @router.get("/questions")
    def questions(request: Request, *, session: Session = Depends(desk.signed_in),
                  since: Annotated[str, Query(max_length=12)] = "90d") -> Response:
        return page(request, session, since)

    @router.post("/questions")
    def decide_one(request: Request, *, session: Session = Depends(desk.signed_in), form: Form = Depends(desk.form)) -> Response:
        desk.check_csrf(session, form)
        since, action = form.get("since", "90d"), form.get("action")
        if action not in ("accept", "reject"):
            raise DeskError(422, "action: accept or reject")
        suggestions, _ = found(since)
        chosen = [s for s in suggestions if s.id == form.get("id")]
        if not chosen:
            raise DeskError(404, "id: no open suggestion with this id (decided already, or the log changed)")
        status = "accepted" if action == "accept" else "rejected"
        decide(desk.content, chosen, status, session.editor)
        return page(request, session, since, done=status)

    return router
