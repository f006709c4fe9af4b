"""The files of a full generation that take what they can from the previous one: passages.jsonl
and articles.jsonl (an unchanged article's lines copied as bytes) and the BM25 model of each
locale (hard-linked when none of its articles changed, else built from the saved tokens of
those unchanged and the texts of the others).

Every copy goes through `PreviousFile.read`, and both JSONL files are written by `write_spans`,
which records where each article's bytes went (its manifest entry's "bytes" and "abytes").
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

import numpy as np

from kb.errors import KbError
from kb.search.index.manifest import Previous
from kb.search.index.records import (
    ARTICLES,
    PASSAGES,
    Part,
    Span,
    record_key,
    serialize_passages,
    serialize_record,
)
from kb.search.lexical import Tokens, build_model, join_tokens, lexical_version, link_model, load_tokens, save_model


class PreviousFile:
    """One file of the previous generation, opened at the first read, read by byte spans."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._fd: int | None = None

    def read(self, span: list[int]) -> bytes:
        """The bytes [lo, hi) of the file, all of them."""
        if self._fd is None:
            assert self.path is not None, "no previous generation to copy from"
            self._fd = os.open(self.path, os.O_RDONLY)
        lo, hi = span
        data = os.pread(self._fd, hi - lo, lo)
        if len(data) != hi - lo:
            assert self.path is not None
            raise KbError(f"the previous index's {self.path.name} is shorter than its manifest says")
        return data

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> PreviousFile:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def write_spans(path: Path, chunks: Iterable[bytes]) -> list[list[int]]:
    """Write `chunks` one after the other to `path`, flushed to disk. Returns each one's byte
    span, [start, end]."""
    spans: list[list[int]] = []
    with open(path, "wb", buffering=0) as fh:
        pos = 0
        for data in chunks:
            fh.write(data)
            spans.append([pos, pos + len(data)])
            pos += len(data)
        os.fsync(fh.fileno())
    return spans


def write_passages(directory: Path, parts: list[Part], prev: Previous | None, spans: dict[str, Span]) -> None:
    """passages.jsonl: reused articles' lines copied as bytes from the previous generation,
    the others serialized now. Records each article's byte span in its manifest entry."""
    with PreviousFile(prev.path / PASSAGES if prev is not None else None) as old:
        chunks = (old.read(part.old["bytes"]) if part.old is not None else serialize_passages(part.items or [])
                  for part in parts)
        for part, span in zip(parts, write_spans(directory / PASSAGES, chunks), strict=True):
            spans[part.key]["bytes"] = span


def write_articles(directory: Path, parts: list[Part], prev_articles: dict[str, Span], prev: Previous | None,
                   spans: dict[str, Span]) -> None:
    """articles.jsonl: an article whose record is unchanged copies its line from the previous
    generation, the others are serialized now. Records each line's key and byte span."""
    rkeys = [record_key(part) for part in parts]
    with PreviousFile(prev.path / ARTICLES if prev is not None else None) as old_file:

        def line(part: Part, rkey: str) -> bytes:
            old = prev_articles.get(part.key)
            if prev is not None and old is not None and old.get("rkey") == rkey and "abytes" in old:
                return old_file.read(old["abytes"])
            return serialize_record(part.rec)

        written = write_spans(directory / ARTICLES, (line(p, k) for p, k in zip(parts, rkeys, strict=True)))
    for part, rkey, span in zip(parts, rkeys, written, strict=True):
        entry = spans[part.key]
        entry["rkey"], entry["abytes"] = rkey, span


def write_lexical(directory: Path, parts: list[Part], prev: Previous | None, spans: dict[str, Span]) -> dict[str, str]:
    """One BM25 model per locale. A locale whose articles all kept their passages (same keys, same
    order) hard-links the previous model; the others are built from tokens: those the previous
    generation saved for the passages it shares with this one, the rest tokenized now. Returns
    each locale's key."""
    version = lexical_version()
    by_locale: dict[str, list[Part]] = {}
    for part in parts:
        by_locale.setdefault(part.rec.locale, []).append(part)
    prev_keys: dict[str, str] = prev.lexical if prev else {}
    same_tokens = prev is not None and prev.lexical_version == version
    keys: dict[str, str] = {}
    for locale in sorted(by_locale):
        group = by_locale[locale]
        rows = np.concatenate([np.arange(spans[p.key]["start"], spans[p.key]["end"], dtype=np.int64) for p in group])
        if not len(rows):
            continue
        key = hashlib.sha256("\x1e".join([version, *(p.pkey for p in group)]).encode()).hexdigest()[:24]
        keys[locale] = key
        if prev is not None and prev_keys.get(locale) == key and (prev.path / f"bm25-{locale}").is_dir():
            link_model(prev.path, directory, locale, rows)
            continue
        saved = load_tokens(prev.path, locale) if prev is not None and same_tokens else None
        tokens = join_tokens(_token_pieces(group, locale, saved, prev))
        save_model(directory, locale, build_model(tokens), rows, tokens)
    return keys


def _token_pieces(group: list[Part], locale: str, saved: tuple[Tokens, np.ndarray] | None,
                  prev: Previous | None) -> list[Tokens | tuple[list[str], str]]:
    """The passages of one locale's articles in order: a slice of the previous generation's saved
    tokens for an article whose passages are reused, else its texts (read back when needed)."""
    position: np.ndarray | None = None  # previous passage row -> its place in the saved tokens
    if saved is not None:
        position = np.full(len(prev.vectors) if prev else 0, -1, dtype=np.int64)
        if len(saved[1]) and (saved[1].min() < 0 or saved[1].max() >= len(position)):
            position = None
        else:
            position[saved[1]] = np.arange(len(saved[1]))
    pieces: list[Tokens | tuple[list[str], str]] = []
    with PreviousFile(prev.path / PASSAGES if prev is not None else None) as old_file:
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
            lines = old_file.read(part.old["bytes"]).splitlines()
            pieces.append(([json.loads(line)["embed_text"] for line in lines], locale))
    return pieces
