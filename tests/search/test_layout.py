"""Swapping a generation in (kb/search/index/layout.py): every file and folder of it on disk
before it gets its name, the name on disk before CURRENT points at it, CURRENT replaced last."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kb.search.index import layout


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
