"""Progress of an embedding run that a person can read, and its one-line summary.

On a terminal: a bar (rich, else tqdm) with passages done, passages a second and time left.
Elsewhere (a log, CI): a plain line every few seconds with the same numbers. At the end (also
after an interruption) one line: passages embedded, from the cache, seconds.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import IO, Any

from kb.search.embedding import EmbedStats


def duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def summary(stats: EmbedStats) -> str:
    rate = f" ({stats.embedded / stats.seconds:.1f}/s)" if stats.embedded and stats.seconds > 0 else ""
    if stats.complete:
        return (f"embedded {stats.embedded} passages in {stats.seconds:.1f}s{rate}; "
                f"{stats.cached} reused from the cache")
    return (f"stopped after embedding {stats.embedded} of {stats.total} passages in {stats.seconds:.1f}s{rate}; "
            f"{stats.cached} were in the cache; what was embedded is saved there, so the next run embeds only the rest")


class EmbedProgress:
    """`progress(done, total)` for `kb index`, with `finish(stats)` for the summary."""

    def __init__(self, stream: IO[str] | None = None, label: str = "embedding passages", tty: bool | None = None,
                 every: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream or sys.stderr
        self.label = label
        self.tty = self.stream.isatty() if tty is None else tty
        self.every, self.clock = every, clock
        self._start: float | None = None
        self._last_line = float("-inf")
        self._bar: Any = None

    def numbers(self, done: int, total: int) -> tuple[float, float | None]:
        """Passages a second so far, and seconds left at that rate (None until there is a rate)."""
        elapsed = self.clock() - (self._start if self._start is not None else self.clock())
        rate = done / elapsed if done and elapsed > 0 else 0.0
        return rate, ((total - done) / rate if rate > 0 else None)

    def line(self, done: int, total: int) -> str:
        rate, left = self.numbers(done, total)
        pct = f" ({done / total:.0%})" if total else ""
        tail = f", {rate:.1f}/s, about {duration(left)} left" if left is not None and done < total else (
            f", {rate:.1f}/s" if rate else "")
        return f"{self.label} {done}/{total}{pct}{tail}"

    def __call__(self, done: int, total: int) -> None:
        if self._start is None:
            self._start = self.clock()
        if self.tty:
            self._draw(done, total)
            return
        now = self.clock()
        if done >= total or now - self._last_line >= self.every:
            self._last_line = now
            print(self.line(done, total), file=self.stream, flush=True)

    def _draw(self, done: int, total: int) -> None:
        rate, left = self.numbers(done, total)
        status = f"{rate:.1f} passages/s, {duration(left)} left" if left is not None else "starting"
        if self._bar is None:
            self._bar = _open_bar(self.stream, self.label, total)
        self._bar.update(done, status)

    def finish(self, stats: EmbedStats) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        print(summary(stats), file=self.stream, flush=True)


class _RichBar:
    def __init__(self, stream: IO[str], label: str, total: int) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self._progress = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(),
                                  TextColumn("{task.fields[status]}"),
                                  console=Console(file=stream, force_terminal=True), transient=False)
        self._task = self._progress.add_task(label, total=total, status="starting")
        self._progress.start()

    def update(self, done: int, status: str) -> None:
        self._progress.update(self._task, completed=done, status=status)

    def close(self) -> None:
        self._progress.stop()


class _TqdmBar:
    def __init__(self, stream: IO[str], label: str, total: int) -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=total, desc=label, unit="passage", file=stream)

    def update(self, done: int, status: str) -> None:
        self._bar.n = done
        self._bar.set_postfix_str(status)  # refreshes

    def close(self) -> None:
        self._bar.close()


class _LineBar:
    """Neither rich nor tqdm: one line, rewritten in place."""

    def __init__(self, stream: IO[str], label: str, total: int) -> None:
        self.stream, self.label, self.total = stream, label, total

    def update(self, done: int, status: str) -> None:
        print(f"\r{self.label} {done}/{self.total}, {status}   ", end="", file=self.stream, flush=True)

    def close(self) -> None:
        print(file=self.stream, flush=True)


def _open_bar(stream: IO[str], label: str, total: int) -> Any:
    for bar in (_RichBar, _TqdmBar):
        try:
            return bar(stream, label, total)
        except ImportError:
            continue
    return _LineBar(stream, label, total)
