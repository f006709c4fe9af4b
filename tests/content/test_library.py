"""The content layer: config, front matter, articles, library lookups, fallback, staleness, coverage."""

from __future__ import annotations

import datetime as dt
import hashlib
import unicodedata
from pathlib import Path

import pytest
from helpers import article_text, write, write_config

from kb.content.article import content_hash, normalize_text
from kb.content.config import load_config
from kb.content.fastmatter import parse_fast
from kb.content.frontmatter import FrontMatterError, parse, update_fields
from kb.content.library import Library
from kb.content.locales import UnknownLocale
from kb.errors import KbError

CANCEL_BODY = """Open **My account › Orders** and select **Cancel order**.

## Before packing

Cancelling is free.
"""
RETURN_BODY = "Send it back within 30 days.\n"
TRACK_BODY = "Use the tracking link in your shipping e-mail.\n"


def _translation(article_id: str, title: str, body: str, source_hash: str, review: str = "human",
                 category: str = "orders", **extra: str) -> str:
    return article_text(article_id, title, body, category=category, source_locale="en",
                        source_hash=source_hash, review=review, **extra)


@pytest.fixture
def center(tmp_path: Path) -> Path:
    """en: cancel-order, start-a-return, track-order; de: cancel-order (human, fresh) and
    start-a-return (machine, stale); fr: cancel-order (reviewed, fresh); de-AT: nothing."""
    root = tmp_path / "hc"
    write_config(root)
    write(root, "en/orders/cancel-order.md", article_text("cancel-order", "How do I cancel my order?", CANCEL_BODY,
                                                         tags="[cancel, order]"))
    write(root, "en/returns/start-a-return.md", article_text("start-a-return", "Start a return", RETURN_BODY,
                                                            category="returns"))
    write(root, "en/orders/track-order.md", article_text("track-order", "Track your order", TRACK_BODY))
    cancel_hash = content_hash("How do I cancel my order?", CANCEL_BODY)
    write(root, "de/orders/cancel-order.md",
          _translation("cancel-order", "Wie storniere ich meine Bestellung?", "Öffnen Sie **Mein Konto**.\n", cancel_hash))
    write(root, "de/returns/start-a-return.md",
          _translation("start-a-return", "Rücksendung starten", "Senden Sie es zurück.\n", "0123456789abcdef",
                       review="machine", category="returns"))
    write(root, "fr/orders/cancel-order.md",
          _translation("cancel-order", "Comment annuler ma commande ?", "Ouvrez **Mon compte**.\n", cancel_hash,
                       review="reviewed", reviewed_by="Camille", reviewed_on="2026-02-01"))
    return root


# -- loading -------------------------------------------------------------------------------


def test_load_reads_every_article(center: Path) -> None:
    lib = Library.load(center)
    assert lib.problems == []
    assert lib.source_locale == "en"
    assert lib.ids() == ["cancel-order", "start-a-return", "track-order"]
    assert len(lib.articles) == 6
    assert sorted(a.id for a in lib.in_locale("en")) == ["cancel-order", "start-a-return", "track-order"]
    assert sorted(a.id for a in lib.in_locale("de")) == ["cancel-order", "start-a-return"]
    assert lib.in_locale("de-AT") == []


def test_loaded_article_fields(center: Path) -> None:
    lib = Library.load(center)
    art = lib.get("cancel-order", "en")
    assert art is not None
    assert art.title == "How do I cancel my order?"
    assert art.category == "orders"
    assert art.meta.tags == ["cancel", "order"]
    assert art.meta.updated == dt.date(2026, 1, 15)
    assert art.body == CANCEL_BODY
    assert art.body_line == 8  # 6 field lines between the two '---'
    assert art.line_of("category") == 4
    assert art.path == center / "en/orders/cancel-order.md"
    assert art.review == "human" and not art.is_translation and not art.is_machine
    fr = lib.get("cancel-order", "fr")
    assert fr is not None and fr.is_translation and fr.review == "reviewed"
    assert fr.meta.reviewed_on == dt.date(2026, 2, 1)
    de_return = lib.get("start-a-return", "de")
    assert de_return is not None and de_return.is_machine


