"""The admin desk's content gaps and report over HTTP (TestClient), and its charts' numbers."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from helpers import admin_sign_in, form_value

from kb.analytics.store import Store, feedback, open_store, queries
from kb.content.frontmatter import parse
from kb.content.library import Library
from kb.search.engine import Engine
from kb.web.admin import charts
from kb.web.admin.reportdata import SearchesPerDay
from kb.web.app import create_app
from kb.web.security import SecurityConfig

pytestmark = pytest.mark.slow  # the small index is built with the real embedder

KEY = "report-key-" + "r" * 30
TODAY = dt.datetime.now(dt.UTC).replace(hour=12, minute=0, second=0, microsecond=0)
GAPS = [("de", "Wie wird das Wetter morgen?"), ("it", "Che tempo fa domani?"), ("en", "weather tomorrow"),
        ("de", "Wie wird das Wetter morgen?"), ("pl", "Czy mogę zapłacić kryptowalutą?"),
        ("en", "can I pay with bitcoin")]


def seed(store: Store) -> None:
    """Searches over the last days, gap queries today, clicks and feedback with a falling trend."""
    base = {"endpoint": "search", "query_scrubbed": "q", "top_scores": [0.9], "served_machine": False,
            "served_fallback": False, "generation": "g", "tracks_clicks": True}
    rows = []
    for days_ago, locale, decision, clicked in [(3, "de", "answer", "cancel-order"), (3, "en", "answer", "track-parcel"),
                                                (1, "de", "clarify", None), (0, "de", "answer", "cancel-order"),
                                                (0, "pl", "answer", "cancel-order"), (0, "en", "handoff", None)]:
        rows.append({**base, "ts": TODAY - dt.timedelta(days=days_ago), "locale": locale, "decision": decision,
                     "confidence": 0.8 if decision == "answer" else 0.3, "top_ids": ["cancel-order", "track-parcel"],
                     "clicked_id": clicked})
    for locale, text in GAPS:
        rows.append({**base, "ts": TODAY, "locale": locale, "decision": "handoff", "confidence": 0.1,
                     "top_ids": [], "top_scores": [], "query_scrubbed": text, "tracks_clicks": False, "clicked_id": None})
    votes = [(20, True), (20, True), (19, True), (2, False), (1, False), (1, True)]
    with store.engine.begin() as conn:
        conn.execute(queries.insert(), rows)
        conn.execute(feedback.insert(), [{"ts": TODAY - dt.timedelta(days=d), "article_id": "cancel-order",
                                          "locale": "de", "helpful": h} for d, h in votes])


@pytest.fixture(scope="module")
def engine(small_index: tuple[Path, Path]) -> Engine:
    return Engine(small_index[1])


@pytest.fixture
def desk(tmp_path: Path, small_index: tuple[Path, Path], engine: Engine,
         monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, Path]]:
    monkeypatch.setenv("KB_ADMIN_KEY", KEY)
    content = Path(shutil.copytree(small_index[0], tmp_path / "content"))
    store = open_store(tmp_path / "data")
    seed(store)
    app = create_app(tmp_path / "data", engine=engine, store=store, content_dir=content,
                     security=SecurityConfig(rate=0), retention_days=None)
    with TestClient(app) as client:
        assert admin_sign_in(client, KEY).status_code == 303
        yield client, content
    store.close()


# -- gaps -------------------------------------------------------------------------------------------
def test_gaps_page_groups_queries_across_languages(desk: tuple[TestClient, Path]) -> None:
    client, _ = desk
    page = client.get("/admin/gaps?since=7d").text
    clusters = page.split('<li class="card cluster">')[1:]
    assert len(clusters) >= 2  # the weather apart from paying with bitcoin
    weather = next(c for c in clusters if "Wetter" in c)
    assert '<li lang="it">Che tempo fa domani?</li>' in weather and '<li lang="en">weather tomorrow</li>' in weather
    assert "bitcoin" not in weather
    assert "Nearest article" in page or "No article comes near" in page
    assert "/admin/gaps/new?title=Wie+wird+das+Wetter+morgen%3F&amp;locale=de" in page
    assert client.get("/admin/gaps?since=forever").status_code == 422


def test_write_an_article_downloads_or_saves_a_skeleton_once(desk: tuple[TestClient, Path]) -> None:
    client, content = desk
    form = client.get("/admin/gaps/new", params={"title": "Wie wird das Wetter morgen?", "locale": "de",
                                                 "category": "shipping", "q": ["Wie wird das Wetter morgen?", "Regnet es?"]})
    assert form.status_code == 200 and form_value(form.text, "id") == "wie-wird-das-wetter-morgen"
    fields = {"csrf": form_value(form.text, "csrf"), "id": "wetter-morgen", "title": "Wie wird das Wetter morgen?",
              "locale": "de", "category": "shipping", "questions": "Wie wird das Wetter morgen?\r\nRegnet es?"}
    download = client.post("/admin/gaps/new", data={**fields, "action": "download"})
    assert download.headers["content-disposition"] == 'attachment; filename="wetter-morgen.md"'
    meta = parse(download.text).meta
    assert (meta["id"], meta["title"], meta["questions"]) == ("wetter-morgen", "Wie wird das Wetter morgen?",
                                                              ["Wie wird das Wetter morgen?", "Regnet es?"])
    target = content / "de/shipping/wetter-morgen.md"
    assert not target.exists()
    saved = client.post("/admin/gaps/new", data={**fields, "action": "save"})
    assert saved.status_code == 201 and target.read_text() == download.text
    assert Library.load(content).get("wetter-morgen", "de").meta.questions == ["Wie wird das Wetter morgen?", "Regnet es?"]
    target.write_text(download.text + "Die Antwort.\n")
    again = client.post("/admin/gaps/new", data={**fields, "action": "save"})
    assert again.status_code == 409 and "nothing was overwritten" in again.text
    assert target.read_text().endswith("Die Antwort.\n")
    taken = client.post("/admin/gaps/new", data={**fields, "id": "cancel-order", "action": "save"})
    assert taken.status_code == 409 and not (content / "de/shipping/cancel-order.md").exists()
    bad = client.post("/admin/gaps/new", data={**fields, "id": "../../evil", "action": "save"})
    assert bad.status_code == 422 and not list(content.rglob("evil*"))
    assert client.post("/admin/gaps/new", data={**fields, "csrf": "x", "action": "save"}).status_code == 403


# -- the report -------------------------------------------------------------------------------------
def test_report_numbers_as_json_and_csv(desk: tuple[TestClient, Path]) -> None:
    client, content = desk
    searches = client.get("/admin/api/report/searches?since=7d").json()
    today, three = TODAY.date().isoformat(), (TODAY - dt.timedelta(days=3)).date().isoformat()
    by_day = {row[0]: dict(zip(searches["columns"][1:], row[1:], strict=True)) for row in searches["rows"]}
    assert by_day[three] == {"de": 1, "en": 1, "pl": 0, "it": 0} and by_day[today]["pl"] == 2 and by_day[today]["de"] == 3
    outcomes = {r["locale"]: r for r in client.get("/admin/api/report/outcomes?since=7d").json()["data"]["rows"]}
    assert (outcomes["de"]["answer"], outcomes["de"]["clarify"], outcomes["de"]["handoff"]) == (2, 1, 2)
    csv = client.get("/admin/api/report/outcomes.csv?since=7d")
    assert csv.headers["content-type"].startswith("text/csv")
    assert "de,2,1,2,5,0.4,0.2,0.4" in csv.text.splitlines()
    opened = client.get("/admin/api/report/opened?since=7d").json()["data"]["rows"]
    assert [(r["id"], r["opened"]) for r in opened] == [("cancel-order", 3), ("track-parcel", 1)]
    helpful = client.get("/admin/api/report/helpfulness?since=30d").json()["data"]["rows"][0]
    assert (helpful["id"], helpful["yes"], helpful["no"], helpful["ratio"]) == ("cancel-order", 4, 2, 0.6667)
    assert helpful["trend"] == pytest.approx(1 / 3 - 1, abs=1e-4)  # all yes three weeks ago, mostly no lately
    coverage = client.get("/admin/api/report/coverage.csv").text.splitlines()
    de = Library.load(content).coverage()["de"]
    assert f"de,{de['total']},{de['human']},{de['reviewed']},{de['machine']},{de['missing']},{de['stale']}" in coverage
    assert client.get("/admin/api/report/nope").status_code == 404
    assert client.get("/admin/api/report/searches?since=1y").status_code == 422


def test_report_api_needs_a_session_or_the_key(desk: tuple[TestClient, Path]) -> None:
    client, _ = desk
    anonymous = TestClient(client.app)
    refused = anonymous.get("/admin/api/report/coverage")
    assert refused.status_code == 401 and refused.json()["error"]["message"].startswith("sign in")
    assert anonymous.get("/admin/api/report/coverage", headers={"X-API-Key": "wrong"}).status_code == 401
    assert anonymous.get("/admin/api/report/coverage.csv", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200


def test_report_page_draws_every_chart_escaped(desk: tuple[TestClient, Path]) -> None:
    client, content = desk
    source = content / "en/orders/cancel-order.md"
    source.write_text(source.read_text().replace("title: How do I cancel my order?", "title: Cancel <script>x</script>"))
    page = client.get("/admin/report?since=30d").text
    for name in ("searches", "outcomes", "helpfulness", "opened", "coverage"):
        assert f'id="chart-{name}"' in page and f'/admin/api/report/{name}.csv?since=30d' in page
    assert page.count("<svg") == 5 and page.count("<polyline") >= 3 and "No data" not in page
    assert "<script>x" not in page and "Cancel &lt;script&gt;x&lt;/script&gt;" in page


def test_axis_tops_are_round_and_empty_charts_say_so() -> None:
    assert charts.nice_ceiling(0) == (1.0, 1.0)
    assert charts.nice_ceiling(3) == (3.0, 1.0)
    assert charts.nice_ceiling(87) == (100.0, 50.0)
    assert charts.nice_ceiling(1234) == (1500.0, 500.0)
    empty = charts.searches_chart(SearchesPerDay(["2026-01-01"], {}))
    assert empty.empty and empty.marks[0].text == "No data in this window."
    drawn = charts.searches_chart(SearchesPerDay(["2026-01-01", "2026-01-02"], {"de": [2, 5], "en": [0, 1]}))
    lines = [m for m in drawn.marks if m.kind == "polyline"]
    assert len(lines) == 2 and [label for label, _ in drawn.legend] == ["de (7)", "en (1)"]
    assert {m.tip for m in drawn.marks if m.kind == "circle"} == {"de, 2026-01-01: 2 searches",
                                                                  "de, 2026-01-02: 5 searches", "en, 2026-01-02: 1 searches"}
