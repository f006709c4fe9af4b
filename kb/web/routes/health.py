"""GET /healthz for load balancers and probes: the generation served, its size and embedder, and
whether anything is wrong: 200 ok, or 503 degraded with the reasons (the newest index generation
refused, the analytics store failing to write, retention pruning failing)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from kb.search.engine import Engine
from kb.web import schemas as m
from kb.web.errors import documented
from kb.web.writes import StoreWrites


def health(engine: Engine, writes: StoreWrites, pruner: Any) -> m.Health:
    index = engine.index
    reasons = [f"index: {engine.public_problem}"] if engine.problem else []
    store = writes.reason()
    if store:
        reasons.append(store)
    error = getattr(pruner, "error", None)
    if error:
        reasons.append(f"retention: the last prune failed: {error}")
    return m.Health(status="degraded" if reasons else "ok", generation=index.generation, articles=len(index.by_id),
                    embedder=engine.embedder.name, reasons=reasons, store_write_failures=writes.failures,
                    ranking=engine.ranking)


def health_router(engine: Engine, writes: StoreWrites) -> APIRouter:
    api = APIRouter(tags=["ops"])
    degraded = {503: {"model": m.Health, "description": "Degraded: `reasons` says why (the API keeps serving)"}}

    @api.get("/healthz", response_model=m.Health, responses={**documented(), **degraded})
    def healthz(request: Request) -> Any:
        body = health(engine, writes, getattr(request.app.state, "pruner", None))
        return body if body.status == "ok" else JSONResponse(body.model_dump(), status_code=503)

    return api
