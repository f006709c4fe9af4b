"""The on-disk search index: FAISS vectors, passages, articles and BM25, one generation a folder.

Layout under the data directory (default `.kb/`):

    index/CURRENT            name of the live generation (replaced atomically)
    index/gen-<time>-<pid>/  manifest.json, articles.jsonl, passages.jsonl, vectors.npy,
                             dense.faiss, bm25-<locale>/, spans.marshal and head.json (the
                             manifest's articles and the rest of it apart, quick to read),
                             files.marshal (kb/search/files.py); a delta generation has the
                             base's files, base.json and delta/ instead (kb/search/delta.py)
    cache/embeddings.sqlite  embedding cache keyed by text hash and model

A build writes a new generation beside the live one and then swaps CURRENT, so a crash or a
concurrent reader never sees a half-written index. Unchanged articles reuse their vectors.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import marshal
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from kb.content.article import Article
from kb.content.library import Library
from kb.errors import KbError
from kb.search import delta, files
from kb.search.cache import EmbeddingCache
from kb.search.embedders import Embedder
from kb.search.embedding import embed_missing
from kb.search.lexical import (
    Lexical,
    Tokens,
    build_model,
    join_tokens,
    lexical_version,
    link_model,
    load_tokens,
    save_model,
)
from kb.search.passages import Passage, passages

FORMAT = 2  # 2: delta generations (kb/search/delta.py), which kb versions reading format 1 would misread
READS = (1, 2)  # a format-1 generation is a full one, laid out as format 2's
SPANS = delta.SPANS
HEAD = delta.HEAD
ANN_THRESHOLD = 200_000  # passages; above it an IVF index replaces exact search
KEEP_GENERATIONS = 2
GC_GRACE = 60.0  # seconds a replaced generation is kept at least, for readers still loading it
IVF_REUSE = 0.1  # reuse a trained IVF while the list count it would pick changes by at most 10%


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
    delta_over: str | None = None  # the base generation, when this one is a delta over it


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
            body=a.body, hash=library.hash_of(a)))
    return out


def _passage_hash(items: list[Passage]) -> str:
    return hashlib.sha256("\x1e".join(p.embed_text for p in items).encode()).hexdigest()[:20]


def _split_version() -> str:
    """Changes when splitting articles into passages may change: passages are reused only under it."""
    from kb.content import article as article_mod
    from kb.content import sections as sections_mod
    from kb.search import passages as passages_mod

    sources = [Path(m.__file__).read_bytes() for m in (passages_mod, sections_mod, article_mod) if m.__file__]
    return hashlib.sha256(b"\x1e".join(sources)).hexdigest()[:16]


def _digest(values: tuple[str | bool | None, ...]) -> str:
    """A key for a sequence of strings, booleans and None: each value typed and length-prefixed,
    so different sequences never give the same bytes."""
    h = hashlib.sha256()
    for value in values:
        if isinstance(value, str):
            data = value.encode("utf-8", "surrogatepass")
            h.update(b"s%d:" % len(data))
            h.update(data)
        else:
            h.update(b"n" if value is None else b"t" if value else b"f")
    return h.hexdigest()[:24]


def _passage_key(article: Article, version: str) -> str:
    """Everything `passages(article)` reads: equal keys give equal passages."""
    questions = article.meta.questions
    return _digest((version, article.id, article.locale, article.title, str(len(questions)), *questions,
                    article.body))


@dataclass
class _Part:
    """One article's share of the new generation: its passages either reused from the previous
    generation (rows and bytes there) or split now (items)."""

    rec: ArticleRecord
    pkey: str
    phash: str
    count: int
    old: dict[str, Any] | None = None  # the previous manifest entry when the passages are reused
    items: list[Passage] | None = None
    old_rows: tuple[int, int] | None = None  # the previous generation's vector rows, when the same
    vectors: np.ndarray | None = None  # float32, for passages embedded or read from the cache now


def build_index(
    library: Library,
    data_dir: Path,
    embedder: Embedder,
    *,
    ann_threshold: int = ANN_THRESHOLD,
    delta_min: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> BuildReport:
    """Embed what changed, write a new generation, swap it in. Returns what was done.

    What belongs to unchanged articles is taken from the previous generation as it is: their
    passage lines and vectors, and the BM25 model of every locale none of whose articles changed
    (hard-linked). The result is the same as a build from scratch with the same embeddings.
    A small change to an index of `delta_min` (default delta.DELTA_MIN) passages or more writes a
    delta generation instead (kb/search/delta.py): the base's files hard-linked, and what changed.
    """
    report = _build(library, data_dir, embedder, ann_threshold,
                    delta.DELTA_MIN if delta_min is None else delta_min, progress, None)
    assert report is not None
    return report


@dataclass
class Scope:
    """A library that holds only some translation groups (`ids`): the groups a few changed files
    belong to. Built over `generation`, the other articles are kept as they are there. `files`
    is the file table of the result (kb/search/files.py)."""

    generation: str
    ids: set[str]
    files: files.Table


def build_delta(library: Library, data_dir: Path, embedder: Embedder, scope: Scope, *,
                progress: Callable[[int, int], None] | None = None) -> BuildReport | None:
    """A delta generation over `scope.generation` from a library of some translation groups
    (kb/search/update.py), or None when the live generation is another one, or too small for
    deltas (delta.DELTA_MIN), or the change too large: then a build from the whole library is needed."""
    return _build(library, data_dir, embedder, ANN_THRESHOLD, delta.DELTA_MIN, progress, scope)


def _build(library: Library, data_dir: Path, embedder: Embedder, ann_threshold: int, delta_min: int,
           progress: Callable[[int, int], None] | None, scope: Scope | None) -> BuildReport | None:
    started = time.perf_counter()
    data_dir = Path(data_dir)
    with _writer_lock(data_dir), _collecting_garbage(data_dir):
        prev = _previous(data_dir, embedder)
        if scope is not None and (prev is None or prev["path"].name != scope.generation):
            return None
        records = _records(library)
        version = _split_version()
        prev_articles: dict[str, Any] = prev["articles"] if prev and prev["split_version"] == version else {}
        parts: list[_Part] = []
        for rec in records:
            article = library.get(rec.id, rec.locale)
            assert article is not None
            pkey = _passage_key(article, version)
            old = prev_articles.get(f"{rec.locale}/{rec.id}")
            if old is not None and old.get("pkey") == pkey and "bytes" in old:
                parts.append(_Part(rec, pkey, old["phash"], old["end"] - old["start"], old=old,
                                   old_rows=(old["start"], old["end"])))
            else:
                items = passages(article)
                parts.append(_Part(rec, pkey, _passage_hash(items), len(items), items=items))
        considered = ({key for key in prev["articles"] if key.partition("/")[2] in scope.ids}
                      if prev is not None and scope is not None else None)
        if prev is not None and delta.fits(prev, parts, lexical_version(), delta_min, considered):
            _reused, embedded = _embed(parts, prev, data_dir, embedder, progress)
            table = scope.files if scope is not None else files.table_of(library, {(r.id, r.locale) for r in records})
            return _build_delta(library, data_dir, embedder, prev, parts, version, considered, table,
                                embedded, started)
        if scope is not None:
            return None
        reused, embedded = _embed(parts, prev, data_dir, embedder, progress)
        generation = _new_name()

        vectors16 = _assemble_vectors(parts, prev, embedder.dim)
        manifest_articles: dict[str, dict[str, Any]] = {}
        row = 0
        for part in parts:
            manifest_articles[f"{part.rec.locale}/{part.rec.id}"] = {
                "hash": part.rec.hash, "phash": part.phash, "pkey": part.pkey, "start": row, "end": row + part.count}
            row += part.count
        total = row
        removed = len(prev["live"] - set(manifest_articles)) if prev else 0

        def write(tmp_dir: Path) -> str:
            # FAISS gets the float16 vectors stored in vectors.npy (widened a block at a time), so
            # reused rows (read back from there) and fresh ones give the same index
            index, index_type = _faiss_index(vectors16, ann_threshold, tmp_dir, prev, parts)
            faiss.write_index(index, str(tmp_dir / "dense.faiss"))
            del index
            np.save(tmp_dir / "vectors.npy", vectors16)
            _write_passages(tmp_dir / "passages.jsonl", parts, prev, manifest_articles)
            _write_articles(tmp_dir / "articles.jsonl", parts, prev_articles, prev, manifest_articles)
            lexical = _build_lexical(tmp_dir, parts, prev, manifest_articles)
            manifest = {
                "format": FORMAT, "embedder": embedder.name, "embedder_version": embedder.version,
                "dim": embedder.dim, "index_type": index_type, "created": time.time(),
                "passages": total, "articles": manifest_articles, "split_version": version, "lexical": lexical,
                "lexical_version": lexical_version(),
                "source_locale": library.config.source_locale, "locales": library.config.locales,
                "name": library.config.name, "config": library.config.model_dump(mode="json"),
            }
            (tmp_dir / SPANS).write_bytes(marshal.dumps(manifest_articles))
            (tmp_dir / HEAD).write_text(json.dumps({k: v for k, v in manifest.items() if k != "articles"}))
            files.write(tmp_dir, library.root, files.Files(
                files.table_of(library, {(r.id, r.locale) for r in records}), manifest["config"], []))
            (tmp_dir / "manifest.json").write_text(json.dumps(manifest))
            return index_type

        index_type = _swap_in(data_dir, generation, write)
        return BuildReport(generation=generation, articles=len(records), embedded=embedded, reused=reused,
                           removed=removed, passages=total, seconds=time.perf_counter() - started,
                           index_type=index_type)


def _new_name() -> str:
    return f"gen-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{int(time.time() * 1000) % 100000:05d}"


def _build_delta(library: Library, data_dir: Path, embedder: Embedder, prev: dict[str, Any], parts: list[_Part],
                 version: str, considered: set[str] | None, table: files.Table, embedded: int,
                 started: float) -> BuildReport:
    manifest = _delta_manifest(library, embedder, prev, parts, version)
    changed = [i for i, part in enumerate(parts) if part.old is not None and part.old.get("rkey") != _record_key(part)]

    def write(directory: Path) -> str:
        delta.link_base(prev, directory)
        entries, removed, dead = delta.write(directory, prev, parts, embedder.dim, changed, considered)
        manifest["articles"] = entries
        manifest["delta"].update(removed=removed, dead=dead)
        delta_ids = sorted({key.partition("/")[2] for key in [*entries, *removed]})
        files.write(directory, library.root, files.Files(table, manifest["config"], delta_ids))
        (directory / "manifest.json").write_text(json.dumps(manifest))
        return str(manifest["index_type"])

    generation = _new_name()
    _swap_in(data_dir, generation, write)
    live = (set(prev["articles"]) - set(manifest["delta"]["removed"])) | set(manifest["articles"])
    return BuildReport(generation=generation, articles=len(live), embedded=embedded, reused=len(live) - embedded,
                       removed=len(prev["live"] - live), passages=manifest["passages"] - manifest["delta"]["dead"],
                       seconds=time.perf_counter() - started, index_type=manifest["index_type"],
                       delta_over=prev["base"])


def _swap_in(data_dir: Path, generation: str, write: Callable[[Path], str]) -> str:
    """Have `write` fill a temporary folder, flush it, rename it to `generation`, point CURRENT
    at it, and delete the generations no longer needed. Returns what `write` returned."""
    gen_dir = _index_dir(data_dir) / generation
    tmp_dir = _index_dir(data_dir) / f".tmp-{generation}"
    tmp_dir.mkdir(parents=True)
    try:
        result = write(tmp_dir)
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
    return result


def _delta_manifest(library: Library, embedder: Embedder, prev: dict[str, Any], parts: list[_Part],
                    version: str) -> dict[str, Any]:
    """The manifest of a delta generation over `prev`'s base; `_build_delta` fills in its articles."""
    return {
        "format": FORMAT, "embedder": embedder.name, "embedder_version": embedder.version, "dim": embedder.dim,
        "index_type": prev["index_type"], "created": time.time(),
        "passages": len(prev["vectors"]) + sum(p.count for p in parts if p.old is None),
        "articles": {}, "split_version": version, "lexical": prev["lexical"],
        "lexical_version": prev["lexical_version"],
        "source_locale": library.config.source_locale, "locales": library.config.locales,
        "name": library.config.name, "config": library.config.model_dump(mode="json"),
        "delta": {"base": prev["base"], "base_passages": len(prev["vectors"]), "removed": [], "dead": 0,
                  "base_manifest": prev["manifest"]},
    }


