"""What a loaded index costs in memory (kb/search/index/load.py): the FAISS index memory-mapped,
so the workers of `kb serve --workers N` share it through the page cache, with the same hits and
scores as a copy in memory; passages held lean."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import write_help_center

from kb.content.library import Library
from kb.search.embedders import get_embedder
from kb.search.engine import Engine
from kb.search.index import ANN_THRESHOLD, build_index, load_index

QUERIES = [("pay with BLIK", "en"), ("gift card balance", "en"), ("Bestellung stornieren", "de"),
           ("where is my parcel", "en"), ("refund card", "pl"), ("zwrot pieniędzy", "pl")]


def _mapped(path: Path) -> bool:
    with open("/proc/self/maps", encoding="utf-8") as maps:
        return any(line.rstrip().endswith(str(path)) for line in maps)


@pytest.mark.parametrize("ann_threshold", [ANN_THRESHOLD, 10], ids=["flat", "ivf"])
def test_a_mapped_index_finds_what_a_copied_one_finds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      ann_threshold: int) -> None:
    content = write_help_center(tmp_path / "content")
    data = tmp_path / "data"
    emb = get_embedder("use-multilingual")
    build_index(Library.load(content), data, emb, ann_threshold=ann_threshold)
    monkeypatch.setenv("KB_INDEX_MMAP", "0")
    copied = load_index(data)
    faiss_file = copied.path / "dense.faiss"
    assert not _mapped(faiss_file) and not _mapped(copied.path / "bm25-en" / "data.csc.index.npy")
    copied_engine = Engine(data)
    monkeypatch.delenv("KB_INDEX_MMAP")
    mapped = load_index(data)
    assert _mapped(faiss_file), "the FAISS index should be memory-mapped"
    assert _mapped(mapped.path / "bm25-en" / "data.csc.index.npy"), "BM25 should be memory-mapped"
    assert copied.manifest["index_type"] == mapped.manifest["index_type"]
    assert mapped.manifest["index_type"].startswith("ivf") == (ann_threshold == 10)
    lexical = [(copied.lexical.search(q, lang, 50), mapped.lexical.search(q, lang, 50)) for q, lang in QUERIES]
    assert all(a == b for a, b in lexical) and sum(bool(a) for a, _ in lexical) >= 4
    for query, _ in QUERIES:
        qvec = emb.encode_queries([query])[0]
        a, b = copied.dense_search(qvec, 50), mapped.dense_search(qvec, 50)
        assert [row for row, _ in a] == [row for row, _ in b]
        assert np.array_equal(np.array([s for _, s in a]), np.array([s for _, s in b]))
    engine = Engine(data)
    assert _mapped(faiss_file)
    for query, lang in QUERIES:
        one, other = copied_engine.search(query, lang=lang), engine.search(query, lang=lang)
        assert [(h.id, h.score, h.snippet) for h in one.hits] == [(h.id, h.score, h.snippet) for h in other.hits]
        assert one.confidence == other.confidence


def test_a_generation_deleted_under_a_mapped_index_keeps_serving(tmp_path: Path) -> None:
    """On a local file system a mapped file outlives its name: the old generation's garbage
    collection never pulls pages from under an engine still on it."""
    import shutil

    content = write_help_center(tmp_path / "content")
    data = tmp_path / "data"
    emb = get_embedder("use-multilingual")
    build_index(Library.load(content), data, emb)
    index = load_index(data)
    qvec = emb.encode_queries(["pay with BLIK"])[0]
    before = index.dense_search(qvec, 20)
    shutil.rmtree(index.path)
    assert index.dense_search(qvec, 20) == before


def test_served_passages_are_the_files_without_embed_text_and_share_repeated_strings(tmp_path: Path) -> None:
    content = write_help_center(tmp_path / "content")
    data = tmp_path / "data"
    build_index(Library.load(content), data, get_embedder("use-multilingual"))
    index = load_index(data)
    lines = [json.loads(line) for line in (index.path / "passages.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(lines) == len(index.passages) > 10
    assert any(line["embed_text"] for line in lines)
    assert [{**line, "embed_text": ""} for line in lines] == [vars(p) for p in index.passages]
    head = index.passages[0]
    first, *rest = [p for p in index.passages if (p.article_id, p.locale) == (head.article_id, head.locale)]
    assert rest and all(p.article_id is first.article_id and p.locale is first.locale for p in rest)
