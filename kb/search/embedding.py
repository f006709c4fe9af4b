"""Embedding the passages the cache lacks, saved batch by batch.

Each batch's vectors go into the embedding cache as soon as the batch is done, so a `kb index`
that is killed keeps what it embedded and the next run embeds only the rest. Passages are
sorted by length and cut into batches of similar lengths (little padding for a batched model);
the batches run longest, shortest, next longest, ... so that the rate a progress display shows
early on holds for the whole run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from kb.search.cache import EmbeddingCache
from kb.search.embedders import Embedder

BATCH = 32  # passages a batch: a progress step, and what a killed run can lose


@dataclass(frozen=True)
class EmbedStats:
    embedded: int  # passages embedded (and saved) now
    total: int  # passages that needed embedding
    cached: int  # passages whose vectors came from the cache
    seconds: float

    @property
    def complete(self) -> bool:
        return self.embedded == self.total


def batch_order(texts: dict[str, str], size: int = BATCH) -> list[list[str]]:
    """The keys in batches of similar text length, longest and shortest batches alternating."""
    keys = sorted(texts, key=lambda k: (len(texts[k]), k), reverse=True)
    batches = [keys[i : i + size] for i in range(0, len(keys), size)]  # a short last batch holds the shortest
    out: list[list[str]] = []
    lo, hi = 0, len(batches) - 1
    while lo <= hi:
        out.append(batches[lo])
        if lo != hi:
            out.append(batches[hi])
        lo, hi = lo + 1, hi - 1
    return out


def embed_missing(missing: dict[str, str], embedder: Embedder, cache: EmbeddingCache, *, cached: int = 0,
                  progress: Callable[[int, int], None] | None = None, batch: int | None = None) -> dict[str, np.ndarray]:
    """Vectors for `missing` (cache key -> passage text), each batch put in `cache` when done.

    `progress(done, total)` is called at the start and after each batch; if it also has a
    `finish(stats)` method (kb/search/progress.py), that is called at the end, also when the
    embedder fails or the run is interrupted."""
    total = len(missing)
    out: dict[str, np.ndarray] = {}
    started = time.perf_counter()
    try:
        if progress:
            progress(0, total)
        for keys in batch_order(missing, batch or BATCH):
            vectors = embedder.encode_passages([missing[k] for k in keys])
            fresh = dict(zip(keys, vectors, strict=True))
            cache.put_many(fresh)
            out.update(fresh)
            if progress:
                progress(len(out), total)
    finally:
        finish = getattr(progress, "finish", None)
        if finish is not None:
            finish(EmbedStats(len(out), total, cached, time.perf_counter() - started))
    return out
