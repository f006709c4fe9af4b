"""`kb check` on a help center with one file per kind of problem, and the `kb` command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import article_text, rel_path, write, write_config

from kb.cli import main
from kb.content.article import content_hash
from kb.content.check import check, summary
from kb.content.library import Library
from kb.content.mojibake import repair_line, repair_word
from kb.content.reader import MAX_ARTICLE_BYTES

GOOD_TITLE = "Good article"
GOOD_BODY = "Lead text.\n\n## Before packing\n\nCancelling is free.\n"
GOOD_HASH = content_hash(GOOD_TITLE, GOOD_BODY)

LINKS_BODY = """\
See [missing](../orders/missing.md).
See [bad anchor](../orders/good.md#no-such-heading).
See [good anchor](../orders/good.md#before-packing).
See [here](#local-heading) and [nowhere](#nowhere).
See [no extension](../orders/good).
See [web](https://example.com/x.md), [mail](mailto:help@example.com) and `[code](nope.md)`.
```
[fenced](nope.md)
```
![picture](missing.png)

## Local heading

Text.
"""

BOMB = """\
---
id: bomb
title: Bomb
category: orders
updated: 2026-01-15
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
---
Boom.
"""


def _translation(article_id: str, title: str, body: str, source_hash: str = GOOD_HASH, **extra: str) -> str:
    return article_text(article_id, title, body, source_locale="en", source_hash=source_hash, review="human", **extra)


def build_broken(root: Path) -> Path:
    write_config(root, locales=("en", "de", "fr", "pl"))
    # valid articles: one sorts before every bad file, one after
    write(root, "en/orders/good.md", article_text("good", GOOD_TITLE, GOOD_BODY))
    write(root, "en/returns/zz-valid.md", article_text(
        "zz-valid", "Valid", "Grüße, naïve café, Zażółć gęślą jaźń. See [good](../orders/good.md#before-packing).\n",
        category="returns"))
    # one file per kind of problem
    write(root, "en/orders/invalid-yaml.md", "---\nid: invalid-yaml\ntitle: Colon: here\ncategory: orders\n"
                                             "updated: 2026-01-15\n---\nText.\n")
    write(root, "en/orders/bad-date-value.md", article_text("bad-date-value", "Bad date", "Text.\n", updated="2026-13-45"))
    write(root, "en/orders/missing-field.md", "---\nid: missing-field\ncategory: orders\nupdated: 2026-01-15\n---\nText.\n")
    write(root, "en/orders/bad-field.md", article_text("bad-field", "Bad field", "Text.\n", updated='"not a date"',
                                                       review="robot"))
    write(root, "en/orders/unknown-field.md", article_text("unknown-field", "Unknown field", "Text.\n", autor="Kim"))
    write(root, "en/orders/zz-duplicate.md", article_text("good", "Another good", "See [gone](gone.md).\n"))
    write(root, "de/orders/orphan.md", _translation("orphan", "Waise", "Text.\n"))
    write(root, "xx/orders/good.md", _translation("good", "Gut", "Text.\n"))
    write(root, "it/orders/good.md", _translation("good", "Buono", "Testo.\n"))
    write(root, "de/orders/bad-source-locale.md", article_text("bad-source-locale", "Quelle", "Text.\n",
                                                               source_locale="xx", source_hash=GOOD_HASH, review="human"))
    write(root, "de/returns/zz-valid.md", article_text("zz-valid", "Gültig", "Text.\n", category="returns"))
    write(root, "en/orders/unknown-category.md", article_text("unknown-category", "Gadgets", "Text.\n", category="gadgets"))
    write(root, "en/returns/links.md", article_text("links", "Links", LINKS_BODY, category="returns"))
    write(root, "en/orders/empty-body.md", article_text("empty-body", "Empty", "\n\n"))
    write(root, "en/orders/invalid-utf8.md",
          article_text("invalid-utf8", "Bytes", "Fine line.\n").encode() + "Grüße\n".encode("latin-1"))
    write(root, "de/orders/good.md", _translation("good", "Gutes", "Bitte prÃ¼fen Sie Ihre Bestellung.\n"
                                                  "Siehe [gültig](../returns/zz-valid.md) und [Rückgabe](../returns/links.md).\n"))
    write(root, "pl/orders/good.md", _translation("good", "Dobry", "Centrum obs艂ugi klienta.\n"))
    write(root, "fr/orders/good.md", _translation("good", "Bon", "Texte.\n", source_hash="deadbeefdeadbeef"))
    write(root, "en/orders/binary.md", b"---\nid: binary\n\x00\x00\x00PNG")
    write(root, "en/orders/bomb.md", BOMB)
    write(root, "en/orders/deep.md", "---\nid: deep\nx: " + "[" * 3000 + "]" * 3000 + "\n---\nText.\n")
    write(root, "en/orders/no-front-matter.md", "Just text, no front matter.\n")
    write(root, "en/orders/too-large.md", article_text("too-large", "Big", "x" * (MAX_ARTICLE_BYTES + 10) + "\n"))
    return root


EXPECTED_ERRORS = {
    ("invalid-yaml", "en/orders/invalid-yaml.md", 3),
    ("invalid-yaml", "en/orders/bad-date-value.md", 5),
    ("missing-field", "en/orders/missing-field.md", 2),
    ("bad-field", "en/orders/bad-field.md", 5),
    ("bad-field", "en/orders/bad-field.md", 6),
    ("unknown-field", "en/orders/unknown-field.md", 6),
    ("duplicate-id", "en/orders/zz-duplicate.md", 2),
    ("broken-link", "en/orders/zz-duplicate.md", 7),  # a duplicate is still checked
    ("orphan-translation", "de/orders/orphan.md", 2),
    ("unknown-locale", "xx/orders/good.md", 1),
    ("unknown-locale", "it/orders/good.md", 1),
    ("unknown-locale", "de/orders/bad-source-locale.md", 6),
    ("missing-field", "de/returns/zz-valid.md", 2),
    ("unknown-category", "en/orders/unknown-category.md", 4),
    ("broken-link", "en/returns/links.md", 7),
    ("broken-link", "en/returns/links.md", 8),
    ("broken-link", "en/returns/links.md", 10),
    ("broken-link", "en/returns/links.md", 11),
    ("empty-body", "en/orders/empty-body.md", 7),
    ("invalid-utf8", "en/orders/invalid-utf8.md", 8),
    ("mojibake", "de/orders/good.md", 10),
    ("mojibake", "pl/orders/good.md", 10),
    ("binary-file", "en/orders/binary.md", 1),
    ("invalid-yaml", "en/orders/bomb.md", 6),
    ("invalid-yaml", "en/orders/deep.md", 2),
    ("front-matter", "en/orders/no-front-matter.md", 1),
    ("too-large", "en/orders/too-large.md", 1),
}
EXPECTED_WARNINGS = {
    ("stale", "fr/orders/good.md", 7),
    ("id-filename", "en/orders/zz-duplicate.md", 2),
}


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_broken(tmp_path_factory.mktemp("broken") / "hc")


@pytest.fixture(scope="module")
def checked(broken: Path) -> tuple[Library, list]:
    library = Library.load(broken)
    return library, check(library)


def _triples(problems: list, root: Path, severity: str) -> set[tuple[str, str, int]]:
    return {(p.kind, rel_path(p, root), p.line) for p in problems if p.severity == severity}


def _one(problems: list, root: Path, kind: str, rel: str, line: int | None = None):  # type: ignore[no-untyped-def]
    found = [p for p in problems if p.kind == kind and rel_path(p, root) == rel and (line is None or p.line == line)]
    assert len(found) == 1, f"expected one {kind} at {rel}:{line}, got {found}"
    return found[0]


# -- every kind, by kind, file and line ----------------------------------------------------


@pytest.mark.parametrize(("kind", "rel", "line"), sorted(EXPECTED_ERRORS), ids=lambda v: str(v))
def test_each_error_is_reported_by_kind_file_and_line(checked, broken: Path, kind: str, rel: str, line: int) -> None:  # type: ignore[no-untyped-def]
    _, problems = checked
    problem = _one(problems, broken, kind, rel, line)
    assert problem.severity == "error"
    assert problem.message and problem.hint  # says what is wrong and how to fix it


def test_errors_are_exactly_the_planted_ones(checked, broken: Path) -> None:  # type: ignore[no-untyped-def]
    _, problems = checked
    assert _triples(problems, broken, "error") == EXPECTED_ERRORS
    assert _triples(problems, broken, "warning") == EXPECTED_WARNINGS


def test_messages_name_the_field(checked, broken: Path) -> None:  # type: ignore[no-untyped-def]
    _, problems = checked
    assert "'title'" in _one(problems, broken, "missing-field", "en/orders/missing-field.md").message
    assert "'updated'" in _one(problems, broken, "bad-field", "en/orders/bad-field.md", 5).message
    review = _one(problems, broken, "bad-field", "en/orders/bad-field.md", 6)
    assert "'review'" in review.message and "human, machine, reviewed" in review.hint
    assert "'autor'" in _one(problems, broken, "unknown-field", "en/orders/unknown-field.md").message
    assert "month" in _one(problems, broken, "invalid-yaml", "en/orders/bad-date-value.md").message
    assert "en/orders/good.md" in _one(problems, broken, "duplicate-id", "en/orders/zz-duplicate.md").message
    assert "'xx'" in _one(problems, broken, "unknown-locale", "xx/orders/good.md").message
    assert "not enabled" in _one(problems, broken, "unknown-locale", "it/orders/good.md").message
    assert "gadgets" in _one(problems, broken, "unknown-category", "en/orders/unknown-category.md").message
    assert "source_locale" in _one(problems, broken, "missing-field", "de/returns/zz-valid.md").hint


def test_yaml_anchor_bomb_is_refused(checked, broken: Path) -> None:  # type: ignore[no-untyped-def]
    library, problems = checked
    problem = _one(problems, broken, "invalid-yaml", "en/orders/bomb.md")
    assert "anchors" in problem.message
    assert library.get("bomb", "en") is None


def test_broken_links(checked, broken: Path) -> None:  # type: ignore[no-untyped-def]
    _, problems = checked
    by_line = {p.line: p.message for p in problems if p.kind == "broken-link"}
    assert "../orders/missing.md" in by_line[7]
    assert "#no-such-heading" in by_line[8]
    assert "#nowhere" in by_line[10]
    assert ".md" in by_line[11]
    # links to an existing anchor, external links, code spans, fences and images are fine; a
    # translation may link to an article that only exists in the source locale
    assert set(by_line) == {7, 8, 10, 11}


def test_invalid_utf8_is_reported_on_its_line(checked, broken: Path) -> None:  # type: ignore[no-untyped-def]
    library, problems = checked
    problem = _one(problems, broken, "invalid-utf8", "en/orders/invalid-utf8.md")
    raw = (broken / "en/orders/invalid-utf8.md").read_bytes()
    assert raw.split(b"\n")[problem.line - 1] == "Grüße".encode("latin-1")
    assert "0xfc" in problem.message
    assert library.get("invalid-utf8", "en") is None


def test_mojibake_shows_the_repaired_text(checked, broken: Path) -> None:  # type: ignore[no-untyped-def]
    _, problems = checked
    cp1252 = _one(problems, broken, "mojibake", "de/orders/good.md")
    assert cp1252.fixed == "Bitte prüfen Sie Ihre Bestellung."
    assert "repaired: Bitte prüfen Sie Ihre Bestellung." in str(cp1252)
    gbk = _one(problems, broken, "mojibake", "pl/orders/good.md")
    assert gbk.fixed == "Centrum obsługi klienta."
    # correct accented text (zz-valid.md has German, French and Polish letters) is not flagged
    assert not [p for p in problems if p.kind == "mojibake" and "zz-valid" in p.path]


def test_stale_translation_is_a_warning(checked, broken: Path) -> None:  # type: ignore[no-untyped-def]
    _, problems = checked
    stale = _one(problems, broken, "stale", "fr/orders/good.md")
    assert stale.severity == "warning"
    assert "deadbeefdeadbeef" in stale.message and GOOD_HASH in stale.message


def test_missing_translations_are_info(checked, broken: Path) -> None:  # type: ignore[no-untyped-def]
    library, problems = checked
    missing = {rel_path(p, broken): p for p in problems if p.kind == "missing-translation"}
    assert set(missing) == {"fr", "pl"} | ({"de"} if library.missing("de") else set())
    for locale, problem in missing.items():
        assert problem.severity == "info" and problem.line == 1
        for article_id in library.missing(locale):
            assert article_id in problem.message
    assert "links" in missing["fr"].message and "zz-valid" in missing["pl"].message
    assert "zz-valid" not in missing["de"].message  # de has its own (badly marked) zz-valid


def test_one_bad_file_never_stops_the_others(checked, broken: Path) -> None:  # type: ignore[no-untyped-def]
    library, problems = checked
    assert library.get("good", "en") is not None
    assert library.get("zz-valid", "en") is not None  # sorts after every broken file
    assert library.get("links", "en") is not None
    assert library.get("good", "fr") is not None


def test_nothing_is_skipped_silently(checked, broken: Path) -> None:  # type: ignore[no-untyped-def]
    library, problems = checked
    loaded = {a.path.resolve() for a in library.articles}
    reported = {Path(p.path).resolve() for p in problems}
    for path in broken.rglob("*.md"):
        assert path.resolve() in loaded or path.resolve() in reported, f"{path} neither loaded nor reported"


def test_problems_are_sorted_and_summarized(checked) -> None:  # type: ignore[no-untyped-def]
    _, problems = checked
    keys = [(p.path, p.line, p.kind) for p in problems]
    assert keys == sorted(keys)
    counts = summary(problems)
    assert counts == {"error": len(EXPECTED_ERRORS), "warning": len(EXPECTED_WARNINGS), "info": 3}


def test_paths_are_relative_to_the_working_directory(broken: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(broken.parent)
    problems = check(Library.load(Path("hc")))
    paths = {p.path for p in problems}
    assert str(Path("hc/en/orders/invalid-yaml.md")) in paths
    assert all(not Path(p).is_absolute() for p in paths)


# -- mojibake detector ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("garbled", "locale", "fixed"),
    [
        ("GrÃ¼ÃŸe", "de", "Grüße"),
        ("prÃ¼fen", "de", "prüfen"),
        ("rÃ©sumÃ©", "fr", "résumé"),
        ("obs艂ugi", "pl", "obsługi"),
        ("GrÃƒÂ¼ÃƒÅ¸e", "de", "Grüße"),  # encoded twice
    ],
)
def test_repair_word(garbled: str, locale: str, fixed: str) -> None:
    assert repair_word(garbled, locale) == fixed


@pytest.mark.parametrize(
    ("word", "locale"),
    [("Grüße", "de"), ("obsługi", "pl"), ("naïve", "fr"), ("İade", "tr"), ("plain", "en"), ("中文", "zh"), ("東京", "ja")],
)
def test_clean_words_are_not_mojibake(word: str, locale: str) -> None:
    assert repair_word(word, locale) is None
    assert repair_line(f"Text {word} text.", locale) is None


def test_repair_line_keeps_the_rest_of_the_line() -> None:
    assert repair_line("Centrum obs艂ugi klienta, GrÃ¼ÃŸe!", "pl") == "Centrum obsługi klienta, Grüße!"


# -- command line --------------------------------------------------------------------------


@pytest.fixture
def clean(tmp_path: Path) -> Path:
    root = tmp_path / "clean"
    write_config(root, locales=("en", "de"))
    write(root, "en/orders/good.md", article_text("good", GOOD_TITLE, GOOD_BODY))
    write(root, "en/returns/other.md", article_text("other", "Other", "See [good](../orders/good.md#before-packing).\n",
                                                    category="returns"))
    write(root, "de/orders/good.md", _translation("good", "Gut", "Text.\n"))
    return root


def test_cli_check_errors_exit_1(broken: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(broken)]) == 1
    out = capsys.readouterr().out
    assert "invalid-yaml.md:3: error: [invalid-yaml]" in out
    assert "repaired: Centrum obsługi klienta." in out
    assert f"{len(EXPECTED_ERRORS)} error(s)" in out


def test_cli_check_clean_exit_0(clean: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(clean)]) == 0
    out = capsys.readouterr().out
    assert "0 error(s), 0 warning(s)" in out
    assert "[missing-translation]" in out and "other" in out  # info does not fail the check


def test_cli_check_strict_fails_on_warnings(clean: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = clean / "en/orders/good.md"
    path.write_text(path.read_text(encoding="utf-8").replace("Cancelling is free.", "Cancelling costs 5 EUR."),
                    encoding="utf-8")
    assert main(["check", str(clean)]) == 0
    assert "[stale]" in capsys.readouterr().out
    assert main(["check", "--strict", str(clean)]) == 1


def test_cli_check_json(broken: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--format", "json", str(broken)]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["summary"]["error"] == len(EXPECTED_ERRORS)
    assert data["articles"] == len(Library.load(broken).articles)
    rows = {(p["kind"], Path(p["path"]).resolve().relative_to(broken.resolve()).as_posix(), p["line"])
            for p in data["problems"] if p["severity"] == "error"}
    assert rows == EXPECTED_ERRORS
    mojibake = [p for p in data["problems"] if p["kind"] == "mojibake"]
    assert {p["fixed"] for p in mojibake} == {"Bitte prüfen Sie Ihre Bestellung.", "Centrum obsługi klienta."}
    assert all({"severity", "kind", "path", "line", "message", "hint"} <= set(p) for p in data["problems"])


def test_cli_check_json_clean(clean: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(clean), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["summary"] == {"error": 0, "warning": 0, "info": 1}
    assert data["articles"] == 3


@pytest.mark.parametrize(
    "argv",
    [
        ["check", "--format", "xml", "content"],
        ["check", "content", "extra-argument"],
        ["check", "--no-such-option"],
        ["no-such-command"],
        ["stats", "--format"],
    ],
    ids=["bad-format", "extra-arg", "bad-option", "bad-command", "option-without-value"],
)
def test_cli_usage_errors_exit_2_with_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().split("\n")
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("kb: error: ")
    assert captured.out == ""


def test_cli_missing_help_center_is_one_line_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(tmp_path / "nowhere")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("kb: error: ") and "kb.toml" in err
    assert len(err.strip().split("\n")) == 1
    assert main(["stats", str(tmp_path / "nowhere")]) == 1


def test_cli_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--help"]) == 0
    assert "--format" in capsys.readouterr().out


def test_cli_stats(clean: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stats", str(clean)]) == 0
    out = capsys.readouterr().out
    assert "Test Help Center: 2 articles, source locale en" in out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.split()[:1] in (["en"], ["de"])}
    # present, human, reviewed, machine, stale, missing
    assert rows["en"] == ["2", "2", "0", "0", "0", "0"]
    assert rows["de"] == ["1", "1", "0", "0", "0", "1"]
    assert "orders: good" in out and "returns: other" in out


def test_cli_stats_json(clean: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stats", str(clean), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["name"] == "Test Help Center"
    assert data["ids"] == ["good", "other"]
    assert data["coverage"]["de"]["missing"] == 1 and data["coverage"]["de"]["present"] == 1


def test_a_hash_yaml_reads_as_a_number_says_to_quote_it(tmp_path: Path) -> None:
    """A content hash of digits only, pasted without quotes, is a number to YAML."""
    root = tmp_path / "hc"
    write_config(root)
    write(root, "en/orders/good.md", article_text("good", GOOD_TITLE, GOOD_BODY))
    write(root, "de/orders/good.md", _translation("good", "Gut", "Text.\n", source_hash="4430800548462912"))
    problems = [p for p in Library.load(root).problems if p.kind == "bad-field"]
    assert len(problems) == 1
    problem = problems[0]
    assert problem.path.endswith("de/orders/good.md") and "'source_hash'" in problem.message
    assert "YAML reads 4430800548462912 as a number" in problem.message
    assert problem.hint == 'put the value in quotes: source_hash: "4430800548462912"'
    text = (root / "de/orders/good.md").read_text()
    assert text.splitlines()[problem.line - 1] == "source_hash: 4430800548462912"
