"""A damaged index is refused, never served: each file's hash and the counts in the manifest
(kb/search/index/integrity.py, checks.py), `kb index --verify`, the engine keeping the generation
it serves, and builds that do not copy damage into a new generation."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers import DAMAGE, damage, write_help_center

from kb.cli import main
from kb.content.library import Library
from kb.errors import KbError
from kb.search.embedders import get_embedder
from kb.search.engine import Engine
from kb.search.index import build_index, current_generation, delta, integrity, load_index
from kb.search.index.manifest import unseal
from kb.search.index.verify import verify
from kb.search.live import LiveIndex

FAST = "use-multilingual"
QUESTIONS = [("how do I cancel my order", "en"), ("when will I get my refund", "en"), ("pay with BLIK", "en"),
             ("where is my parcel", "en"), ("Bestellung stornieren", "de")]


def _edit(content: Path, words: str) -> None:
    path = content / "en" / "payments" / "pay-with-blik.md"
    path.write_text(path.read_text().replace("The code is valid", f"{words} The code is valid"))


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(content, data) with two whole generations: the older one live, and a newer one."""
    root = tmp_path_factory.mktemp("pristine")
    content, data = write_help_center(root / "content"), root / "data"
    build_index(Library.load(content), data, get_embedder(FAST))
    first = current_generation(data)
    assert first is not None
    _edit(content, "Keep your banking app open.")
    build_index(Library.load(content), data, get_embedder(FAST))
    (data / "index" / "CURRENT").write_text(first.name + "\n")
    return content, data


@pytest.fixture
def copy(pristine: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path, Path]:
    """A copy of the pristine index: (data, the live generation, the newer one)."""
    data = tmp_path / "data"
    shutil.copytree(pristine[1], data)
    live = current_generation(data)
    newer = [p for p in (data / "index").glob("gen-*") if p != live]
    assert live is not None and len(newer) == 1
    return data, live, newer[0]


