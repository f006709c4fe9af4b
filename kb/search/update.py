"""`kb index`: read only what changed when few files did, else the whole help center.

The live generation records the stat of every article file it was built from (kb/search/files.py).
When `kb.toml` says what the index says, every locale folder is an enabled locale, and only a few
files differ in stat (edited, added, removed), this reads just those files and the other files of
their translation groups (kb/content/changes.py), plus the groups the live delta already changed,
and writes a delta over the live generation's base (kb/search/index/delta.py). Anything else (a new
locale folder, a changed kb.toml or learned-questions.toml, a duplicate id, a change too large for a delta) loads the whole
help center through the parse cache and builds as `build_index` always does. Both give the same
index.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kb.content.changes import find_changes, load_changed
from kb.content.config import load_config
from kb.content.learned import attach_learned, learned_path
from kb.content.library import Library
from kb.content.problems import Problem
from kb.search import files
from kb.search.embedders import Embedder
from kb.search.embedding import EmbedMissing, embed_missing
from kb.search.index import ANN_THRESHOLD, BuildReport, Scope, build_delta, build_index, current_generation

QUICK_MAX_FILES = 1000  # changed files above which the whole help center is read


@dataclass
class Update:
    report: BuildReport
    problems: list[Problem]
    quick: bool  # only the changed files' groups were read
    read: int  # article files read (parsed or from the parse cache)
    seconds: float  # reading the help center and building, in all


def update_index(content: Path, data_dir: Path, embedder: Embedder, *, ann_threshold: int = ANN_THRESHOLD,
                 progress: Callable[[int, int], None] | None = None,
                 embed_with: EmbedMissing = embed_missing) -> Update:
    """Bring the index in `data_dir` up to date with the help center in `content`; `embed_with`
    embeds the passages the cache lacks (kb/search/distributed.py: on a Ray cluster)."""
    started = time.perf_counter()
    content, data_dir = Path(content), Path(data_dir)
    try:
        quick = _quick_library(content, data_dir)
    except (TypeError, ValueError, IndexError):
        quick = None  # a damaged file table (entries not as written): read everything
    if quick is not None:
        library, scope, read = quick
        report = build_delta(library, data_dir, embedder, scope, progress=progress, embed_with=embed_with)
        if report is not None:
            return Update(report, library.problems, True, read, time.perf_counter() - started)
    library = Library.load(content, cache_dir=data_dir / "cache")
    report = build_index(library, data_dir, embedder, ann_threshold=ann_threshold, progress=progress,
                         embed_with=embed_with)
    return Update(report, library.problems, False, len(library.articles), time.perf_counter() - started)


def _learned_changed(root: Path, gen: Path) -> bool:
    """Learned questions (kb/content/learned.py) live in one file for all articles: when it, or the
    help-center folder (the file added or removed), changed since the live generation, read everything."""
    try:
        built = gen.stat().st_mtime_ns
        sidecar = learned_path(root)
        stamps = [root.stat().st_mtime_ns] + ([sidecar.stat().st_mtime_ns] if sidecar.exists() else [])
    except OSError:
        return True
    return max(stamps) >= built


def _quick_library(root: Path, data_dir: Path) -> tuple[Library, Scope, int] | None:
    """The translation groups touched since the live generation, as a library, and its scope;
    None when the whole help center must be read."""
    gen = current_generation(data_dir)
    if gen is None or os.environ.get("KB_QUICK_INDEX", "1") == "0" or _learned_changed(root, gen):
        return None
    built = files.read(gen, root)
    if built is None:
        return None
    config = load_config(root)
    if built.config != config.model_dump(mode="json"):
        return None
    found = find_changes(root, config, built.table)
    if found is None or found.count > QUICK_MAX_FILES:
        return None
    # what the live delta changed is built again: deltas start from the base
    changed = load_changed(root, found, built.table, also=built.delta_ids)
    if changed is None:
        return None
    problems = changed.problems + attach_learned(changed.articles, root, report_missing=False)
    library = Library(root=root, config=config, articles=changed.articles, problems=problems)
    return library, Scope(generation=gen.name, ids=changed.ids, files=changed.table), changed.read
