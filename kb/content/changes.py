"""Which files make up the help center, and which of them changed: the one place for the rules.

- Locale folders: every folder directly under the root, hidden ones aside, is a locale folder;
  its name must be a known locale enabled in kb.toml (`locale_folders`).
- Article files: every entry named *.md below a locale folder, not descending into symlinked
  folders, as pathlib's `rglob("*.md")` lists them (`markdown_files`, `scan`).
- A file's stat key (size, mtime_ns, ctime_ns, inode) tells whether it changed; a key from the
  last few seconds does not (the file's mtime might not move on a second write): `is_racy`.
- A file table records, for each article file as it was read, its stat key, locale and id. Given
  the table of the last build, `find_changes` lists the files edited, added and removed, and
  `load_changed` reads them with the other files of their translation groups (a translation's
  stale flag follows its source).

`Library.load` reads the whole help center by these rules, `kb index` (kb/search/update.py)
what changed since the live index, and `kb serve --watch` compares `snapshot`s.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from kb.content.article import Article
from kb.content.config import Config
from kb.content.locales import UnknownLocale, normalize_locale
from kb.content.problems import Problem
from kb.content.reader import display_path, load_article

RACY_NS = 3_000_000_000  # a stat this recent does not tell whether the file changes again

Stat = tuple[int, int, int, int]  # size, mtime_ns, ctime_ns, inode
Entry = tuple[Stat, str, str]  # stat, locale, id
Table = dict[str, Entry]  # article file relative to the help-center folder -> entry


def stat_key(st: os.stat_result) -> Stat:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def is_racy(key: Stat, now_ns: int) -> bool:
    return now_ns - key[1] < RACY_NS or now_ns - key[2] < RACY_NS


def relative(path: Path, root: Path) -> str:
    """`path` (which is under `root`, as the library names it) relative to `root`."""
    text, top = str(path), str(root)
    if top == ".":
        return text
    return text[len(top) + 1:] if text.startswith(top + os.sep) else os.path.relpath(text, top)


# -- locale folders -------------------------------------------------------------------------------
@dataclass(frozen=True)
class LocaleFolder:
    path: Path
    locale: str  # the locale the folder's name gives ('' when it names none)
    error: str = ""  # why its files cannot be loaded, when they cannot
    hint: str = ""

    def problem(self, file: Path) -> Problem:
        """The problem reported for each article file of a folder that is no enabled locale."""
        return Problem("error", "unknown-locale", display_path(file, self.path.parent), 1, self.error, self.hint)


def locale_folders(root: Path, config: Config) -> list[LocaleFolder]:
    """The folders directly under `root` (hidden ones aside), in order, each with its locale."""
    out: list[LocaleFolder] = []
    for path in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            locale = normalize_locale(path.name)
        except UnknownLocale:
            out.append(LocaleFolder(path, "", f"folder {path.name!r} is not a known locale",
                                    "name locale folders by code, e.g. content/de/ or content/pt-BR/"))
            continue
        if locale not in config.locales:
            out.append(LocaleFolder(path, locale, f"locale {locale!r} is not enabled in kb.toml",
                                    f"add {locale!r} to 'locales' in kb.toml, or move the file"))
            continue
        out.append(LocaleFolder(path, locale))
    return out


# -- listing files --------------------------------------------------------------------------------
def _walk(top: str, prefix: str, suffix: str) -> list[tuple[str, os.DirEntry[str]]]:
    """Every entry below `top` whose name ends with `suffix`, with its path relative to `top`
    after `prefix`, in no particular order; symlinked folders are listed, not descended into."""
    found: list[tuple[str, os.DirEntry[str]]] = []
    pending = [(top, prefix)]
    while pending:
        here, prefix = pending.pop()
        try:
            entries = list(os.scandir(here))
        except OSError:
            continue
        for entry in entries:  # tens of thousands: kept lean
            if entry.name.endswith(suffix):
                found.append((prefix + entry.name, entry))
            try:
                if entry.is_dir(follow_symlinks=False):
                    pending.append((entry.path, prefix + entry.name + os.sep))
            except OSError:
                continue
    return found


def markdown_files(folder: Path) -> list[Path]:
    """`sorted(folder.rglob("*.md"))`, several times faster on large help centers: every entry
    named *.md below `folder`, not descending into symlinked folders, in pathlib's order."""
    found = _walk(str(folder), "", ".md")
    found.sort(key=lambda item: item[0].split(os.sep))
    return [Path(entry.path) for _rel, entry in found]


