"""Loading the live generation for searching: `Index` (passages, records, FAISS, BM25, vectors),
and over a delta generation its base's index with the delta's rows added and the dead ones
masked.

Nothing is served unchecked: every file's size and hash against the manifest (integrity.py,
each file hashed once per process), then the counts of what was loaded (checks.py). A
generation that fails is refused with one line naming it, the file and what is wrong
(IndexDamaged); one written before hashes existed is checked by its counts only, said once.

Once checked, the big read-only parts are memory-mapped, not copied into the process: the
vectors (numpy), the FAISS index (`IO_FLAG_MMAP_IFC` for the exact index, `IO_FLAG_MMAP` for
IVF's inverted lists) and the BM25 score matrices, so the workers of `kb serve --workers N` share
one copy in the page cache. Searches give the same hits and scores either way
(tests/search/test_memory.py). KB_INDEX_MMAP=0 reads FAISS and BM25 into memory instead (for a
file system where a mapped file may vanish under a reader: see docs/deployment.md).
"""

from __future__ import annotations

import json
import logging
import marshal
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from kb.errors import KbError
from kb.search.embedcore import OpenMpThreads
from kb.search.index import checks, delta, integrity
from kb.search.index.integrity import Damage, IndexDamaged
from kb.search.index.layout import live_generation
from kb.search.index.manifest import MANIFEST, SPANS, read_manifest
from kb.search.index.records import ARTICLES, PASSAGES, ArticleRecord, Span
from kb.search.lexical import Lexical
from kb.search.passages import Passage


class FaissThreads(OpenMpThreads):
    """The embedders' thread rule for FAISS's own OpenMP team (faiss.omp_set_num_threads sets the
    calling thread's): a search alone in its process takes KB_QUERY_THREADS (every core, or
    cores ÷ workers under `kb serve --workers`), overlapping searches one core each, a batch of
    queries (the calibration's) every core. FAISS's default, every core for every search, put
    4 busy threads on 2 cores with two workers: an exact search over the 70,494 passages of a
    1,000 x 7 index took 47 ms in each of two processes at once, 19 ms with one thread each
    (and 18.6 ms with two threads alone against 19.1 with one: the scan is bound by memory)."""

    def __init__(self) -> None:
        super().__init__("faiss", faiss.omp_set_num_threads)


_faiss_threads: FaissThreads | None = None


def faiss_threads() -> FaissThreads:
    global _faiss_threads
    if _faiss_threads is None:
        _faiss_threads = FaissThreads()
    return _faiss_threads


