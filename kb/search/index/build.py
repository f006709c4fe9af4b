"""Building the on-disk search index: FAISS vectors, passages, articles and BM25, one generation a folder.

Layout under the data directory (default `.kb/`):

    index/CURRENT            name of the live generation (replaced atomically; layout.py)
    index/gen-<time>-<pid>/  manifest.json, articles.jsonl, passages.jsonl, vectors.npy,
                             dense.faiss, bm25-<locale>/, spans.marshal and head.json (the
                             manifest's articles and the rest of it apart, quick to read),
                             files.marshal (kb/search/files.py); a delta generation has the
                             base's files, base.json and delta/ instead (delta.py)
    cache/embeddings.sqlite  embedding cache keyed by text hash and model

A build writes a new generation beside the live one and then swaps CURRENT, so a crash or a
concurrent reader never sees a half-written index. It goes in three steps (`_build`):

1. plan: which articles keep their passages as the live generation has them, and which are
   split into passages now (`plan`);
2. embed: vectors for the passages split now, unless the live generation or the embedding
   cache has them (`embed`);
3. write: a delta over the live generation's base when the change is small (`write_delta`),
   else a full generation (`write_full`), swapped in.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from kb.content.library import Library
from kb.search import files
from kb.search.cache import EmbeddingCache
from kb.search.embedders import Embedder
from kb.search.embedding import EmbedMissing, embed_missing
from kb.search.index import delta, integrity
from kb.search.index.dense import ANN_THRESHOLD, assemble_vectors, faiss_index
from kb.search.index.layout import collecting_garbage, new_name, swap_in, writer_lock
from kb.search.index.manifest import DeltaInfo, Manifest, Previous, read_previous
from kb.search.index.records import (
    ArticleRecord,
    Part,
    Span,
    article_records,
    passage_hash,
    passage_key,
    record_key,
    split_version,
)
from kb.search.index.writers import write_articles, write_lexical, write_passages
from kb.search.lexical import lexical_version
from kb.search.passages import passages


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
class Scope:
    """A library that holds only some translation groups (`ids`): the groups a few changed files
    belong to. Built over `generation`, the other articles are kept as they are there. `files`
    is the file table of the result (kb/search/files.py)."""

    generation: str
    ids: set[str]
    files: files.Table


@dataclass
class Plan:
    """What a build does with each article of the library."""

    records: list[ArticleRecord]
    parts: list[Part]  # one per record, in the same order
    version: str  # of the passage splitting (records.split_version)
    prev_articles: dict[str, Span]  # the previous generation's entries, if it split passages as now
    considered: set[str] | None  # with a scope: the base's articles the parts replace (None: all)

    def keys(self) -> set[tuple[str, str]]:
        return {(r.id, r.locale) for r in self.records}


def build_index(
    library: Library,
    data_dir: Path,
    embedder: Embedder,
    *,
    ann_threshold: int = ANN_THRESHOLD,
    delta_min: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    embed_with: EmbedMissing = embed_missing,
) -> BuildReport:
    """Embed what changed, write a new generation, swap it in. Returns what was done.

    What belongs to unchanged articles is taken from the previous generation as it is: their
    passage lines and vectors, and the BM25 model of every locale none of whose articles changed
    (hard-linked). The result is the same as a build from scratch with the same embeddings.
    A small change to an index of `delta_min` (default delta.DELTA_MIN) passages or more writes a
    delta generation instead (delta.py): the base's files hard-linked, and what changed.
    `embed_with` embeds what the cache lacks (kb/search/distributed.py: on a Ray cluster).
    """
    report = _build(library, data_dir, embedder, ann_threshold,
                    delta.DELTA_MIN if delta_min is None else delta_min, progress, None, embed_with)
    assert report is not None
    return report


def build_delta(library: Library, data_dir: Path, embedder: Embedder, scope: Scope, *,
                progress: Callable[[int, int], None] | None = None,
                embed_with: EmbedMissing = embed_missing) -> BuildReport | None:
    """A delta generation over `scope.generation` from a library of some translation groups
    (kb/search/update.py), or None when the live generation is another one, or too small for
    deltas (delta.DELTA_MIN), or the change too large: then a build from the whole library is needed."""
    return _build(library, data_dir, embedder, ANN_THRESHOLD, delta.DELTA_MIN, progress, scope, embed_with)


def _build(library: Library, data_dir: Path, embedder: Embedder, ann_threshold: int, delta_min: int,
           progress: Callable[[int, int], None] | None, scope: Scope | None,
           embed_with: EmbedMissing = embed_missing) -> BuildReport | None:
    started = time.perf_counter()
    data_dir = Path(data_dir)
    with writer_lock(data_dir), collecting_garbage(data_dir):
        prev = read_previous(data_dir, embedder)
        if scope is not None and (prev is None or prev.path.name != scope.generation):
            return None
        work = plan(library, prev, scope)
        if prev is not None and delta.fits(prev, work.parts, lexical_version(), delta_min, work.considered):
            _reused, embedded = embed(work.parts, prev, data_dir, embedder, progress, embed_with)
            table = scope.files if scope is not None else files.table_of(library, work.keys())
            return write_delta(library, data_dir, embedder, prev, work, table, embedded, started)
        if scope is not None:
            return None
        reused, embedded = embed(work.parts, prev, data_dir, embedder, progress, embed_with)
        return write_full(library, data_dir, embedder, prev, work, ann_threshold, reused, embedded, started)


def plan(library: Library, prev: Previous | None, scope: Scope | None) -> Plan:
    """Step 1: an article whose passage key is the one in the previous generation keeps its
    passages (rows and bytes there); the others are split into passages now."""
    records = article_records(library)
    version = split_version()
    prev_articles = prev.articles if prev and prev.split_version == version else {}
    parts: list[Part] = []
    for rec in records:
        article = library.get(rec.id, rec.locale)
        assert article is not None
        pkey = passage_key(article, version)
        old = prev_articles.get(f"{rec.locale}/{rec.id}")
        if old is not None and old.get("pkey") == pkey and "bytes" in old:
            parts.append(Part(rec, pkey, old["phash"], old["end"] - old["start"], old=old,
                              old_rows=(old["start"], old["end"])))
        else:
            items = passages(article)
            parts.append(Part(rec, pkey, passage_hash(items), len(items), items=items))
    considered = ({key for key in prev.articles if key.partition("/")[2] in scope.ids}
                  if prev is not None and scope is not None else None)
    return Plan(records, parts, version, prev_articles, considered)


def embed(parts: list[Part], prev: Previous | None, data_dir: Path, embedder: Embedder,
          progress: Callable[[int, int], None] | None,
          embed_with: EmbedMissing = embed_missing) -> tuple[int, int]:
    """Step 2: vectors for the articles split now: the previous generation's rows when their
    passages are the same, else the embedding cache, else the embedder. Returns (reused,
    embedded) articles."""
    reused = sum(1 for part in parts if part.old is not None)
    fresh_parts: list[Part] = []
    for part in parts:
        if part.items is None:
            continue
        old = prev.articles.get(part.key) if prev else None
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
            hits.update(embed_with(missing, embedder, cache, cached=len(hits), progress=progress))
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


def write_full(library: Library, data_dir: Path, embedder: Embedder, prev: Previous | None, work: Plan,
               ann_threshold: int, reused: int, embedded: int, started: float) -> BuildReport:
    """Step 3, a full generation: vectors and FAISS, passages and records (what is unchanged
    copied from the previous generation as bytes), BM25, the file table, the manifest."""
    vectors16 = assemble_vectors(work.parts, prev, embedder.dim)
    spans: dict[str, Span] = {}
    row = 0
    for part in work.parts:
        spans[part.key] = part.span(row)
        row += part.count
    removed = len(prev.live - set(spans)) if prev else 0

    def write(directory: Path) -> Manifest:
        # FAISS gets the float16 vectors stored in vectors.npy (widened a block at a time), so
        # reused rows (read back from there) and fresh ones give the same index
        index, index_type = faiss_index(vectors16, ann_threshold, directory, prev, work.parts)
        faiss.write_index(index, str(directory / "dense.faiss"))
        faiss_rows = int(index.ntotal)
        del index
        np.save(directory / "vectors.npy", vectors16)
        write_passages(directory, work.parts, prev, spans)
        write_articles(directory, work.parts, work.prev_articles, prev, spans)
        lexical = write_lexical(directory, work.parts, prev, spans)
        manifest = Manifest.of(library, embedder, index_type=index_type, passages=row, articles=spans,
                               split_version=work.version, lexical=lexical, lexical_version=lexical_version())
        files.write(directory, library.root, files.Files(files.table_of(library, work.keys()), manifest.config, []))
        counts = {**integrity.base_counts(row, spans, faiss_rows), "vectors": len(vectors16)}
        manifest.write(directory, counts)
        return manifest

    generation = new_name()
    manifest = swap_in(data_dir, generation, write)
    return BuildReport(generation=generation, articles=len(work.records), embedded=embedded, reused=reused,
                       removed=removed, passages=manifest.passages, seconds=time.perf_counter() - started,
                       index_type=manifest.index_type)


def write_delta(library: Library, data_dir: Path, embedder: Embedder, prev: Previous, work: Plan,
                table: files.Table, embedded: int, started: float) -> BuildReport:
    """Step 3, a delta generation over the previous generation's base (delta.py)."""
    changed = [i for i, part in enumerate(work.parts) if part.old is not None and part.old.get("rkey") != record_key(part)]

    def write(directory: Path) -> Manifest:
        delta.link_base(prev, directory)
        entries, removed, dead = delta.write(directory, prev, work.parts, embedder.dim, changed, work.considered)
        manifest = Manifest.of(
            library, embedder, index_type=prev.index_type,
            passages=len(prev.vectors) + sum(p.count for p in work.parts if p.old is None), articles=entries,
            split_version=work.version, lexical=prev.lexical, lexical_version=prev.lexical_version,
            delta=DeltaInfo(base=prev.base, base_passages=len(prev.vectors), removed=removed, dead=dead,
                            base_manifest=prev.manifest))
        delta_ids = sorted({key.partition("/")[2] for key in [*entries, *removed]})
        files.write(directory, library.root, files.Files(table, manifest.config, delta_ids))
        manifest.write(directory, _delta_counts(prev, work, changed, dead), _inherited(prev, directory))
        return manifest

    generation = new_name()
    manifest = swap_in(data_dir, generation, write)
    assert manifest.delta is not None
    live = (set(prev.articles) - set(manifest.delta.removed)) | set(manifest.articles)
    return BuildReport(generation=generation, articles=len(live), embedded=embedded, reused=len(live) - embedded,
                       removed=len(prev.live - live), passages=manifest.passages - manifest.delta.dead,
                       seconds=time.perf_counter() - started, index_type=manifest.index_type, delta_over=prev.base)


