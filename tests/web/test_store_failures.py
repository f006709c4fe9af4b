"""A failing analytics store is visible and harmless: searches answer, feedback and clicks answer
503 with Retry-After (never 500), every failed write is counted and /healthz is degraded until a
write succeeds again; a failed retention prune makes /healthz degraded too."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from helpers import write_help_center

from kb.analytics.store import Store, open_store
from kb.content.library import Library
from kb.search.embedders import get_embedder
from kb.search.engine import Engine
from kb.search.index import build_index
from kb.web.app import create_app
from kb.web.security import SecurityConfig

FAST = "use-multilingual"


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    root = tmp_path_factory.mktemp("store-failures")
    content, data = write_help_center(root / "content"), root / "data"
    build_index(Library.load(content), data, get_embedder(FAST))
    return Engine(data)


def _read_only(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA query_only=ON")  # every write fails: "attempt to write a readonly database"
    cursor.close()


def read_only(store: Store, on: bool) -> None:
    """Make the SQLite store refuse (or take again) every write, as an immutable file does."""
    if on:
        sa.event.listen(store.engine, "connect", _read_only)
    else:
        sa.event.remove(store.engine, "connect", _read_only)
    store.engine.dispose()  # new connections get it


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(tmp_path, f"sqlite:///{tmp_path / 'kb.sqlite'}")
    yield opened
    opened.close()


def _client(engine: Engine, store: Store, **kwargs: Any) -> TestClient:
    return TestClient(create_app(engine.data_dir, engine=engine, store=store, security=SecurityConfig(rate=0),
                                 **kwargs))


def _search_id(client: TestClient) -> tuple[str, str]:
    body = client.get("/v1/search", params={"q": "pay with BLIK", "lang": "en", "track": "true"}).json()
    return body["search_id"], body["hits"][0]["id"]


def test_a_read_only_store_fails_no_search_and_feedback_says_retry(engine: Engine, store: Store,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    with _client(engine, store, retention_days=None) as client:
        search_id, article = _search_id(client)
        assert client.get("/healthz").status_code == 200
        read_only(store, True)
        with caplog.at_level(logging.ERROR, logger="kb.api"):
            for q in ("where is my parcel", "refund", "cancel order"):
                assert client.get("/v1/search", params={"q": q}).status_code == 200
            assert client.post("/v1/answer", json={"question": "refund"}).status_code == 200
            feedback = client.post("/v1/feedback", json={"article_id": article, "locale": "en", "helpful": True,
                                                         "reason": "clear"})
            click = client.post("/v1/click", json={"search_id": search_id, "article_id": article})
        for response in (feedback, click):
            assert response.status_code == 503, response.text
            assert response.headers["retry-after"] == "30"
            error = response.json()["error"]
            assert error["param"] is None and "send it again in 30 seconds" in error["message"]
        assert len([r for r in caplog.records if "analytics store failed" in r.getMessage()]) == 1  # once a run
        health = client.get("/healthz")
        body = health.json()
        assert health.status_code == 503 and body["status"] == "degraded" and body["store_write_failures"] == 6
        assert body["reasons"] == ["analytics store: the last write failed: record a click (OperationalError); "
                                   "6 failed since start-up"]
        read_only(store, False)
        assert client.post("/v1/feedback", json={"article_id": article, "locale": "en", "helpful": True}).status_code == 201
        body = client.get("/healthz").json()
        assert body["status"] == "ok" and body["reasons"] == [] and body["store_write_failures"] == 6
        assert [row["helpful"] for row in store.list_feedback()] == [True]


def test_a_store_whose_write_raises_gives_503_not_500(engine: Engine, store: Store,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(**_: Any) -> None:
        raise RuntimeError("disk full")

    with _client(engine, store, retention_days=None) as client:
        monkeypatch.setattr(store, "add_feedback", broken)
        monkeypatch.setattr(store, "log_query", broken)
        assert client.get("/v1/search", params={"q": "refund"}).status_code == 200
        response = client.post("/v1/feedback", json={"article_id": "refund-timing", "locale": "en", "helpful": False})
        assert response.status_code == 503 and "retry-after" in response.headers
        assert "disk full" not in response.text
        body = client.get("/healthz").json()
        assert body["reasons"] == ["analytics store: the last write failed: store feedback (RuntimeError); "
                                   "2 failed since start-up"]


def test_a_failed_retention_prune_at_start_up_makes_health_degraded(engine: Engine, store: Store) -> None:
    read_only(store, True)
    with _client(engine, store, retention_days=30) as client:
        pruner = client.app.state.pruner  # type: ignore[attr-defined]
        assert pruner.first_done.wait(30)
        response = client.get("/healthz")
        assert response.status_code == 503
        assert response.json()["reasons"] == ["retention: the last prune failed: OperationalError"]
        assert client.get("/v1/search", params={"q": "refund"}).status_code == 200
        read_only(store, False)
        pruner.prune_once()
        assert client.get("/v1/search", params={"q": "refund"}).status_code == 200  # the log writes again
        assert client.get("/healthz").status_code == 200


def test_a_failed_prune_is_tried_again_within_minutes_not_a_day(monkeypatch: pytest.MonkeyPatch) -> None:
    from kb.analytics import retention

    class Flaky:
        calls = 0

        def prune(self, _older_than: Any) -> dict[str, int]:
            Flaky.calls += 1
            if Flaky.calls == 1:
                raise sa.exc.OperationalError("DELETE", {}, Exception("database is locked"))
            return {"queries": 0, "feedback": 0}

    monkeypatch.setattr(retention, "PRUNE_RETRY_SECONDS", 0.05)
    pruner = retention.Pruner(Flaky(), 30, interval=3600).start()  # type: ignore[arg-type]
    try:
        assert pruner.first_done.wait(10)
        deadline = time.monotonic() + 10
        while Flaky.calls < 2:
            assert time.monotonic() < deadline, "not tried again"
            time.sleep(0.01)
        time.sleep(0.05)
        assert pruner.error is None and pruner.runs == 2
    finally:
        pruner.stop()
