"""What the embedders share: L2 normalisation and the rule for their OpenMP threads.

Its own module so that kb/search/embedders.py (which picks an embedder by name) and the
embedders in their own modules (kb/search/e5torch.py) both import it, and not each other.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np

from kb.errors import KbError


def _normalize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def _cores() -> int:
    """The cores this process may use: KB_EMBED_THREADS when set (an actor of a Ray pool that holds
    fewer CPUs than the machine has, kb/search/distributed.py), else the CPU affinity."""
    if os.environ.get("KB_EMBED_THREADS", "").isdigit() and int(os.environ["KB_EMBED_THREADS"]) > 0:
        return int(os.environ["KB_EMBED_THREADS"])
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


QUERY_THREADS_ENV = "KB_QUERY_THREADS"
SEARCH_SLOTS_ENV = "KB_SEARCH_SLOTS"


def _count_from_env(name: str, what: str) -> int | None:
    """A whole number of 1 or more from the environment variable `name`; None when it is unset."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise KbError(f"{name}={raw!r}: give a whole number of {what}, 1 or more")
    return value


def query_cores() -> int:
    """The threads a query embedded alone may use: KB_QUERY_THREADS, else every core. Several
    processes on the same cores (`kb serve --workers N` sets it to cores ÷ N) must not each take
    every core: two workers each running a query on 2 threads put 4 busy threads on 2 cores."""
    value = _count_from_env(QUERY_THREADS_ENV, "threads")
    return _cores() if value is None else value


def search_slots() -> int:
    """How many searches one process runs at once (kb.search.engine.Engine; more wait their turn):
    KB_SEARCH_SLOTS, else `query_cores()` + 1. A search holds the GIL for its Python part (about
    half its CPU time) and releases it in torch, NumPy and FAISS: one more search than cores keeps
    the cores busy, and more than that only fight over the GIL. Measured on 2 cores at concurrency
    8 (docs/deployment.md): one process 55 req/s with no limit, 64–72 with 2, 74–76 with 3, 67 with 4."""
    value = _count_from_env(SEARCH_SLOTS_ENV, "searches at once")
    return query_cores() + 1 if value is None else value


class OpenMpThreads:
    """The OpenMP team size of the calling thread, set through the libgomp a C library loaded.

    OMP_NUM_THREADS stays 1 for the process (above); this gives one call more: all cores (or
    `query_cores()`) to a query embedded while no other is in this process (a lone shopper's
    search), one core each when queries overlap, so concurrent searches never fight over cores
    (2 threads per query stalled under load).
    `owner`: the package whose libgomp to use (wheels bundle their own, and faiss has another one);
    else the first libgomp loaded. A no-op when there is none."""

    def __init__(self, owner: str = "", setter: Callable[[int], object] | None = None) -> None:
        """`setter`: a library's own call for the calling thread's team size (torch's, FAISS's),
        used instead of looking for a libgomp; `owner` then names that library."""
        self._set = setter
        self.cores, self.query_cores = _cores(), query_cores()
        self._active = 0
        self._lock = threading.Lock()
        if setter is not None:
            self.library = owner
            return
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
        """`query_cores` threads if this is the only call in flight in this process, else one."""
        with self._lock:
            self._active += 1
            alone = self._active == 1
        try:
            if self._set is not None:
                self._set(self.query_cores if alone else 1)
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
