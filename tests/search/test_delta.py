"""Delta generations: a small edit to a large index writes only what changed (kb/search/index/delta.py).

The test help center is small, so these tests lower the size from which builds write deltas
(`delta_min=1`) and raise the share of its passages a delta may change (one article is a tenth).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers import write_help_center

from kb.content.library import Library
from kb.errors import KbError
from kb.search.embedders import get_embedder
from kb.search.engine import Engine
from kb.search.index import ANN_THRESHOLD, build_index, current_generation, delta, load_index
from kb.search.lexical import Stats, build_model, join_tokens

BLIK = Path("en") / "payments" / "pay-with-blik.md"
QUERIES = [("pay with BLIK", "en"), ("gift card balance", "en"), ("Bestellung stornieren", "de"),
           ("where is my parcel", "en"), ("refund card", "pl"), ("BLIK code expired", "en")]


@pytest.fixture(autouse=True)
def _small_help_center(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delta, "DELTA_MAX", 1.0)


def _edit_blik(content: Path, words: str = "120 seconds") -> None:
    path = content / BLIK
    text = path.read_text()
    assert "two minutes" in text
    path.write_text(text.replace("two minutes", words))


def _edit_several(content: Path) -> None:
    _edit_blik(content, "120 seconds, codeword zanzibar")
    _remove_and_add(content)


def _remove_and_add(content: Path) -> None:
    (content / "en" / "shipping" / "track-parcel.md").unlink()
    (content / "en" / "orders" / "gift-cards.md").write_text(
        "---\nid: gift-cards\ntitle: Can I pay with a gift card?\ncategory: orders\nupdated: 2026-02-01\n---\n"
        "Enter the gift card code at checkout.\n\n## Balance\n\nThe balance shows in My account.\n")


def _build(content: Path, data: Path, *, delta_min: int = 1, ann_threshold: int = ANN_THRESHOLD):  # noqa: ANN202
    """`kb index` with the fast embedder, writing deltas from the first passage on."""
    return build_index(Library.load(content), data, get_embedder("use-multilingual"), delta_min=delta_min,
                       ann_threshold=ann_threshold)


def _manifest(data: Path) -> dict:
    gen = current_generation(data)
    assert gen is not None
    return json.loads((gen / "manifest.json").read_text())


def _scratch(content: Path, inc: Path, scratch: Path) -> None:
    """A full build of the same content with the same embeddings (read from a copy of the cache)."""
    (scratch / "cache").mkdir(parents=True)
    shutil.copy(inc / "cache" / "embeddings.sqlite", scratch / "cache" / "embeddings.sqlite")
    build_index(Library.load(content), scratch, get_embedder("use-multilingual"))


def test_a_small_edit_writes_a_delta_that_shares_the_base_files(tmp_path: Path) -> None:
    content = write_help_center(tmp_path / "content")
    data = tmp_path / "data"
    _build(content, data)
    base = current_generation(data)
    assert base is not None and "delta" not in _manifest(data)
    blik_rows = _manifest(data)["articles"]["en/pay-with-blik"]
    _edit_blik(content)

    report = _build(content, data)
    gen = current_generation(data)
    assert gen is not None and gen != base
    manifest = _manifest(data)
    assert manifest["delta"]["base"] == base.name
    assert manifest["delta"]["dead"] == blik_rows["end"] - blik_rows["start"]
    assert set(manifest["articles"]) == {"en/pay-with-blik"}  # nothing else differs from the base
    for name in ("vectors.npy", "dense.faiss", "passages.jsonl", "articles.jsonl", "bm25-en/data.csc.index.npy"):
        assert (gen / name).stat().st_ino == (base / name).stat().st_ino, name  # linked, not copied
    assert (gen / "base.json").stat().st_ino == (base / "manifest.json").stat().st_ino
    assert (base / "head.json").is_file() and not (gen / "head.json").exists()  # a delta is read by its manifest
    assert len(np.load(gen / "delta" / "vectors.npy")) == manifest["articles"]["en/pay-with-blik"]["end"] - \
        manifest["articles"]["en/pay-with-blik"]["start"]
    assert report.embedded == 1 and report.removed == 0


def test_without_delta_min_small_indexes_are_always_rebuilt_whole(tmp_path: Path) -> None:
    content = write_help_center(tmp_path / "content")
    data = tmp_path / "data"
    emb = get_embedder("use-multilingual")
    build_index(Library.load(content), data, emb)
    _edit_blik(content)
    build_index(Library.load(content), data, emb)
    assert "delta" not in _manifest(data) and delta.DELTA_MIN > 10_000


def test_a_delta_index_serves_what_a_full_build_serves(tmp_path: Path) -> None:
    content = write_help_center(tmp_path / "content")
    inc, scratch = tmp_path / "inc", tmp_path / "scratch"
    _build(content, inc)
    _edit_several(content)
    report = _build(content, inc)
    assert "delta" in _manifest(inc)
    assert report.removed == 1 and report.embedded == 2
    _scratch(content, inc, scratch)
    assert "delta" not in _manifest(scratch)

    a, b = load_index(inc), load_index(scratch)
    assert a.articles == b.articles
    assert a.manifest["articles"].keys() == b.manifest["articles"].keys()
    for key, span in a.manifest["articles"].items():  # each article's passages and vectors, in order
        other = b.manifest["articles"][key]
        rows_a, rows_b = list(range(span["start"], span["end"])), list(range(other["start"], other["end"]))
        assert [a.passages[r] for r in rows_a] == [b.passages[r] for r in rows_b], key
        assert np.array_equal(a.vectors[rows_a], b.vectors[rows_b]), key
    live = sorted(json.dumps(vars(p)) for row, p in enumerate(a.passages) if a.live(row))
    assert live == sorted(json.dumps(vars(p)) for p in b.passages)
    assert not any("two minutes" in p.text for row, p in enumerate(a.passages) if a.live(row))

    dense_a, dense_b = Engine(inc, mode="dense"), Engine(scratch, mode="dense")
    hybrid_a, hybrid_b = Engine(inc), Engine(scratch)
    for query, lang in QUERIES:
        ra, rb = dense_a.search(query, lang=lang, k=5), dense_b.search(query, lang=lang, k=5)
        assert [h.id for h in ra.hits] == [h.id for h in rb.hits], query
        assert [h.score for h in ra.hits] == pytest.approx([h.score for h in rb.hits], abs=2e-4), query
        assert [h.snippet for h in ra.hits] == [h.snippet for h in rb.hits], query
        ha, hb = hybrid_a.search(query, lang=lang, k=5), hybrid_b.search(query, lang=lang, k=5)
        assert [h.id for h in ha.hits] == [h.id for h in hb.hits], query  # BM25 statistics differ a little
        assert all(h.id != "track-parcel" for h in ha.hits)


def test_delta_bm25_finds_new_words_and_forgets_removed_ones(tmp_path: Path) -> None:
    content = write_help_center(tmp_path / "content")
    data = tmp_path / "data"
    _build(content, data)
    before = Engine(data, mode="lexical")
    assert [h.id for h in before.search("track parcel", lang="en", k=3).hits][:1] == ["track-parcel"]
    assert before.search("zanzibar", lang="en").hits == []
    _edit_several(content)
    _build(content, data)
    after = Engine(data, mode="lexical")
    assert [h.id for h in after.search("zanzibar", lang="en").hits] == ["pay-with-blik"]
    assert "track-parcel" not in [h.id for h in after.search("track parcel", lang="en", k=10).hits]
    assert after.search("gift card", lang="en", k=3).hits[0].id == "gift-cards"


def test_deltas_do_not_stack_and_a_large_change_folds_into_a_full_build(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    content = write_help_center(tmp_path / "content")
    inc, scratch = tmp_path / "inc", tmp_path / "scratch"
    _build(content, inc)
    base = current_generation(inc)
    assert base is not None
    base_manifest = (base / "manifest.json").stat().st_ino
    _edit_blik(content)
    _build(content, inc)
    path = content / "en" / "orders" / "refund-timing.md"
    path.write_text(path.read_text().replace("5 business days", "6 business days"))
    _build(content, inc)
    manifest = _manifest(inc)
    assert manifest["delta"]["base"] == base.name  # the second delta starts from the base again
    assert set(manifest["articles"]) == {"en/pay-with-blik", "en/refund-timing"}
    assert (current_generation(inc) / "base.json").stat().st_ino == base_manifest  # type: ignore[operator]
    assert not base.exists()  # the base's folder went with old generations; its files live on in links

    monkeypatch.setattr(delta, "DELTA_MAX", 0.0)  # any change now is too large for a delta
    _remove_and_add(content)
    _build(content, inc)
    assert "delta" not in _manifest(inc)
    _scratch(content, inc, scratch)
    files = {}
    for data in (inc, scratch):
        gen = current_generation(data)
        assert gen is not None
        files[data] = {str(p.relative_to(gen)): p.read_bytes() for p in sorted(gen.rglob("*"))
                       if p.is_file() and p.name not in ("manifest.json", "head.json")}  # the time
    assert files[inc] == files[scratch]  # the full build after deltas is the build from scratch


def test_a_delta_that_does_not_match_its_base_is_refused_and_the_engine_keeps_serving(tmp_path: Path) -> None:
    content = write_help_center(tmp_path / "content")
    data = tmp_path / "data"
    _build(content, data)
    engine = Engine(data)
    served = engine.index.generation
    _edit_blik(content)
    _build(content, data)
    gen = current_generation(data)
    assert gen is not None
    lines = (gen / "delta" / "passages.jsonl").read_text().splitlines(keepends=True)
    (gen / "delta" / "passages.jsonl").write_text("".join(lines[:-1]))
    with pytest.raises(KbError, match=r"refused: delta/passages\.jsonl: \d+ bytes, the manifest says"):
        load_index(data)
    engine.reload_now()
    assert engine.index.generation == served
    assert engine.search("pay with BLIK", lang="en").hits[0].id == "pay-with-blik"


def test_delta_bm25_scores_its_passages_as_part_of_the_base_corpus() -> None:
    base_texts = ["refund card", "refund parcel", "parcel card"]
    added = ["card parcel", "refund late"]
    everything = join_tokens([(base_texts + added, "en")])
    full = build_model(everything)
    base_tokens = join_tokens([(base_texts, "en")])
    df = np.diff(build_model(base_tokens).scores["indptr"])
    stats = Stats(docs=3, average=2.0, df={t: int(df[i]) for i, t in enumerate(base_tokens.vocab)})
    part = build_model(join_tokens([(added, "en")]), stats)
    for query in (["refund"], ["card", "parcel"], ["late"]):
        whole = full.get_scores([t for t in query if t in full.vocab_dict])
        mine = part.get_scores([t for t in query if t in part.vocab_dict])
        assert np.allclose(whole[3:], mine, rtol=1e-6), query


def test_a_delta_over_an_approximate_index_leaves_dead_rows_out(tmp_path: Path) -> None:
    content = write_help_center(tmp_path / "content")
    data = tmp_path / "data"
    emb = get_embedder("use-multilingual")
    _build(content, data, ann_threshold=10)  # IVF over a few passages
    assert _manifest(data)["index_type"].startswith("ivf")
    (content / "en" / "shipping" / "track-parcel.md").unlink()
    _edit_blik(content, "120 seconds")
    _build(content, data, ann_threshold=10)
    index = load_index(data)
    assert "delta" in index.manifest and len(index.dead) > 0
    qvec = emb.encode_queries(["where is my parcel, BLIK code two minutes"])[0]
    rows = [row for row, _ in index.dense_search(qvec, 1000)]
    assert rows and not set(rows) & set(index.dead.tolist())
    assert len(rows) == sum(1 for row in range(len(index.passages)) if index.live(row))  # every live row, once
    # several queries in one FAISS call (the calibration's) find what each finds alone, delta rows included
    qvecs = emb.encode_queries(["where is my parcel", "BLIK code", "refund to my card"])
    many = index.dense_search_many(qvecs, 7)
    assert many == [index.dense_search(q, 7) for q in qvecs]
    assert any(row >= index.dense.ntotal for hits in many for row, _ in hits)  # the delta's own rows take part
    engine = Engine(data)
    assert all(h.id != "track-parcel" for h in engine.search("where is my parcel", lang="en").hits)


def test_an_index_of_format_1_is_served_and_reused(tmp_path: Path) -> None:
    content = write_help_center(tmp_path / "content")
    data = tmp_path / "data"
    emb = get_embedder("use-multilingual")
    build_index(Library.load(content), data, emb)
    gen = current_generation(data)
    assert gen is not None
    manifest = json.loads((gen / "manifest.json").read_text())
    for newer in ("integrity", "checksum"):  # as kb wrote it before deltas (and hashes)
        del manifest[newer]
    (gen / "manifest.json").write_text(json.dumps({**manifest, "format": 1}))
    (gen / "spans.marshal").unlink()
    (gen / "files.marshal").unlink()
    assert Engine(data).search("pay with BLIK", lang="en").hits[0].id == "pay-with-blik"
    _edit_blik(content)
    report = _build(content, data)
    assert report.embedded == 1 and _manifest(data)["format"] == 2 and "delta" in _manifest(data)
    path = content / "en" / "orders" / "refund-timing.md"
    path.write_text(path.read_text().replace("5 business days", "6 business days"))
    report = _build(content, data)
    assert report.embedded == 1 and "delta" in _manifest(data)  # the delta over the old base reads as one
    (current_generation(data) / "manifest.json").write_text(json.dumps({**manifest, "format": 3}))  # type: ignore[operator]
    with pytest.raises(KbError, match="format 3, this kb reads 1, 2: run 'kb index'"):
        load_index(data)


def test_the_engine_reloads_a_delta_without_reading_its_base_again(tmp_path: Path) -> None:
    content = write_help_center(tmp_path / "content")
    data = tmp_path / "data"
    _build(content, data)
    engine = Engine(data)
    base = engine.index.base
    _edit_blik(content, "120 seconds, codeword zanzibar")
    _build(content, data)
    engine.reload_now()
    assert "delta" in engine.index.manifest and engine.index.base is base  # shared, not read again
    fresh = Engine(data)
    assert fresh.index.base is not base and fresh.index.generation == engine.index.generation
    for query, lang in QUERIES + [("zanzibar", "en")]:
        assert [h.to_dict() for h in engine.search(query, lang=lang).hits] == \
            [h.to_dict() for h in fresh.search(query, lang=lang).hits], query
    (content / "en" / "shipping" / "track-parcel.md").unlink()
    _build(content, data, delta_min=10**9)  # a full build: a new base
    engine.reload_now()
    assert "delta" not in engine.index.manifest and engine.index.base is not base
    assert all(h.id != "track-parcel" for h in engine.search("where is my parcel", lang="en").hits)
