"""The analytics store: the same tests on SQLite and, when a server is given, on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import make_url

from kb.analytics.store import DB_ENV, Store, database_url, logged_demand, metadata, open_store
from kb.errors import KbError

PG_ENV = "KB_TEST_POSTGRES_URL"
PG_SKIP = "KB_TEST_POSTGRES_URL not set: PostgreSQL store tests need a server (CI starts one)"


def _postgres(schema: str) -> tuple[str, sa.Engine]:
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(PG_SKIP)
    admin = sa.create_engine(database_url(".", url))
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    scoped = database_url(".", url).update_query_dict({"options": f"-csearch_path={schema}"})
    return scoped.render_as_string(hide_password=False), admin


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL for a fresh, empty store (a schema of its own on PostgreSQL)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'kb.sqlite'}"
        return
    schema = f"kbtest_{uuid.uuid4().hex[:12]}"
    url, admin = _postgres(schema)
    try:
        yield url
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def store(db_url: str, tmp_path: Path) -> Iterator[Store]:
    opened = open_store(tmp_path, db_url)
    yield opened
    opened.close()


def _log(store: Store, query: str = "where is my parcel", **over: Any) -> None:
    row: dict[str, Any] = {"endpoint": "search", "locale": "de", "query": query, "decision": "answer",
                           "confidence": 0.8, "top_ids": ["track-order", "late-parcel"], "top_scores": [0.91, 0.7],
                           "served_machine": False, "served_fallback": True, "generation": "gen-1"}
    store.log_query(**{**row, **over})


def test_migrations_create_the_schema(store: Store) -> None:
    inspector = sa.inspect(store.engine)
    assert {"queries", "feedback", "alembic_version"} <= set(inspector.get_table_names())
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == "0003"
    assert {c["name"] for c in inspector.get_columns("queries")} == {
        "id", "ts", "endpoint", "locale", "query_scrubbed", "decision", "confidence", "top_ids", "top_scores",
        "served_machine", "served_fallback", "generation", "search_id", "tracks_clicks", "clicked_id", "clicked_rank", "client",
        "helpful_id"}
    assert {c["name"] for c in inspector.get_columns("feedback")} == {
        "id", "ts", "article_id", "locale", "helpful", "reason_scrubbed"}


def test_migrations_match_the_table_definitions(store: Store) -> None:
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_upgrade_from_the_first_schema_keeps_the_rows(db_url: str, tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config

    from kb.analytics.store import MIGRATIONS

    engine = sa.create_engine(database_url(tmp_path, db_url))
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
        conn.execute(sa.text("INSERT INTO queries (ts, endpoint, locale, query_scrubbed, decision, confidence, top_ids, "
                             "top_scores, served_machine, served_fallback, generation) VALUES (:ts, 'search', 'de', "
                             "'alt', 'answer', 0.7, '[\"a\"]', '[0.7]', false, false, 'g')"),
                     {"ts": dt.datetime.now(dt.UTC)})
    engine.dispose()
    store = open_store(tmp_path, db_url)
    try:
        (row,) = store.list_queries()
        assert row["query_scrubbed"] == "alt" and row["top_ids"] == ["a"]
        assert row["tracks_clicks"] is False and row["search_id"] is None and row["clicked_id"] is None
        assert row["client"] is None and row["helpful_id"] is None
    finally:
        store.close()


def test_a_click_is_kept_once_and_only_on_a_returned_article(store: Store) -> None:
    _log(store, "from the site", search_id="a" * 32, tracks_clicks=True)
    _log(store, "from a chatbot")
    assert not store.record_click("b" * 32, "track-order")  # unknown search
    assert not store.record_click("a" * 32, "cancel-order")  # not among its results
    assert store.record_click("a" * 32, "late-parcel")
    assert not store.record_click("a" * 32, "track-order")  # only the first click counts
    site, bot = sorted(store.list_queries(), key=lambda r: r["query_scrubbed"])[::-1]
    assert (site["tracks_clicks"], site["clicked_id"], site["clicked_rank"]) == (True, "late-parcel", 2)
    assert (bot["tracks_clicks"], bot["search_id"], bot["clicked_id"]) == (False, None, None)


def test_clients_are_stored_as_keyed_hashes_only(store: Store) -> None:
    _log(store, client="203.0.113.7|Firefox")
    _log(store, client="203.0.113.7|Firefox")
    _log(store, client="198.51.100.2|Firefox")
    _log(store)
    keys = [r["client"] for r in store.list_queries()]
    assert keys[0] is None and keys[1] != keys[2] == keys[3]
    # a keyed hash (32 hex digits; "203" may turn up in one by chance), never the address or agent
    assert all(len(k) == 32 and set(k) <= set("0123456789abcdef") for k in keys[1:])
    assert not any(part in k for k in keys[1:] for part in ("203.0", "198.51", "Firefox"))


def _resolved(store: Store, query: str, client: str, at: dt.datetime, click: str | None = "late-parcel",
              sid: str | None = None) -> str:
    sid = sid or uuid.uuid4().hex
    _log(store, query, search_id=sid, tracks_clicks=True, client=client, at=at)
    if click:
        assert store.record_click(sid, click)
    return sid


def test_resolved_searches_need_an_open_article_and_no_search_soon_after(store: Store) -> None:
    t0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
    window = dt.timedelta(minutes=5)
    _resolved(store, "parcel late", "a", t0)  # opened, searched again 1 min later: not resolved
    _resolved(store, "parcel is late call 0171 2345678", "a", t0 + dt.timedelta(minutes=1))  # then quiet
    _resolved(store, "no click", "b", t0, click=None)
    _resolved(store, "opened, then a new search after the window", "c", t0)
    _resolved(store, "later", "c", t0 + dt.timedelta(minutes=6), click=None)
    _log(store, "no client", search_id="f" * 32, tracks_clicks=True, at=t0)
    assert store.record_click("f" * 32, "late-parcel")
    _resolved(store, "too recent to tell", "d", t0 + dt.timedelta(minutes=58))
    found = store.resolved_searches(window, now=t0 + dt.timedelta(hours=1))
    assert [(r.query, r.article_id, r.how) for r in found] == [
        ("opened, then a new search after the window", "late-parcel", "stayed"),
        ("parcel is late call <phone>", "late-parcel", "stayed")]
    assert found[0].client != found[1].client and found[0].ts == t0
    assert store.resolved_searches(window, since=t0 + dt.timedelta(minutes=30), now=t0 + dt.timedelta(hours=1)) == []


def test_a_helpful_mark_resolves_the_search_it_came_from(store: Store) -> None:
    t0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
    sid = _resolved(store, "where is my parcel", "a", t0, click=None)
    _resolved(store, "next question", "a", t0 + dt.timedelta(seconds=30), click=None)
    store.add_feedback(article_id="cancel-order", locale="de", helpful=True, search_id=sid)  # not among its results
    store.add_feedback(article_id="track-order", locale="de", helpful=False, search_id=sid)
    assert store.resolved_searches(dt.timedelta(minutes=5), now=t0 + dt.timedelta(hours=1)) == []
    store.add_feedback(article_id="track-order", locale="de", helpful=True, search_id=sid)
    (found,) = store.resolved_searches(dt.timedelta(minutes=5), now=t0 + dt.timedelta(hours=1))
    assert (found.query, found.article_id, found.how) == ("where is my parcel", "track-order", "helpful")
    assert len(store.list_feedback()) == 3


def test_served_counts_tally_each_article_once_per_query_and_locale(store: Store, tmp_path: Path) -> None:
    assert store.served_counts() == ({}, 0)
    _log(store)
    _log(store, top_ids=["track-order", "track-order"], top_scores=[0.9, 0.8])  # one query serves it once
    _log(store, locale="de-AT", top_ids=["track-order"], top_scores=[0.9])
    _log(store, endpoint="answer", locale="pl", top_ids=[], top_scores=[])
    assert store.served_counts() == ({("track-order", "de"): 2, ("late-parcel", "de"): 1, ("track-order", "de-AT"): 1}, 4)
    assert logged_demand(tmp_path / "elsewhere", store) == store.served_counts()


def test_logged_demand_opens_no_store_that_is_not_there(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DB_ENV, raising=False)
    assert logged_demand(tmp_path) is None and not (tmp_path / "kb.sqlite").exists()
    opened = open_store(tmp_path)
    _log(opened, top_ids=["a"], top_scores=[0.5])
    opened.close()
    assert logged_demand(tmp_path) == ({("a", "de"): 1}, 1)


def test_reopening_keeps_data_and_schema(store: Store, db_url: str, tmp_path: Path) -> None:
    _log(store)
    again = open_store(tmp_path, db_url)
    try:
        assert len(again.list_queries()) == 1
    finally:
        again.close()


def test_query_log_round_trip_is_scrubbed(store: Store) -> None:
    before = dt.datetime.now(dt.UTC)
    _log(store, query="my order KM-12345678, mail jan@example.com, card 4111 1111 1111 1111")
    (row,) = store.list_queries()
    assert row["query_scrubbed"] == "my order <order>, mail <email>, card <card>"
    assert row["top_ids"] == ["track-order", "late-parcel"] and row["top_scores"] == [0.91, 0.7]
    assert row["served_machine"] is False and row["served_fallback"] is True
    assert (row["endpoint"], row["locale"], row["decision"], row["generation"]) == ("search", "de", "answer", "gen-1")
    assert row["confidence"] == pytest.approx(0.8)
    assert row["ts"].tzinfo is not None and before - dt.timedelta(seconds=5) <= row["ts"] <= dt.datetime.now(dt.UTC)


def test_query_filters_and_order(store: Store) -> None:
    _log(store, "first", locale="de")
    _log(store, "second", locale="pl")
    _log(store, "third", locale="pl")
    assert [r["query_scrubbed"] for r in store.list_queries()] == ["third", "second", "first"]
    assert [r["query_scrubbed"] for r in store.list_queries(locale="pl", limit=1)] == ["third"]
    assert store.list_queries(since=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)) == []


def test_feedback_round_trip(store: Store) -> None:
    store.add_feedback(article_id="return-item", locale="de", helpful=False, reason="ruf mich an: 0171 2345678")
    store.add_feedback(article_id="return-item", locale="en", helpful=True)
    store.add_feedback(article_id="track-order", locale="de", helpful=True, reason="")
    rows = store.list_feedback(article_id="return-item")
    assert [(r["locale"], r["helpful"], r["reason_scrubbed"]) for r in rows] == [
        ("en", True, None), ("de", False, "ruf mich an: <phone>")]
    assert [r["article_id"] for r in store.list_feedback(locale="de")] == ["track-order", "return-item"]


def test_prune_removes_only_old_rows(store: Store) -> None:
    _log(store, "old")
    _log(store, "new")
    store.add_feedback(article_id="a", locale="en", helpful=True)
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=100)
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE queries SET ts = :ts WHERE query_scrubbed = 'old'"), {"ts": long_ago})
        conn.execute(sa.text("UPDATE feedback SET ts = :ts"), {"ts": long_ago})
    assert store.prune(dt.timedelta(days=90)) == {"queries": 1, "feedback": 1}
    assert [r["query_scrubbed"] for r in store.list_queries()] == ["new"]
    assert store.list_feedback() == []


def test_concurrent_writers(store: Store) -> None:
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for i in range(20):
                _log(store, f"thread {n} query {i}")
                if i % 5 == 0:
                    store.add_feedback(article_id=f"a{n}", locale="en", helpful=bool(i % 2))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(store.list_queries()) == 160 and len(store.list_feedback()) == 32


# -- SQLite specifics and configuration ------------------------------------------------------------
def test_sqlite_default_location_and_wal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DB_ENV, raising=False)
    store = open_store(tmp_path / "data")
    try:
        assert store.engine.url.database == str((tmp_path / "data" / "kb.sqlite").resolve())
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        store.close()


def test_database_url_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DB_ENV, f"sqlite:///{tmp_path / 'elsewhere.sqlite'}")
    store = open_store(tmp_path / "data")
    store.close()
    assert (tmp_path / "elsewhere.sqlite").is_file() and not (tmp_path / "data" / "kb.sqlite").exists()


def test_postgres_urls_use_psycopg_3() -> None:
    assert database_url(".", "postgresql://u:p@db/kb").drivername == "postgresql+psycopg"
    assert database_url(".", "postgres://u@db/kb").drivername == "postgresql+psycopg"
    assert database_url(".", "postgresql+psycopg://u@db/kb").drivername == "postgresql+psycopg"
    assert make_url(str(database_url(".", "sqlite:////x/kb.sqlite"))).database == "/x/kb.sqlite"


def test_unreachable_database_is_a_clear_error(tmp_path: Path) -> None:
    pytest.importorskip("psycopg")
    with pytest.raises(KbError, match="cannot open the analytics store"):
        open_store(tmp_path, "postgresql://nobody@127.0.0.1:9/none?connect_timeout=2")


def test_bad_database_url_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(KbError, match=DB_ENV):
        open_store(tmp_path, "not a url")


def test_report_counts_group_by_utc_day_locale_decision_and_article(store: Store) -> None:
    from kb.analytics.store import DailyCount, FeedbackDay, feedback, queries

    def at(day: int, hour: int) -> dt.datetime:
        return dt.datetime(2026, 3, day, hour, 30, tzinfo=dt.UTC)

    base = {"endpoint": "search", "query_scrubbed": "q", "confidence": 0.5, "top_ids": [], "top_scores": [],
            "served_machine": False, "served_fallback": False, "generation": "g", "tracks_clicks": True}
    rows = [(at(1, 23), "de", "answer", "a"), (at(1, 0), "de", "handoff", None), (at(2, 0), "de", "answer", "a"),
            (at(2, 12), "pl", "clarify", "b"), (at(2, 23), "pl", "answer", "a")]
    votes = [(at(1, 23), "a", True), (at(1, 1), "a", False), (at(2, 5), "a", True), (at(2, 6), "b", False)]
    with store.engine.begin() as conn:
        conn.execute(queries.insert(), [{**base, "ts": ts, "locale": loc, "decision": dec, "clicked_id": clicked}
                                        for ts, loc, dec, clicked in rows])
        conn.execute(feedback.insert(), [{"ts": ts, "article_id": aid, "locale": "de", "helpful": helpful}
                                         for ts, aid, helpful in votes])
    assert store.searches_per_day() == [DailyCount("2026-03-01", "de", 2), DailyCount("2026-03-02", "de", 1),
                                        DailyCount("2026-03-02", "pl", 2)]
    assert store.searches_per_day(since=at(2, 0)) == [DailyCount("2026-03-02", "de", 1),
                                                      DailyCount("2026-03-02", "pl", 2)]
    assert store.decisions_per_locale() == {("de", "answer"): 2, ("de", "handoff"): 1, ("pl", "clarify"): 1,
                                            ("pl", "answer"): 1}
    assert store.feedback_per_day() == [FeedbackDay("2026-03-01", "a", 1, 1), FeedbackDay("2026-03-02", "a", 1, 0),
                                        FeedbackDay("2026-03-02", "b", 0, 1)]
    assert store.opened_most(limit=20) == [("a", 3), ("b", 1)]
    assert store.opened_most(since=at(2, 1), limit=1) == [("a", 1)]


def test_nul_and_other_control_characters_never_drop_a_row(store: Store) -> None:
    """PostgreSQL refuses NUL (and lone surrogates) in text: every text value loses its control and
    format characters on the way in, so the row is stored, not lost."""
    _log(store, "wo ist\x00 mein\tPaket\r\n\u200bbitte\x1b\ud800", locale="de\x00", generation="gen-1\x00",
         top_ids=["track-order\x00", "late-parcel"], search_id="c" * 31 + "\x00c")
    _log(store, "\x00")
    store.add_feedback(article_id="return-item\x00", locale="de", helpful=False, reason="nicht\x00 hilfreich\x7f\u2028ok")
    store.add_feedback(article_id="return-item", locale="de", helpful=True, reason="\x00\x01")
    rows = store.list_queries()
    assert [r["query_scrubbed"] for r in rows] == ["", "wo ist mein Paket  bitte"]
    assert (rows[1]["locale"], rows[1]["generation"], rows[1]["top_ids"]) == ("de", "gen-1", ["track-order", "late-parcel"])
    assert store.record_click("c" * 32, "track-order\x00")
    feedback_rows = store.list_feedback(article_id="return-item")
    assert [(r["helpful"], r["reason_scrubbed"]) for r in feedback_rows] == [(True, None), (False, "nicht hilfreich ok")]
