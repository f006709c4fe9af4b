"""A cache of parsed articles for `Library.load(root, cache_dir=...)` (used by `kb index`).

One file per locale folder under `<cache_dir>/library-<root hash>/`, holding for each article
file that loaded cleanly its validated front matter, body, lines and content hash, keyed by the
file's (size, mtime_ns, ctime_ns, inode). A file whose stat differs is read and parsed again, as
is one modified within the last few seconds (its mtime might not move on a second write). Each
cache file carries a version (the parsing code, pydantic and PyYAML) and a digest of its content:
a cache that is corrupt, truncated or written by other code is ignored, never trusted. Files
that fail to load are not cached: they are read every time, so their problems are reported.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import marshal
import os
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

from kb.content import article, changes, fastmatter, frontmatter, locales, nesting, reader
from kb.content.article import Article, FrontMatter
from kb.content.changes import Stat, is_racy

MAGIC = b"kb-parse-cache 1\n"
_DATES = ("updated", "reviewed_on")

Entry = tuple[Stat, Article, str]  # stat key, article, content hash


@lru_cache(maxsize=1)
def cache_version() -> str:
    """Changes when parsing or validating an article file may give another result, or when the
    rules of kb/content/changes.py do (the index's file table carries this version too)."""
    import pydantic
    import yaml

    sources = [Path(m.__file__).read_bytes() for m in (article, changes, fastmatter, frontmatter, locales, nesting, reader)
               if m.__file__]
    sources += [Path(__file__).read_bytes(), pydantic.VERSION.encode(), str(yaml.__version__).encode(),
                sys.version.encode()]
    return hashlib.sha256(b"\x1e".join(sources)).hexdigest()[:16]


class ParseCache:
    """Entries of one locale folder: read from the cache file, then updated as files are loaded."""

    def __init__(self, cache_dir: Path, root: Path, locale_dir: str) -> None:
        root_key = hashlib.sha256(str(root.resolve()).encode("utf-8", "surrogateescape")).hexdigest()[:16]
        self.path = Path(cache_dir) / f"library-{root_key}" / f"{locale_dir}.cache"
        self.old: dict[str, tuple[Stat, tuple[Any, ...]]] = _read(self.path)
        self.new: dict[str, tuple[Stat, tuple[Any, ...]]] = {}
        self.changed = False

    def get(self, rel: str, key: Stat, path: Path, locale: str) -> tuple[Article, str] | None:
        """The cached article for the file at `rel`, if its stat is the cached one."""
        found = self.old.get(rel)
        if found is None or found[0] != key:
            return None
        try:
            article, digest = _decode(found[1], path, locale)
        except (TypeError, ValueError, KeyError, IndexError):
            return None
        self.new[rel] = found
        return article, digest

    def put(self, rel: str, key: Stat, article: Article, digest: str, now_ns: int) -> None:
        self.changed = True
        if not is_racy(key, now_ns):
            self.new[rel] = (key, _encode(article, digest))

    def save(self) -> None:
        """Write the entries seen in this load, if they differ from the file's (best effort)."""
        if not self.changed and self.new.keys() == self.old.keys():
            return
        payload = marshal.dumps(self.new)
        body = MAGIC + cache_version().encode() + b"\n" + hashlib.blake2b(payload, digest_size=20).hexdigest().encode() \
            + b"\n" + payload
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(body)
            os.replace(tmp, self.path)
        except OSError:
            tmp.unlink(missing_ok=True)


def _read(path: Path) -> dict[str, tuple[Stat, tuple[Any, ...]]]:
    try:
        data = path.read_bytes()
    except OSError:
        return {}
    head = MAGIC + cache_version().encode() + b"\n"
    if not data.startswith(head):
        return {}
    digest, sep, payload = data[len(head):].partition(b"\n")
    if not sep or hashlib.blake2b(payload, digest_size=20).hexdigest().encode() != digest:
        return {}
    try:
        entries = marshal.loads(payload)
    except (EOFError, ValueError, TypeError):
        return {}
    if not isinstance(entries, dict):
        return {}
    return {rel: value for rel, value in entries.items()
            if isinstance(rel, str) and isinstance(value, tuple) and len(value) == 2}


def _encode(article: Article, digest: str) -> tuple[Any, ...]:
    meta = article.meta.model_dump(exclude_unset=True)
    for name in _DATES:
        if isinstance(meta.get(name), dt.date):
            meta[name] = meta[name].toordinal()
    return (meta, article.body, article.body_line, dict(article.field_lines), digest)


_FIELDS = tuple(FrontMatter.model_fields)
_DEFAULTS = {name: info.default for name, info in FrontMatter.model_fields.items() if not info.is_required()}
_ALL, _REQUIRED = frozenset(_FIELDS), frozenset(_FIELDS) - _DEFAULTS.keys()


def _construct(fields: dict[str, Any]) -> FrontMatter:
    """`FrontMatter.model_construct(**fields)` without its per-call overhead: the same instance
    state (field values, fields set); defaults are immutable (None) or copied (lists)."""
    if not (_REQUIRED <= fields.keys() <= _ALL):
        raise KeyError("fields do not fit FrontMatter")
    values = {name: fields[name] if name in fields else _copy(_DEFAULTS[name]) for name in _FIELDS}
    model = FrontMatter.__new__(FrontMatter)
    object.__setattr__(model, "__dict__", values)
    object.__setattr__(model, "__pydantic_fields_set__", set(fields))
    object.__setattr__(model, "__pydantic_extra__", None)
    object.__setattr__(model, "__pydantic_private__", None)
    return model


def _copy(value: Any) -> Any:
    return list(value) if isinstance(value, list) else value


def _decode(value: tuple[Any, ...], path: Path, locale: str) -> tuple[Article, str]:
    meta, body, body_line, field_lines, digest = value
    if not (isinstance(meta, dict) and isinstance(body, str) and isinstance(body_line, int)
            and isinstance(field_lines, dict) and isinstance(digest, str)):
        raise TypeError("malformed cache entry")
    fields = dict(meta)
    for name in _DATES:
        if isinstance(fields.get(name), int):
            fields[name] = dt.date.fromordinal(fields[name])
    # validated when the entry was made, from the same file content (stat), by the same code (version)
    front = _construct(fields)
    return Article(meta=front, body=body, locale=locale, path=path, body_line=body_line,
                   field_lines=field_lines), digest