def test_locale_folder_names_are_normalized(tmp_path: Path) -> None:
    root = tmp_path / "hc"
    write_config(root)
    write(root, "en/orders/a.md", article_text("a", "A", "Text.\n"))
    write(root, "de_at/orders/a.md", _translation("a", "A (AT)", "Text.\n", content_hash("A", "Text.\n")))
    lib = Library.load(root)
    assert lib.problems == []
    assert lib.get("a", "de-AT") is not None
    assert lib.get("a", "de-AT").locale == "de-AT"  # type: ignore[union-attr]


def test_translation_groups_by_id(center: Path) -> None:
    lib = Library.load(center)
    group = lib.group("cancel-order")
    assert set(group) == {"en", "de", "fr"}
    assert {a.id for a in group.values()} == {"cancel-order"}
    assert set(lib.group("track-order")) == {"en"}
    assert lib.group("no-such-id") == {}
    group.clear()  # a copy: the library is not changed through it
    assert set(lib.group("cancel-order")) == {"en", "de", "fr"}
    assert lib.source("cancel-order") is lib.get("cancel-order", "en")
    assert lib.source("no-such-id") is None


def test_get_is_exact(center: Path) -> None:
    lib = Library.load(center)
    assert lib.get("cancel-order", "de").locale == "de"  # type: ignore[union-attr]
    assert lib.get("track-order", "de") is None
    assert lib.get("cancel-order", "de-AT") is None  # get does not fall back; resolve does
    assert lib.get("nope", "en") is None


# -- resolve with fallback -----------------------------------------------------------------


def test_resolve_exact_locale_is_not_a_fallback(center: Path) -> None:
    lib = Library.load(center)
    art, fallback = lib.resolve("cancel-order", "de")  # type: ignore[misc]
    assert (art.locale, fallback) == ("de", False)
    art, fallback = lib.resolve("cancel-order", "en")  # type: ignore[misc]
    assert (art.locale, fallback) == ("en", False)


def test_resolve_regional_request_served_by_language(center: Path) -> None:
    lib = Library.load(center)
    art, fallback = lib.resolve("cancel-order", "de-AT")  # type: ignore[misc]
    assert art is lib.get("cancel-order", "de")
    assert fallback is True


def test_resolve_missing_translation_served_by_source(center: Path) -> None:
    lib = Library.load(center)
    art, fallback = lib.resolve("track-order", "de")  # type: ignore[misc]
    assert art is lib.get("track-order", "en")
    assert fallback is True
    art, fallback = lib.resolve("track-order", "de-AT")  # type: ignore[misc]
    assert art.locale == "en" and fallback is True
    art, fallback = lib.resolve("start-a-return", "fr")  # type: ignore[misc]
    assert art.locale == "en" and fallback is True


def test_resolve_accepts_unnormalized_codes(tmp_path: Path) -> None:
    root = tmp_path / "hc"
    write_config(root)
    write(root, "en/orders/a.md", article_text("a", "A", "Text.\n"))
    write(root, "de-AT/orders/a.md", _translation("a", "A (AT)", "Text.\n", content_hash("A", "Text.\n")))
    lib = Library.load(root)
    art, fallback = lib.resolve("a", "de_at")  # type: ignore[misc]
    assert (art.locale, fallback) == ("de-AT", False)


def test_resolve_unknown(center: Path) -> None:
    lib = Library.load(center)
    assert lib.resolve("no-such-id", "de") is None
    with pytest.raises(UnknownLocale):
        lib.resolve("cancel-order", "xx")


# -- staleness -----------------------------------------------------------------------------