@contextmanager
def _collecting_garbage(data_dir: Path) -> Iterator[None]:
    """Delete the generations older than the live one while the new one is built (deleting GBs
    takes a while): after the build they would go anyway. Only when the live one was swapped in
    over GC_GRACE seconds ago: a reader that had just started loading the one before it may still
    be at it (else they go after the build, as always)."""
    live = current_generation(data_dir)
    try:
        settled = live is not None and time.time() - (_index_dir(data_dir) / "CURRENT").stat().st_mtime > GC_GRACE
    except OSError:
        settled = False
    collector = threading.Thread(target=_collect_garbage, args=(data_dir, live.name, KEEP_GENERATIONS - 1),
                                 daemon=True) if settled and live is not None else None
    if collector is not None:
        collector.start()
    try:
        yield
    finally:
        if collector is not None:
            collector.join()


def _embed(parts: list[_Part], prev: dict[str, Any] | None, data_dir: Path, embedder: Embedder,
           progress: Callable[[int, int], None] | None) -> tuple[int, int]:
    """Vectors for the articles split now: the previous generation's rows when their passages are
    the same, else the embedding cache, else the embedder. Returns (reused, embedded) articles."""
    reused = sum(1 for part in parts if part.old is not None)
    fresh_parts: list[_Part] = []
    for part in parts:
        if part.items is None:
            continue
        old = prev["articles"].get(f"{part.rec.locale}/{part.rec.id}") if prev else None
        if prev is not None and old and old["phash"] == part.phash:
            part.old_rows = (old["start"], old["end"])
            reused += 1
        else:
            fresh_parts.append(part)
    if not fresh_parts:
        return reused, 0
    cache = EmbeddingCache(data_dir / "cache" / "embeddings.sqlite")
    try:
        model_key = f"{embedder.name}@{embedder.version}"
        keys = {id(part): [EmbeddingCache.key(model_key, "passage", p.embed_text) for p in part.items or []]
                for part in fresh_parts}
        all_keys = [k for part in fresh_parts for k in keys[id(part)]]
        hits = cache.get_many(all_keys, embedder.dim) if all_keys else {}
        missing: dict[str, str] = {}
        for part in fresh_parts:
            for key, p in zip(keys[id(part)], part.items or [], strict=True):
                if key not in hits:
                    missing[key] = p.embed_text
        if missing:  # saved to the cache batch by batch, so a killed run keeps them (kb/search/embedding.py)
            hits.update(embed_missing(missing, embedder, cache, cached=len(hits), progress=progress))
    finally:
        cache.close()
    embedded = 0
    for part in fresh_parts:
        part_keys = keys[id(part)]
        part.vectors = (np.vstack([hits[k] for k in part_keys]).astype(np.float32) if part_keys
                        else np.empty((0, embedder.dim), dtype=np.float32))
        if any(k in missing for k in part_keys):
            embedded += 1
        else:
            reused += 1
    return reused, embedded


