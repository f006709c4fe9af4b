"""Delta generations: a small edit to a large index writes only what changed.

A full generation is rewritten whole (kb/search/index/build.py). When the live index is large
(DELTA_MIN passages or more) and a build changes few of its passages, the new generation is a
*delta* instead: the base generation's files are hard-linked into it unchanged (vectors, FAISS,
passages, records, BM25: nothing is copied), and `delta/` holds what differs:

    base.json              the base's manifest (hard link; `spans.marshal` holds its articles too)
    delta/vectors.npy      float16 vectors of the passages of new and edited articles
    delta/passages.jsonl   those passages (rows numbered after the base's)
    delta/articles.jsonl   records of new and edited articles, and of those whose record alone
                           changed (a translation that went stale when its source was edited)
    delta/dead.npy         base rows no longer live (removed or edited articles)
    delta/bm25-<locale>/   BM25 over the delta's passages of a locale, scored with the base's
                           statistics plus the delta's

The next build starts again from the base, so deltas never stack: each holds everything that
changed since the base, and a build whose changes outgrow DELTA_MAX of the base is a full one.
Dense search over the live rows is exactly that of a full build; BM25 scores of base passages
keep the base's statistics until the next full build (as Lucene's deleted documents count until
a merge); BM25 adds at most LEX_WEIGHT (0.03) to a fused score, so those move by a fraction of it.
"""

from __future__ import annotations

import marshal
import os
from pathlib import Path

import numpy as np

from kb.search import files
from kb.search.index.manifest import HEAD, MANIFEST, SPANS, Previous
from kb.search.index.records import (
    ARTICLES,
    PASSAGES,
    Part,
    Span,
    record_key,
    serialize_passages,
    serialize_record,
)
from kb.search.lexical import build_model, join_tokens, load_stats, save_model

DELTA_MIN = 50_000  # base passages below which every build is a full one
DELTA_MAX = 0.05  # new plus dead rows, as a share of the base's rows, above which a build is full


def fits(prev: Previous | None, parts: list[Part], lexical_version: str, delta_min: int,
         considered: set[str] | None = None) -> bool:
    """Whether this build can be a delta over the previous generation's base. `parts` are the
    articles built now; `considered` the base's articles they replace (None: all of them)."""
    if prev is None or prev.lexical_version != lexical_version:
        return False
    base = len(prev.vectors)
    if base < max(delta_min, 1):
        return False
    spans = prev.articles
    replaced = sum(spans[key]["end"] - spans[key]["start"] for key in considered) if considered is not None else base
    kept = sum(part.count for part in parts if part.old is not None)
    new = sum(part.count for part in parts if part.old is None)
    return new + (replaced - kept) <= DELTA_MAX * base


def link_base(prev: Previous, directory: Path) -> None:
    """Hard-link every file of the base into the new generation's folder (never written again,
    so generations may share them)."""
    source = prev.path
    for child in source.iterdir():
        if child.name in (MANIFEST, HEAD, "delta", "base.json", files.NAME):
            continue  # written anew
        if child.is_dir():
            (directory / child.name).mkdir()
            for item in child.iterdir():
                os.link(item, directory / child.name / item.name)
        else:
            os.link(child, directory / child.name)
    os.link(source / ("base.json" if prev.delta else MANIFEST), directory / "base.json")
    if not (directory / SPANS).exists():  # a base written before deltas existed
        (directory / SPANS).write_bytes(marshal.dumps(prev.articles))


def write(directory: Path, prev: Previous, parts: list[Part], dim: int, records_changed: list[int],
          considered: set[str] | None = None) -> tuple[dict[str, Span], list[str], int]:
    """Write `directory/delta/` over the base `prev` (the caller flushes it to disk). `parts` replace the base's articles in
    `considered` (None: all); `records_changed` are the indexes of parts kept from the base whose
    record differs from the base's. Returns the manifest entries of the articles that differ from
    the base, the base's articles no longer live, and the count of dead base rows."""
    base = len(prev.vectors)
    sub = directory / "delta"
    sub.mkdir()
    alive = np.zeros(base, dtype=bool) if considered is None else np.ones(base, dtype=bool)
    for key in considered or ():
        alive[prev.articles[key]["start"] : prev.articles[key]["end"]] = False
    entries: dict[str, Span] = {}
    fresh = [part for part in parts if part.old is None]
    vectors = np.empty((sum(part.count for part in fresh), dim), dtype=np.float16)
    row = 0
    by_locale: dict[str, list[tuple[int, list[str]]]] = {}
    with open(sub / PASSAGES, "wb") as fh:
        for part in fresh:
            if part.vectors is not None:
                vectors[row : row + part.count] = part.vectors
            elif part.old_rows is not None:  # passages split anew, same texts: the base's vectors
                vectors[row : row + part.count] = prev.vectors[part.old_rows[0] : part.old_rows[1]]
            elif part.count:
                raise AssertionError(f"no vectors for {part.key}")
            fh.write(serialize_passages(part.items or []))
            entries[part.key] = _entry(part, base + row)
            by_locale.setdefault(part.rec.locale, []).append((base + row, [p.embed_text for p in part.items or []]))
            row += part.count
    for part in parts:
        if part.old is not None:
            alive[part.old["start"] : part.old["end"]] = True
    for i in records_changed:
        part = parts[i]
        assert part.old is not None
        entries[part.key] = _entry(part, part.old["start"])
    with open(sub / ARTICLES, "wb") as fh:
        for part in [*fresh, *(parts[i] for i in records_changed)]:
            fh.write(serialize_record(part.rec))
    np.save(sub / "vectors.npy", vectors)
    dead = np.flatnonzero(~alive)
    np.save(sub / "dead.npy", dead)
    for locale, groups in sorted(by_locale.items()):
        rows = np.concatenate([np.arange(start, start + len(texts), dtype=np.int64) for start, texts in groups])
        if not len(rows):
            continue
        tokens = join_tokens([([t for _, texts in groups for t in texts], locale)])
        save_model(sub, locale, build_model(tokens, load_stats(prev.path, locale)), rows, tokens)
    live = {part.key for part in parts}
    removed = sorted((set(prev.articles) if considered is None else considered) - live)
    return entries, removed, len(dead)


def _entry(part: Part, start: int) -> Span:
    return {**part.span(start), "rkey": record_key(part)}


def load(generation: Path) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """The delta of a generation as read by `load_index`: its vectors (float32), its dead base
    rows, and its passage and record lines."""
    sub = generation / "delta"
    vectors = np.asarray(np.load(sub / "vectors.npy"), dtype=np.float32)
    dead = np.load(sub / "dead.npy")
    with open(sub / PASSAGES, encoding="utf-8") as fh:
        passage_lines = fh.readlines()
    with open(sub / ARTICLES, encoding="utf-8") as fh:
        record_lines = fh.readlines()
    return vectors, dead, passage_lines, record_lines