def _replace_body(path: Path, new_body: str) -> None:
    parsed = parse(path.read_text(encoding="utf-8"))
    head = path.read_text(encoding="utf-8").split("\n")[: parsed.body_line - 1]
    path.write_text("\n".join(head) + "\n" + new_body, encoding="utf-8")


def test_fresh_translation_is_not_stale(center: Path) -> None:
    lib = Library.load(center)
    assert not lib.is_stale(lib.get("cancel-order", "de"))  # type: ignore[arg-type]
    assert not lib.is_stale(lib.get("cancel-order", "fr"))  # type: ignore[arg-type]
    assert not lib.is_stale(lib.get("cancel-order", "en"))  # type: ignore[arg-type]  # a source is never stale
    assert lib.is_stale(lib.get("start-a-return", "de"))  # type: ignore[arg-type]


def test_editing_source_body_makes_translations_stale(center: Path) -> None:
    _replace_body(center / "en/orders/cancel-order.md", CANCEL_BODY + "\nA fee applies to engraved items.\n")
    lib = Library.load(center)
    assert lib.is_stale(lib.get("cancel-order", "de"))  # type: ignore[arg-type]
    assert lib.is_stale(lib.get("cancel-order", "fr"))  # type: ignore[arg-type]


def test_editing_source_title_makes_translations_stale(center: Path) -> None:
    path = center / "en/orders/cancel-order.md"
    path.write_text(path.read_text(encoding="utf-8").replace("title: How do I cancel my order?",
                                                            "title: Cancel an order"), encoding="utf-8")
    lib = Library.load(center)
    assert lib.is_stale(lib.get("cancel-order", "de"))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "edit",
    [
        lambda body: body.replace("\n", "   \n"),  # trailing spaces
        lambda body: body.replace("\n", "\r\n"),  # Windows line ends
        lambda body: body.replace("\n\n", "\n\n\n\n"),  # extra blank lines
        lambda body: "\n\n" + body + "\n\n\n",  # blank lines around the body
    ],
    ids=["trailing-spaces", "crlf", "blank-lines", "leading-trailing-blank"],
)
def test_whitespace_only_source_edit_keeps_translations_fresh(center: Path, edit) -> None:  # type: ignore[no-untyped-def]
    path = center / "en/orders/cancel-order.md"
    original = path.read_bytes()
    head = original.split(CANCEL_BODY.encode())[0]
    path.write_bytes(head + edit(CANCEL_BODY).encode())
    assert path.read_bytes() != original
    lib = Library.load(center)
    assert lib.problems == []
    assert not lib.is_stale(lib.get("cancel-order", "de"))  # type: ignore[arg-type]


def test_orphan_translation_is_not_stale(tmp_path: Path) -> None:
    root = tmp_path / "hc"
    write_config(root)
    write(root, "de/orders/lonely.md", _translation("lonely", "Allein", "Text.\n", "0123456789abcdef"))
    lib = Library.load(root)
    assert lib.source("lonely") is None
    assert not lib.is_stale(lib.get("lonely", "de"))  # type: ignore[arg-type]


# -- coverage ------------------------------------------------------------------------------


def test_missing_and_coverage(center: Path) -> None:
    lib = Library.load(center)
    assert lib.missing("de") == ["track-order"]
    assert lib.missing("fr") == ["start-a-return", "track-order"]
    assert lib.missing("de-AT") == ["cancel-order", "start-a-return", "track-order"]
    assert lib.missing("en") == []
    cov = lib.coverage()
    assert list(cov) == ["en", "de", "de-AT", "fr"]  # every enabled locale, in kb.toml order
    assert cov["en"] == {"total": 3, "present": 3, "human": 3, "reviewed": 0, "machine": 0, "stale": 0, "missing": 0}
    assert cov["de"] == {"total": 3, "present": 2, "human": 1, "reviewed": 0, "machine": 1, "stale": 1, "missing": 1}
    assert cov["fr"] == {"total": 3, "present": 1, "human": 0, "reviewed": 1, "machine": 0, "stale": 0, "missing": 2}
    assert cov["de-AT"] == {"total": 3, "present": 0, "human": 0, "reviewed": 0, "machine": 0, "stale": 0, "missing": 3}


