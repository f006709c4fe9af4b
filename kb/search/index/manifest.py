"""What a generation says about itself (manifest.json), written in one place, and the live
generation read back as the start of the next build.

A full generation writes its manifest three times over: manifest.json whole, and quicker to
read for the next build, its articles apart (spans.marshal) and the rest (head.json). A delta
generation writes manifest.json alone, with a "delta" entry (kb/search/index/delta.py).

Every manifest records the size and hash of each file of its generation and the counts the
loaded index must hold (its "integrity" entry, kb/search/index/integrity.py), and manifest.json
and head.json end with a checksum of their own bytes ("checksum", `seal`). Generations written
before either existed are read as they are (kb/search/index/load.py says so once).
"""

from __future__ import annotations

import hashlib
import json
import logging
import marshal
import threading
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from kb.content.library import Library
from kb.errors import KbError
from kb.search.embedders import Embedder
from kb.search.index import integrity
from kb.search.index.integrity import Entry, IndexDamaged
from kb.search.index.layout import current_generation
from kb.search.index.records import Span

FORMAT = 2  # 2: delta generations (kb/search/index/delta.py), which kb versions reading format 1 would misread
READS = (1, 2)  # a format-1 generation is a full one, laid out as format 2's
SPANS = "spans.marshal"  # a full generation's manifest["articles"], quicker to read than its JSON
HEAD = "head.json"  # a full generation's manifest without its articles (a delta's is its manifest)
MANIFEST = "manifest.json"
_SEAL = b', "checksum": "'  # how a sealed manifest ends: , "checksum": "<sha256 of the bytes before>"}

logger = logging.getLogger("kb.search")


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
    integrity: dict[str, Any] | None = None  # set by `write`: files, hashes, counts

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

    def write(self, directory: Path, counts: dict[str, Any], inherited: dict[str, Entry] | None = None) -> None:
        """Write the manifest last, when every other file of the generation is written: it records
        their sizes and hashes (those in `inherited`, hard-linked from a base, keep the base's
        entries) and `counts`."""
        if self.delta is None:
            (directory / SPANS).write_bytes(marshal.dumps(self.articles))
        self.integrity = integrity.record(directory, (MANIFEST, HEAD), counts, inherited)
        data = self.as_json()
        if self.delta is None:
            (directory / HEAD).write_bytes(seal({k: v for k, v in data.items() if k != "articles"}))
        (directory / MANIFEST).write_bytes(seal(data))


def seal(data: dict[str, Any]) -> bytes:
    """`data` as JSON with a last member "checksum": the SHA-256 of the bytes before it."""
    body = json.dumps(data).encode()
    assert body.endswith(b"}") and len(data)
    head = body[:-1]
    return head + _SEAL + hashlib.sha256(head).hexdigest().encode() + b'"}'


def unseal(raw: bytes) -> tuple[dict[str, Any], bool | None]:
    """The JSON object in `raw` without its checksum, and whether the checksum matched (None: an
    older manifest without one). ValueError when it is not a JSON object."""
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    if "checksum" not in data:
        return data, None
    claimed = data.pop("checksum")
    cut = raw.rfind(_SEAL)
    ok = (cut > 0 and raw.rstrip().endswith(b'"}') and isinstance(claimed, str)
          and hashlib.sha256(raw[:cut]).hexdigest() == claimed)
    return data, ok


def read_manifest(generation: Path, name: str = MANIFEST) -> tuple[dict[str, Any], bool | None]:
    """A generation's manifest for serving, and whether it carried its checksum (None: written
    before checksums). Raises IndexDamaged naming the file, or KbError for a format this kb does not read."""
    try:
        raw = (generation / name).read_bytes()
    except FileNotFoundError:
        raise IndexDamaged(generation.name, name, "missing") from None
    except OSError as exc:
        raise IndexDamaged(generation.name, name, f"cannot be read ({exc.strerror or exc})") from None
    try:
        data, sealed = unseal(raw)
    except ValueError:
        raise IndexDamaged(generation.name, name, f"not a JSON object ({len(raw)} bytes: truncated or damaged)") from None
    if data.get("format") not in READS:
        raise KbError(f"the index in {generation} has format {data.get('format')}, this kb reads "
                      f"{', '.join(map(str, READS))}: run 'kb index'")
    if sealed is False:
        raise IndexDamaged(generation.name, name, "its checksum does not match its content (damaged)")
    return data, sealed


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


_warned: set[str] = set()


def read_previous(data_dir: Path, embedder: Embedder) -> Previous | None:
    """The live generation, if there is one that `embedder` built and this kb reads, and whose
    files are as its manifest recorded them (sizes; hashes of files modified since: a build never
    copies damage into a new generation with fresh hashes). Else None: the build starts afresh."""
    gen = current_generation(data_dir)
    if gen is None:
        return None
    try:
        quick = (gen / HEAD).is_file() and (gen / SPANS).is_file()  # a full generation that has them
        manifest, sealed = unseal((gen / (HEAD if quick else MANIFEST)).read_bytes())
        top, articles = manifest, _spans(gen / SPANS) if quick else manifest.get("articles")
        if sealed is False:
            return _damaged(gen, [integrity.Damage(HEAD if quick else MANIFEST, "checksum does not match")])
        if top.get("integrity") is not None:
            problems = integrity.check_files(gen, top["integrity"], quick=True)
            if problems:
                return _damaged(gen, problems)
        if "delta" in manifest:  # a delta: builds start from its base (hard-linked in the same folder)
            manifest = manifest["delta"]["base_manifest"]
            articles = _spans(gen / SPANS)
        if not isinstance(articles, dict) or (top.get("format") not in READS or manifest.get("format") not in READS
                or manifest.get("embedder") != embedder.name
                or manifest.get("embedder_version") != embedder.version or manifest.get("dim") != embedder.dim):
            return None
        vectors = np.load(gen / "vectors.npy", mmap_mode="r")
        if vectors.shape != (manifest.get("passages"), embedder.dim):
            return _damaged(gen, [integrity.Damage("vectors.npy", f"{vectors.shape[0]} rows, the manifest says "
                                                                  f"{manifest.get('passages')}")])
    except (OSError, ValueError, EOFError, TypeError, KeyError, AttributeError, json.JSONDecodeError):
        return None
    live = set(articles)
    if "delta" in top:
        live = (live - set(top["delta"]["removed"])) | set(top["articles"])
    return Previous(path=gen, articles=articles, vectors=vectors, live=live,
                    manifest={k: v for k, v in manifest.items() if k != "articles"},
                    delta="delta" in top, base=top["delta"]["base"] if "delta" in top else gen.name,
                    split_version=manifest.get("split_version"), lexical=manifest.get("lexical", {}),
                    lexical_version=manifest.get("lexical_version"), index_type=manifest.get("index_type", ""))


def _damaged(gen: Path, problems: list[integrity.Damage]) -> None:
    """A live generation that fails its checks is not built upon (said once per generation)."""
    if str(gen) not in _warned:
        _warned.add(str(gen))
        logger.warning("the live generation %s is damaged (%s): building a new one without it",
                       gen.name, "; ".join(map(str, problems[:3])))


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
