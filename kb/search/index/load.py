"""Loading the live generation for searching: `Index` (passages, records, FAISS, BM25, vectors),
and over a delta generation its base's index with the delta's rows added and the dead ones
masked.

The big read-only parts are memory-mapped, not copied into the process: the vectors (numpy), the
FAISS index (`IO_FLAG_MMAP_IFC` for the exact index, `IO_FLAG_MMAP` for IVF's inverted lists)
and the BM25 score matrices, so the workers of `kb serve --workers N` share one copy in the page
cache. Searches give the same hits and scores either way (tests/search/test_memory.py).
KB_INDEX_MMAP=0 reads FAISS and BM25 into memory instead (for a file system where a mapped file
may vanish under a reader: see docs/deployment.md).
"""

from __future__ import annotations

import json
import marshal
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from kb.errors import KbError
from kb.search.index import delta
from kb.search.index.layout import current_generation
from kb.search.index.manifest import MANIFEST, READS, SPANS
from kb.search.index.records import ARTICLES, PASSAGES, ArticleRecord, Span
from kb.search.lexical import Lexical
from kb.search.passages import Passage


class Vectors:
    """Passage vectors by row: the base's, memory-mapped, then a delta's, in memory."""

    def __init__(self, base: np.ndarray, extra: np.ndarray | None = None) -> None:
        self.base, self.extra = base, extra

    def __getitem__(self, rows: list[int]) -> np.ndarray:
        if self.extra is None or not len(self.extra) or not len(rows):
            return np.asarray(self.base[rows], dtype=np.float32)
        n = len(self.base)
        return np.vstack([np.asarray(self.base[r], dtype=np.float32) if r < n else self.extra[r - n]
                          for r in rows]).reshape(len(rows), -1)


@dataclass(frozen=True)
class Base:
    """A full generation as loaded, never changed afterwards: the index itself, or the base of a
    delta. The generations of deltas over the same base share one (loaded once, in memory once)."""

    name: str
    passages: list[Passage]
    records: dict[tuple[str, str], ArticleRecord]
    spans: dict[str, Span]
    dense: Any
    lexical: dict[str, Any]  # locale -> (BM25 model, passage rows)
    vectors: np.ndarray  # memory-mapped