def test_coverage_follows_edits(center: Path) -> None:
    _replace_body(center / "en/orders/cancel-order.md", "Completely new text.\n")
    (center / "de/returns/start-a-return.md").unlink()
    cov = Library.load(center).coverage()
    assert cov["de"]["stale"] == 1 and cov["de"]["present"] == 1 and cov["de"]["missing"] == 2
    assert cov["fr"]["stale"] == 1


# -- content hash --------------------------------------------------------------------------


def test_content_hash_definition_and_stability() -> None:
    expected = hashlib.sha256(b"Title\n\nBody line.\n\nMore.").hexdigest()[:16]
    assert content_hash("Title", "Body line.\n\nMore.") == expected
    assert content_hash("Title", "Body line.\n\nMore.") == content_hash("Title", "Body line.\n\nMore.")
    assert len(expected) == 16 and all(c in "0123456789abcdef" for c in expected)


def test_content_hash_normalizes_whitespace_and_unicode() -> None:
    base = content_hash("Grüße", "Line one.\n\nLine two.")
    assert content_hash("  Grüße  ", "\n\nLine one.   \r\n\r\n\r\n\r\nLine two.\n\n") == base
    assert content_hash(unicodedata.normalize("NFD", "Grüße"), "Line one.\n\nLine two.") == base
    assert normalize_text("a  \r\nb\r\rc\n\n\n\nd  ") == "a\nb\n\nc\n\nd"


def test_content_hash_changes_with_content() -> None:
    base = content_hash("Title", "Body.")
    assert content_hash("Title", "Body!") != base
    assert content_hash("Title.", "Body.") != base
    assert content_hash("Title", "Body.\n    code") != content_hash("Title", "Body.\ncode")  # indentation is kept
    assert content_hash("Title", "Bo dy.") != base


def test_article_hash_matches_content_hash(center: Path) -> None:
    lib = Library.load(center)
    art = lib.get("cancel-order", "en")
    assert art.hash == content_hash("How do I cancel my order?", CANCEL_BODY)  # type: ignore[union-attr]


# -- front matter --------------------------------------------------------------------------

FILE = """---
id: cancel-order
title: How do I cancel my order?
category: orders
questions:
  - I ordered by mistake
  - stop my order
updated: 2026-01-15
source_locale: en
source_hash: 0123456789abcdef
review: machine
---
Body line with review: human inside it.
updated: 1999-01-01
"""


def test_parse_keeps_line_numbers() -> None:
    parsed = parse(FILE)
    assert parsed.meta["id"] == "cancel-order"
    assert parsed.meta["updated"] == dt.date(2026, 1, 15)
    assert parsed.field_lines == {"id": 2, "title": 3, "category": 4, "questions": 5, "updated": 8,
                                  "source_locale": 9, "source_hash": 10, "review": 11}
    assert parsed.body_line == 13
    assert parsed.body.startswith("Body line")
    assert parse("\ufeff" + FILE).field_lines == parsed.field_lines  # a BOM is ignored


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("no front matter\n", 1, "must start"),
        ("---\nid: a\n", 1, "not closed"),
        ("---\nid: a\ntitle: Colon: here\n---\n", 3, "invalid YAML"),
        ("---\n- a\n- b\n---\n", 2, "mapping"),
        ("---\nid: a\nbase: &b x\nother: *b\n---\n", 3, "anchors"),
        ("---\nid: a\nupdated: 2026-13-45\n---\n", 3, "invalid YAML"),
    ],
)
def test_parse_errors_carry_line(text: str, line: int, words: str) -> None:
    with pytest.raises(FrontMatterError) as info:
        parse(text)
    assert info.value.line == line
    assert words in str(info.value)
    assert info.value.hint


