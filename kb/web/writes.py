"""The API's writes to the analytics store: a failing store never fails a search, a failed
feedback or click is a 503 the client may retry, and every failure is counted and shown by
/healthz (degraded until a write succeeds again). Logged once per run of failures."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TypeVar

logger = logging.getLogger("kb.api")

T = TypeVar("T")

RETRY_AFTER_SECONDS = 30


def describe(exc: BaseException) -> str:
    """An error in one line for the log: a database error's own message, not its SQL and values."""
    orig = getattr(exc, "orig", None) or exc
    return f"{type(orig).__name__}: {' '.join(str(orig).split())[:200]}"


class StoreWrites:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.failures = 0  # since start-up
        self.failing: str | None = None  # what the last write did and its error's type, while it failed

    def attempt(self, what: str, write: Callable[[], T]) -> tuple[bool, T | None]:
        """(True, what `write` returned), or (False, None) when it raised: counted, and logged
        when the store was writing until now."""
        try:
            result = write()
        except Exception as exc:  # noqa: BLE001 - any failure of the store is the store's
            with self._lock:
                self.failures += 1
                first = self.failing is None
                self.failing = f"{what} ({type(getattr(exc, 'orig', None) or exc).__name__})"
            if first:
                logger.error("the analytics store failed to %s: %s; /healthz is degraded until a write succeeds",
                             what, describe(exc))
            return False, None
        with self._lock:
            recovered, self.failing = self.failing is not None, None
        if recovered:
            logger.warning("the analytics store writes again (%d failed writes since start-up)", self.failures)
        return True, result

    def reason(self) -> str | None:
        with self._lock:
            if self.failing is None:
                return None
            return (f"analytics store: the last write failed: {self.failing}; "
                    f"{self.failures} failed since start-up")
