"""What a generation says about itself (manifest.json), written in one place, and the live
generation read back as the start of the next build.

A full generation writes its manifest three times over: manifest.json whole, and quicker to
read for the next build, its articles apart (spans.marshal) and the rest (head.json). A delta
generation writes manifest.json alone, with a "delta" entry (kb/search/index/delta.py).
"""

from __future__ import annotations

import json
import marshal
import threading
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from kb.content.library import Library
from kb.search.embedders import Embedder
from kb.search.index.layout import current_generation
from kb.search.index.records import Span

FORMAT = 2  # 2: delta generations (kb/search/index/delta.py), which kb versions reading format 1 would misread
READS = (1, 2)  # a format-1 generation is a full one, laid out as format 2's
SPANS = "spans.marshal"  # a full generation's manifest["articles"], quicker to read than its JSON
HEAD = "head.json"  # a full generation's manifest without its articles (a delta's is its manifest)
MANIFEST = "manifest.json"


def _as_dict(obj: Any) -> dict[str, Any]:
    """A dataclass's fields in their order, values as they are (not copied)."""
    return {f.name: getattr(obj, f.name) for f in fields(obj)}


@dataclass
class DeltaInfo:
    """A delta generation's "delta" entry: its base and what of the base is no longer live."""

    base: str  # the base generation's name
    base_passages: int
    removed: list[str]  # the base's articles ("locale/id") no longer live
    dead: int  # base rows no longer live
    base_manifest: dict[str, Any]  # the base's manifest without its articles, as read


@dataclass
class Manifest:
    """manifest.json. Its fields are written in this order."""

    format: int
    embedder: str
    embedder_version: str
    dim: int
    index_type: str
    created: float
    passages: int
    articles: dict[str, Span]  # a delta's: only those that differ from its base
    split_version: str
    lexical: dict[str, str]  # locale -> the key of its BM25 model
    lexical_version: str | None
    source_locale: str
    locales: list[str]
    name: str
    config: dict[str, Any]
    delta: DeltaInfo | None = None

    @classmethod
    def of(cls, library: Library, embedder: Embedder, *, index_type: str, passages: int,
           articles: dict[str, Span], split_version: str, lexical: dict[str, str],
           lexical_version: str | None, delta: DeltaInfo | None = None) -> Manifest:
        """The manifest of a generation built now from `library` with `embedder`."""
        config = library.config
        return cls(format=FORMAT, embedder=embedder.name, embedder_version=embedder.version, dim=embedder.dim,
                   index_type=index_type, created=time.time(), passages=passages, articles=articles,
                   split_version=split_version, lexical=lexical, lexical_version=lexical_version,
                   source_locale=config.source_locale, locales=config.locales, name=config.name,
                   config=config.model_dump(mode="json"), delta=delta)

    def as_json(self) -> dict[str, Any]:
        data = _as_dict(self)
        if self.delta is None:
            del data["delta"]
        else:
            data["delta"] = _as_dict(self.delta)
        return data

    def write(self, directory: Path) -> None:
        data = self.as_json()
        if self.delta is None:
            (directory / SPANS).write_bytes(marshal.dumps(self.articles))
            (directory / HEAD).write_text(json.dumps({k: v for k, v in data.items() if k != "articles"}))
        (directory / MANIFEST).write_text(json.dumps(data))


@dataclass
class Previous:
    """The live generation as a build starts from it: its base, when it is a delta (deltas
    never stack: each is built over the base again)."""

    path: Path  # the live generation's folder (a delta's holds its base's files too)
    articles: dict[str, Span]  # the base's manifest entries
    vectors: np.ndarray  # the base's float16 vectors, memory-mapped
    live: set[str]  # the articles live in the generation
    manifest: dict[str, Any]  # the base's manifest without its articles, as read
    delta: bool  # the live generation is a delta
    base: str  # the base's name
    split_version: str | None
    lexical: dict[str, str]
    lexical_version: str | None
    index_type: str


def read_previous(data_dir: Path, embedder: Embedder) -> Previous | None:
    """The live generation, if there is one that `embedder` built and this kb reads."""
    gen = current_generation(data_dir)
    if gen is None:
        return None
    try:
        quick = (gen / HEAD).is_file() and (gen / SPANS).is_file()  # a full generation that has them
        manifest = json.loads((gen / (HEAD if quick else MANIFEST)).read_text())
        top, articles = manifest, _spans(gen / SPANS) if quick else manifest.get("articles")
        if "delta" in manifest:  # a delta: builds start from its base (hard-linked in the same folder)
            manifest = manifest["delta"]["base_manifest"]
            articles = _spans(gen / SPANS)
        if not isinstance(articles, dict) or (top.get("format") not in READS or manifest.get("format") not in READS
                or manifest.get("embedder") != embedder.name
                or manifest.get("embedder_version") != embedder.version or manifest.get("dim") != embedder.dim):
            return None
        vectors = np.load(gen / "vectors.npy", mmap_mode="r")
    except (OSError, ValueError, EOFError, TypeError, KeyError, json.JSONDecodeError):
        return None
    live = set(articles)
    if "delta" in top:
        live = (live - set(top["delta"]["removed"])) | set(top["articles"])
    return Previous(path=gen, articles=articles, vectors=vectors, live=live,
                    manifest={k: v for k, v in manifest.items() if k != "articles"},
                    delta="delta" in top, base=top["delta"]["base"] if "delta" in top else gen.name,
                    split_version=manifest.get("split_version"), lexical=manifest.get("lexical", {}),
                    lexical_version=manifest.get("lexical_version"), index_type=manifest.get("index_type", ""))


_spans_lock = threading.Lock()
_spans_cache: list[tuple[tuple[int, int, int, int], dict[str, Any]]] = []


def _spans(path: Path) -> dict[str, Any]:
    """A base's articles from its spans file, kept for the next build in this process (`kb serve
    --watch`) while the file is the same one: deltas over one base share it. Never modified."""
    st = path.stat()
    key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    with _spans_lock:
        if _spans_cache and _spans_cache[0][0] == key:
            return _spans_cache[0][1]
    spans = marshal.loads(path.read_bytes())
    if not isinstance(spans, dict):
        raise ValueError(f"{path}: not a spans file")
    with _spans_lock:
        _spans_cache[:] = [(key, spans)]
    return spans