def _delta_counts(prev: Previous, work: Plan, changed: list[int], dead: int) -> dict[str, Any]:
    """A delta's counts: its base's (as the base recorded them, else from its manifest entries)
    and its own rows under "delta"."""
    recorded = (prev.manifest.get("integrity") or {}).get("counts")
    base = ({k: v for k, v in recorded.items() if k != "delta"} if isinstance(recorded, dict)
            else integrity.base_counts(len(prev.vectors), prev.articles))
    fresh = [part for part in work.parts if part.old is None]
    rows = sum(part.count for part in fresh)
    by_locale: dict[str, int] = {}
    for part in fresh:
        by_locale[part.rec.locale] = by_locale.get(part.rec.locale, 0) + part.count
    return {**base, "delta": {"articles": len(fresh) + len(changed), "passages": rows, "vectors": rows,
                              "dead": dead, "bm25": {loc: n for loc, n in sorted(by_locale.items()) if n}}}


def _inherited(prev: Previous, directory: Path) -> dict[str, integrity.Entry]:
    """The base's entries of the files hard-linked from it (a base written before hashes: none)."""
    files_ = (prev.manifest.get("integrity") or {}).get("files") or {}
    return {rel: entry for rel, entry in files_.items()
            if integrity.os_same_file(directory / rel, prev.path / rel)}
