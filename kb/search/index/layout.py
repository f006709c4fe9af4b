"""Generation folders under `<data>/index/`: the writers' lock, CURRENT, swapping a new
generation in, and deleting the ones no longer needed.

A build fills `.tmp-gen-<...>/`, flushes it, renames it to `gen-<time>-<pid>-<ms>/` and then
replaces CURRENT (the name of the live generation) atomically, so a crash or a concurrent
reader never sees a half-written index. Readers look at CURRENT only, never at the folders, so
on a file system several machines share (NFS), a generation becomes visible to their replicas
with CURRENT, after every file of it was flushed and closed (close-to-open consistency); copies
to replicas' own disks keep the same order (deploy/publish-generation: CURRENT last).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from kb.errors import KbError

KEEP_GENERATIONS = 2
GC_GRACE = 60.0  # seconds a replaced generation is kept at least, for readers still loading it

T = TypeVar("T")


def index_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "index"


@contextmanager
def writer_lock(data_dir: Path) -> Iterator[None]:
    directory = index_dir(data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def live_generation(data_dir: Path) -> Path:
    """The live generation's folder, as CURRENT names it; a KbError naming CURRENT when it names
    none (missing, empty, or naming a folder that is not there)."""
    pointer = index_dir(data_dir) / "CURRENT"
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise KbError(f"no search index in {data_dir}: run 'kb index' first") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KbError(f"{pointer} cannot be read ({exc}): run 'kb index' to write a new generation") from None
    if not name:
        raise KbError(f"{pointer} is empty: run 'kb index' to write a new generation")
    path = index_dir(data_dir) / name
    if not name.startswith("gen-") or "/" in name or "\\" in name or not path.is_dir():
        raise KbError(f"{pointer} names {name[:80]!r}, which is no generation folder in {index_dir(data_dir)}: "
                      "run 'kb index' to write a new generation")
    return path


def current_generation(data_dir: Path) -> Path | None:
    """The live generation's folder, or None when CURRENT names none (a build then starts afresh)."""
    try:
        return live_generation(data_dir)
    except KbError:
        return None


def new_name() -> str:
    return f"gen-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{int(time.time() * 1000) % 100000:05d}"


def swap_in(data_dir: Path, generation: str, write: Callable[[Path], T]) -> T:
    """Have `write` fill a temporary folder, flush it, rename it to `generation`, point CURRENT
    at it, and delete the generations no longer needed. Returns what `write` returned."""
    gen_dir = index_dir(data_dir) / generation
    tmp_dir = index_dir(data_dir) / f".tmp-{generation}"
    tmp_dir.mkdir(parents=True)
    try:
        result = write(tmp_dir)
        fsync_dir(tmp_dir)
        os.rename(tmp_dir, gen_dir)
        _fsync_folder(index_dir(data_dir))  # the rename is on disk before CURRENT names the folder
        pointer_tmp = index_dir(data_dir) / f".CURRENT.{os.getpid()}"
        pointer_tmp.write_text(generation + "\n")
        with open(pointer_tmp) as fh:
            os.fsync(fh.fileno())
        os.replace(pointer_tmp, index_dir(data_dir) / "CURRENT")
        _fsync_folder(index_dir(data_dir))
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    collect_garbage(data_dir, keep=generation)
    return result


def fsync_dir(path: Path) -> None:
    """Flush every file written for the new generation (one hard-linked from the previous
    generation, with more than one link, was flushed when that was written) and every folder
    of it (their entries: the files' names)."""
    for child in path.rglob("*"):
        if child.is_file() and child.stat().st_nlink == 1:
            with open(child, "rb") as fh:
                os.fsync(fh.fileno())
        elif child.is_dir():
            _fsync_folder(child)
    _fsync_folder(path)


def _fsync_folder(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return  # a platform or file system without directory handles
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on a folder; their renames are durable on their own
    finally:
        os.close(fd)


def collect_garbage(data_dir: Path, keep: str, count: int = KEEP_GENERATIONS) -> None:
    """Keep the live generation `keep` and the newest others up to `count` generations in all:
    after a build the live one and the one before it (a reader may still be loading it). Also
    removes killed builds' leftovers at once. Called with the writers' lock held."""
    directory = index_dir(data_dir)
    gens = sorted((p for p in directory.glob("gen-*") if p.is_dir()), key=lambda p: p.stat().st_mtime)
    old = [p for p in gens if p.name != keep][: max(0, len(gens) - count)]
    for path in old:
        shutil.rmtree(path, ignore_errors=True)
    remove_leftovers(directory)


def _pid_of(name: str) -> int | None:
    """The builder's process id in `.tmp-gen-<time>-<pid>-<ms>` or `.CURRENT.<pid>`."""
    parts = name.rsplit(".", 1)[-1].split("-") if name.startswith(".CURRENT.") else name.split("-")
    piece = parts[0] if name.startswith(".CURRENT.") else (parts[3] if len(parts) > 4 else "")
    return int(piece) if piece.isdigit() else None


def remove_leftovers(directory: Path) -> None:
    """Delete what killed builds left: their `.tmp-gen-*` folders and `.CURRENT.<pid>` pointers.
    The caller holds the writers' lock, so no other build is running here: every such leftover
    of another process is dead (a running build holds the lock while its folder exists). This
    process's own are kept (the collector thread runs while this process's build writes)."""
    for path in [*directory.glob(".tmp-gen-*"), *directory.glob(".CURRENT.*")]:
        if _pid_of(path.name) == os.getpid():
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


@contextmanager
def collecting_garbage(data_dir: Path) -> Iterator[None]:
    """Delete the generations older than the live one while the new one is built (deleting GBs
    takes a while): after the build they would go anyway. Only when the live one was swapped in
    over GC_GRACE seconds ago: a reader that had just started loading the one before it may still
    be at it (else they go after the build, as always)."""
    live = current_generation(data_dir)
    try:
        settled = live is not None and time.time() - (index_dir(data_dir) / "CURRENT").stat().st_mtime > GC_GRACE
    except OSError:
        settled = False
    collector = threading.Thread(target=collect_garbage, args=(data_dir, live.name, KEEP_GENERATIONS - 1),
                                 daemon=True) if settled and live is not None else None
    if collector is not None:
        collector.start()
    try:
        yield
    finally:
        if collector is not None:
            collector.join()
