"""The on-disk search index: FAISS vectors, passages, articles and BM25, one generation a folder.

Layout under the data directory (default `.kb/`):

    index/CURRENT            name of the live generation (replaced atomically)
    index/gen-<time>-<pid>/  manifest.json, articles.jsonl, passages.jsonl, vectors.npy,
                             dense.faiss, bm25-<locale>/
    cache/embeddings.sqlite  embedding cache keyed by text hash and model

A build writes a new generation beside the live one and then swaps CURRENT, so a crash or a
concurrent reader never sees a half-written index. Unchanged articles reuse their vectors.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from kb.content.library import Library
from kb.errors import KbError
from kb.search.cache import EmbeddingCache
from kb.search.embedders import Embedder
from kb.search.lexical import Lexical
from kb.search.passages import Passage, passages

FORMAT = 1
ANN_THRESHOLD = 200_000  # passages; above it an IVF index replaces exact search
KEEP_GENERATIONS = 2


@dataclass
class BuildReport:
    generation: str
    articles: int
    embedded: int  # articles whose passages were embedded now
    reused: int  # articles whose vectors came from the previous index or the cache
    removed: int
    passages: int
    seconds: float
    index_type: str


@dataclass
class ArticleRecord:
    """What the engine needs to serve an article, frozen with the index generation."""

    id: str
    locale: str
    title: str
    category: str
    path: str
    updated: str
    review: str
    machine: bool
    stale: bool
    is_translation: bool
    source_locale: str | None
    body: str
    hash: str


def _index_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "index"


@contextmanager
def _writer_lock(data_dir: Path) -> Iterator[None]:
    directory = _index_dir(data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def current_generation(data_dir: Path) -> Path | None:
    pointer = _index_dir(data_dir) / "CURRENT"
    try:
        name = pointer.read_text().strip()
    except FileNotFoundError:
        return None
    path = _index_dir(data_dir) / name
    return path if path.is_dir() else None


def _records(library: Library) -> list[ArticleRecord]:
    out = []
    for a in library.articles:
        if library.get(a.id, a.locale) is not a:
            continue  # a duplicate id in one locale: kb check reports it; the first one wins
        out.append(ArticleRecord(
            id=a.id, locale=a.locale, title=a.title, category=a.category, path=str(a.path),
            updated=a.meta.updated.isoformat(), review=a.review, machine=a.is_machine,
            stale=library.is_stale(a), is_translation=a.is_translation, source_locale=a.meta.source_locale,
            body=a.body, hash=a.hash))
    return out


def _passage_hash(items: list[Passage]) -> str:
    return hashlib.sha256("\x1e".join(p.embed_text for p in items).encode()).hexdigest()[:20]


def build_index(
    library: Library,
    data_dir: Path,
    embedder: Embedder,
    *,
    ann_threshold: int = ANN_THRESHOLD,
    progress: Callable[[int, int], None] | None = None,
) -> BuildReport:
    """Embed what changed, write a new generation, swap it in. Returns what was done."""
    started = time.perf_counter()
    data_dir = Path(data_dir)
    with _writer_lock(data_dir):
        records = _records(library)
        prev = _previous(data_dir, embedder)
        groups: list[tuple[ArticleRecord, list[Passage], str]] = []
        for rec in records:
            article = library.get(rec.id, rec.locale)
            assert article is not None
            items = passages(article)
            groups.append((rec, items, _passage_hash(items)))

        cache = EmbeddingCache(data_dir / "cache" / "embeddings.sqlite")
        model_key = f"{embedder.name}@{embedder.version}"
        blocks: list[np.ndarray] = []
        to_embed: list[tuple[int, list[str]]] = []  # (group index, cache keys)
        reused = embedded = 0
        for gi, (rec, items, phash) in enumerate(groups):
            old = prev["articles"].get(f"{rec.locale}/{rec.id}") if prev else None
            if old and old["phash"] == phash and prev is not None:
                blocks.append(np.asarray(prev["vectors"][old["start"]:old["end"]], dtype=np.float32))
                reused += 1
                continue
            keys = [EmbeddingCache.key(model_key, "passage", p.embed_text) for p in items]
            blocks.append(np.empty((0, embedder.dim), dtype=np.float32))
            to_embed.append((gi, keys))

        all_keys = [k for _, keys in to_embed for k in keys]
        hits = cache.get_many(all_keys, embedder.dim) if all_keys else {}
        missing: dict[str, str] = {}
        for gi, keys in to_embed:
            for key, p in zip(keys, groups[gi][1], strict=True):
                if key not in hits:
                    missing[key] = p.embed_text
        if missing:
            miss_keys = list(missing)
            fresh: dict[str, np.ndarray] = {}
            batch = 64
            for i in range(0, len(miss_keys), batch):
                part = miss_keys[i : i + batch]
                vecs = embedder.encode_passages([missing[k] for k in part])
                fresh.update(zip(part, vecs, strict=True))
                if progress:
                    progress(min(i + batch, len(miss_keys)), len(miss_keys))
            cache.put_many(fresh)
            hits.update(fresh)
        cache.close()
        for gi, keys in to_embed:
            all_hit = all(k not in missing for k in keys)
            blocks[gi] = (np.vstack([hits[k] for k in keys]) if keys
                          else np.empty((0, embedder.dim), dtype=np.float32))
            if all_hit:
                reused += 1
            else:
                embedded += 1

        vectors = np.vstack(blocks).astype(np.float32) if blocks else np.empty((0, embedder.dim), np.float32)
        flat: list[Passage] = [p for _, items, _ in groups for p in items]
        manifest_articles: dict[str, dict[str, Any]] = {}
        row = 0
        for rec, items, phash in groups:
            manifest_articles[f"{rec.locale}/{rec.id}"] = {
                "hash": rec.hash, "phash": phash, "start": row, "end": row + len(items)}
            row += len(items)
        removed = len(set(prev["articles"]) - set(manifest_articles)) if prev else 0

        generation = f"gen-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{int(time.time() * 1000) % 100000:05d}"
        gen_dir = _index_dir(data_dir) / generation
        tmp_dir = _index_dir(data_dir) / f".tmp-{generation}"
        tmp_dir.mkdir(parents=True)
        try:
            index, index_type = _faiss_index(vectors, ann_threshold)
            faiss.write_index(index, str(tmp_dir / "dense.faiss"))
            np.save(tmp_dir / "vectors.npy", vectors.astype(np.float16))
            _write_jsonl(tmp_dir / "passages.jsonl", (p.to_dict() for p in flat))
            _write_jsonl(tmp_dir / "articles.jsonl", (asdict(r) for r in records))
            Lexical.build([p.embed_text for p in flat], [p.locale for p in flat]).save(tmp_dir)
            manifest = {
                "format": FORMAT, "embedder": embedder.name, "embedder_version": embedder.version,
                "dim": embedder.dim, "index_type": index_type, "created": time.time(),
                "passages": len(flat), "articles": manifest_articles,
                "source_locale": library.config.source_locale, "locales": library.config.locales,
                "name": library.config.name, "config": library.config.model_dump(mode="json"),
            }
            (tmp_dir / "manifest.json").write_text(json.dumps(manifest))
            _fsync_dir(tmp_dir)
            os.rename(tmp_dir, gen_dir)
            pointer_tmp = _index_dir(data_dir) / f".CURRENT.{os.getpid()}"
            pointer_tmp.write_text(generation + "\n")
            with open(pointer_tmp) as fh:
                os.fsync(fh.fileno())
            os.replace(pointer_tmp, _index_dir(data_dir) / "CURRENT")
        except BaseException:
            shutil.rmtree(tmp_dir, ignore_errors=True)
            raise
        _collect_garbage(data_dir, keep=generation)
        return BuildReport(generation=generation, articles=len(records), embedded=embedded, reused=reused,
                           removed=removed, passages=len(flat), seconds=time.perf_counter() - started,
                           index_type=index_type)


def _faiss_index(vectors: np.ndarray, ann_threshold: int) -> tuple[Any, str]:
    n, dim = vectors.shape
    if n < ann_threshold:
        index = faiss.IndexFlatIP(dim)
        kind = "flat"
    else:
        nlist = int(4 * np.sqrt(n))
        index = faiss.index_factory(dim, f"IVF{nlist},SQfp16", faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(0)
        sample = vectors[rng.choice(n, size=min(n, 50 * nlist), replace=False)]
        index.train(sample)
        kind = f"ivf{nlist}"
    if n:
        index.add(vectors)
    return index, kind


def _previous(data_dir: Path, embedder: Embedder) -> dict[str, Any] | None:
    gen = current_generation(data_dir)
    if gen is None:
        return None
    try:
        manifest = json.loads((gen / "manifest.json").read_text())
        if (manifest.get("format") != FORMAT or manifest.get("embedder") != embedder.name
                or manifest.get("embedder_version") != embedder.version or manifest.get("dim") != embedder.dim):
            return None
        vectors = np.load(gen / "vectors.npy", mmap_mode="r")
    except (OSError, ValueError, json.JSONDecodeError):
        return None
    return {"articles": manifest["articles"], "vectors": vectors}


def _write_jsonl(path: Path, rows: Any) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    for child in path.rglob("*"):
        if child.is_file():
            with open(child, "rb") as fh:
                os.fsync(fh.fileno())


def _collect_garbage(data_dir: Path, keep: str) -> None:
    """Keep the live generation and the one before it (a reader may still be loading it)."""
    directory = _index_dir(data_dir)
    gens = sorted((p for p in directory.glob("gen-*") if p.is_dir()), key=lambda p: p.stat().st_mtime)
    old = [p for p in gens if p.name != keep][: max(0, len(gens) - KEEP_GENERATIONS)]
    for path in old:
        shutil.rmtree(path, ignore_errors=True)
    for path in directory.glob(".tmp-gen-*"):
        if time.time() - path.stat().st_mtime > 3600:  # left by a killed build
            shutil.rmtree(path, ignore_errors=True)


@dataclass
class Index:
    """A loaded, immutable generation of the index."""

    path: Path
    manifest: dict[str, Any]
    passages: list[Passage]
    articles: dict[tuple[str, str], ArticleRecord]
    dense: Any
    lexical: Lexical
    by_id: dict[str, dict[str, ArticleRecord]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for (aid, locale), record in self.articles.items():
            self.by_id.setdefault(aid, {})[locale] = record

    @property
    def generation(self) -> str:
        return self.path.name

    def dense_search(self, qvec: np.ndarray, k: int) -> list[tuple[int, float]]:
        if not self.passages:
            return []
        scores, rows = self.dense.search(np.asarray(qvec, dtype=np.float32).reshape(1, -1), min(k, len(self.passages)))
        return [(int(r), float(s)) for r, s in zip(rows[0], scores[0], strict=True) if r >= 0]


def load_index(data_dir: Path, embedder_name: str | None = None) -> Index:
    gen = current_generation(Path(data_dir))
    if gen is None:
        raise KbError(f"no search index in {data_dir}: run 'kb index' first")
    manifest = json.loads((gen / "manifest.json").read_text())
    if manifest.get("format") != FORMAT:
        raise KbError(f"the index in {gen} has format {manifest.get('format')}, this kb reads {FORMAT}: run 'kb index'")
    if embedder_name is not None and manifest["embedder"] != embedder_name:
        raise KbError(f"the index in {data_dir} was built with embedder {manifest['embedder']!r}, not "
                      f"{embedder_name!r}: run 'kb index --embedder {embedder_name}' to reindex")
    with open(gen / "passages.jsonl", encoding="utf-8") as fh:
        items = [Passage(**json.loads(line)) for line in fh]
    with open(gen / "articles.jsonl", encoding="utf-8") as fh:
        records = [ArticleRecord(**json.loads(line)) for line in fh]
    dense = faiss.read_index(str(gen / "dense.faiss"))
    if hasattr(dense, "nprobe"):
        dense.nprobe = 16
    return Index(path=gen, manifest=manifest, passages=items,
                 articles={(r.id, r.locale): r for r in records}, dense=dense, lexical=Lexical.load(gen))
