"""`kb index`: read only what changed when few files did, else the whole help center.

The live generation records the stat of every article file it was built from (kb/search/files.py).
When `kb.toml` says what the index says, every locale folder is an enabled locale, and only a few
files differ in stat (edited, added, removed), this reads just those files and the other files of
their translation groups (a translation's stale flag follows its source), plus the groups the
live delta already changed, and writes a delta over the live generation's base
(kb/search/delta.py). Anything else (a new locale folder, a changed kb.toml, a duplicate id, a
change too large for a delta) loads the whole help center through the parse cache and builds as
`build_index` always does. Both give the same index.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kb.content.article import Article
from kb.content.changes import Stat, is_racy
from kb.content.config import load_config
from kb.content.library import Library
from kb.content.locales import UnknownLocale, normalize_locale
from kb.content.problems import Problem
from kb.content.reader import load_article
from kb.search import files
from kb.search.embedders import Embedder
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
                 progress: Callable[[int, int], None] | None = None) -> Update:
    """Bring the index in `data_dir` up to date with the help center in `content`."""
    started = time.perf_counter()
    content, data_dir = Path(content), Path(data_dir)
    try:
        quick = _quick_library(content, data_dir)
    except (TypeError, ValueError, IndexError):
        quick = None  # a damaged file table (entries not as written): read everything
    if quick is not None:
        library, scope, read = quick
        report = build_delta(library, data_dir, embedder, scope, progress=progress)
        if report is not None:
            return Update(report, library.problems, True, read, time.perf_counter() - started)
    library = Library.load(content, cache_dir=data_dir / "cache")
    report = build_index(library, data_dir, embedder, ann_threshold=ann_threshold, progress=progress)
    return Update(report, library.problems, False, len(library.articles), time.perf_counter() - started)


def _quick_library(root: Path, data_dir: Path) -> tuple[Library, Scope, int] | None:
    """The translation groups touched since the live generation, as a library, and its scope;
    None when the whole help center must be read."""
    gen = current_generation(data_dir)
    if gen is None or os.environ.get("KB_QUICK_INDEX", "1") == "0":
        return None
    built = files.read(gen, root)
    if built is None:
        return None
    table = built.table
    config = load_config(root)
    if built.config != config.model_dump(mode="json"):
        return None
    now = time.time_ns()
    seen: dict[str, Stat | None] = {}  # relative path -> stat
    locales: dict[str, str] = {}  # locale folder -> locale
    for locale_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            locales[locale_dir.name] = locale = normalize_locale(locale_dir.name)
        except UnknownLocale:
            return None
        if locale not in config.locales:
            return None
        seen.update(files.scan(locale_dir, locale_dir.name))
    missing = (None,)
    changed = sorted(rel for rel, key in seen.items() if key is None or table.get(rel, missing)[0] != key)
    gone = [rel for rel in table if rel not in seen]
    if len(changed) + len(gone) > QUICK_MAX_FILES:
        return None
    problems: list[Problem] = []
    parsed: dict[str, Article] = {}

    def read(rel: str) -> None:
        article = load_article(root / rel, locales[rel.split(os.sep, 1)[0]], root, problems)
        if article is not None:
            parsed[rel] = article

    for rel in changed:
        read(rel)
    ids = {a.id for a in parsed.values()} | {table[rel][2] for rel in [*changed, *gone] if rel in table}
    ids |= set(built.delta_ids)  # what the live delta changed is built again: deltas start from the base
    grouped = [rel for rel, entry in table.items() if entry[2] in ids]
    done = set(changed)
    for rel in grouped:
        if rel not in done and rel in seen:
            read(rel)
    articles = sorted(parsed.values(), key=lambda a: (a.locale, str(a.path)))
    keys = [(a.id, a.locale) for a in articles]
    if len(set(keys)) != len(keys):
        return None  # a duplicate id: the whole library decides which file wins, and kb check says so
    new_table = dict(table)
    for rel in [*gone, *grouped]:
        new_table.pop(rel, None)
    for rel, article in parsed.items():
        stat = seen[rel]
        if stat is not None and not is_racy(stat, now):
            new_table[rel] = (stat, article.locale, article.id)
    library = Library(root=root, config=config, articles=articles, problems=problems)
    return library, Scope(generation=gen.name, ids=ids, files=new_table), len(parsed)