_TRICKY = [
    FILE, "\ufeff" + FILE, "no front matter\n", "---\nid: a\n", "---\nid: a\ntitle: Colon: here\n---\n",
    "---\n- a\n- b\n---\n", "---\nid: a\nbase: &b x\nother: *b\n---\n", "---\nid: a\nupdated: 2026-13-45\n---\n",
    "---\n---\nbody\n", "---\n~\n---\n", "---\na: !!int abc\n---\n", "---\na: 1\na: 2\n---\n",
    "---\ntitle: tab\there\n---\n", "---\ntags: [a, b\tc]\n---\n", "---\n\ta: 1\n---\n", "---\na: \x07\n---\n",
    "---\nx: |\n  multi\n  line\n---\n", "---\nk: 0x1F\nb: yes\nc: 1e3\nd: .inf\ne: 2026-01-01 10:00:00\n---\n",
    "---\nt: \"\\u00e9 \\x41\"\n---\n", "---\n" + "a: [" * 200 + "\n---\n", "---\na: [1, 2\n---\nbody\n",
]


@pytest.mark.parametrize("text", _TRICKY)
def test_fast_parse_gives_the_careful_parse_result_or_error(text: str) -> None:
    def outcome(fn):  # type: ignore[no-untyped-def]
        try:
            p = fn(text)
        except FrontMatterError as exc:
            return ("error", str(exc), exc.line, exc.hint)
        return ("ok", p.meta, p.body, p.body_line, p.field_lines)

    assert repr(outcome(parse_fast)) == repr(outcome(parse))


def test_library_hash_of_is_the_article_hash(center: Path) -> None:
    library = Library.load(center)
    for article in library.articles:
        assert library.hash_of(article) == article.hash == library.hash_of(article)


def test_update_fields_replaces_only_named_lines() -> None:
    new = update_fields(FILE, {"review": "reviewed", "source_hash": "fedcba9876543210"})
    old_lines, new_lines = FILE.split("\n"), new.split("\n")
    assert len(new_lines) == len(old_lines)
    changed = [i for i, (a, b) in enumerate(zip(old_lines, new_lines, strict=True)) if a != b]
    assert changed == [9, 10]  # 0-based: the source_hash and review lines
    assert new_lines[9] == "source_hash: fedcba9876543210"
    assert new_lines[10] == "review: reviewed"
    # the body keeps its look-alike lines
    assert new_lines[-3:] == ["Body line with review: human inside it.", "updated: 1999-01-01", ""]
    assert parse(new).meta["review"] == "reviewed"


def test_update_fields_adds_new_keys_before_closing_line() -> None:
    new = update_fields(FILE, {"reviewed_by": "Kim", "reviewed_on": dt.date(2026, 3, 1)})
    old_lines, new_lines = FILE.split("\n"), new.split("\n")
    assert new_lines[:11] == old_lines[:11]
    assert new_lines[11:13] == ["reviewed_by: Kim", "reviewed_on: 2026-03-01"]
    assert new_lines[13:] == old_lines[11:]
    meta = parse(new).meta
    assert meta["reviewed_on"] == dt.date(2026, 3, 1) and meta["reviewed_by"] == "Kim"


def test_update_fields_replaces_multiline_value_and_removes_with_none() -> None:
    new = update_fields(FILE, {"questions": "replaced", "source_locale": None})
    lines = new.split("\n")
    assert "  - I ordered by mistake" not in lines and "  - stop my order" not in lines
    assert "questions: replaced" in lines
    assert not any(line.startswith("source_locale:") for line in lines)
    parsed = parse(new)
    assert parsed.meta["updated"] == dt.date(2026, 1, 15)
    assert "source_locale" not in parsed.meta
    assert set(FILE.split("\n")) - set(lines) == {"  - I ordered by mistake", "  - stop my order",
                                                   "questions:", "source_locale: en"}


