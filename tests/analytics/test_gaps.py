"""Content gaps: clustering, the report, `kb gaps`, and a replay of the shared query sets through the API."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from helpers import ROOT, SHARED_EVAL
from typer.testing import CliRunner

from kb.analytics.cluster import average_linkage
from kb.analytics.gaps import GapsReport, find_gaps, format_text, is_gap
from kb.analytics.store import Store, open_store
from kb.cli import app
from kb.search.engine import ANSWER_AT, Engine

pytestmark = pytest.mark.slow  # the index fixtures load the real embedders



# -- clustering ------------------------------------------------------------------------------------
def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_average_linkage_small_cases() -> None:
    assert average_linkage(np.zeros((0, 3)), 0.5) == []
    assert average_linkage(_unit(np.array([[1.0, 0.0]])), 0.5) == [[0]]
    vectors = _unit(np.array([[1.0, 0.05, 0], [1.0, -0.05, 0], [0, 1.0, 0.02], [0, 1.0, -0.02], [0, 0, 1.0]]))
    clusters = sorted(sorted(c) for c in average_linkage(vectors, 0.9))
    assert clusters == [[0, 1], [2, 3], [4]]
    assert sorted(sorted(c) for c in average_linkage(vectors, -1.0)) == [[0, 1, 2, 3, 4]]


def test_average_linkage_matches_scipy() -> None:
    hierarchy = pytest.importorskip("scipy.cluster.hierarchy")
    rng = np.random.default_rng(7)
    centers = _unit(rng.normal(size=(6, 16)))
    vectors = _unit(np.repeat(centers, 15, axis=0) + 0.35 * rng.normal(size=(90, 16)))
    for threshold in (0.2, 0.5, 0.7):
        mine = sorted(sorted(c) for c in average_linkage(vectors, threshold))
        labels = hierarchy.fcluster(hierarchy.linkage(vectors, method="average", metric="cosine"),
                                    t=1 - threshold, criterion="distance")
        ref: dict[int, list[int]] = {}
        for i, label in enumerate(labels):
            ref.setdefault(int(label), []).append(i)
        assert mine == sorted(ref.values()), threshold


def test_weights_count_as_repeats() -> None:
    rng = np.random.default_rng(3)
    vectors = _unit(rng.normal(size=(12, 8)) + np.repeat(_unit(rng.normal(size=(3, 8))), 4, axis=0))
    weights = rng.integers(1, 4, size=12)
    expanded = np.repeat(vectors, weights, axis=0)
    owner = np.repeat(np.arange(12), weights)
    for threshold in (0.3, 0.5):
        weighted = sorted(sorted(c) for c in average_linkage(vectors, threshold, weights.astype(float)))
        repeated = sorted(sorted({int(owner[i]) for i in c}) for c in average_linkage(expanded, threshold))
        assert weighted == repeated


# -- the report ------------------------------------------------------------------------------------
def _row(query: str, locale: str, decision: str = "handoff", confidence: float = 0.1, top: list[str] | None = None,
         machine: bool = False, fallback: bool = False) -> dict[str, Any]:
    return {"query_scrubbed": query, "locale": locale, "decision": decision, "confidence": confidence,
            "top_ids": top or ["cancel-order"], "top_scores": [0.5], "served_machine": machine,
            "served_fallback": fallback}


ROWS = [
    _row("Czy mogę zapłacić w ratach?", "pl"), _row("Kann ich in Raten zahlen?", "de"),
    _row("Kann ich in Raten zahlen?", "de"), _row("Can I pay in monthly instalments?", "en", "clarify", 0.4),
    _row("Taksitle ödeyebilir miyim?", "tr"),
    _row("Jaka będzie jutro pogoda?", "pl"), _row("Wie wird das Wetter morgen?", "de"),
    _row("How do I cancel my order?", "en", "answer", 0.95),
    _row("Wann bekomme ich mein Geld zurück?", "de", "answer", 0.9, ["refund-timing"], machine=True),
    _row("Kiedy dostanę zwrot pieniędzy?", "pl", "answer", 0.8, ["refund-timing"], fallback=True),
    _row("Kiedy dostanę zwrot?", "pl", "clarify", ANSWER_AT - 0.06, ["refund-timing"], fallback=True),  # a clarify is below it
]


@pytest.fixture(scope="module")
def engine(small_index: tuple[Path, Path]) -> Engine:
    return Engine(small_index[1])


def test_gaps_cluster_across_languages(engine: Engine) -> None:
    report = find_gaps(ROWS, engine=engine)
    assert (report.queries, report.gaps) == (len(ROWS), 8)
    assert not is_gap(ROWS[7]) and is_gap(ROWS[3]) and is_gap(ROWS[10])
    by_label = {c.label: c for c in report.clusters}
    instalments = report.clusters[0]
    assert instalments.size == 5 and instalments.distinct == 4
    assert instalments.locales == {"de": 2, "pl": 1, "en": 1, "tr": 1}
    assert instalments.decisions == {"handoff": 4, "clarify": 1}
    assert set(instalments.examples) == {"de", "pl", "en", "tr"}
    assert instalments.examples["de"] == ["Kann ich in Raten zahlen?"]  # repeats shown once
    weather = next(c for c in report.clusters if "Wetter morgen?" in str(c.examples))
    assert weather.locales == {"pl": 1, "de": 1} and weather is not instalments
    assert instalments.nearest is not None and instalments.nearest.id in engine.index.by_id
    assert all(c.nearest for c in by_label.values())
    nxt = report.translate_next
    assert [(i.id, i.searches, i.fallback, i.machine, i.now) for i in nxt["pl"]] == [("refund-timing", 2, 2, 0, "missing")]
    assert [(i.id, i.now) for i in nxt["de"]] == [("refund-timing", "machine")]
    assert nxt["pl"][0].title == "When will I get my refund?"
    text = format_text(report)
    assert "no result opened" in text and "nearest article:" in text and "refund-timing 2" in text


def test_a_confident_site_search_with_no_click_is_a_gap(engine: Engine) -> None:
    now = dt.datetime.now(dt.UTC)
    old, fresh = now - dt.timedelta(hours=1), now - dt.timedelta(minutes=2)
    confident = {"decision": "answer", "confidence": 0.9, "ts": old}
    site_unclicked = {**_row("Kann ich in Raten zahlen?", "de"), **confident, "tracks_clicks": True, "clicked_id": None}
    site_clicked = {**site_unclicked, "clicked_id": "cancel-order"}
    site_recent = {**site_unclicked, "ts": fresh}  # may still get its click
    chatbot = {**site_unclicked, "tracks_clicks": False}  # reports no clicks: says nothing
    assert is_gap(site_unclicked, now)
    assert not any(is_gap(r, now) for r in (site_clicked, site_recent, chatbot))
    report = find_gaps([site_unclicked, site_clicked, site_recent, chatbot,
                        {**_row("Czy mogę zapłacić w ratach?", "pl"), "ts": old}], engine=engine)
    (cluster,) = report.clusters
    assert (report.gaps, cluster.size, cluster.unclicked) == (2, 2, 1)
    assert cluster.decisions == {"answer": 1, "handoff": 1}
    assert "1 answered but not opened" in format_text(report)


def test_gaps_without_an_index_or_log() -> None:
    report = find_gaps([])
    assert (report.queries, report.gaps, report.clusters, report.translate_next) == (0, 0, [], {})
    assert "(none)" in format_text(report)
    report = find_gaps(ROWS[:2])
    assert report.clusters[0].nearest is None and report.clusters[0].size == 2


def _log(store: Store, rows: list[dict[str, Any]]) -> None:
    for r in rows:
        store.log_query(endpoint="search", locale=r["locale"], query=r["query_scrubbed"], decision=r["decision"],
                        confidence=r["confidence"], top_ids=r["top_ids"], top_scores=r["top_scores"],
                        served_machine=r["served_machine"], served_fallback=r["served_fallback"], generation="g")


def test_gaps_command(small_index: tuple[Path, Path], tmp_path: Path) -> None:
    import shutil

    data = tmp_path / "data"
    shutil.copytree(small_index[1] / "index", data / "index")
    store = open_store(data)
    _log(store, ROWS)
    store.close()
    runner = CliRunner()
    out = runner.invoke(app, ["gaps", "--data", str(data), "--format", "json", "--since", "1h"])
    assert out.exit_code == 0, out.output
    report = GapsReport.model_validate_json(out.stdout)
    assert report.gaps == 8 and report.clusters[0].size == 5 and report.since == "1h"
    out = runner.invoke(app, ["gaps", "--data", str(data), "--locale", "pl"])
    assert out.exit_code == 0 and "locale pl" in out.stdout and "Raten" not in out.stdout
    for args, param in ((["--since", "a week"], "--since"), (["--locale", "xx-!"], "--locale"),
                        (["--format", "html"], "--format")):
        out = runner.invoke(app, ["gaps", "--data", str(data), *args])
        assert out.exit_code == 2 and param in out.output, out.output
    out = runner.invoke(app, ["gaps", "--data", str(tmp_path / "empty")])
    assert out.exit_code == 0 and "0 of 0 queries" in out.stdout


# -- replay of the shared query sets -------------------------------------------------------------
XSID = SHARED_EVAL / "xsid-xling" / "queries.jsonl"
LANGS = ("de", "it", "tr")


@pytest.fixture(scope="module")
def sample_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Store, Engine]]:
    """The sample help center (content/) indexed with USE, served with a query log."""
    from kb.content.library import Library
    from kb.search.embedders import get_embedder
    from kb.search.index import build_index
    from kb.web.app import create_app
    from kb.web.security import SecurityConfig

    data = tmp_path_factory.mktemp("sample")
    build_index(Library.load(ROOT / "content"), data, get_embedder("use-multilingual"))
    store = open_store(data)
    engine = Engine(data)
    with TestClient(create_app(data, engine=engine, store=store, retention_days=None,
                               security=SecurityConfig(rate=0))) as client:
        yield client, store, engine
    store.close()


def test_replayed_translations_cluster_together(sample_api: tuple[TestClient, Store, Engine]) -> None:
    if not XSID.is_file():
        pytest.skip(f"{XSID} is absent: the shared eval sets (../shared/eval) are needed to replay real queries")
    client, store, engine = sample_api
    requests: dict[int, dict[str, str]] = {}
    for line in XSID.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        requests.setdefault(int(row["id"].split("-")[1]), {})[row["locale"]] = " ".join(row["query"].split())
    numbers = sorted(requests)[::5][:100]  # 100 requests (alarms, reminders, weather, music …) × 3 languages
    for n in numbers:
        for lang in LANGS:
            assert client.get("/v1/search", params={"q": requests[n][lang], "lang": lang}).status_code == 200
    bitext = SHARED_EVAL / "bitext-en" / "queries.jsonl"
    for line in bitext.read_text(encoding="utf-8").splitlines()[::90][:50] if bitext.is_file() else []:
        client.post("/v1/answer", json={"question": json.loads(line)["query"][:500], "lang": "en"})

    report = find_gaps(store.list_queries(), engine=engine, limit=None, examples=10_000)
    where = {(loc, text): i for i, c in enumerate(report.clusters) for loc, texts in c.examples.items() for text in texts}
    triples = [n for n in numbers if all((lang, requests[n][lang]) in where for lang in LANGS)]
    assert len(triples) >= 80, "the off-topic requests should nearly all be gaps in a shop's help center"
    together = [n for n in triples if len({where[(lang, requests[n][lang])] for lang in LANGS}) == 1]
    assert len(together) / len(triples) >= 0.6, (len(together), len(triples))
    same = np.mean([where[("de", requests[n]["de"])] == where[("tr", requests[n]["tr"])] for n in triples])
    other = np.mean([where[("de", requests[a]["de"])] == where[("tr", requests[b]["tr"])]
                     for a, b in itertools.permutations(triples, 2)])
    assert same >= 20 * other, (same, other)  # grouped by meaning, not lumped together
    assert report.clusters[0].size <= 0.15 * report.gaps
    multi = [c for c in report.clusters if c.distinct >= 3]
    assert sum(len(c.locales) >= 2 for c in multi) >= 0.8 * len(multi)
    assert all(c.nearest is not None for c in report.clusters[:20])
    assert report.translate_next, "the sample lacks some translations: fallbacks are served and counted"
