"""Generation folders: what killed builds leave behind goes at the next successful build, at once,
and a running build's folder is never touched; swapping a generation in: every file and folder of it on disk
before it gets its name, the name on disk before CURRENT points at it, CURRENT replaced last (kb/search/index/layout.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from helpers import ROOT, write_help_center

from kb.content.library import Library
from kb.search.embedders import get_embedder
from kb.search.index import build_index, layout
from kb.search.index.layout import collect_garbage, current_generation, index_dir

FAST = "use-multilingual"


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    return int(proc.stdout)


def _leftover(data: Path, pid: int) -> Path:
    """A `.tmp-gen-*` folder as a build killed halfway through writing leaves it: fresh, 1 MB."""
    folder = index_dir(data) / f".tmp-gen-{time.strftime('%Y%m%dT%H%M%S')}-{pid}-00042"
    folder.mkdir(parents=True)
    (folder / "vectors.npy").write_bytes(os.urandom(1 << 20))
    return folder


def test_the_next_build_removes_a_killed_builds_folder_at_once(tmp_path: Path) -> None:
    content, data = write_help_center(tmp_path / "content"), tmp_path / "data"
    build_index(Library.load(content), data, get_embedder(FAST))
    pid = _dead_pid()
    folder = _leftover(data, pid)
    pointer = index_dir(data) / f".CURRENT.{pid}"
    pointer.write_text("gen-never-swapped-in\n")
    build_index(Library.load(content), data, get_embedder(FAST))
    assert not folder.exists() and not pointer.exists()  # seconds old, gone anyway: no wait for an hour
    assert current_generation(data) is not None


def test_this_processs_own_build_folder_is_kept(tmp_path: Path) -> None:
    """The collector thread runs while this process's build writes its folder: that one stays."""
    mine = _leftover(tmp_path, os.getpid())
    other = _leftover(tmp_path, _dead_pid())
    collect_garbage(tmp_path, keep="gen-none")
    assert mine.is_dir() and not other.exists()


HOLDER = """
import sys, time
from pathlib import Path
from kb.search.index.layout import index_dir, writer_lock
data = Path(sys.argv[1])
with writer_lock(data):
    folder = index_dir(data) / f".tmp-gen-{time.strftime('%Y%m%dT%H%M%S')}-{__import__('os').getpid()}-00001"
    folder.mkdir()
    (folder / "passages.jsonl").write_text("half written")
    print(folder, flush=True)
    sys.stdin.readline()  # until the test lets it finish
    (folder / "passages.jsonl").unlink()
    folder.rmdir()
"""


def test_a_running_builds_folder_is_never_touched(tmp_path: Path) -> None:
    content, data = write_help_center(tmp_path / "content"), tmp_path / "data"
    build_index(Library.load(content), data, get_embedder(FAST))
    killed = _leftover(data, _dead_pid())
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(data)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert holder.stdout is not None and holder.stdin is not None
        running = Path(holder.stdout.readline().strip())
        assert running.is_dir()
        done: list[str] = []
        builder = threading.Thread(target=lambda: done.append(
            build_index(Library.load(content), data, get_embedder(FAST)).generation))
        builder.start()
        time.sleep(1.5)
        assert builder.is_alive() and not done  # waiting for the writers' lock
        assert (running / "passages.jsonl").read_text() == "half written" and killed.is_dir()
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.wait(30) == 0
        builder.join(120)
        assert done and current_generation(data) == index_dir(data) / done[0]
        assert not killed.exists()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_a_generation_is_flushed_and_named_before_current_points_at_it(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[tuple[str, str]] = []
    real_fsync, real_rename, real_replace = os.fsync, os.rename, os.replace

    def fsync(fd: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def rename(src: str | Path, dst: str | Path) -> None:
        events.append(("rename", f"{src} -> {dst}"))
        real_rename(src, dst)

    def replace(src: str | Path, dst: str | Path) -> None:
        events.append(("replace", f"{src} -> {dst}"))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "rename", rename)
    monkeypatch.setattr(os, "replace", replace)

    def write(folder: Path) -> str:
        (folder / "bm25-en").mkdir()
        (folder / "bm25-en" / "data.npy").write_bytes(b"x" * 100)
        (folder / "dense.faiss").write_bytes(b"y" * 100)
        return "written"

    data = tmp_path / "data"
    assert layout.swap_in(data, "gen-1", write) == "written"
    index = str(layout.index_dir(data))
    tmp = f"{index}/.tmp-gen-1"
    order = [kind + " " + what for kind, what in events]
    at = {line: i for i, line in enumerate(order)}
    named = at[f"rename {tmp} -> {index}/gen-1"]
    for path in (f"{tmp}/bm25-en/data.npy", f"{tmp}/dense.faiss", f"{tmp}/bm25-en", tmp):
        assert at[f"fsync {path}"] < named, path  # files and folders flushed before the name is given
    pointed = next(i for i, line in enumerate(order) if line.startswith("replace") and line.endswith("/CURRENT"))
    assert named < order.index(f"fsync {index}") < pointed  # the new name is on disk first
    assert order[-1] == f"fsync {index}"  # and CURRENT's replacement is flushed too
    assert layout.current_generation(data) == layout.index_dir(data) / "gen-1"
