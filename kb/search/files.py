"""The article files an index generation was built from: `files.marshal` in each generation.

The file table (kb/content/changes.py) of the articles that went into the index, loaded cleanly
and were not modified within the last seconds when they were read: for each, its path relative
to the help-center folder, its stat key, locale and id. The next `kb index` finds what changed
against it without reading the rest (kb/search/update.py). The table is written with the
parsing code's version and the folder it was read from, as it was named (article records hold
paths under that name); one from other code or another folder, or damaged, is ignored.
"""

from __future__ import annotations

import marshal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kb.content.changes import Table, relative
from kb.content.library import Library
from kb.content.parsecache import cache_version

NAME = "files.marshal"


@dataclass
class Files:
    """What a generation was built from: its article files, the help center's configuration, and
    the ids of the articles its delta changed (none for a full generation)."""

    table: Table
    config: dict[str, Any]
    delta_ids: list[str]


def table_of(library: Library, keys: set[tuple[str, str]]) -> Table:
    """The entries of the library's articles whose (id, locale) is in `keys` (the articles indexed)."""
    out: Table = {}
    for article in library.articles:
        stat = library.stats.get(article.path)
        if stat is not None and (article.id, article.locale) in keys and library.get(article.id, article.locale) is article:
            out[relative(article.path, library.root)] = (stat, article.locale, article.id)
    return out


def write(directory: Path, root: Path, found: Files) -> None:
    payload = {"version": cache_version(), "root": str(root), "files": found.table, "config": found.config,
               "delta_ids": found.delta_ids}
    (directory / NAME).write_bytes(marshal.dumps(payload))


def read(generation: Path, root: Path) -> Files | None:
    """What `generation` was built from, if written by this code for the folder `root`."""
    try:
        payload = marshal.loads((generation / NAME).read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        return None
    if (not isinstance(payload, dict) or payload.get("version") != cache_version()
            or payload.get("root") != str(root) or not isinstance(payload.get("files"), dict)
            or not isinstance(payload.get("config"), dict) or not isinstance(payload.get("delta_ids"), list)):
        return None
    return Files(payload["files"], payload["config"], payload["delta_ids"])
