"""`kb eval` on a tiny set with known answers, through the same engine as the API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kb.cli import main
from kb.search.evaluate import evaluate, score_ranking

CORPUS = [
    {"id": "d1", "locale": "en", "title": "", "body": "How to cancel an order before it ships"},
    {"id": "d2", "locale": "en", "title": "", "body": "Paying with a credit card or PayPal"},
    {"id": "d3", "locale": "en", "title": "", "body": "Tracking a parcel with the carrier"},
]
QUERIES = [
    {"id": "q1", "locale": "de", "query": "Bestellung stornieren", "relevant": ["d1"]},
    {"id": "q2", "locale": "en", "query": "pay by paypal", "relevant": ["d2"]},
    {"id": "q3", "locale": "pl", "query": "Gdzie jest moja paczka?", "relevant": ["d3"]},
    {"id": "q4", "locale": "en", "query": "cancel order", "relevant": ["d3"]},  # deliberately wrong gold
]


def _write(tmp_path: Path) -> Path:
    ds = tmp_path / "tiny"
    ds.mkdir()
    (ds / "corpus.jsonl").write_text("\n".join(json.dumps(r) for r in CORPUS) + "\n")
    (ds / "queries.jsonl").write_text("\n".join(json.dumps(r) for r in QUERIES) + "\n")
    return ds


def test_score_ranking_known_values() -> None:
    s = score_ranking(["a", "b", "c"], {"b"})
    assert s["recall@1"] == 0 and s["recall@5"] == 1 and s["mrr@10"] == 0.5
    assert s["ndcg@10"] == pytest.approx(1 / 1.5849625, abs=1e-6)
    assert score_ranking(["x"], {"b"})["mrr@10"] == 0


def test_eval_tiny_set(tmp_path: Path) -> None:
    report = evaluate(_write(tmp_path), tmp_path / "data", "use-multilingual")
    assert report["n_queries"] == 4
    # q1..q3 are right at rank 1; q4's gold is deliberately wrong, so recall@1 is 3/4
    assert report["all"]["recall@1"] == 0.75
    assert report["by_locale"]["de"]["recall@1"] == 1.0 and report["by_locale"]["pl"]["mrr@10"] == 1.0
    assert report["by_locale"]["en"]["recall@1"] == 0.5
    assert report["latency_ms"]["p50"] > 0
    # the calibration's line, as kb index prints it: a single model has nothing to weigh
    assert report["ranking"].startswith("ranking weights: default (a single model")


def test_kb_eval_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ds = _write(tmp_path)
    code = main(["eval", str(ds), "--json", "--embedder", "use-multilingual", "--data", str(tmp_path / "d")])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= {"dataset", "embedder", "n_queries", "all", "by_locale", "latency_ms"}
    assert set(out["all"]) == {"recall@1", "recall@5", "mrr@10", "ndcg@10"}
    assert out["dataset"] == "tiny" and out["embedder"] == "use-multilingual"


def test_kb_eval_missing_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(tmp_path)]) == 1
    assert "corpus.jsonl" in capsys.readouterr().err


def test_sample_is_per_locale_fixed_by_seed_and_reported() -> None:
    from kb.search.evaluate import sample_queries

    queries = [{"id": f"{loc}{i}", "locale": loc, "query": "q", "relevant": ["a"]}
               for loc in ("de", "en", "pl") for i in range(20)] + [{"id": "tr0", "locale": "tr", "query": "q",
                                                                    "relevant": ["a"]}]
    first = sample_queries(queries, 5, seed=3)
    assert [q["id"] for q in first] == [q["id"] for q in sample_queries(list(reversed(queries)), 5, seed=3)]
    counts = {loc: sum(q["locale"] == loc for q in first) for loc in ("de", "en", "pl", "tr")}
    assert counts == {"de": 5, "en": 5, "pl": 5, "tr": 1}  # a locale with fewer gives all it has
    assert [q["id"] for q in sample_queries(queries, 5, seed=4)] != [q["id"] for q in first]


def test_kb_eval_sample_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ds = _write(tmp_path)
    code = main(["eval", str(ds), "--sample", "1", "--seed", "7", "--embedder", "use-multilingual",
                 "--data", str(tmp_path / "d")])
    assert code == 0
    out = capsys.readouterr().out
    assert "a sample: 1 per locale, seed 7" in out
    assert main(["eval", str(ds), "--sample", "0", "--data", str(tmp_path / "d")]) == 1
    assert "--sample 0" in capsys.readouterr().err