def test_update_fields_quotes_values_that_yaml_would_retype() -> None:
    new = update_fields(FILE, {"source_hash": "1234567890123456", "title": "Yes: really"})
    meta = parse(new).meta
    assert meta["source_hash"] == "1234567890123456"  # still a string, not an int
    assert meta["title"] == "Yes: really"


def test_update_fields_refuses_broken_front_matter() -> None:
    with pytest.raises(FrontMatterError):
        update_fields("no front matter\n", {"review": "human"})


# -- config --------------------------------------------------------------------------------


def test_load_config(tmp_path: Path) -> None:
    write_config(tmp_path, locales=("EN", "de_at", "de-AT", "fr"))
    cfg = load_config(tmp_path)
    assert cfg.locales == ["en", "de-AT", "fr"]  # normalized, duplicates dropped
    assert cfg.source_locale == "en"
    assert cfg.category_title("orders", "de-AT") == "Bestellungen"  # via 'de'
    assert cfg.category_title("orders", "fr") == "Orders"  # via the source locale
    assert cfg.category_title("gadgets", "de") == "gadgets"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (None, "not found"),
        ("name = [", "not valid TOML"),
        ('name = "x"\nsource_locale = "en"\nlocales = ["en", "xx"]\n[categories.a]\ntitle = {en = "A"}\n', "'xx'"),
        ('name = "x"\nsource_locale = "de"\nlocales = ["en"]\n[categories.a]\ntitle = {en = "A"}\n', "source_locale"),
        ('name = "x"\nsource_locale = "en"\nlocales = ["en"]\ncolour = "red"\n[categories.a]\ntitle = {en = "A"}\n',
         "colour"),
    ],
)
def test_bad_config_is_one_clear_error(tmp_path: Path, text: str | None, words: str) -> None:
    if text is not None:
        (tmp_path / "kb.toml").write_text(text, encoding="utf-8")
    with pytest.raises(KbError) as info:
        Library.load(tmp_path)
    assert "kb.toml" in str(info.value)
    assert words in str(info.value)
    assert "\n" not in str(info.value)


# -- the parse cache (Library.load with cache_dir, used by kb index) --------------------------------
def _same_library(a: Library, b: Library) -> None:
    assert len(a.articles) == len(b.articles)
    for x, y in zip(a.articles, b.articles, strict=True):
        assert x == y and x.path == y.path and x.meta.model_fields_set == y.meta.model_fields_set
        assert a.hash_of(x) == b.hash_of(y) == x.hash
    assert [str(p) for p in a.problems] == [str(p) for p in b.problems]


@pytest.fixture
def no_racy_window(monkeypatch: pytest.MonkeyPatch) -> None:
    from kb.content import changes

    monkeypatch.setattr(changes, "RACY_NS", 0)  # files written by the test count as settled


