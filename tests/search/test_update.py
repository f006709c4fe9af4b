"""`kb index` reads only the files changed since the live index when few changed (kb/search/update.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers import write_help_center

from kb.content import changes
from kb.content.changes import markdown_files
from kb.content.library import Library
from kb.search.embedders import get_embedder
from kb.search.index import build_index, current_generation, delta, load_index
from kb.search.update import update_index

EMB = "use-multilingual"


@pytest.fixture(autouse=True)
def _small_and_settled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delta, "DELTA_MIN", 1)  # deltas from the first passage on
    monkeypatch.setattr(delta, "DELTA_MAX", 1.0)  # a small help center: one article is a tenth of it
    monkeypatch.setattr(changes, "RACY_NS", 0)  # files written a moment ago count as settled


def _index(content: Path, data: Path):  # noqa: ANN202
    return update_index(content, data, get_embedder(EMB))


def _assert_same_as_scratch(content: Path, data: Path, scratch: Path) -> None:
    """The index in `data` serves what a full build of `content` from scratch serves."""
    (scratch / "cache").mkdir(parents=True)
    shutil.copy(data / "cache" / "embeddings.sqlite", scratch / "cache" / "embeddings.sqlite")
    build_index(Library.load(content), scratch, get_embedder(EMB))
    a, b = load_index(data), load_index(scratch)
    assert a.articles == b.articles
    assert a.manifest["articles"].keys() == b.manifest["articles"].keys()
    live = sorted(json.dumps(vars(p)) for row, p in enumerate(a.passages) if a.live(row))
    assert live == sorted(json.dumps(vars(p)) for p in b.passages)


def _manifest(data: Path) -> dict:
    gen = current_generation(data)
    assert gen is not None
    return json.loads((gen / "manifest.json").read_text())


def test_an_edit_reads_only_its_translation_group(tmp_path: Path) -> None:
    content = write_help_center(tmp_path / "content")
    data = tmp_path / "data"
    first = _index(content, data)
    assert not first.quick and first.report.embedded == first.report.articles
    again = _index(content, data)
    assert again.quick and again.read == 0 and again.report.embedded == 0

    path = content / "en" / "orders" / "cancel-order.md"  # its German translation goes stale
    path.write_text(path.read_text().replace("It is free", "It costs nothing"))
    update = _index(content, data)
    assert update.quick and update.read == 2  # the English source and the German translation
    assert update.report.embedded == 1 and update.report.articles == first.report.articles
    assert "delta" in _manifest(data)
    assert load_index(data).articles[("cancel-order", "de")].stale
    _assert_same_as_scratch(content, data, tmp_path / "scratch")


def test_added_removed_and_broken_files_in_a_quick_update(tmp_path: Path) -> None:
    content = write_help_center(tmp_path / "content")
    data = tmp_path / "data"
    _index(content, data)
    (content / "en" / "shipping" / "track-parcel.md").unlink()
    (content / "en" / "orders" / "gift-cards.md").write_text(
        "---\nid: gift-cards\ntitle: Can I pay with a gift card?\ncategory: orders\nupdated: 2026-02-01\n---\n"
        "Enter the gift card code at checkout.\n")
    broken = content / "en" / "payments" / "pay-with-blik.md"
    broken.write_text(broken.read_text().replace("title:", "title: [unclosed", 1))
    update = _index(content, data)
    assert update.quick
    assert [p.path for p in update.problems] and all("pay-with-blik" in p.path for p in update.problems)
    keys = set(load_index(data).manifest["articles"])
    assert "en/gift-cards" in keys and "en/track-parcel" not in keys and "en/pay-with-blik" not in keys
    _assert_same_as_scratch(content, data, tmp_path / "scratch")

    # the problem is reported again while the file stays broken, and the fix comes back in
    assert [p.path for p in _index(content, data).problems] == [p.path for p in update.problems]
    broken.write_text(broken.read_text().replace("title: [unclosed", "title:", 1))
    fixed = _index(content, data)
    assert fixed.quick and not fixed.problems and "en/pay-with-blik" in load_index(data).manifest["articles"]


def test_successive_quick_updates_keep_every_change_since_the_base(tmp_path: Path) -> None:
    content = write_help_center(tmp_path / "content")
    data = tmp_path / "data"
    _index(content, data)
    blik = content / "en" / "payments" / "pay-with-blik.md"
    blik.write_text(blik.read_text().replace("two minutes", "120 seconds"))
    assert _index(content, data).quick
    refund = content / "en" / "orders" / "refund-timing.md"
    refund.write_text(refund.read_text().replace("5 business days", "6 business days"))
    second = _index(content, data)
    assert second.quick and second.report.embedded == 1
    assert {"en/pay-with-blik", "en/refund-timing"} <= set(_manifest(data)["articles"])
    _assert_same_as_scratch(content, data, tmp_path / "scratch")


@pytest.mark.parametrize("change", ["kb.toml", "duplicate id", "unknown folder", "switched off"])
def test_what_needs_the_whole_help_center_reads_it(tmp_path: Path, change: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    content = write_help_center(tmp_path / "content")
    data = tmp_path / "data"
    _index(content, data)
    if change == "kb.toml":
        toml = content / "kb.toml"
        toml.write_text(toml.read_text().replace('"Test Shop Help"', '"Test Shop Help Center"'))
    elif change == "duplicate id":
        source = content / "en" / "orders" / "cancel-order.md"
        (content / "en" / "orders" / "cancel-order-copy.md").write_text(source.read_text().replace("free", "gratis"))
    elif change == "unknown folder":
        (content / "xx").mkdir()
        (content / "xx" / "a.md").write_text("---\nid: a\n---\n")
    else:
        monkeypatch.setenv("KB_QUICK_INDEX", "0")
    update = _index(content, data)
    assert not update.quick
    assert (update.problems != []) == (change == "unknown folder")
    if change == "kb.toml":
        assert load_index(data).manifest["name"] == "Test Shop Help Center"
    _assert_same_as_scratch(content, data, tmp_path / "scratch")


def test_an_index_built_from_another_folder_name_is_read_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    content = write_help_center(tmp_path / "content")
    data = tmp_path / "data"
    _index(content, data)
    monkeypatch.chdir(tmp_path)
    update = update_index(Path("content"), data, get_embedder(EMB))  # records would hold other paths
    assert not update.quick


def test_the_scan_lists_what_the_library_loads(tmp_path: Path) -> None:
    folder = tmp_path / "content" / "de"
    for rel in ["b.md", "a/z.md", "a/b/c.md", "a.md/x.md", "a-b.md", "notes.txt", "a/.hidden.md", "ä.md"]:
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text("x")
    (folder / "linked").symlink_to(folder / "a", target_is_directory=True)  # listed as neither does
    expected = [changes.relative(p, tmp_path / "content") for p in markdown_files(folder)]
    found = changes.scan(folder, "de")
    assert sorted(found) == sorted(expected) and "de/a.md" in expected and len(expected) == 8
    assert found["de/a/z.md"] == changes.stat_key((folder / "a" / "z.md").stat())


def test_below_delta_min_an_update_reads_the_whole_help_center_and_builds_it_whole(tmp_path: Path,
                                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delta, "DELTA_MIN", 10**9)
    content = write_help_center(tmp_path / "content")
    data = tmp_path / "data"
    _index(content, data)
    blik = content / "en" / "payments" / "pay-with-blik.md"
    blik.write_text(blik.read_text().replace("two minutes", "120 seconds"))
    update = _index(content, data)
    assert not update.quick and update.report.embedded == 1 and "delta" not in _manifest(data)


def test_kb_index_says_what_it_read_and_what_it_wrote(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from kb.cli import main

    content = write_help_center(tmp_path / "content")
    args = ["index", "--content", str(content), "--data", str(tmp_path / "data"), "--embedder", EMB]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert "read all 5 articles" in first and "a delta over" not in first
    blik = content / "en" / "payments" / "pay-with-blik.md"
    blik.write_text(blik.read_text().replace("two minutes", "120 seconds"))
    assert main(args) == 0
    second = capsys.readouterr().out
    assert "read 1 changed or related files" in second and "1 embedded" in second
    assert f"a delta over {first.split('generation ')[1].split()[0]}" in second
    # then one line on the ranking weights (kb/search/calibration.py): one model, nothing to weigh
    assert second.splitlines()[-1].startswith("ranking weights: default (a single model")


def test_kb_index_takes_the_index_threshold_unless_told(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from kb.cli import main

    content = write_help_center(tmp_path / "content")
    args = ["index", "--content", str(content), "--embedder", EMB]
    assert main([*args, "--data", str(tmp_path / "default")]) == 0
    assert "; index flat, generation" in capsys.readouterr().out  # a few passages: far below ANN_THRESHOLD
    assert main([*args, "--data", str(tmp_path / "low"), "--ann-threshold", "5"]) == 0
    assert "; index ivf" in capsys.readouterr().out