def _answers(engine: Engine) -> list[str]:
    return [engine.search(q, lang=lang).hits[0].id for q, lang in QUESTIONS]


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_each_damage_is_refused_with_one_line_naming_the_file(copy: tuple[Path, Path, Path], kind: str,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    data, live, _ = copy
    file = damage(live, kind)
    with pytest.raises(KbError) as refused:
        load_index(data)
    message = str(refused.value)
    assert file in message and "\n" not in message and "kb index" in message
    if file != "CURRENT":
        assert f"generation {live.name} refused: {file}: " in message
    found = verify(data)
    assert not found.ok and any(file in line for line in found.problems)
    assert main(["index", "--verify", "--data", str(data)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err and all(line.startswith("kb: ") for line in err) and any(file in line for line in err)


def test_a_whole_generation_verifies(copy: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    data, live, _ = copy
    found = verify(data)
    assert found.ok and found.problems == [] and found.files >= 20 and found.generation == live.name
    assert main(["index", "--verify", "--data", str(data)]) == 0
    assert f"generation {live.name} verified" in capsys.readouterr().out


def test_the_manifest_records_files_and_counts(copy: tuple[Path, Path, Path]) -> None:
    data, live, _ = copy
    manifest, sealed = unseal((live / "manifest.json").read_bytes())
    record = manifest["integrity"]
    assert sealed is True and record["hash"] == "sha256"
    on_disk = {p.relative_to(live).as_posix() for p in live.rglob("*") if p.is_file()}
    assert set(record["files"]) == on_disk - {"manifest.json", "head.json"}
    for rel, entry in record["files"].items():
        assert entry["size"] == (live / rel).stat().st_size and entry["digest"] == integrity.file_digest(live / rel)
    index = load_index(data)
    by_locale = {locale: sum(1 for p in index.passages if p.locale == locale) for locale in ("de", "en")}
    assert record["counts"] == {"articles": len(index.articles), "passages": len(index.passages),
                                "vectors": len(index.passages), "faiss": index.dense.ntotal, "bm25": by_locale}


def test_a_changed_value_in_a_manifest_that_still_parses_is_refused(copy: tuple[Path, Path, Path]) -> None:
    data, live, _ = copy
    text = (live / "manifest.json").read_text()
    (live / "manifest.json").write_text(text.replace('"source_locale": "en"', '"source_locale": "de"', 1))
    with pytest.raises(KbError, match="manifest.json: its checksum does not match"):
        load_index(data)


def _strip_hashes(generation: Path) -> None:
    """The manifest as a kb before hashes wrote it."""
    manifest, _ = unseal((generation / "manifest.json").read_bytes())
    del manifest["integrity"]
    (generation / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize(("kind", "words"), [("shuffle-passages", "lines out of place"),
                                             ("drop-passages", "passages, the manifest says")])
def test_without_hashes_the_counts_still_refuse_misplaced_passages(copy: tuple[Path, Path, Path], kind: str,
                                                                   words: str) -> None:
    data, live, _ = copy
    _strip_hashes(live)
    damage(live, kind)
    with pytest.raises(KbError, match=f"passages.jsonl: .*{words}"):
        load_index(data)


def test_a_generation_without_hashes_is_served_with_a_note_and_verify_says_so(
        copy: tuple[Path, Path, Path], caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> None:
    data, live, _ = copy
    _strip_hashes(live)
    with caplog.at_level(logging.WARNING, logger="kb.search"):
        engine = Engine(data)
        load_index(data)
    notes = [r.getMessage() for r in caplog.records if live.name in r.getMessage()]
    assert len(notes) == 1 and "without hashes" in notes[0] and "kb index" in notes[0]
    assert engine.index.verified is False and engine.search("pay with BLIK", lang="en").hits
    assert main(["index", "--verify", "--data", str(data)]) == 1
    assert "records no hashes" in capsys.readouterr().err


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_the_engine_keeps_serving_when_the_newest_generation_is_damaged(copy: tuple[Path, Path, Path],
                                                                        pristine: tuple[Path, Path], kind: str) -> None:
    data, live, newer = copy
    engine = Engine(data, reload_interval=0)
    before = _answers(engine)
    damage(newer, kind)
    if DAMAGE[kind][1] != "CURRENT":
        (data / "index" / "CURRENT").write_text(newer.name + "\n")
    engine.reload_now()
    assert engine.index.generation == live.name and _answers(engine) == before
    problem = engine.problem or ""
    assert DAMAGE[kind][1] in problem and (DAMAGE[kind][1] == "CURRENT" or newer.name in problem)
    # the next build starts afresh (the damage is not copied) and is served
    report = build_index(Library.load(pristine[0]), data, get_embedder(FAST))
    engine.reload_now()
    assert engine.index.generation == report.generation and engine.problem is None
    assert verify(data).ok


def test_a_refused_generation_is_logged_once_and_tried_again_later(copy: tuple[Path, Path, Path],
                                                                   caplog: pytest.LogCaptureFixture,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    data, live, newer = copy
    engine = Engine(data, reload_interval=0)
    damage(newer, "scribble-faiss")
    (data / "index" / "CURRENT").write_text(newer.name + "\n")
    tries: list[Path] = []
    real = LiveIndex._reload

    def counted(self: LiveIndex, gen: Path | None = None) -> None:
        tries.append(gen or Path())
        real(self, gen)

    monkeypatch.setattr(LiveIndex, "_reload", counted)
    with caplog.at_level(logging.ERROR, logger="kb.search"):
        for _ in range(20):  # a request a millisecond: each one looks at CURRENT
            assert engine.index.generation == live.name
            _wait_for_reload(engine)
        assert len(tries) == 1  # not again every check: after RETRY_FAILED
        monkeypatch.setattr(LiveIndex, "RETRY_FAILED", 0.0)
        for _ in range(5):
            engine.index  # noqa: B018
            _wait_for_reload(engine)
    assert len(tries) >= 3 and engine.index.generation == live.name
    logged = [r.getMessage() for r in caplog.records if newer.name in r.getMessage()]
    assert len(logged) == 1 and "dense.faiss" in logged[0] and f"still serving {live.name}" in logged[0]


def _wait_for_reload(engine: Engine) -> None:
    import time

    deadline = time.monotonic() + 30
    while engine.live._reloading:
        assert time.monotonic() < deadline
        time.sleep(0.005)


def test_files_are_hashed_once_at_load_never_per_search(copy: tuple[Path, Path, Path],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    data, live, _ = copy
    monkeypatch.setattr(integrity, "_memo", {})
    hashed: list[str] = []
    real = integrity.file_digest
    monkeypatch.setattr(integrity, "file_digest", lambda path, algorithm="sha256": hashed.append(path.name) or
                        real(path, algorithm))
    engine = Engine(data)
    assert "dense.faiss" in hashed and "vectors.npy" in hashed
    count = len(hashed)
    _answers(engine)
    load_index(data)  # the same files again in this process: known by their stat
    assert len(hashed) == count


def test_a_build_does_not_copy_damage_into_the_new_generation(copy: tuple[Path, Path, Path],
                                                             pristine: tuple[Path, Path]) -> None:
    data, live, _ = copy
    damage(live, "scribble-vectors")
    damage(live, "shuffle-passages")
    report = build_index(Library.load(pristine[0]), data, get_embedder(FAST))
    assert report.reused == report.articles  # every vector from the embedding cache, none from the damage
    fresh = current_generation(data)
    assert fresh is not None and verify(data).ok
    pristine_newer = load_index(pristine[1], generation=next(p for p in (pristine[1] / "index").glob("gen-*")
                                                             if p.name != live.name))
    rebuilt = load_index(data)
    assert np.array_equal(np.asarray(rebuilt.vectors.base), np.asarray(pristine_newer.vectors.base))
    assert [vars(p) for p in rebuilt.passages] == [vars(p) for p in pristine_newer.passages]


def test_a_damaged_base_under_a_delta_is_refused_and_the_next_build_is_whole(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delta, "DELTA_MAX", 1.0)
    content, data = write_help_center(tmp_path / "content"), tmp_path / "data"
    build_index(Library.load(content), data, get_embedder(FAST), delta_min=1)
    _edit(content, "Keep your banking app open.")
    report = build_index(Library.load(content), data, get_embedder(FAST), delta_min=1)
    assert report.delta_over is not None
    gen = current_generation(data)
    assert gen is not None and verify(data).ok
    damage(gen, "scribble-faiss")  # a hard link: the base's file too
    with pytest.raises(KbError, match=f"generation {gen.name} refused: dense.faiss: content differs"):
        load_index(data)
    _edit(content, "It works on your phone.")
    again = build_index(Library.load(content), data, get_embedder(FAST), delta_min=1)
    assert again.delta_over is None  # not a delta over the damaged base
    assert verify(data).ok and Engine(data).search("pay with BLIK", lang="en").hits[0].id == "pay-with-blik"