def _runs(parts: list[_Part]) -> Iterator[tuple[int, int, int, int | None]]:
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


def _assemble_vectors(parts: list[_Part], prev: dict[str, Any] | None, dim: int) -> np.ndarray:
    total = sum(part.count for part in parts)
    out = np.empty((total, dim), dtype=np.float16)
    fresh = iter([part for part in parts if part.old_rows is None])
    for lo, hi, old_lo, old_hi in _runs(parts):
        if old_hi is not None:
            assert prev is not None
            out[lo:hi] = prev["vectors"][old_lo:old_hi]
        else:
            vectors = next(fresh).vectors
            assert vectors is not None
            out[lo:hi] = vectors
    return out


def _write_passages(path: Path, parts: list[_Part], prev: dict[str, Any] | None,
                    manifest_articles: dict[str, dict[str, Any]]) -> None:
    """passages.jsonl: reused articles' lines copied as bytes from the previous generation,
    the others serialized now. Records each article's byte span in the manifest."""
    old_fd = os.open(prev["path"] / "passages.jsonl", os.O_RDONLY) if prev and any(
        p.old is not None for p in parts) else None
    try:
        with open(path, "wb", buffering=0) as fh:
            pos = 0
            for part in parts:
                entry = manifest_articles[f"{part.rec.locale}/{part.rec.id}"]
                if part.old is not None:
                    assert old_fd is not None
                    lo, hi = part.old["bytes"]
                    data = os.pread(old_fd, hi - lo, lo)
                    if len(data) != hi - lo:
                        raise KbError("the previous index's passages.jsonl is shorter than its manifest says")
                else:
                    data = _serialize_passages(part.items or [])
                fh.write(data)
                entry["bytes"] = [pos, pos + len(data)]
                pos += len(data)
            os.fsync(fh.fileno())
    finally:
        if old_fd is not None:
            os.close(old_fd)


