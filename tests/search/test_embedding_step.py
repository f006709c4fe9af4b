"""Embedding during `kb index`: batches saved to the cache as they finish (a killed run keeps
them), batch order, and the progress a person sees (kb/search/embedding.py, kb/search/progress.py)."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
from helpers import write_help_center

from kb.content.library import Library
from kb.search import embedding
from kb.search.cache import EmbeddingCache
from kb.search.embedding import EmbedStats, batch_order, embed_missing
from kb.search.index import build_index, load_index
from kb.search.progress import EmbedProgress, duration, summary


class HashEmbedder:
    """Deterministic vectors from each text's hash; records every passage it embeds, and can be
    told to fail (like a Ctrl-C) when asked for batch number `fail_at` (0-based)."""

    name, version, dim = "hash-test", "1", 16

    def __init__(self, fail_at: int | None = None) -> None:
        self.fail_at = fail_at
        self.batches: list[list[str]] = []

    def _vec(self, text: str) -> np.ndarray:
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
        v = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
        return v / np.linalg.norm(v)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return np.vstack([self._vec(t) for t in texts])

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        if self.fail_at is not None and len(self.batches) == self.fail_at:
            raise KeyboardInterrupt
        self.batches.append(list(texts))
        return np.vstack([self._vec(t) for t in texts])

    @property
    def embedded(self) -> list[str]:
        return [t for b in self.batches for t in b]


def test_a_killed_index_keeps_its_finished_batches_and_the_next_run_embeds_only_the_rest(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedding, "BATCH_MOST", 4)
    content = write_help_center(tmp_path / "content")
    data = tmp_path / "data"
    killed = HashEmbedder(fail_at=2)
    with pytest.raises(KeyboardInterrupt):
        build_index(Library.load(content), data, killed)
    saved = killed.embedded
    assert len(killed.batches) == 2 and len(saved) >= 5  # two batches (of 4, or fewer) done, the third interrupted

    resumed = HashEmbedder()
    report = build_index(Library.load(content), data, resumed)
    assert resumed.embedded and not set(resumed.embedded) & set(saved)  # none embedded twice
    assert report.passages == len(saved) + len(resumed.embedded) > len(saved)

    # the index is the one an uninterrupted run builds
    whole = HashEmbedder()
    build_index(Library.load(content), tmp_path / "fresh", whole)
    assert sorted(whole.embedded) == sorted(saved + resumed.embedded)
    a, b = load_index(data), load_index(tmp_path / "fresh")
    # served passages carry no embed_text (kb/search/index/load.py): matched by what identifies them
    def key(p):  # type: ignore[no-untyped-def]
        return (p.article_id, p.locale, p.kind, p.anchor, p.text)

    row_a = {key(p): i for i, p in enumerate(a.passages)}
    assert len(row_a) == len(a.passages) == len(b.passages)
    rows = [row_a[key(p)] for p in b.passages]
    assert np.array_equal(a.vectors[rows], b.vectors[list(range(len(b.passages)))])


def test_each_batch_is_in_the_cache_before_the_next_starts(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "emb.sqlite")
    missing = {f"k{i}": "x" * (i + 1) for i in range(10)}
    seen: list[int] = []

    class Watching(HashEmbedder):
        def encode_passages(self, texts: list[str]) -> np.ndarray:
            seen.append(len(cache.get_many(list(missing), self.dim)))  # what is saved when a batch starts
            return super().encode_passages(texts)

    watching = Watching()
    out = embed_missing(missing, watching, cache, most=3)
    sizes = [len(b) for b in watching.batches]
    assert sorted(sizes) == [1, 3, 3, 3]
    assert seen == [sum(sizes[:i]) for i in range(len(sizes))]  # every earlier batch already saved
    assert set(out) == set(missing) and len(cache.get_many(list(missing), 16)) == 10
    cache.close()


def test_batches_hold_similar_lengths_and_alternate_long_and_short() -> None:
    texts = {f"k{i}": "w" * n for i, n in enumerate([5, 50, 1, 40, 3, 30, 2, 20, 4, 10])}
    order = batch_order(texts, chars=1000, most=2)
    lengths = [[len(texts[k]) for k in batch] for batch in order]
    assert lengths == [[50, 40], [2, 1], [30, 20], [4, 3], [10, 5]]
    assert sorted(k for b in order for k in b) == sorted(texts)
    # by the amount of text: many short passages to a batch, one too long for the budget alone
    order = batch_order(texts | {"huge": "h" * 500}, chars=60, most=100)
    lengths = [[len(texts[k]) if k in texts else 500 for k in batch] for batch in order]
    assert lengths == [[500], [5, 4, 3, 2, 1], [50], [30, 20, 10], [40]]


def test_progress_gets_every_batch_and_the_summary_even_when_interrupted(tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    finished: list[EmbedStats] = []

    class Recorder:
        def __call__(self, done: int, total: int) -> None:
            calls.append((done, total))

        def finish(self, stats: EmbedStats) -> None:
            finished.append(stats)

    cache = EmbeddingCache(tmp_path / "emb.sqlite")
    missing = {f"k{i}": f"text {i}" for i in range(7)}
    with pytest.raises(KeyboardInterrupt):
        embed_missing(missing, HashEmbedder(fail_at=2), cache, cached=5, progress=Recorder(), most=3)
    assert calls == [(0, 7), (3, 7), (4, 7)]  # batches of 3 and 1 (the last, shortest texts), then the failure
    assert len(finished) == 1 and (finished[0].embedded, finished[0].total, finished[0].cached) == (4, 7, 5)
    assert not finished[0].complete
    cache.close()


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_plain_progress_lines_give_the_rate_and_the_time_left() -> None:
    out, clock = io.StringIO(), Clock()
    progress = EmbedProgress(stream=out, tty=False, every=5.0, clock=clock)
    progress(0, 1000)
    clock.now += 2
    progress(100, 1000)  # within 5 s of the last line: not printed
    clock.now += 8
    progress(500, 1000)
    clock.now += 10
    progress(1000, 1000)
    progress.finish(EmbedStats(1000, 1000, 24, 20.0))
    lines = out.getvalue().splitlines()
    assert lines == ["embedding passages 0/1000 (0%)",
                     "embedding passages 500/1000 (50%), 50.0/s, about 10s left",
                     "embedding passages 1000/1000 (100%), 50.0/s",
                     "embedded 1000 passages in 20.0s (50.0/s); 24 reused from the cache"]


def test_terminal_progress_draws_a_bar_with_rate_and_time_left() -> None:
    out, clock = io.StringIO(), Clock()
    progress = EmbedProgress(stream=out, tty=True, clock=clock)
    progress(0, 300)
    clock.now += 10
    progress(100, 300)
    progress.finish(EmbedStats(100, 300, 0, 10.0))
    text = out.getvalue()
    assert "embedding passages" in text and "100/300" in text
    assert "10.0 passages/s, 20s left" in text
    assert "stopped after embedding 100 of 300 passages in 10.0s" in text.rstrip().splitlines()[-1]


def test_durations_read_as_a_person_would_say_them() -> None:
    assert [duration(s) for s in (0, 59.4, 61, 3599, 3600, 7322)] == ["0s", "59s", "1m01s", "59m59s", "1h00m", "2h02m"]
    assert "the next run embeds only the rest" in summary(EmbedStats(3, 10, 0, 1.0))
