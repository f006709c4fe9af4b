"""Retention of the query log and feedback: durations such as `90d`, the configured default, and
the daily prune of the API server.

The default retention is `KB_RETENTION_DAYS` (default 90; `0` or `off` keeps everything). `kb serve`
prunes once at start-up and then every day, in a background thread; `kb analytics prune` does it
by hand.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import threading
from typing import TYPE_CHECKING

from kb.errors import KbError

if TYPE_CHECKING:
    from kb.analytics.store import Store

logger = logging.getLogger("kb.analytics")

RETENTION_ENV = "KB_RETENTION_DAYS"
DEFAULT_RETENTION_DAYS = 90.0
PRUNE_EVERY_SECONDS = 24 * 3600.0
PRUNE_RETRY_SECONDS = 300.0  # after a failed prune (shown by /healthz), the next try
UNITS = {"h": dt.timedelta(hours=1), "d": dt.timedelta(days=1), "w": dt.timedelta(weeks=1)}
_DURATION = re.compile(r"^\s*(\d{1,6})\s*([hdw])\s*$", re.IGNORECASE)
DURATION_HELP = "a whole number followed by h, d or w, e.g. 12h, 90d or 4w"


def parse_duration(text: str) -> dt.timedelta:
    """'12h', '90d', '4w' -> a positive timedelta; ValueError (saying what is accepted) otherwise."""
    match = _DURATION.match(text or "")
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"{text!r} is not a duration: use {DURATION_HELP}")
    return int(match.group(1)) * UNITS[match.group(2).lower()]


def retention_days(raw: str | None = None) -> float | None:
    """Days to keep, from `raw` or KB_RETENTION_DAYS (default 90); None when pruning is off."""
    value = (os.environ.get(RETENTION_ENV, "") if raw is None else raw).strip().lower()
    if not value:
        return DEFAULT_RETENTION_DAYS
    if value in ("0", "off", "never", "none"):
        return None
    try:
        days = float(value)
    except ValueError:
        days = -1.0
    if not 0 < days <= 100 * 365:
        raise KbError(f"{RETENTION_ENV}={value!r}: use a number of days such as 90, or 'off' to keep everything")
    return days


class Pruner:
    """Deletes rows older than `days` once at start and then every `interval` seconds, in a
    daemon thread. A failing prune is logged, kept in `error` (/healthz is degraded) and tried
    again after PRUNE_RETRY_SECONDS."""

    def __init__(self, store: Store, days: float, interval: float = PRUNE_EVERY_SECONDS) -> None:
        self.store, self.days, self.interval = store, days, interval
        self.runs = 0
        self.last: dict[str, int] | None = None
        self.error: str | None = None  # the last prune's error (its type), while it failed: /healthz is degraded
        self.first_done = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def prune_once(self) -> None:
        try:
            self.last = self.store.prune(dt.timedelta(days=self.days))
            self.error = None
            if any(self.last.values()):
                logger.info("pruned analytics older than %g days: %s", self.days, self.last)
        except Exception as exc:  # the store may be down; the API keeps serving
            self.error = type(getattr(exc, "orig", None) or exc).__name__
            logger.exception("could not prune the analytics store")
        finally:
            self.runs += 1
            self.first_done.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.prune_once()
            self._stop.wait(self.interval if self.error is None else min(self.interval, PRUNE_RETRY_SECONDS))

    def start(self) -> Pruner:
        self._thread = threading.Thread(target=self._loop, name="kb-prune", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
