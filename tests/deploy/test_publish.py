"""deploy/publish-generation: a generation copied to a replica's own disk, CURRENT last; the
replica serves it; a delta's files stay hard-linked to its base's on the replica."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from helpers import write_help_center

import kb
from kb.content.library import Library
from kb.search.embedders import get_embedder
from kb.search.engine import Engine
from kb.search.index import build_index, current_generation, delta, load_index

ROOT = Path(kb.__file__).resolve().parent.parent
SCRIPT = ROOT / "deploy" / "publish-generation"

pytestmark = pytest.mark.skipif(shutil.which("rsync") is None or shutil.which("flock") is None,
                                reason="deploy/publish-generation needs rsync and flock (apt install rsync util-linux)")


def _publish(data: Path, dest: Path, shim: Path, log: Path) -> None:
    env = {**os.environ, "PATH": f"{shim}:{os.environ['PATH']}", "RSYNC_CALLS": str(log)}
    subprocess.run([str(SCRIPT), str(data), str(dest)], check=True, env=env, capture_output=True, timeout=120)


def test_publish_copies_the_folders_then_current_and_the_replica_serves_it(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delta, "DELTA_MAX", 1.0)  # the small help center: a one-article edit writes a delta
    shim = tmp_path / "bin"  # an rsync that notes each call, then runs the real one
    shim.mkdir()
    real = shutil.which("rsync")
    (shim / "rsync").write_text(f'#!/bin/sh\necho "$*" >> "$RSYNC_CALLS"\nexec {real} "$@"\n')
    (shim / "rsync").chmod(stat.S_IRWXU)
    log = tmp_path / "calls.txt"
    content = write_help_center(tmp_path / "content")
    data, replica = tmp_path / "data", tmp_path / "replica"
    replica.mkdir()
    emb = get_embedder("use-multilingual")
    build_index(Library.load(content), data, emb)
    _publish(data, replica, shim, log)
    calls = log.read_text().splitlines()
    assert len(calls) == 2 and "--exclude CURRENT" in calls[0] and calls[1].split()[-2].endswith("index/CURRENT")
    first = current_generation(replica)
    assert first is not None and first.name == current_generation(data).name  # type: ignore[union-attr]
    engine = Engine(replica, reload_interval=0)
    assert engine.search("pay with BLIK", lang="en").hits[0].id == "pay-with-blik"

    page = content / "en" / "payments" / "pay-with-blik.md"
    page.write_text(page.read_text().replace("two minutes", "ninety seconds, codeword zanzibar"))
    build_index(Library.load(content), data, emb, delta_min=1)
    second = current_generation(data)
    assert second is not None and "delta" in load_index(data).manifest
    _publish(data, replica, shim, log)
    assert log.read_text().splitlines()[-1].split()[-2].endswith("index/CURRENT")  # CURRENT last, again
    mine = replica / "index" / second.name
    assert current_generation(replica) == mine
    linked = [p for p in (data / "index" / second.name).rglob("*") if p.is_file() and p.stat().st_nlink > 1]
    assert linked, "a delta shares its base's files"
    for path in linked:  # on the replica too: a delta costs only its own files
        copy = mine / path.relative_to(data / "index" / second.name)
        assert copy.stat().st_nlink > 1 and copy.read_bytes() == path.read_bytes()
    engine.reload_now()
    assert engine.index.generation == second.name
    hit = engine.search("codeword zanzibar", lang="en").hits[0]
    assert hit.id == "pay-with-blik"
    assert sorted(p.name for p in (replica / "index").glob("gen-*")) == sorted(
        p.name for p in (data / "index").glob("gen-*"))


def test_publish_without_an_index_says_so(tmp_path: Path) -> None:
    done = subprocess.run([str(SCRIPT), str(tmp_path / "nothing"), str(tmp_path / "replica")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "no index in" in done.stderr and "kb index" in done.stderr
