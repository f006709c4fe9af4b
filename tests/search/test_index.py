"""Index builds: incremental re-embedding, atomic generation swap, embedder mismatch."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import write_help_center

from kb.content.library import Library
from kb.errors import KbError
from kb.search.embedders import get_embedder
from kb.search.engine import Engine
from kb.search.index import build_index, current_generation, load_index


class CountingEmbedder:
    """Wraps the real USE embedder and records every passage text it is asked to embed."""

    def __init__(self) -> None:
        self.inner = get_embedder("use-multilingual")
        self.name, self.version, self.dim = self.inner.name, self.inner.version, self.inner.dim
        self.embedded: list[str] = []

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self.inner.encode_queries(texts)

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        self.embedded.extend(texts)
        return self.inner.encode_passages(texts)


def test_incremental_reindex_embeds_only_the_edited_article(tmp_path: Path) -> None:
    content = write_help_center(tmp_path / "content")
    data = tmp_path / "data"
    emb = CountingEmbedder()
    first = build_index(Library.load(content), data, emb)
    assert first.embedded == first.articles and first.reused == 0
    emb.embedded.clear()

    again = build_index(Library.load(content), data, emb)
    assert again.embedded == 0 and again.reused == again.articles and emb.embedded == []

    path = content / "en" / "payments" / "pay-with-blik.md"
    path.write_text(path.read_text().replace("two minutes", "120 seconds"))
    third = build_index(Library.load(content), data, emb)
    assert third.embedded == 1 and third.reused == third.articles - 1
    assert emb.embedded and all("BLIK" in t or "120 seconds" in t for t in emb.embedded)
    assert any("120 seconds" in t for t in emb.embedded)


def test_reverted_edit_comes_from_the_embedding_cache(tmp_path: Path) -> None:
    content = write_help_center(tmp_path / "content")
    data = tmp_path / "data"
    emb = CountingEmbedder()
    build_index(Library.load(content), data, emb)
    path = content / "en" / "payments" / "pay-with-blik.md"
    original = path.read_text()
    path.write_text(original.replace("two minutes", "three minutes"))
    build_index(Library.load(content), data, emb)
    emb.embedded.clear()
    path.write_text(original)
    report = build_index(Library.load(content), data, emb)
    assert emb.embedded == [] and report.embedded == 0


def test_removed_article_leaves_the_index(tmp_path: Path) -> None:
    content = write_help_center(tmp_path / "content")
    data = tmp_path / "data"
    emb = CountingEmbedder()
    build_index(Library.load(content), data, emb)
    (content / "en" / "shipping" / "track-parcel.md").unlink()
    report = build_index(Library.load(content), data, emb)
    assert report.removed == 1
    assert ("track-parcel", "en") not in load_index(data).articles


def test_generations_swap_atomically_under_a_concurrent_reader(tmp_path: Path) -> None:
    content = write_help_center(tmp_path / "content")
    data = tmp_path / "data"
    emb = get_embedder()
    build_index(Library.load(content), data, emb)
    engine = Engine(data, reload_interval=0.0)
    first_gen = engine.index.generation
    errors: list[BaseException] = []
    seen: set[str] = set()
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            try:
                result = engine.search("cancel my order", lang="en", k=3)
                assert result.hits and result.hits[0].id == "cancel-order"
                seen.add(result.generation)
                load_index(data)  # a fresh reader of CURRENT never sees a half-written generation
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        for n in range(3):
            path = content / "en" / "orders" / "refund-timing.md"
            path.write_text(path.read_text().replace("5 business days", f"{5 + n + 1} business days"))
            build_index(Library.load(content), data, emb)
        last = current_generation(data).name  # type: ignore[union-attr]
        deadline = time.time() + 10
        while engine.index.generation != last and time.time() < deadline:  # it may reload in between
            time.sleep(0.05)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert errors == []
    assert engine.index.generation == last != first_gen
    assert len(seen) >= 2  # the readers were served by the old and the new generation


def test_interrupted_build_leaves_the_old_index_serving(tmp_path: Path) -> None:
    content = write_help_center(tmp_path / "content")
    data = tmp_path / "data"
    build_index(Library.load(content), data, get_embedder())
    before = current_generation(data)

    class Exploding(CountingEmbedder):
        def encode_passages(self, texts: list[str]) -> np.ndarray:
            raise KeyboardInterrupt  # like Ctrl-C halfway through embedding

    path = content / "en" / "orders" / "cancel-order.md"
    path.write_text(path.read_text().replace("free", "free of charge"))
    with pytest.raises(KeyboardInterrupt):
        build_index(Library.load(content), data, Exploding())
    assert current_generation(data) == before
    assert Engine(data).search("cancel", lang="en").hits


def test_index_from_another_embedder_is_an_error(tmp_path: Path) -> None:
    content = write_help_center(tmp_path / "content")
    data = tmp_path / "data"
    build_index(Library.load(content), data, get_embedder("use-multilingual"))
    with pytest.raises(KbError, match="reindex"):
        load_index(data, "e5-small")


def test_missing_index_says_to_run_kb_index(tmp_path: Path) -> None:
    with pytest.raises(KbError, match="kb index"):
        Engine(tmp_path / "nothing")


def test_approximate_index_above_threshold(tmp_path: Path) -> None:
    content = write_help_center(tmp_path / "content")
    data = tmp_path / "data"
    report = build_index(Library.load(content), data, get_embedder("use-multilingual"), ann_threshold=5)
    assert report.index_type.startswith("ivf")
    assert Engine(data).search("BLIK code", lang="en").hits[0].id == "pay-with-blik"


# -- incremental builds reuse the previous generation and equal a build from scratch ---------------
def _gen_files(data: Path) -> dict[str, bytes]:
    gen = current_generation(data)
    assert gen is not None
    return {str(p.relative_to(gen)): p.read_bytes() for p in sorted(gen.rglob("*"))
            if p.is_file() and p.name not in ("manifest.json", "head.json")}  # they hold the time


def _manifest_articles(data: Path) -> dict[str, dict[str, object]]:
    return load_index(data).manifest["articles"]


def _edit_several(content: Path) -> None:
    path = content / "en" / "payments" / "pay-with-blik.md"
    path.write_text(path.read_text().replace("two minutes", "120 seconds"))
    (content / "en" / "shipping" / "track-parcel.md").unlink()
    (content / "en" / "orders" / "gift-cards.md").write_text(
        "---\nid: gift-cards\ntitle: Can I pay with a gift card?\ncategory: orders\nupdated: 2026-02-01\n---\n"
        "Enter the gift card code at checkout.\n\n## Balance\n\nThe balance shows in My account.\n")


def test_incremental_build_equals_a_build_from_scratch(tmp_path: Path) -> None:
    import shutil

    content = write_help_center(tmp_path / "content")
    inc, scratch = tmp_path / "inc", tmp_path / "scratch"
    emb = get_embedder("use-multilingual")
    build_index(Library.load(content), inc, emb)
    _edit_several(content)
    report = build_index(Library.load(content), inc, emb)
    assert report.removed == 1 and report.embedded == 2  # the edited and the new article
    (scratch / "cache").mkdir(parents=True)  # same embeddings: a scratch build reads them from the cache
    shutil.copy(inc / "cache" / "embeddings.sqlite", scratch / "cache" / "embeddings.sqlite")
    build_index(Library.load(content), scratch, emb)

    assert _gen_files(inc) == _gen_files(scratch)  # passages, articles, vectors, FAISS, BM25: byte for byte
    assert _manifest_articles(inc) == _manifest_articles(scratch)
    a, b = Engine(inc), Engine(scratch)
    for query, lang in [("pay with BLIK", "en"), ("gift card balance", "en"), ("Bestellung stornieren", "de"),
                        ("where is my parcel", "en"), ("refund card", "pl")]:
        ra, rb = a.search(query, lang=lang, k=5), b.search(query, lang=lang, k=5)
        assert [h.to_dict() for h in ra.hits] == [h.to_dict() for h in rb.hits]


def test_unchanged_locales_share_their_bm25_files_with_the_previous_generation(tmp_path: Path) -> None:
    content = write_help_center(tmp_path / "content")
    data = tmp_path / "data"
    emb = get_embedder("use-multilingual")
    build_index(Library.load(content), data, emb)
    before = current_generation(data)
    assert before is not None
    path = content / "en" / "payments" / "pay-with-blik.md"
    path.write_text(path.read_text().replace("two minutes", "120 seconds"))
    build_index(Library.load(content), data, emb)
    after = current_generation(data)
    assert after is not None and after != before
    for locale_dir in after.glob("bm25-*"):
        shared = (locale_dir / "vocab.index.json").stat().st_ino == (
            before / locale_dir.name / "vocab.index.json").stat().st_ino
        assert shared == (locale_dir.name != "bm25-en"), locale_dir.name


def test_a_build_failing_after_linking_leaves_the_old_generation_whole(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from kb.search.index import writers

    content = write_help_center(tmp_path / "content")
    data = tmp_path / "data"
    emb = get_embedder("use-multilingual")
    build_index(Library.load(content), data, emb)
    before = current_generation(data)
    files = _gen_files(data)
    path = content / "en" / "payments" / "pay-with-blik.md"
    path.write_text(path.read_text().replace("two minutes", "120 seconds"))

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(writers, "save_model", broken)
    with pytest.raises(OSError, match="disk full"):
        build_index(Library.load(content), data, emb)
    assert current_generation(data) == before and _gen_files(data) == files
    assert not list((data / "index").glob(".tmp-*"))
    assert Engine(data).search("BLIK code", lang="en").hits[0].id == "pay-with-blik"


def test_ivf_reuses_the_trained_quantizer_and_the_lists_of_unchanged_rows(tmp_path: Path) -> None:
    import faiss

    content = write_help_center(tmp_path / "content")
    data = tmp_path / "data"
    emb = get_embedder("use-multilingual")
    first = build_index(Library.load(content), data, emb, ann_threshold=5)
    before = current_generation(data)
    assert before is not None and first.index_type.startswith("ivf")
    path = content / "en" / "payments" / "pay-with-blik.md"
    path.write_text(path.read_text().replace("two minutes", "120 seconds"))
    second = build_index(Library.load(content), data, emb, ann_threshold=5)
    after = current_generation(data)
    assert after is not None and second.index_type == first.index_type
    assert (after / "ivf-trained.faiss").stat().st_ino == (before / "ivf-trained.faiss").stat().st_ino
    # the same index as adding every vector to the reused quantizer from scratch
    expected = faiss.read_index(str(after / "ivf-trained.faiss"))
    expected.add(np.load(after / "vectors.npy").astype(np.float32))
    got = faiss.read_index(str(after / "dense.faiss"))
    assert np.array_equal(faiss.serialize_index(got), faiss.serialize_index(expected))
    assert Engine(data).search("BLIK code", lang="en").hits[0].id == "pay-with-blik"


def test_bm25_built_from_tokens_scores_as_bm25s_does() -> None:
    import bm25s

    from kb.search.lexical import build_model, join_tokens, tokenize

    texts = ["Cancel an order before it ships", "", "Track the parcel: parcel number, parcel link",
             "Refunds go back to the card", "the the the", "Order order ORDER cancel"]
    tokens = join_tokens([(texts, "en")])
    ours = build_model(tokens)
    ref = bm25s.BM25()
    ref.index([tokenize(t, "en") or ["_"] for t in texts], show_progress=False)
    assert ours.vocab_dict.keys() == ref.vocab_dict.keys() and ours.scores["num_docs"] == ref.scores["num_docs"]
    for token, i in ours.vocab_dict.items():
        if token == "":
            continue
        j = ref.vocab_dict[token]
        a = slice(ours.scores["indptr"][i], ours.scores["indptr"][i + 1])
        b = slice(ref.scores["indptr"][j], ref.scores["indptr"][j + 1])
        assert ours.scores["indices"][a].tolist() == ref.scores["indices"][b].tolist()
        assert ours.scores["data"][a].tobytes() == ref.scores["data"][b].tobytes()  # bit for bit
    for key in ("data", "indices", "indptr"):
        assert ours.scores[key].dtype == ref.scores[key].dtype
    # pieced from saved slices and fresh texts: the same tokens, vocabulary order included
    first = join_tokens([(texts[:3], "en")])
    pieced = join_tokens([first, (texts[3:], "en")])
    assert pieced.vocab == tokens.vocab
    assert pieced.ids.tolist() == tokens.ids.tolist() and pieced.offsets.tolist() == tokens.offsets.tolist()


def test_the_edited_locale_reuses_the_saved_tokens_of_unchanged_articles(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import kb.search.lexical as lexical_mod

    content = write_help_center(tmp_path / "content")
    data = tmp_path / "data"
    emb = get_embedder("use-multilingual")
    build_index(Library.load(content), data, emb)
    path = content / "en" / "payments" / "pay-with-blik.md"
    path.write_text(path.read_text().replace("two minutes", "120 seconds"))
    tokenized: list[str] = []
    original = lexical_mod.tokenize

    def counting(text: str, locale: str) -> list[str]:
        tokenized.append(text)
        return original(text, locale)

    monkeypatch.setattr(lexical_mod, "tokenize", counting)
    build_index(Library.load(content), data, emb)
    edited = Library.load(content).get("pay-with-blik", "en")
    assert edited is not None
    from kb.search.passages import passages

    assert sorted(tokenized) == sorted(p.embed_text for p in passages(edited))  # only the edited article


@pytest.mark.parametrize("ann_threshold", [10**9, 5], ids=["flat", "ivf"])
def test_faiss_index_added_a_block_at_a_time_is_the_same_index(tmp_path: Path, ann_threshold: int,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Vectors are widened from float16 and added in blocks: a block smaller than the index gives
    the very index that one block of everything gives."""
    import faiss

    from kb.search.index import dense

    content = write_help_center(tmp_path / "content")
    emb = get_embedder("use-multilingual")
    build_index(Library.load(content), tmp_path / "one", emb, ann_threshold=ann_threshold)
    monkeypatch.setattr(dense, "ADD_BLOCK", 7)
    build_index(Library.load(content), tmp_path / "blocks", emb, ann_threshold=ann_threshold)
    one, blocks = current_generation(tmp_path / "one"), current_generation(tmp_path / "blocks")
    assert one is not None and blocks is not None
    a, b = faiss.read_index(str(one / "dense.faiss")), faiss.read_index(str(blocks / "dense.faiss"))
    assert a.ntotal == b.ntotal > 7
    assert np.array_equal(faiss.serialize_index(a), faiss.serialize_index(b))
    if ann_threshold == 5:
        assert np.array_equal(np.load(one / "ivf-assign.npy"), np.load(blocks / "ivf-assign.npy"))


