"""The generation an engine serves, and the swap to a new one when CURRENT changes.

Every `reload_interval` seconds a request checks CURRENT; a new generation is loaded in a
background thread (checked by kb/search/index/load.py, its files hashed once) and swapped in
whole. One that fails is refused: the loaded generation keeps serving, `problem` says why (for
/healthz), the failure is logged once per generation, and it is tried again after RETRY_FAILED
seconds. An empty or dangling CURRENT is a problem of the same kind.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from kb.errors import KbError
from kb.search.index import Index, live_generation, load_index

logger = logging.getLogger("kb.search")


class LiveIndex:
    RETRY_FAILED = 60.0

    def __init__(self, data_dir: Path, reload_interval: float = 1.0) -> None:
        self.data_dir = data_dir
        self.reload_interval = reload_interval
        self.current: Index = load_index(data_dir)  # at start-up, a failure is the caller's
        self.problem: str | None = None  # why the newest generation is not the one served
        self._failed: dict[str, float] = {}  # generation (or CURRENT's problem) -> when it last failed
        self._checked = time.monotonic()
        self._lock = threading.Lock()
        self._reloading = False

    def get(self) -> Index:
        """The generation served, after starting to load a new one if it is time to look."""
        now = time.monotonic()
        if now - self._checked >= self.reload_interval:
            self._checked = now
            try:
                gen: Path | None = live_generation(self.data_dir)
            except KbError as exc:  # CURRENT empty or naming nothing: keep serving, say so
                gen = None
                self._refused(str(exc), str(exc), now)
            with self._lock:
                if gen is not None and gen == self.current.path:
                    self.problem = None  # CURRENT names what is served (again)
                failed = self._failed.get(gen.name) if gen is not None else None
                start = (gen is not None and gen != self.current.path and not self._reloading
                         and (failed is None or now - failed >= self.RETRY_FAILED))
                self._reloading = self._reloading or start
            if start:
                threading.Thread(target=self._reload, args=(gen,), daemon=True).start()
        return self.current

    def _reload(self, gen: Path | None = None) -> None:
        try:
            gen = gen or live_generation(self.data_dir)
            fresh = load_index(self.data_dir, self.current.manifest["embedder"], reuse=self.current, generation=gen)
        except Exception as exc:  # noqa: BLE001 - whatever it is, the loaded generation keeps serving
            name = gen.name if gen is not None else "CURRENT"
            message = str(exc) if isinstance(exc, KbError) else \
                f"generation {name} refused: {type(exc).__name__}: {' '.join(str(exc).split())[:160]}"
            self._refused(name, message, time.monotonic())
        else:
            with self._lock:
                self.current = fresh
                self.problem = None
                self._failed.clear()
        finally:
            with self._lock:
                self._reloading = False

    def _refused(self, key: str, message: str, now: float) -> None:
        """Note why the newest generation is not served; log it the first time only."""
        with self._lock:
            first = key not in self._failed
            self._failed[key] = now
            self.problem = message
            serving = self.current.generation
        if first:
            logger.error("%s (still serving %s)", message, serving)

    @property
    def public_problem(self) -> str | None:
        """`problem` without the data folder's path in it (/healthz shows it to anyone)."""
        problem = self.problem
        if not problem:
            return None
        for path in (str(self.data_dir.resolve()), str(self.data_dir)):
            if path not in (".", ""):
                problem = problem.replace(path, "<data>")
        return problem

    def reload_now(self) -> None:
        """Load the live generation now, in this thread, whatever failed before."""
        self._reload()
