"""Run a function over consecutive slices of a work list, in forked worker processes when it pays.

The work itself is never sent to the workers: it is set up before the pool starts and the
forked processes inherit it, so a task is just a (start, stop) range and only results travel
back. Results come back in order, so the outcome is the same as one serial loop. Forking is
only done from a process with one thread (forking a threaded process can deadlock), where the
'fork' start method exists, with more than one CPU and enough items to be worth a pool;
otherwise the slices run in this process, one after the other.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

MIN_ITEMS = 400  # below this a pool's start-up costs more than it saves
CHUNKS_PER_WORKER = 8  # small enough to even out slow slices, large enough to keep overhead low

_task: Callable[[int, int], object] | None = None  # what the forked workers run, inherited


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def workers_for(items: int, jobs: int | None = None) -> int:
    """How many processes to use for `items` items: 1 means serial. `jobs`: None picks by itself."""
    if jobs is not None and jobs <= 1:
        return 1
    if "fork" not in multiprocessing.get_all_start_methods() or threading.active_count() > 1:
        return 1
    if jobs is None:
        if items < MIN_ITEMS:
            return 1
        jobs = cpu_count()
    return max(1, min(jobs, items))


def ranges(items: int, workers: int) -> list[tuple[int, int]]:
    """Consecutive (start, stop) slices covering range(items)."""
    if workers <= 1:
        return [(0, items)] if items else []
    size = max(1, -(-items // (workers * CHUNKS_PER_WORKER)))
    return [(start, min(start + size, items)) for start in range(0, items, size)]


def _run(start: int, stop: int) -> object:
    assert _task is not None
    return _task(start, stop)


def map_ranges(task: Callable[[int, int], T], items: int, workers: int,
               meanwhile: Callable[[], None] | None = None) -> list[T]:
    """`task(start, stop)` for every slice of range(items), in order; `meanwhile` runs in this
    process while the workers are busy (or before the slices, when serial)."""
    global _task
    if workers <= 1:
        if meanwhile is not None:
            meanwhile()
        return [task(start, stop) for start, stop in ranges(items, 1)]
    from concurrent.futures import ProcessPoolExecutor  # only a parallel build pays for this import

    _task = task
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork")) as pool:
            futures = [pool.submit(_run, start, stop) for start, stop in ranges(items, workers)]
            try:
                if meanwhile is not None:
                    meanwhile()
                return [future.result() for future in futures]  # type: ignore[misc]
            except BaseException:
                for future in futures:  # a failed slice fails the build: do not wait for the rest
                    future.cancel()
                raise
    finally:
        _task = None
