"""GET /v1/popular: opened most from search (the query log), kb.toml's editor-chosen list fills up."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from kb.analytics.store import Store, open_store
from kb.web.app import create_app
from kb.web.security import SecurityConfig

pytestmark = pytest.mark.slow  # the small index: a real embedder


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(tmp_path, f"sqlite:///{tmp_path / 'kb.sqlite'}")
    yield opened
    opened.close()


@pytest.fixture()
def client(small_index: tuple[Path, Path], store: Store) -> Iterator[TestClient]:
    _, data = small_index
    with TestClient(create_app(data, store=store, security=SecurityConfig(rate=0), retention_days=None)) as c:
        yield c


def _opened(store: Store, locale: str, article_id: str, times: int = 1) -> None:
    for i in range(times):
        search_id = f"{locale}{article_id}{i}".replace("-", "")[:32]
        store.log_query(endpoint="search", locale=locale, query="q", decision="answer", confidence=0.9,
                        top_ids=[article_id, "track-parcel"], top_scores=[0.9, 0.5], served_machine=False,
                        served_fallback=False, generation="g", search_id=search_id, tracks_clicks=True)
        assert store.record_click(search_id, article_id)


def test_without_analytics_the_editors_list(client: TestClient) -> None:
    body = client.get("/v1/popular", params={"lang": "de"}).json()
    assert body["source"] == "editor" and body["locale"] == "de"
    assert [(a["id"], a["locale"], a["fallback"]) for a in body["articles"]] == [
        ("track-parcel", "en", True), ("cancel-order", "de", False)]
    assert body["articles"][1]["title"] == "Wie storniere ich meine Bestellung?"
    assert body["articles"][0]["category"] == "shipping"


def test_opened_most_come_first_per_locale(client: TestClient, store: Store) -> None:
    _opened(store, "de", "pay-with-blik", times=2)
    _opened(store, "de", "refund-timing")
    _opened(store, "pl", "refund-timing", times=3)  # another locale's shoppers do not count
    body = client.get("/v1/popular", params={"lang": "de", "limit": 3}).json()
    assert body["source"] == "analytics"
    assert [a["id"] for a in body["articles"]] == ["pay-with-blik", "refund-timing", "track-parcel"]
    assert body["articles"][1]["machine_translated"] is True  # the German machine draft is what de shoppers get
    assert store.opened_most(locale="pl") == [("refund-timing", 3)]
    assert store.opened_most(since=dt.datetime.now(dt.UTC) + dt.timedelta(days=1)) == []


def test_bad_input_names_the_parameter(client: TestClient) -> None:
    for params, name in (({"limit": 0}, "limit"), ({"limit": 21}, "limit"), ({"lang": "zz"}, "lang")):
        r = client.get("/v1/popular", params=params)
        assert r.status_code == 422 and r.json()["error"]["param"] == name


def test_without_a_log_the_editors_list(small_index: tuple[Path, Path]) -> None:
    _, data = small_index
    with TestClient(create_app(data, log_queries=False, security=SecurityConfig(rate=0))) as c:
        body = c.get("/v1/popular", params={"lang": "en", "limit": 1}).json()
    assert body["source"] == "editor" and [a["id"] for a in body["articles"]] == ["track-parcel"]