def _serialize_passages(items: list[Passage]) -> bytes:
    return "".join(json.dumps(vars(p), ensure_ascii=False) + "\n" for p in items).encode("utf-8")


def _serialize_record(rec: ArticleRecord) -> bytes:
    return (json.dumps(vars(rec), ensure_ascii=False) + "\n").encode("utf-8")


_RECORD_FIELDS = tuple(name for name in ArticleRecord.__dataclass_fields__ if name != "body")


def _record_key(part: _Part) -> str:
    """Equal keys give equal articles.jsonl lines (the body is covered by the passage key; the
    other fields are str, bool or None)."""
    rec = vars(part.rec)
    return _digest((part.pkey, *(rec[name] for name in _RECORD_FIELDS)))


def _write_articles(path: Path, parts: list[_Part], prev_articles: dict[str, Any], prev: dict[str, Any] | None,
                    manifest_articles: dict[str, dict[str, Any]]) -> None:
    """articles.jsonl: an article whose record is unchanged copies its line from the previous
    generation, the others are serialized now. Records each line's key and byte span."""
    old_fd: int | None = None
    try:
        with open(path, "wb", buffering=0) as fh:
            pos = 0
            for part in parts:
                name = f"{part.rec.locale}/{part.rec.id}"
                entry, old, rkey = manifest_articles[name], prev_articles.get(name), _record_key(part)
                data = b""
                if prev is not None and old is not None and old.get("rkey") == rkey and "abytes" in old:
                    if old_fd is None:
                        old_fd = os.open(prev["path"] / "articles.jsonl", os.O_RDONLY)
                    lo, hi = old["abytes"]
                    data = os.pread(old_fd, hi - lo, lo)
                    if len(data) != hi - lo:
                        raise KbError("the previous index's articles.jsonl is shorter than its manifest says")
                else:
                    data = _serialize_record(part.rec)
                fh.write(data)
                entry["rkey"], entry["abytes"] = rkey, [pos, pos + len(data)]
                pos += len(data)
            os.fsync(fh.fileno())
    finally:
        if old_fd is not None:
            os.close(old_fd)


