"""The article files an index generation was built from: `files.marshal` in each generation.

For each article file that went into the index, loaded cleanly and was not modified within the
last seconds when it was read: its path relative to the help-center folder, its stat (size,
mtime_ns, ctime_ns, inode) and its locale and id. The next `kb index` compares the files' stat
with it to find what changed without reading the rest (kb/search/update.py). The table carries
the parsing code's version and the folder it was read from, as it was named (article records
hold paths under that name); one from other code or another folder, or damaged, is ignored.
"""

from __future__ import annotations

import marshal
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kb.content.changes import Stat
from kb.content.library import Library
from kb.content.parsecache import cache_version

NAME = "files.marshal"

Entry = tuple[Stat, str, str]  # stat, locale, id
Table = dict[str, Entry]


@dataclass
class Files:
    """What a generation was built from: its article files, the help center's configuration, and
    the ids of the articles its delta changed (none for a full generation)."""

    table: Table
    config: dict[str, Any]
    delta_ids: list[str]


def relative(path: Path, root: Path) -> str:
    """`path` (which is under `root`, as the library names it) relative to `root`."""
    text, top = str(path), str(root)
    if top == ".":
        return text
    return text[len(top) + 1:] if text.startswith(top + os.sep) else os.path.relpath(text, top)


def scan(folder: Path, name: str) -> dict[str, Stat | None]:
    """What `markdown_files(folder)` (kb/content/library.py) lists, as paths relative to the
    folder above it (`name` being the folder's name), in no particular order, each with its stat
    (None if it could not be read): without a Path for each of tens of thousands of files."""
    found: dict[str, Stat | None] = {}
    pending = [(str(folder), name + os.sep)]
    while pending:
        here, prefix = pending.pop()
        try:
            entries = list(os.scandir(here))
        except OSError:
            continue
        for entry in entries:  # tens of thousands: kept lean
            if entry.name.endswith(".md"):
                try:
                    st = entry.stat()
                    found[prefix + entry.name] = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
                except OSError:
                    found[prefix + entry.name] = None
            if entry.is_dir(follow_symlinks=False):
                pending.append((entry.path, prefix + entry.name + os.sep))
    return found


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