class Vectors:
    """Passage vectors by row: the base's, memory-mapped, then a delta's, in memory."""

    def __init__(self, base: np.ndarray, extra: np.ndarray | None = None) -> None:
        self.base, self.extra = base, extra
        # read through a plain array over the same mapped pages: np.memmap's own __getitem__ and
        # __array_finalize__ run in Python on every pick (5 % of a search's CPU in a profile)
        self._rows = base.view(np.ndarray)

    def __getitem__(self, rows: list[int]) -> np.ndarray:
        if self.extra is None or not len(self.extra) or not len(rows):
            return np.asarray(self._rows[rows], dtype=np.float32)
        n = len(self.base)
        return np.vstack([np.asarray(self._rows[r], dtype=np.float32) if r < n else self.extra[r - n]
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
    verified: bool = True  # its files matched the hashes of its manifest (False: it has none)
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
        return self.dense_search_many(np.asarray(qvec, dtype=np.float32).reshape(1, -1), k)[0]

    def dense_search_many(self, qvecs: np.ndarray, k: int, *, batch: bool = False) -> list[list[tuple[int, float]]]:
        """The k best (row, score) of each query vector (a row of `qvecs`): one FAISS call for all.
        `batch`: offline work (the calibration's questions), on every core; else a shopper's
        search (one or two vectors), on the serving rule's threads."""
        queries = np.ascontiguousarray(qvecs, dtype=np.float32).reshape(-1, self.dense.d)
        out: list[list[tuple[int, float]]] = [[] for _ in range(len(queries))]
        base = self.dense.ntotal
        if base and len(queries):
            threads = faiss_threads()
            with threads.all_cores() if batch else threads.shared():
                scores, rows = self.dense.search(queries, min(k, base), params=self._params)
            out = [[(int(r), float(s)) for r, s in zip(row_ids, row_scores, strict=True) if r >= 0]
                   for row_ids, row_scores in zip(rows, scores, strict=True)]
        extra = self.vectors.extra
        if extra is not None and len(extra):
            for hits, query in zip(out, queries, strict=True):
                sims = extra @ query
                top = np.argsort(-sims, kind="stable")[:k]
                hits[:] = sorted(hits + [(base + int(i), float(sims[i])) for i in top], key=lambda hit: -hit[1])[:k]
        return out


logger = logging.getLogger("kb.search")
REQUIRED = ("embedder", "embedder_version", "dim", "passages", "articles", "locales", "source_locale", "config")


def live_manifest(data_dir: Path) -> dict[str, Any]:
    """manifest.json of the live generation, read and checked as `load_index` reads it (CURRENT,
    the format, the manifest's own checksum), without loading the generation."""
    return read_manifest(live_generation(Path(data_dir)))[0]


def load_index(data_dir: Path, embedder_name: str | None = None, reuse: Index | None = None,
               generation: Path | None = None) -> Index:
    """The live generation (or `generation`), checked. With `reuse` (the index loaded before), a
    delta over the base that one has too takes the base from it instead of reading it again: only
    the delta is read. Raises KbError, IndexDamaged for a generation that fails its checks."""
    gen = generation or live_generation(Path(data_dir))
    index, problems = open_generation(gen, embedder_name, reuse)
    if index is None:
        raise IndexDamaged(gen.name, problems[0].file, problems[0].what)
    return index


def open_generation(gen: Path, embedder_name: str | None = None,
                    reuse: Index | None = None) -> tuple[Index | None, list[Damage]]:
    """The generation in `gen` and what is wrong with it: (index, []) or (None, every problem
    found: all files that fail their hashes, else the first file that cannot be read, else
    every count that does not agree). KbError for what is no damage (another format or embedder)."""
    manifest, _sealed = read_manifest(gen)
    missing = [name for name in REQUIRED if name not in manifest]
    if missing or not isinstance(manifest["articles"], dict):
        return None, [Damage(MANIFEST, f"no {missing[0] if missing else 'articles'!r} entry")]
    if embedder_name is not None and manifest["embedder"] != embedder_name:
        raise KbError(f"the index in {gen.parent.parent} was built with embedder {manifest['embedder']!r}, not "
                      f"{embedder_name!r}: run 'kb index --embedder {embedder_name}' to reindex")
    record = manifest.get("integrity")
    counts: dict[str, Any] = {}
    if record is not None:
        problems = integrity.check_files(gen, record) if isinstance(record, dict) else \
            [Damage(MANIFEST, "integrity entry unreadable")]
        if problems:
            return None, problems
        counts = record.get("counts") or {}
    else:
        _unverified(gen)
    try:
        return _assemble(gen, manifest, counts, reuse, record is not None)
    except IndexDamaged as exc:
        return None, [Damage(exc.file, exc.what)]


def _assemble(gen: Path, manifest: dict[str, Any], counts: dict[str, Any], reuse: Index | None,
              verified: bool) -> tuple[Index | None, list[Damage]]:
    dim = int(manifest["dim"])
    if "delta" not in manifest:
        base = _load_base(gen, gen.name, manifest["articles"], manifest.get("index_type", ""))
        problems = checks.base(base.passages, base.records, base.spans, base.dense, base.lexical, base.vectors,
                               counts, int(manifest["passages"]), dim)
        if problems:
            return None, problems
        return Index(path=gen, manifest=manifest, passages=base.passages, articles=base.records, dense=base.dense,
                     lexical=Lexical(base.lexical), vectors=Vectors(base.vectors), base=base, verified=verified), []
    info = manifest["delta"]
    base_counts = {k: v for k, v in counts.items() if k != "delta"}
    if reuse is not None and reuse.base.name == info["base"] and len(reuse.base.passages) == info["base_passages"]:
        base = reuse.base  # checked when it was loaded; its files' hashes were checked again above
    else:
        with _reading(gen.name, SPANS):
            spans = marshal.loads((gen / SPANS).read_bytes())
        base = _load_base(gen, info["base"], spans, manifest.get("index_type", ""))
        problems = checks.base(base.passages, base.records, base.spans, base.dense, base.lexical, base.vectors,
                               base_counts, int(info["base_passages"]), dim)
        if problems:
            return None, problems
    with _reading(gen.name, "delta/"):
        extra, dead, passage_lines, record_lines = delta.load(gen)
        delta_models = Lexical.load_models(gen / "delta", mmap=mapping())
    spans, records = dict(base.spans), dict(base.records)
    for key in info["removed"]:
        spans.pop(key, None)
        locale, _, aid = key.partition("/")
        records.pop((aid, locale), None)
    spans.update(manifest["articles"])
    with _reading(gen.name, f"delta/{PASSAGES}"):
        items = base.passages + read_passages(passage_lines)
    with _reading(gen.name, f"delta/{ARTICLES}"):
        records.update({(r.id, r.locale): r for r in (ArticleRecord(**json.loads(line)) for line in record_lines)})
    base_rows = len(base.passages)
    problems = checks.delta(extra, dead, len(passage_lines), len(record_lines), delta_models, counts.get("delta", {}),
                            info, base_rows, int(manifest["passages"]), dim)
    if not problems:
        problems = checks.placed(items, manifest["articles"], split=base_rows)
    if problems:
        return None, problems
    lexical = Lexical(base.lexical, delta=delta_models, dead=dead)
    return Index(path=gen, manifest={**manifest, "articles": spans}, passages=items, articles=records,
                 dense=base.dense, lexical=lexical, vectors=Vectors(base.vectors, extra), base=base, dead=dead,
                 verified=verified), []


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
    g = gen.name
    with _reading(g, PASSAGES), open(gen / PASSAGES, encoding="utf-8") as fh:
        items = read_passages(fh)
    with _reading(g, ARTICLES), open(gen / ARTICLES, encoding="utf-8") as fh:
        records = {(r.id, r.locale): r for r in (ArticleRecord(**json.loads(line)) for line in fh)}
    with _reading(g, "dense.faiss"):
        dense = read_dense(gen / "dense.faiss", index_type)
    if hasattr(dense, "nprobe"):
        dense.nprobe = 16
    lexical = {}
    for sub in sorted(gen.glob("bm25-*")):
        with _reading(g, sub.name):
            lexical.update(Lexical.load_models(gen, sub.name, mmap=mapping()))
    with _reading(g, "vectors.npy"):
        vectors = np.load(gen / "vectors.npy", mmap_mode="r")
    return Base(name=name, passages=items, records=records, spans=spans, dense=dense, lexical=lexical, vectors=vectors)


@contextmanager
def _reading(generation: str, file: str) -> Iterator[None]:
    """Any failure to read or parse `file` as IndexDamaged naming it (one line, no traceback)."""
    try:
        yield
    except KbError:
        raise
    except Exception as exc:
        text = " ".join(str(exc).split())[:160] or type(exc).__name__
        raise IndexDamaged(generation, file, f"cannot be read ({type(exc).__name__}: {text})") from None


_noted: set[str] = set()


def _unverified(gen: Path) -> None:
    if str(gen) not in _noted:
        _noted.add(str(gen))
        logger.warning("generation %s was written by an older kb, without hashes: served with its counts checked "
                       "only; run 'kb index' to write one with hashes", gen.name)