@pytest.mark.parametrize("settled", [True, False], ids=["live-for-a-while", "just-swapped-in"])
def test_old_generations_go_while_the_next_one_is_built(tmp_path: Path, settled: bool,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from kb.search.index import build, layout

    content = write_help_center(tmp_path / "content")
    data = tmp_path / "data"
    emb = get_embedder("use-multilingual")
    path = content / "en" / "payments" / "pay-with-blik.md"
    made, left_during_build = [], []
    real_records = build.article_records

    def records(library: Library) -> list:
        time.sleep(0.3)  # the collector runs meanwhile
        left_during_build.append(sorted(p.name for p in (data / "index").glob("gen-*")))
        return real_records(library)

    monkeypatch.setattr(build, "article_records", records)
    for n in range(4):
        path.write_text(path.read_text() + f"\nEdit {n}.\n")
        if settled and (data / "index" / "CURRENT").exists():  # the live generation is old
            old = time.time() - layout.GC_GRACE - 5
            os.utime(data / "index" / "CURRENT", (old, old))
        build_index(Library.load(content), data, emb)
        gen = current_generation(data)
        assert gen is not None
        made.append(gen.name)
        time.sleep(0.01)  # distinct modification times
    left = sorted(p.name for p in (data / "index").glob("gen-*"))
    assert left == sorted(made[-2:])  # the live generation and the one before it
    # during the 4th build: only the live generation left when it had been live for a while
    assert left_during_build[3] == ([made[2]] if settled else sorted(made[1:3]))
    assert Engine(data).search("BLIK", lang="en").hits[0].id == "pay-with-blik"


def test_faiss_follows_the_serving_thread_rule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A search alone takes KB_QUERY_THREADS of FAISS's threads (cores ÷ workers under --workers),
    a batch of queries every core and then one: FAISS's default, every core for every search,
    put 4 busy threads on 2 cores with two workers."""
    import faiss

    from kb.search.index import load as load_mod

    monkeypatch.setenv("KB_QUERY_THREADS", "3")
    monkeypatch.setattr(load_mod, "_faiss_threads", None)
    content = write_help_center(tmp_path / "content")
    data = tmp_path / "data"
    build_index(Library.load(content), data, get_embedder("use-multilingual"))
    index = load_index(data)
    qvecs = get_embedder("use-multilingual").encode_queries(["where is my parcel", "BLIK code"])
    seen: list[int] = []

    def search(vecs: np.ndarray, batch: bool) -> None:  # in a thread of its own, as a request is served
        index.dense_search_many(vecs, 3, batch=batch)
        seen.append(faiss.omp_get_max_threads())

    for vecs, batch in ((qvecs[:1], False), (qvecs, False), (qvecs, True)):
        thread = threading.Thread(target=search, args=(vecs, batch))
        thread.start()
        thread.join()
    assert load_mod.faiss_threads().query_cores == 3
    # alone: KB_QUERY_THREADS, also for a search with two vectors; after a batch: back to one
    assert seen == [3, 3, 1]