def _build_lexical(directory: Path, parts: list[_Part], prev: dict[str, Any] | None,
                   manifest_articles: dict[str, dict[str, Any]]) -> dict[str, str]:
    """One BM25 model per locale. A locale whose articles all kept their passages (same keys, same
    order) hard-links the previous model; the others are built from tokens: those the previous
    generation saved for the passages it shares with this one, the rest tokenized now. Returns
    each locale's key."""
    version = lexical_version()
    by_locale: dict[str, list[_Part]] = {}
    for part in parts:
        by_locale.setdefault(part.rec.locale, []).append(part)
    prev_keys: dict[str, str] = prev["lexical"] if prev else {}
    same_tokens = prev is not None and prev.get("lexical_version") == version
    keys: dict[str, str] = {}
    for locale in sorted(by_locale):
        group = by_locale[locale]
        spans = [manifest_articles[f"{p.rec.locale}/{p.rec.id}"] for p in group]
        rows = np.concatenate([np.arange(s["start"], s["end"], dtype=np.int64) for s in spans])
        if not len(rows):
            continue
        key = hashlib.sha256("\x1e".join([version, *(p.pkey for p in group)]).encode()).hexdigest()[:24]
        keys[locale] = key
        if prev is not None and prev_keys.get(locale) == key and (prev["path"] / f"bm25-{locale}").is_dir():
            link_model(prev["path"], directory, locale, rows)
            continue
        saved = load_tokens(prev["path"], locale) if prev is not None and same_tokens else None
        tokens = join_tokens(_token_pieces(group, locale, saved, prev))
        save_model(directory, locale, build_model(tokens), rows, tokens)
    return keys


