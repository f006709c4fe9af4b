"""Learned questions in learned-questions.toml: read, attached to their article, indexed, written back."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from helpers import write_help_center

from kb.content import changes
from kb.content.frontmatter import parse
from kb.content.learned import LEARNED_NAME, LearnedQuestion, load_learned, save_learned, with_questions, write_back
from kb.content.library import Library
from kb.errors import KbError
from kb.search.index.records import passage_key
from kb.search.passages import passages

DAY = dt.date(2026, 12, 6)


def _q(text: str, status: str = "accepted", article: str = "cancel-order", locale: str = "en") -> LearnedQuestion:
    return LearnedQuestion(article, locale, text, status, "auto", DAY, 3, 0.9)  # type: ignore[arg-type]


def test_decisions_round_trip_through_the_file(tmp_path: Path) -> None:
    entries = [_q('can I cancel "order" \\ now?'), _q("stop it", "rejected"), _q("wo ist mein paket", locale="de")]
    save_learned(tmp_path, entries + [_q("STOP   it", "accepted")])  # same id as "stop it": the last wins
    loaded = load_learned(tmp_path)
    assert sorted(e.question for e in loaded) == ['STOP it', 'can I cancel "order" \\ now?', "wo ist mein paket"]
    assert {e.id for e in loaded} == {e.id for e in entries}
    assert next(e for e in loaded if e.question == "STOP it").status == "accepted"
    assert load_learned(tmp_path / "none") == []


@pytest.mark.parametrize(("text", "message"), [
    ("[[question]]\narticle = 1", "question 1: field article"),
    ('[[question]]\narticle = "a"\nlocale = "en"\nquestion = "q"\nstatus = "maybe"', "field status"),
    ('[[question]]\narticle = "a"\nlocale = "en"\nquestion = "q"\nstatus = "accepted"\nwho = "x"', "unknown field 'who'"),
    ('[[question]]\narticle = "a"\nlocale = "en"\nquestion = "q"\nstatus = "accepted"\nconfidence = 2', "confidence"),
    ("[other]\nx = 1", "only [[question]] tables"),
    ("[[question]\n", "not valid TOML"),
])
def test_a_bad_file_is_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / LEARNED_NAME).write_text(text)
    with pytest.raises(KbError) as err:
        load_learned(tmp_path)
    assert LEARNED_NAME in str(err.value) and message in str(err.value) and "\n" not in str(err.value)


def test_accepted_questions_join_their_article_and_its_passages(tmp_path: Path) -> None:
    content = write_help_center(tmp_path / "content")
    plain = Library.load(content)
    before = plain.get("cancel-order", "en")
    assert before is not None and before.learned == []
    save_learned(content, [_q("how to cancel purchase"), _q("can i stop an ORDER?"), _q("refund me", "rejected"),
                           _q("ghost", article="no-such-article")])
    library = Library.load(content, cache_dir=tmp_path / "cache")
    article = library.get("cancel-order", "en")
    assert article is not None
    assert article.learned == ["how to cancel purchase"]  # the front matter has "Can I stop an order?"
    assert article.questions == ["Can I stop an order?", "how to cancel purchase"]
    assert article.meta.questions == ["Can I stop an order?"]  # the front matter as written
    assert library.get("cancel-order", "de").learned == []  # type: ignore[union-attr]
    assert "how to cancel purchase" in [p.text for p in passages(article)]
    assert passage_key(article, "v") != passage_key(before, "v")
    (warning,) = [p for p in library.problems if p.kind == "learned-questions"]
    assert warning.severity == "warning" and "no-such-article" in warning.message


def test_a_broken_file_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    content = write_help_center(tmp_path / "content")
    (content / LEARNED_NAME).write_text("[[question]\n")
    library = Library.load(content)
    assert len(library.articles) == 5
    (problem,) = [p for p in library.problems if p.kind == "learned-questions"]
    assert problem.severity == "error" and "not valid TOML" in problem.message


def test_with_questions_keeps_every_other_line() -> None:
    text = ("---\nid: a\ntitle: T\n# a comment\nquestions:\n  - first?\n  - 'second: quoted'\ncategory: c\n"
            "updated: 2026-01-01\n---\nBody\n\n---\nnot front matter\n")
    out = with_questions(text, ["First?", "third: with colon", "fourth"])
    assert out.replace("  - 'third: with colon'\n  - fourth\n", "") == text
    meta = parse(out).meta
    assert meta["questions"] == ["first?", "second: quoted", "third: with colon", "fourth"]
    assert with_questions(out, ["FOURTH"]) == out
    bare = "---\nid: a\ntitle: T\n---\nBody\n"
    assert parse(with_questions(bare, ["new?"])).meta["questions"] == ["new?"]
    flow = "---\nid: a\nquestions: [one, two]\ntitle: T\n---\nBody\n"
    assert with_questions(flow, ["three"]) == "---\nid: a\nquestions:\n  - one\n  - two\n  - three\ntitle: T\n---\nBody\n"


def test_write_back_moves_accepted_questions_into_the_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(changes, "RACY_NS", 0)
    content = write_help_center(tmp_path / "content")
    path = content / "en" / "orders" / "cancel-order.md"
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))  # an editor on Windows
    before = path.read_bytes().decode()
    save_learned(content, [_q("how to cancel purchase"), _q("refund me", "rejected"),
                           _q("where is my refund", article="refund-timing")])
    done = write_back(Library.load(content).articles, content, article_id="cancel-order")
    assert [(d.article, d.locale, d.questions) for d in done] == [("cancel-order", "en", ["how to cancel purchase"])]
    after = path.read_bytes().decode()
    assert "\r\n" in after and "\n" not in after.replace("\r\n", "")
    assert after.replace("  - how to cancel purchase\r\n", "") == before
    assert sorted((e.article, e.status) for e in load_learned(content)) == [
        ("cancel-order", "rejected"), ("refund-timing", "accepted")]
    reloaded = Library.load(content).get("cancel-order", "en")
    assert reloaded is not None and reloaded.meta.questions[-1] == "how to cancel purchase" and reloaded.learned == []
    assert write_back(Library.load(content).articles, content, article_id="cancel-order") == []


def test_kb_index_picks_up_a_changed_sidecar_and_a_removed_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kb.search.embedders import get_embedder
    from kb.search.index import delta, load_index
    from kb.search.update import update_index

    monkeypatch.setattr(changes, "RACY_NS", 0)  # as tests/search/test_update.py: deltas on a small help center
    monkeypatch.setattr(delta, "DELTA_MIN", 1)
    monkeypatch.setattr(delta, "DELTA_MAX", 1.0)
    content, data = write_help_center(tmp_path / "content"), tmp_path / "data"
    embedder = get_embedder("use-multilingual")

    def questions() -> set[str]:
        index = load_index(data)
        return {p.text for row, p in enumerate(index.passages) if index.live(row) and p.kind == "question"}

    update_index(content, data, embedder)
    plain = questions()
    assert update_index(content, data, embedder).quick  # nothing changed: the quick path
    save_learned(content, [_q("how to cancel purchase")])
    assert not update_index(content, data, embedder).quick
    assert questions() == plain | {"how to cancel purchase"}
    (content / LEARNED_NAME).unlink()
    assert not update_index(content, data, embedder).quick
    assert questions() == plain