def scan(folder: Path, name: str) -> dict[str, Stat | None]:
    """What `markdown_files(folder)` lists, as paths relative to the folder above it (`name`
    being the folder's name), in no particular order, each with its stat key (None if it could
    not be read): without a Path for each of tens of thousands of files."""
    found: dict[str, Stat | None] = {}
    for rel, entry in _walk(str(folder), name + os.sep, ".md"):
        try:
            found[rel] = stat_key(entry.stat())
        except OSError:
            found[rel] = None
    return found


def snapshot(root: Path) -> dict[str, Stat]:
    """The stat key of every file under `root` whose name does not start with a dot: kb.toml,
    the articles and the media they link to. Two snapshots differ when any of them changed."""
    out: dict[str, Stat] = {}
    for rel, entry in _walk(str(root), "", ""):
        if entry.name.startswith("."):
            continue
        try:
            if entry.is_file():
                out[rel] = stat_key(entry.stat())
        except OSError:
            continue  # removed while we looked
    return out


# -- what changed since a file table --------------------------------------------------------------
@dataclass
class Changes:
    """The article files whose stat differs from a file table's."""

    now_ns: int  # when the scan began: stat keys newer than a few seconds before are racy
    seen: dict[str, Stat | None]  # every article file now, relative to the root -> stat key
    locales: dict[str, str]  # locale folder name -> locale
    changed: list[str]  # edited or added (or its stat unreadable), sorted
    removed: list[str]  # in the table, gone from the folder

    @property
    def count(self) -> int:
        return len(self.changed) + len(self.removed)


def find_changes(root: Path, config: Config, table: Table) -> Changes | None:
    """The article files changed under `root` since `table` was taken; None when a folder is no
    enabled locale (only reading the whole help center reports that)."""
    now = time.time_ns()
    seen: dict[str, Stat | None] = {}
    locales: dict[str, str] = {}
    for folder in locale_folders(root, config):
        if folder.error:
            return None
        locales[folder.path.name] = folder.locale
        seen.update(scan(folder.path, folder.path.name))
    missing = (None,)
    changed = sorted(rel for rel, key in seen.items() if key is None or table.get(rel, missing)[0] != key)
    removed = [rel for rel in table if rel not in seen]
    return Changes(now, seen, locales, changed, removed)


@dataclass
class Changed:
    """The translation groups touched by some changes, read from disk."""

    articles: list[Article]  # sorted by locale and path
    problems: list[Problem]  # of the files read
    ids: set[str]  # the groups' ids, with the articles that were removed or failed to load
    table: Table  # the file table with the changes made
    read: int  # files read and loaded


def load_changed(root: Path, changes: Changes, table: Table, also: Iterable[str] = ()) -> Changed | None:
    """Read the changed files and the other files of their translation groups (old and new ids),
    and of the groups `also` names; None when two of them have the same id and locale (which
    file wins is for the whole help center to say, and `kb check` reports it)."""
    problems: list[Problem] = []
    parsed: dict[str, Article] = {}

    def read(rel: str) -> None:
        article = load_article(root / rel, changes.locales[rel.split(os.sep, 1)[0]], root, problems)
        if article is not None:
            parsed[rel] = article

    for rel in changes.changed:
        read(rel)
    ids = {a.id for a in parsed.values()} | {table[rel][2] for rel in [*changes.changed, *changes.removed] if rel in table}
    ids |= set(also)
    grouped = [rel for rel, entry in table.items() if entry[2] in ids]
    done = set(changes.changed)
    for rel in grouped:
        if rel not in done and rel in changes.seen:
            read(rel)
    articles = sorted(parsed.values(), key=lambda a: (a.locale, str(a.path)))
    keys = [(a.id, a.locale) for a in articles]
    if len(set(keys)) != len(keys):
        return None
    new_table = dict(table)
    for rel in [*changes.removed, *grouped]:
        new_table.pop(rel, None)
    for rel, article in parsed.items():
        stat = changes.seen[rel]
        if stat is not None and not is_racy(stat, changes.now_ns):
            new_table[rel] = (stat, article.locale, article.id)
    return Changed(articles, problems, ids, new_table, len(parsed))