def _token_pieces(group: list[_Part], locale: str, saved: tuple[Tokens, np.ndarray] | None,
                  prev: dict[str, Any] | None) -> list[Tokens | tuple[list[str], str]]:
    """The passages of one locale's articles in order: a slice of the previous generation's saved
    tokens for an article whose passages are reused, else its texts (read back when needed)."""
    position: np.ndarray | None = None  # previous passage row -> its place in the saved tokens
    if saved is not None:
        position = np.full(len(prev["vectors"]) if prev else 0, -1, dtype=np.int64)
        if len(saved[1]) and (saved[1].min() < 0 or saved[1].max() >= len(position)):
            position = None
        else:
            position[saved[1]] = np.arange(len(saved[1]))
    pieces: list[Tokens | tuple[list[str], str]] = []
    old_fd: int | None = None
    try:
        for part in group:
            if part.items is not None:
                pieces.append(([p.embed_text for p in part.items], locale))
                continue
            assert prev is not None and part.old is not None
            lo, hi = part.old["start"], part.old["end"]
            if saved is not None and position is not None:
                where = position[lo:hi]
                if len(where) == hi - lo and (hi == lo or (where[0] >= 0 and np.array_equal(
                        where, np.arange(where[0], where[0] + hi - lo)))):
                    first = int(where[0]) if hi > lo else 0
                    tokens = saved[0]
                    pieces.append(Tokens(tokens.vocab, tokens.ids, tokens.offsets[first : first + hi - lo + 1]))
                    continue
            if old_fd is None:
                old_fd = os.open(prev["path"] / "passages.jsonl", os.O_RDONLY)
            blo, bhi = part.old["bytes"]
            lines = os.pread(old_fd, bhi - blo, blo).splitlines()
            pieces.append(([json.loads(line)["embed_text"] for line in lines], locale))
    finally:
        if old_fd is not None:
            os.close(old_fd)
    return pieces


ADD_BLOCK = 65536  # rows widened to float32 and added to FAISS at a time


