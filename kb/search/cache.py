"""Embedding caches: passage vectors on disk for `kb index` (keyed by embedder, version, role and
text hash, in SQLite), and the last query vectors in memory for the engine."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import numpy as np

from kb.errors import KbError


class EmbeddingCache:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS emb (key TEXT PRIMARY KEY, vec BLOB NOT NULL)")

    @staticmethod
    def key(model: str, role: str, text: str) -> str:
        return hashlib.sha256(f"{model}\x00{role}\x00{text}".encode()).hexdigest()

    def get_many(self, keys: list[str], dim: int) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for i in range(0, len(keys), 500):
            part = keys[i : i + 500]
            marks = ",".join("?" * len(part))
            for key, blob in self._db.execute(f"SELECT key, vec FROM emb WHERE key IN ({marks})", part):
                vec = np.frombuffer(blob, dtype=np.float32)
                if vec.shape[0] == dim:
                    out[key] = vec
        return out

    def put_many(self, items: dict[str, np.ndarray]) -> None:
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO emb (key, vec) VALUES (?, ?)",
                                 [(k, np.asarray(v, dtype=np.float32).tobytes()) for k, v in items.items()])

    def close(self) -> None:
        self._db.close()


QUERY_CACHE_ENV = "KB_QUERY_CACHE"
QUERY_CACHE_SIZE = 4096  # ~15 MB with the default ensemble (896 floats a query)


def query_cache_size(env: dict[str, str] | None = None) -> int:
    """KB_QUERY_CACHE: how many query vectors the engine keeps (0 or off: none)."""
    raw = (os.environ if env is None else env).get(QUERY_CACHE_ENV, "").strip().lower()
    if not raw:
        return QUERY_CACHE_SIZE
    if raw in ("off", "none"):
        return 0
    if not raw.isdigit():
        raise KbError(f"{QUERY_CACHE_ENV}={raw!r}: give how many query vectors to keep (0 or 'off' keeps none)")
    return int(raw)


class QueryVectors:
    """The vectors of the last `size` distinct queries (least recently used goes first).

    Shoppers ask the same things over and over, and the site's search-as-you-type has already
    embedded the query a shopper submits; a hit skips the embedder (~20 ms). Thread-safe; the
    embedder runs outside the lock."""

    def __init__(self, size: int = QUERY_CACHE_SIZE) -> None:
        self.size = size
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, text: str, embed: Callable[[str], np.ndarray]) -> np.ndarray:
        with self._lock:
            vec = self._items.get(text)
            if vec is not None:
                self._items.move_to_end(text)
                self.hits += 1
                return vec
            self.misses += 1
        vec = embed(text)
        vec.setflags(write=False)
        if self.size > 0:
            with self._lock:
                self._items[text] = vec
                self._items.move_to_end(text)
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
        return vec
