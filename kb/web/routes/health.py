"""GET /healthz for load balancers and probes: the live generation, its size and embedder."""

from __future__ import annotations

from fastapi import APIRouter

from kb.search.engine import Engine
from kb.web import schemas as m
from kb.web.errors import documented


def health_router(engine: Engine) -> APIRouter:
    api = APIRouter(tags=["ops"])

    @api.get("/healthz", response_model=m.Health, responses=documented())
    def healthz() -> m.Health:
        index = engine.index
        return m.Health(generation=index.generation, articles=len(index.by_id), embedder=engine.embedder.name)

    return api