def _f32(block: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(block, dtype=np.float32)


def _faiss_index(vectors: np.ndarray, ann_threshold: int, directory: Path | None = None,
                 prev: dict[str, Any] | None = None, parts: list[_Part] | None = None) -> tuple[Any, str]:
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
        os.link(prev["path"] / "ivf-trained.faiss", directory / "ivf-trained.faiss")
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


def _previous_ivf(prev: dict[str, Any] | None, parts: list[_Part] | None, n: int, dim: int,
                  nlist: int) -> tuple[Any, np.ndarray] | None:
    """The previous generation's trained IVF index and, per new row, its list (-1 if unknown)."""
    if prev is None or parts is None or not str(prev.get("index_type", "")).startswith("ivf"):
        return None
    try:
        old_nlist = int(prev["index_type"][3:])
        if abs(nlist - old_nlist) > IVF_REUSE * old_nlist:
            return None
        trained = faiss.read_index(str(prev["path"] / "ivf-trained.faiss"))
        old_assign = np.load(prev["path"] / "ivf-assign.npy", mmap_mode="r")
    except (OSError, RuntimeError, ValueError):
        return None
    if trained.ntotal != 0 or trained.d != dim or len(old_assign) != len(prev["vectors"]):
        return None
    assign = np.full(n, -1, dtype=np.int64)
    for lo, hi, old_lo, old_hi in _runs(parts):
        if old_hi is not None:
            assign[lo:hi] = old_assign[old_lo:old_hi]
    return trained, assign


def _previous(data_dir: Path, embedder: Embedder) -> dict[str, Any] | None:
    gen = current_generation(data_dir)
    if gen is None:
        return None
    try:
        quick = (gen / HEAD).is_file() and (gen / SPANS).is_file()  # a full generation that has them
        manifest = json.loads((gen / (HEAD if quick else "manifest.json")).read_text())
        top, articles = manifest, _spans(gen / SPANS) if quick else manifest.get("articles")
        if "delta" in manifest:  # a delta: builds start from its base (hard-linked in the same folder)
            manifest = manifest["delta"]["base_manifest"]
            articles = _spans(gen / SPANS)
        if not isinstance(articles, dict) or (top.get("format") not in READS or manifest.get("format") not in READS
                or manifest.get("embedder") != embedder.name
                or manifest.get("embedder_version") != embedder.version or manifest.get("dim") != embedder.dim):
            return None
        vectors = np.load(gen / "vectors.npy", mmap_mode="r")
    except (OSError, ValueError, EOFError, TypeError, KeyError, json.JSONDecodeError):
        return None
    live = set(articles)
    if "delta" in top:
        live = (live - set(top["delta"]["removed"])) | set(top["articles"])
    return {"articles": articles, "vectors": vectors, "path": gen, "live": live,
            "manifest": {k: v for k, v in manifest.items() if k != "articles"},
            "delta": "delta" in top, "base": top["delta"]["base"] if "delta" in top else gen.name,
            "split_version": manifest.get("split_version"), "lexical": manifest.get("lexical", {}),
            "lexical_version": manifest.get("lexical_version"),
            "index_type": manifest.get("index_type", "")}


_spans_lock = threading.Lock()
_spans_cache: list[tuple[tuple[int, int, int, int], dict[str, Any]]] = []


def _spans(path: Path) -> dict[str, Any]:
    """A base's articles from its spans file, kept for the next build in this process (`kb serve
    --watch`) while the file is the same one: deltas over one base share it. Never modified."""
    st = path.stat()
    key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    with _spans_lock:
        if _spans_cache and _spans_cache[0][0] == key:
            return _spans_cache[0][1]
    spans = marshal.loads(path.read_bytes())
    if not isinstance(spans, dict):
        raise ValueError(f"{path}: not a spans file")
    with _spans_lock:
        _spans_cache[:] = [(key, spans)]
    return spans


def _fsync_dir(path: Path) -> None:
    """Flush every file written for the new generation; one hard-linked from the previous
    generation (more than one link) was flushed when that was written."""
    for child in path.rglob("*"):
        if child.is_file() and child.stat().st_nlink == 1:
            with open(child, "rb") as fh:
                os.fsync(fh.fileno())


def _collect_garbage(data_dir: Path, keep: str, count: int = KEEP_GENERATIONS) -> None:
    """Keep the live generation `keep` and the newest others up to `count` generations in all:
    after a build the live one and the one before it (a reader may still be loading it)."""
    directory = _index_dir(data_dir)
    gens = sorted((p for p in directory.glob("gen-*") if p.is_dir()), key=lambda p: p.stat().st_mtime)
    old = [p for p in gens if p.name != keep][: max(0, len(gens) - count)]
    for path in old:
        shutil.rmtree(path, ignore_errors=True)
    for path in directory.glob(".tmp-gen-*"):
        if time.time() - path.stat().st_mtime > 3600:  # left by a killed build
            shutil.rmtree(path, ignore_errors=True)


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
    spans: dict[str, dict[str, Any]]
    dense: Any
    lexical: dict[str, Any]  # locale -> (BM25 model, passage rows)
    vectors: np.ndarray  # memory-mapped


@dataclass
class Index:
    """A loaded, immutable generation of the index. With a delta, rows past the base's
    (`dense.ntotal`) are the delta's, searched exactly, and the base's `dead` rows never match."""

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


def load_index(data_dir: Path, embedder_name: str | None = None, reuse: Index | None = None) -> Index:
    """The live generation. With `reuse` (the index loaded before), a delta over the base that
    one has too takes the base from it instead of reading it again: only the delta is read."""
    gen = current_generation(Path(data_dir))
    if gen is None:
        raise KbError(f"no search index in {data_dir}: run 'kb index' first")
    manifest = json.loads((gen / "manifest.json").read_text())
    if manifest.get("format") not in READS:
        raise KbError(f"the index in {gen} has format {manifest.get('format')}, this kb reads "
                      f"{', '.join(map(str, READS))}: run 'kb index'")
    if embedder_name is not None and manifest["embedder"] != embedder_name:
        raise KbError(f"the index in {data_dir} was built with embedder {manifest['embedder']!r}, not "
                      f"{embedder_name!r}: run 'kb index --embedder {embedder_name}' to reindex")
    if "delta" not in manifest:
        base = _load_base(gen, gen.name, manifest["articles"])
        return Index(path=gen, manifest=manifest, passages=base.passages, articles=base.records, dense=base.dense,
                     lexical=Lexical(base.lexical), vectors=Vectors(base.vectors), base=base)
    info = manifest["delta"]
    if reuse is not None and reuse.base.name == info["base"] and len(reuse.base.passages) == info["base_passages"]:
        base = reuse.base
    else:
        base = _load_base(gen, info["base"], marshal.loads((gen / SPANS).read_bytes()))
    extra, dead, passage_lines, record_lines = delta.load(gen)
    spans, records = dict(base.spans), dict(base.records)
    for key in info["removed"]:
        spans.pop(key, None)
        locale, _, aid = key.partition("/")
        records.pop((aid, locale), None)
    spans.update(manifest["articles"])
    items = base.passages + [Passage(**json.loads(line)) for line in passage_lines]
    records.update({(r.id, r.locale): r for r in (ArticleRecord(**json.loads(line)) for line in record_lines)})
    if len(items) != manifest["passages"] or len(extra) + len(base.vectors) != len(items):
        raise KbError(f"the index in {gen} is incomplete (its delta does not match its base): run 'kb index'")
    lexical = Lexical(base.lexical, delta=Lexical.load_models(gen / "delta"), dead=dead)
    return Index(path=gen, manifest={**manifest, "articles": spans}, passages=items, articles=records,
                 dense=base.dense, lexical=lexical, vectors=Vectors(base.vectors, extra), base=base, dead=dead)


def _load_base(gen: Path, name: str, spans: dict[str, dict[str, Any]]) -> Base:
    """The full generation in `gen` (a delta's folder holds its base's files under the same names)."""
    with open(gen / "passages.jsonl", encoding="utf-8") as fh:
        items = [Passage(**json.loads(line)) for line in fh]
    with open(gen / "articles.jsonl", encoding="utf-8") as fh:
        records = {(r.id, r.locale): r for r in (ArticleRecord(**json.loads(line)) for line in fh)}
    dense = faiss.read_index(str(gen / "dense.faiss"))
    if hasattr(dense, "nprobe"):
        dense.nprobe = 16
    return Base(name=name, passages=items, records=records, spans=spans, dense=dense,
                lexical=Lexical.load_models(gen), vectors=np.load(gen / "vectors.npy", mmap_mode="r"))
