"""What the embedders share: L2 normalisation and the rule for their OpenMP threads.

Its own module so that kb/search/embedders.py (which picks an embedder by name) and the
embedders in their own modules (kb/search/e5torch.py) both import it, and not each other.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np


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