@dataclass
class Index:
    """A loaded, immutable generation of the index. With a delta, rows past the base's
    (`dense.ntotal`) are the delta's, searched exactly, and the base's `dead` rows never match.
    `manifest` is manifest.json as read; over a delta, its "articles" are the base's and the
    delta's together. `passages` are as served: without their `embed_text` ("", what was
    embedded; only builds need it and they read passages.jsonl), which halves their memory."""

    path: Path
    manifest: dict[str, Any]
    passages: list[Passage]
    articles: dict[tuple[str, str], ArticleRecord]
    dense: Any
    lexical: Lexical
    vectors: Vectors
    base: Base
    dead: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    by_id: dict[str, dict[str, ArticleRecord]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for (aid, locale), record in self.articles.items():
            self.by_id.setdefault(aid, {})[locale] = record
        self._dead = frozenset(self.dead.tolist())
        self._params: Any = None
        if len(self.dead):
            self._selector = faiss.IDSelectorNot(faiss.IDSelectorBatch(self.dead))  # kept: params point to it
            self._params = (faiss.SearchParametersIVF(sel=self._selector, nprobe=self.dense.nprobe)
                            if hasattr(self.dense, "nprobe") else faiss.SearchParameters(sel=self._selector))

    @property
    def generation(self) -> str:
        return self.path.name

    def live(self, row: int) -> bool:
        return row not in self._dead

    def dense_search(self, qvec: np.ndarray, k: int) -> list[tuple[int, float]]:
        query = np.asarray(qvec, dtype=np.float32).reshape(1, -1)
        hits: list[tuple[int, float]] = []
        base = self.dense.ntotal
        if base:
            scores, rows = self.dense.search(query, min(k, base), params=self._params)
            hits = [(int(r), float(s)) for r, s in zip(rows[0], scores[0], strict=True) if r >= 0]
        extra = self.vectors.extra
        if extra is not None and len(extra):
            sims = extra @ query[0]
            top = np.argsort(-sims, kind="stable")[:k]
            hits = sorted(hits + [(base + int(i), float(sims[i])) for i in top], key=lambda hit: -hit[1])[:k]
        return hits


def _live(data_dir: Path) -> tuple[Path, dict[str, Any]]:
    gen = current_generation(Path(data_dir))
    if gen is None:
        raise KbError(f"no search index in {data_dir}: run 'kb index' first")
    manifest = json.loads((gen / MANIFEST).read_text())
    if manifest.get("format") not in READS:
        raise KbError(f"the index in {gen} has format {manifest.get('format')}, this kb reads "
                      f"{', '.join(map(str, READS))}: run 'kb index'")
    return gen, manifest


def live_manifest(data_dir: Path) -> dict[str, Any]:
    """manifest.json of the live generation, checked as `load_index` checks it, without loading it."""
    return _live(data_dir)[1]


def load_index(data_dir: Path, embedder_name: str | None = None, reuse: Index | None = None) -> Index:
    """The live generation. With `reuse` (the index loaded before), a delta over the base that
    one has too takes the base from it instead of reading it again: only the delta is read."""
    gen, manifest = _live(data_dir)
    if embedder_name is not None and manifest["embedder"] != embedder_name:
        raise KbError(f"the index in {data_dir} was built with embedder {manifest['embedder']!r}, not "
                      f"{embedder_name!r}: run 'kb index --embedder {embedder_name}' to reindex")
    if "delta" not in manifest:
        base = _load_base(gen, gen.name, manifest["articles"], manifest.get("index_type", ""))
        return Index(path=gen, manifest=manifest, passages=base.passages, articles=base.records, dense=base.dense,
                     lexical=Lexical(base.lexical), vectors=Vectors(base.vectors), base=base)
    info = manifest["delta"]
    if reuse is not None and reuse.base.name == info["base"] and len(reuse.base.passages) == info["base_passages"]:
        base = reuse.base
    else:
        base = _load_base(gen, info["base"], marshal.loads((gen / SPANS).read_bytes()), manifest.get("index_type", ""))
    extra, dead, passage_lines, record_lines = delta.load(gen)
    spans, records = dict(base.spans), dict(base.records)
    for key in info["removed"]:
        spans.pop(key, None)
        locale, _, aid = key.partition("/")
        records.pop((aid, locale), None)
    spans.update(manifest["articles"])
    items = base.passages + read_passages(passage_lines)
    records.update({(r.id, r.locale): r for r in (ArticleRecord(**json.loads(line)) for line in record_lines)})
    if len(items) != manifest["passages"] or len(extra) + len(base.vectors) != len(items):
        raise KbError(f"the index in {gen} is incomplete (its delta does not match its base): run 'kb index'")
    lexical = Lexical(base.lexical, delta=Lexical.load_models(gen / "delta", mmap=mapping()), dead=dead)
    return Index(path=gen, manifest={**manifest, "articles": spans}, passages=items, articles=records,
                 dense=base.dense, lexical=lexical, vectors=Vectors(base.vectors, extra), base=base, dead=dead)


def read_passages(lines: Iterable[str]) -> list[Passage]:
    """Passages for serving, lean: no `embed_text`, and the strings that repeat from passage to
    passage (article id, locale, kind, anchor, heading) held once (a third of the memory of
    `Passage(**json.loads(line))`: 43 instead of 122 MB for 70,000 passages)."""
    memo: dict[str, str] = {}
    once = memo.setdefault
    items = []
    for line in lines:
        d = json.loads(line)
        items.append(Passage(once(d["article_id"], d["article_id"]), once(d["locale"], d["locale"]),
                             once(d["kind"], d["kind"]), once(d["anchor"], d["anchor"]),
                             once(d["heading"], d["heading"]), d["text"], ""))
    return items


def mapping() -> bool:
    """Map the FAISS index and the BM25 matrices (the default), or copy them (KB_INDEX_MMAP=0)."""
    return os.environ.get("KB_INDEX_MMAP", "1").strip().lower() not in ("0", "false", "no", "off")


def mmap_flags(index_type: str) -> int:
    """The FAISS read flags that map `dense.faiss` instead of copying it (0: copy)."""
    if not mapping():
        return 0
    if index_type == "flat":
        return faiss.IO_FLAG_MMAP_IFC
    return faiss.IO_FLAG_MMAP if index_type.startswith("ivf") else 0


def read_dense(path: Path, index_type: str) -> Any:
    """`dense.faiss` memory-mapped where FAISS can (see mmap_flags), else read into memory."""
    flags = mmap_flags(index_type)
    if flags:
        try:
            index = faiss.read_index(str(path), flags)
        except RuntimeError:
            pass  # a file FAISS cannot map: read it the ordinary way
        else:
            if flags == faiss.IO_FLAG_MMAP:
                # mapped IVF lists: no prefetch threads (FAISS starts up to 32 for each search)
                faiss.downcast_InvertedLists(faiss.extract_index_ivf(index).invlists).prefetch_nthread = 0
            return index
    return faiss.read_index(str(path))


def _load_base(gen: Path, name: str, spans: dict[str, Span], index_type: str) -> Base:
    """The full generation in `gen` (a delta's folder holds its base's files under the same names)."""
    with open(gen / PASSAGES, encoding="utf-8") as fh:
        items = read_passages(fh)
    with open(gen / ARTICLES, encoding="utf-8") as fh:
        records = {(r.id, r.locale): r for r in (ArticleRecord(**json.loads(line)) for line in fh)}
    dense = read_dense(gen / "dense.faiss", index_type)
    if hasattr(dense, "nprobe"):
        dense.nprobe = 16
    return Base(name=name, passages=items, records=records, spans=spans, dense=dense,
                lexical=Lexical.load_models(gen, mmap=mapping()), vectors=np.load(gen / "vectors.npy", mmap_mode="r"))