def _count_reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    import kb.content.library as library_mod

    reads: list[Path] = []
    original = library_mod.load_article

    def counting(path: Path, *args: object, **kwargs: object) -> object:
        reads.append(path)
        return original(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(library_mod, "load_article", counting)
    return reads


def test_parse_cache_gives_the_same_library_without_reading_files(center: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch,
                                                                  no_racy_window: None) -> None:
    (center / "en" / "orders" / "broken.md").write_text("---\nid: Bad Id\n---\nbody\n")
    plain = Library.load(center)
    assert plain.problems
    _same_library(plain, Library.load(center, cache_dir=tmp_path / "cache"))
    reads = _count_reads(monkeypatch)
    _same_library(plain, Library.load(center, cache_dir=tmp_path / "cache"))
    assert [p.name for p in reads] == ["broken.md"]  # a file with a problem is read (and reported) every time


def test_parse_cache_rereads_a_changed_file(center: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            no_racy_window: None) -> None:
    import os

    Library.load(center, cache_dir=tmp_path / "cache")
    path = center / "en" / "orders" / "cancel-order.md"
    before = path.stat()
    text = path.read_text()
    path.write_text(text.replace("free", "FREE"))  # same size; mtime put back: only ctime tells
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    reads = _count_reads(monkeypatch)
    library = Library.load(center, cache_dir=tmp_path / "cache")
    assert reads == [path]
    assert "Cancelling is FREE." in (library.get("cancel-order", "en") or pytest.fail()).body
    _same_library(Library.load(center), library)


def test_parse_cache_does_not_keep_a_file_modified_just_now(center: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    Library.load(center, cache_dir=tmp_path / "cache")  # every file was written a moment ago
    count = len(Library.load(center).articles)
    reads = _count_reads(monkeypatch)
    Library.load(center, cache_dir=tmp_path / "cache")
    assert len(reads) == count


@pytest.mark.parametrize("damage", ["flip", "truncate", "garbage", "version", "empty"])
def test_parse_cache_ignores_a_corrupt_or_foreign_cache(center: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        no_racy_window: None, damage: str) -> None:
    from kb.content.parsecache import MAGIC

    cache = tmp_path / "cache"
    Library.load(center, cache_dir=cache)
    files = sorted(cache.rglob("*.cache"))
    assert files
    for path in files:
        data = path.read_bytes()
        if damage == "flip":
            data = data[:-20] + bytes([data[-20] ^ 0x01]) + data[-19:]
        elif damage == "truncate":
            data = data[: len(data) // 2]
        elif damage == "garbage":
            data = MAGIC + b"\x00\xff" * 50
        elif damage == "version":
            data = MAGIC + b"0123456789abcdef" + data[len(MAGIC) + 16 :]
        else:
            data = b""
        path.write_bytes(data)
    plain = Library.load(center)
    reads = _count_reads(monkeypatch)
    _same_library(plain, Library.load(center, cache_dir=cache))
    assert len(reads) == len(plain.articles)  # nothing taken from the damaged cache
    reads.clear()
    Library.load(center, cache_dir=cache)  # rewritten whole by the load that ignored it
    assert reads == []


def test_markdown_files_lists_what_sorted_rglob_lists(tmp_path: Path) -> None:
    from kb.content.changes import markdown_files

    root = tmp_path / "en"
    for rel in ["a.md", "a-b.md", "a/b.md", "a/z/deep.md", "B.md", ".hidden.md", "é/ü.md", "notes.txt",
                "x.MD", "a b/c.md", "dir.md/inside.md"]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("x")
    (root / "linked").symlink_to(root / "a", target_is_directory=True)  # not descended into, as rglob
    (root / "alias.md").symlink_to(root / "a.md")
    assert markdown_files(root) == sorted(root.rglob("*.md"))
    assert root / "linked" / "b.md" not in markdown_files(root)


# -- what changed since a file table (kb/content/changes.py, used by kb index and --watch) ------------
def _table(library: Library) -> dict[str, tuple[tuple[int, int, int, int], str, str]]:
    from kb.content.changes import relative

    return {relative(a.path, library.root): (library.stats[a.path], a.locale, a.id) for a in library.articles}


def test_changes_since_a_table_are_read_with_their_translation_groups(center: Path, tmp_path: Path,
                                                                      no_racy_window: None) -> None:
    from kb.content.changes import find_changes, load_changed

    library = Library.load(center, cache_dir=tmp_path / "cache")
    table = _table(library)
    assert len(table) == len(library.articles) == 6
    found = find_changes(center, library.config, table)
    assert found is not None and found.changed == [] and found.removed == []

    cancel = center / "en" / "orders" / "cancel-order.md"
    cancel.write_text(cancel.read_text().replace("free", "free of charge"))
    (center / "en" / "orders" / "track-order.md").unlink()
    write(center, "en/returns/label.md", article_text("print-label", "Print a return label", "Use the link.\n",
                                                      category="returns"))
    found = find_changes(center, library.config, table)
    assert found is not None
    assert found.changed == ["en/orders/cancel-order.md", "en/returns/label.md"]
    assert found.removed == ["en/orders/track-order.md"] and found.count == 3

    changed = load_changed(center, found, table)
    assert changed is not None and changed.problems == []
    assert [(a.id, a.locale) for a in changed.articles] == [
        ("cancel-order", "de"), ("cancel-order", "en"), ("print-label", "en"), ("cancel-order", "fr")]
    assert changed.ids == {"cancel-order", "print-label", "track-order"} and changed.read == 4
    assert "Cancelling is free of charge." in changed.articles[1].body  # read again, not taken from the table
    assert "en/orders/track-order.md" not in changed.table and "en/returns/label.md" in changed.table
    assert changed.table == _table(Library.load(center, cache_dir=tmp_path / "cache"))
    after = find_changes(center, library.config, changed.table)
    assert after is not None and after.count == 0

    also = load_changed(center, find_changes(center, library.config, table) or pytest.fail(), table,
                        also=["start-a-return"])
    assert also is not None and also.read == 6 and "start-a-return" in also.ids


def test_changes_leave_a_file_written_just_now_out_of_the_table(center: Path, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from kb.content import changes

    monkeypatch.setattr(changes, "RACY_NS", 0)
    table = _table(Library.load(center, cache_dir=tmp_path / "cache"))
    monkeypatch.undo()  # every file was written a moment ago: none of them may enter a table now
    write(center, "en/returns/label.md", article_text("print-label", "Print a return label", "Use the link.\n",
                                                      category="returns"))
    found = changes.find_changes(center, load_config(center), table)
    assert found is not None and found.changed == ["en/returns/label.md"]
    changed = changes.load_changed(center, found, table)
    assert changed is not None and [a.id for a in changed.articles] == ["print-label"]
    assert "en/returns/label.md" not in changed.table  # so the next run reads it again


@pytest.mark.parametrize("folder", ["xx", "es"])  # no locale; a locale kb.toml does not enable
def test_changes_give_up_where_only_the_whole_help_center_can_say(center: Path, tmp_path: Path, folder: str,
                                                                 no_racy_window: None) -> None:
    from kb.content.changes import find_changes, load_changed

    library = Library.load(center, cache_dir=tmp_path / "cache")
    table = _table(library)
    write(center, "en/orders/cancel-copy.md", (center / "en" / "orders" / "cancel-order.md").read_text())
    found = find_changes(center, library.config, table)
    assert found is not None and found.changed == ["en/orders/cancel-copy.md"]
    assert load_changed(center, found, table) is None  # a duplicate id: which file wins is the library's call
    write(center, f"{folder}/a.md", article_text("a", "A", "Text.\n"))
    assert find_changes(center, library.config, table) is None
    assert [p.kind for p in Library.load(center).problems] == ["unknown-locale"]


def test_a_snapshot_tells_any_edit_to_what_a_build_reads(center: Path) -> None:
    from kb.content.changes import snapshot

    (center / "en" / "orders" / "box.png").write_bytes(b"\x89PNG")
    (center / "en" / ".notes.swp").write_text("editor state")
    before = snapshot(center)
    assert "kb.toml" in before and "en/orders/box.png" in before and "en/.notes.swp" not in before
    (center / "en" / ".notes.swp").write_text("more editor state")
    assert snapshot(center) == before
    for path in (center / "en" / "orders" / "box.png", center / "kb.toml", center / "de" / "orders" / "cancel-order.md"):
        path.write_bytes(path.read_bytes() + b"\n")
        now = snapshot(center)
        assert now != before and now[str(path.relative_to(center))] != before[str(path.relative_to(center))]
        before = now
