"""Translation memory: every text translated once per (language pair, model version).

SQLite, keyed by (sha256 of the source text, source language, target language, model
version). The source text is kept too, so the memory can be inspected or exported.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS memory (
    source_hash TEXT NOT NULL,
    src TEXT NOT NULL,
    dst TEXT NOT NULL,
    version TEXT NOT NULL,
    source TEXT NOT NULL,
    target TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (source_hash, src, dst, version)
) WITHOUT ROWID
"""
_CHUNK = 500  # keys per SELECT, below SQLite's variable limit


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class TranslationMemory:
    """A SQLite translation memory. `hits` and `misses` count lookups since it was opened."""

    def __init__(self, path: Path | str = ":memory:") -> None:
        self.path = path
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
        if str(path) != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_SCHEMA)
        self._db.commit()
        self.hits = 0
        self.misses = 0

    def get_many(self, texts: Iterable[str], src: str, dst: str, version: str) -> dict[str, str]:
        """Known translations of `texts` (text → translation); counts a hit or a miss per distinct text."""
        by_hash = {text_hash(t): t for t in texts}
        found: dict[str, str] = {}
        hashes = list(by_hash)
        with self._lock:
            for start in range(0, len(hashes), _CHUNK):
                chunk = hashes[start : start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT source_hash, target FROM memory WHERE src = ? AND dst = ? AND version = ? "
                    f"AND source_hash IN ({marks})", (src, dst, version, *chunk)).fetchall()
                for digest, target in rows:
                    found[by_hash[digest]] = target
            self.hits += len(found)
            self.misses += len(by_hash) - len(found)
        return found

    def get(self, text: str, src: str, dst: str, version: str) -> str | None:
        return self.get_many([text], src, dst, version).get(text)

    def put_many(self, pairs: Iterable[tuple[str, str]], src: str, dst: str, version: str) -> None:
        """Store (source text, translation) pairs."""
        now = time.time()
        rows = [(text_hash(s), src, dst, version, s, t, now) for s, t in pairs]
        if not rows:
            return
        with self._lock:
            self._db.executemany(
                "INSERT OR REPLACE INTO memory (source_hash, src, dst, version, source, target, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            self._db.commit()

    def put(self, text: str, src: str, dst: str, version: str, translation: str) -> None:
        self.put_many([(text, translation)], src, dst, version)

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM memory").fetchone()[0])

    def stats(self) -> dict[str, int]:
        return {"entries": len(self), "hits": self.hits, "misses": self.misses}

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> TranslationMemory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
