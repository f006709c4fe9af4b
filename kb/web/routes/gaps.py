"""`GET /v1/admin/gaps`: the content-gaps report over HTTP, behind the admin key (kb.web.auth)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Query

from kb import API_PREFIX
from kb.analytics.gaps import GapsReport, gaps_from_store
from kb.analytics.retention import DURATION_HELP, parse_duration
from kb.content.locales import UnknownLocale, normalize_locale
from kb.web.auth import require_admin
from kb.web.errors import ApiError, documented

if TYPE_CHECKING:
    from kb.analytics.store import Store
    from kb.search.engine import Engine


def gaps_router(data_dir: Path | str, engine: Engine, store: Store | None, *, admin_key: str | None = None,
                admin_key_file: Path | str | None = None) -> APIRouter:
    router = APIRouter(prefix=f"{API_PREFIX}/admin", tags=["admin"],
                       dependencies=[Depends(require_admin(data_dir, admin_key, admin_key_file))])

    @router.get("/gaps", response_model=GapsReport,
                responses=documented(401, 403, 422, 503, text={503: "Admin API disabled, or no query log"}))
    def gaps(since: Annotated[str, Query(max_length=12, description=f"Window: {DURATION_HELP}.")] = "30d",
             locale: Annotated[str | None, Query(max_length=35, description="Only queries in this locale.")] = None,
             limit: Annotated[int, Query(ge=1, le=200, description="How many clusters (largest first).")] = 20,
             ) -> GapsReport:
        """Content gaps: queries that ended in handoff or low confidence, clustered by meaning across
        languages, with the nearest article; and per locale what to translate or review next."""
        try:
            window = parse_duration(since)
        except ValueError as exc:
            raise ApiError(422, "since", str(exc)) from exc
        code = None
        if locale is not None:
            try:
                code = normalize_locale(locale)
            except UnknownLocale as exc:
                raise ApiError(422, "locale", str(exc)) from exc
        if store is None:
            raise ApiError(503, None, "no query log: the API runs without an analytics store")
        return gaps_from_store(store, since=window, since_text=since, locale=code, engine=engine, limit=limit)

    return router
