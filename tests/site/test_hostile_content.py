"""Hostile content: each bad file gets a clear error of its own in `kb check`, and `kb index` and
`kb build` still build everything else."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import write_help_center

from kb.cli import main
from kb.search.index import load_index

HEAD = "---\nid: {id}\ntitle: Hostile {id}\ncategory: orders\nupdated: 2026-01-01\n---\n"
GOOD = {"cancel-order", "refund-timing", "pay-with-blik", "track-parcel"}


def _alias_bomb() -> str:
    """'Billion laughs': nine aliases of nine aliases of … nine strings (9^9 when expanded)."""
    lines = ["lol0: &a0 [" + ", ".join(['"lol"'] * 9) + "]"]
    for level in range(1, 9):
        lines.append(f"lol{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 9) + "]")
    return "---\nid: alias-bomb\ntitle: Bomb\ncategory: orders\nupdated: 2026-01-01\n" + "\n".join(lines) + "\n---\nboom\n"


# file name -> (problem kind, words the message must hold)
EXPECTED = {
    "bad-utf8.md": ("invalid-utf8", "invalid UTF-8 at byte"),
    "binary.md": ("binary-file", "NUL bytes"),
    "huge.md": ("too-large", "articles are limited to 1,000,000"),
    "nested-list.md": ("too-deep", "nested 5000 levels deep"),
    "nested-indent.md": ("too-deep", "levels deep"),
    "nested-quote.md": ("too-deep", "nested 5000 levels deep"),
    "alias-bomb.md": ("invalid-yaml", "anchors (&name) are not allowed"),
    "flow-bomb.md": ("invalid-yaml", "nested too deeply"),
}


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    root = write_help_center(tmp_path / "content")
    folder = root / "en" / "orders"
    (folder / "bad-utf8.md").write_bytes(HEAD.format(id="bad-utf8").encode() + b"Caf\xe9 and \xff\xfe bytes\n")
    (folder / "binary.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 40)
    paragraph = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 20 + "\n\n"
    (folder / "huge.md").write_text(HEAD.format(id="huge") + paragraph * (10_000_000 // len(paragraph)))
    (folder / "nested-list.md").write_text(HEAD.format(id="nested-list") + "- " * 5000 + "deep\n")
    (folder / "nested-indent.md").write_text(
        HEAD.format(id="nested-indent") + "".join("    " * i + "- level\n" for i in range(600)))  # 720 kB
    (folder / "nested-quote.md").write_text(HEAD.format(id="nested-quote") + "> " * 5000 + "deep\n")
    (folder / "alias-bomb.md").write_text(_alias_bomb())
    (folder / "flow-bomb.md").write_text(
        "---\nid: flow-bomb\ntitle: T\ncategory: orders\nupdated: 2026-01-01\ntags: " + "[" * 5000 + "]" * 5000
        + "\n---\nbody\n")
    assert (folder / "huge.md").stat().st_size > 9_900_000
    return root


def test_check_names_each_bad_file(hostile: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(hostile), "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    errors = {Path(p["path"]).name: p for p in report["problems"] if p["severity"] == "error"}
    assert set(errors) == set(EXPECTED), errors
    for name, (kind, words) in EXPECTED.items():
        assert errors[name]["kind"] == kind, errors[name]
        assert words in errors[name]["message"], errors[name]
        assert errors[name]["hint"] and errors[name]["line"] >= 1
    assert errors["nested-list.md"]["line"] == 7 and errors["bad-utf8.md"]["line"] == 7
    assert report["articles"] == len(GOOD) + 1  # the four English articles and one German translation
    assert main(["check", str(hostile)]) == 1
    text = capsys.readouterr().out
    for name in EXPECTED:
        assert f"{name}:" in text  # file:line: error: [...] in the plain report too


def test_index_and_build_keep_the_rest(hostile: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, site = tmp_path / "data", tmp_path / "site"
    assert main(["index", "--content", str(hostile), "--data", str(data), "--embedder", "use-multilingual"]) == 0
    err = capsys.readouterr().err
    assert all(name in err for name in EXPECTED)  # each skipped file is named
    assert set(load_index(data).by_id) == GOOD
    assert main(["build", "--content", str(hostile), "--out", str(site)]) == 0
    pages = {p.parent.name for p in site.glob("en/*/*/index.html")}
    assert pages == GOOD
    assert not any(site.rglob("*nested*")) and not any(site.rglob("*bomb*"))
