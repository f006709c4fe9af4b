"""The report as charts: /admin/report, and each chart's numbers as JSON and CSV.

`GET /admin/api/report/{chart}` (JSON) and `GET /admin/api/report/{chart}.csv` answer a signed-in
editor or a request with the admin key; `chart` is one of CHARTS, `since` a window such as 30d.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse, Response

from kb.analytics.retention import parse_duration
from kb.web.admin import charts, reportdata
from kb.web.admin.desk import NO_STORE, PREFIX, Desk, DeskError
from kb.web.admin.session import Session

CHARTS: dict[str, Callable[[Any], charts.Chart]] = {
    "searches": charts.searches_chart, "outcomes": charts.outcomes_chart, "helpfulness": charts.helpfulness_chart,
    "opened": charts.opened_chart, "coverage": charts.coverage_chart}
Since = Annotated[str, Query(max_length=12, description="Window: 12h, 30d, 4w …")]


def report_router(desk: Desk) -> APIRouter:
    router = APIRouter(prefix=PREFIX, include_in_schema=False)

    def window(since: str) -> tuple[dt.datetime, dt.date]:
        try:
            span = parse_duration(since)
        except ValueError as exc:
            raise DeskError(422, f"since: {exc}") from exc
        now = dt.datetime.now(dt.UTC)
        return now - span, now.date()

    def data_of(name: str, since: str) -> Any:
        if name not in CHARTS:
            raise DeskError(404, f"no chart {name!r}: use one of {', '.join(CHARTS)}")
        start, today = window(since)
        library = desk.library()
        store = desk.store
        if name == "coverage":
            return reportdata.coverage(library)
        if store is None:  # the API runs without a query log: nothing was counted
            empty = {"searches": reportdata.SearchesPerDay([], {}), "outcomes": reportdata.Outcomes([]),
                     "helpfulness": reportdata.Helpfulness([]), "opened": reportdata.Opened([])}
            return empty[name]
        if name == "searches":
            return reportdata.searches_per_day(store, start, today)
        if name == "outcomes":
            return reportdata.outcomes(store, start)
        if name == "helpfulness":
            return reportdata.helpfulness(store, library, start, today)
        return reportdata.opened(store, library, start)

    @router.get("/report")
    def report(request: Request, *, session: Session = Depends(desk.signed_in), since: Since = "30d") -> Response:
        drawn = [CHARTS[name](data_of(name, since)) for name in CHARTS]
        return desk.page(request, "report.html", session, charts=drawn, since=since, logging=desk.store is not None)

    @router.get("/api/report/{chart}.csv")
    def report_csv(*, editor: str = Depends(desk.api_editor),
                   chart: Annotated[str, PathParam(max_length=20)], since: Since = "30d") -> Response:
        table = data_of(chart, since).table()
        return Response(table.csv(), media_type="text/csv; charset=utf-8", headers={
            **NO_STORE, "content-disposition": f'attachment; filename="kb-{chart}-{since}.csv"'})

    @router.get("/api/report/{chart}")
    def report_json(*, editor: str = Depends(desk.api_editor),
                    chart: Annotated[str, PathParam(max_length=20)], since: Since = "30d") -> JSONResponse:
        data = data_of(chart, since)
        table = data.table()
        return JSONResponse({"chart": chart, "since": since, "data": dataclasses.asdict(data),
                             "columns": table.columns, "rows": table.rows}, headers=NO_STORE)

    return router
