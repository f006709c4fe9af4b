"""The dense side of a full generation: the passage vectors (vectors.npy, float16) and the
FAISS index over them (dense.faiss): exact inner product below ANN_THRESHOLD passages, else IVF
(ivf-trained.faiss and ivf-assign.npy beside it, so the next build need not train again).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from kb.search.index.manifest import Previous
from kb.search.index.records import Part

ANN_THRESHOLD = 200_000  # passages; above it an IVF index replaces exact search
IVF_REUSE = 0.1  # reuse a trained IVF while the list count it would pick changes by at most 10%
ADD_BLOCK = 65536  # rows widened to float32 and added to FAISS at a time


def runs(parts: list[Part]) -> Iterator[tuple[int, int, int, int | None]]:
    """Contiguous stretches of vector rows: (start, end) here and (start, end) in the previous
    generation (-1, None for a part with fresh vectors); reused neighbours make one stretch."""
    row = 0
    run: list[int] | None = None  # [new start, new end, old start, old end]
    for part in parts:
        n = part.count
        if part.old_rows is not None:
            lo, hi = part.old_rows
            if run is not None and run[3] == lo:
                run[1], run[3] = run[1] + n, hi
            else:
                if run is not None:
                    yield run[0], run[1], run[2], run[3]
                run = [row, row + n, lo, hi]
        else:
            if run is not None:
                yield run[0], run[1], run[2], run[3]
                run = None
            yield row, row + n, -1, None
        row += n
    if run is not None:
        yield run[0], run[1], run[2], run[3]


def assemble_vectors(parts: list[Part], prev: Previous | None, dim: int) -> np.ndarray:
    """Every part's vectors in order, float16: the previous generation's rows where they are
    the same, else those embedded (or read from the cache) now."""
    total = sum(part.count for part in parts)
    out = np.empty((total, dim), dtype=np.float16)
    fresh = iter([part for part in parts if part.old_rows is None])
    for lo, hi, old_lo, old_hi in runs(parts):
        if old_hi is not None:
            assert prev is not None
            out[lo:hi] = prev.vectors[old_lo:old_hi]
        else:
            vectors = next(fresh).vectors
            assert vectors is not None
            out[lo:hi] = vectors
    return out


def _f32(block: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(block, dtype=np.float32)


def faiss_index(vectors: np.ndarray, ann_threshold: int, directory: Path | None = None,
                prev: Previous | None = None, parts: list[Part] | None = None) -> tuple[Any, str]:
    """Exact search below `ann_threshold` passages, else IVF. `vectors` may be float16: they are
    widened a block at a time (never all at once: 4 bytes a dimension of every passage).
    With `directory`, an IVF build saves its trained (empty) index and each row's inverted list
    beside it, and takes both from the previous generation (no k-means; unchanged rows keep their
    list) while the list count it would choose stays within IVF_REUSE of the previous one."""
    n, dim = vectors.shape
    if n < ann_threshold:
        index = faiss.IndexFlatIP(dim)
        for lo in range(0, n, ADD_BLOCK):
            index.add(_f32(vectors[lo : lo + ADD_BLOCK]))
        return index, "flat"
    nlist = int(4 * np.sqrt(n))
    reused = _previous_ivf(prev, parts, n, dim, nlist) if directory is not None else None
    if reused is None:
        index = faiss.index_factory(dim, f"IVF{nlist},SQfp16", faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(0)
        sample = _f32(vectors[rng.choice(n, size=min(n, 50 * nlist), replace=False)])
        index.train(sample)
        del sample
        assign = np.full(n, -1, dtype=np.int64)
        if directory is not None:
            faiss.write_index(index, str(directory / "ivf-trained.faiss"))
    else:
        index, assign = reused
        assert prev is not None and directory is not None
        os.link(prev.path / "ivf-trained.faiss", directory / "ivf-trained.faiss")
    ivf = faiss.extract_index_ivf(index)
    todo = np.flatnonzero(assign < 0)
    for lo in range(0, len(todo), ADD_BLOCK):
        rows = todo[lo : lo + ADD_BLOCK]
        _, lists = ivf.quantizer.search(_f32(vectors[rows]), 1)
        assign[rows] = lists.ravel()
    for lo in range(0, n, ADD_BLOCK):  # what index.add does, with the lists already known
        part = _f32(vectors[lo : lo + ADD_BLOCK])
        lists = np.ascontiguousarray(assign[lo : lo + ADD_BLOCK])
        index.add_core(len(part), faiss.swig_ptr(part), None, faiss.swig_ptr(lists))
    if directory is not None:
        np.save(directory / "ivf-assign.npy", assign)
    return index, f"ivf{ivf.nlist}"


def _previous_ivf(prev: Previous | None, parts: list[Part] | None, n: int, dim: int,
                  nlist: int) -> tuple[Any, np.ndarray] | None:
    """The previous generation's trained IVF index and, per new row, its list (-1 if unknown)."""
    if prev is None or parts is None or not str(prev.index_type).startswith("ivf"):
        return None
    try:
        old_nlist = int(prev.index_type[3:])
        if abs(nlist - old_nlist) > IVF_REUSE * old_nlist:
            return None
        trained = faiss.read_index(str(prev.path / "ivf-trained.faiss"))
        old_assign = np.load(prev.path / "ivf-assign.npy", mmap_mode="r")
    except (OSError, RuntimeError, ValueError):
        return None
    if trained.ntotal != 0 or trained.d != dim or len(old_assign) != len(prev.vectors):
        return None
    assign = np.full(n, -1, dtype=np.int64)
    for lo, hi, old_lo, old_hi in runs(parts):
        if old_hi is not None:
            assign[lo:hi] = old_assign[old_lo:old_hi]
    return trained, assign
