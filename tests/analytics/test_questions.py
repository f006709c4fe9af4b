"""Suggested questions from resolved searches: the rule (kb/analytics/questions.py) and `kb questions`."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
import zlib
from pathlib import Path

import numpy as np
import pytest
from helpers import write_help_center

from kb.analytics.questions import auto, decide, question_text, suggest
from kb.analytics.store import ResolvedSearch, open_store
from kb.cli import main
from kb.content.config import Questions
from kb.content.learned import load_learned
from kb.content.library import Library

T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


def bag_of_words(texts: list[str]) -> np.ndarray:
    """A plain embedder for the rule's tests: texts with the same words are the same meaning."""
    rows = np.zeros((len(texts), 256), dtype=np.float32)
    for i, text in enumerate(texts):
        for word in re.findall(r"\w+", text.lower()):
            rows[i, zlib.crc32(word.encode()) % 256] += 1
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-9)


def _r(query: str, article: str, client: str, locale: str = "en") -> ResolvedSearch:
    return ResolvedSearch(query, locale, article, client, T0, "stayed")


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Library:
    return Library.load(write_help_center(tmp_path_factory.mktemp("q") / "content"))


def test_question_text_drops_placeholders_and_too_short_queries() -> None:
    assert question_text("cancel purchase <number> now") == "cancel purchase now"
    assert question_text("refund to jan@example.com please") == "refund to please"
    assert question_text("<order>") is None and question_text("refund") is None
    assert question_text("x " * 150) is None


def test_one_client_alone_never_suggests(library: Library) -> None:
    rows = [_r("i want to stop my purchase", "cancel-order", "a")] * 5
    settings = Questions(min_clients=2)
    assert suggest(rows, library, bag_of_words, settings) == []
    found = suggest([*rows, _r("stop my purchase i want", "cancel-order", "b")], library, bag_of_words, settings)
    assert [(s.article, s.locale, s.question, s.clients, s.searches, s.confidence) for s in found] == [
        ("cancel-order", "en", "i want to stop my purchase", 2, 6, 1.0)]
    assert found[0].variants == ["stop my purchase i want"]


def test_confidence_is_the_share_of_clients_and_the_cap_holds(library: Library) -> None:
    rows = [_r("money back when", "refund-timing", c) for c in "abc"] + [_r("when money back", "cancel-order", "d")]
    rows += [_r(f"question number {w} about blik", "pay-with-blik", c) for w in ("one", "two", "three") for c in "xy"]
    found = suggest(rows, library, bag_of_words, Questions(per_article=2))
    refund = next(s for s in found if s.article == "refund-timing")
    assert (refund.clients, refund.confidence) == (3, 0.75)  # d found another article for the same meaning
    assert sum(s.article == "pay-with-blik" for s in found) == 2
    assert not any(s.article == "cancel-order" for s in found)  # one client
    assert [s.id for s in auto(found, Questions(accept_clients=3, accept_confidence=0.7))] == [refund.id]
    assert auto(found, Questions(accept_clients=3, accept_confidence=0.8)) == []
    assert auto(found, Questions(auto_accept=False, accept_clients=2, accept_confidence=0.1)) == []


def test_what_the_article_says_or_an_editor_rejected_is_not_suggested(library: Library, tmp_path: Path) -> None:
    rows = [_r("how do i cancel my order", "cancel-order", c) for c in "ab"]  # the title, in other case
    rows += [_r("how do i cancel an order fast", "cancel-order", c) for c in "cd"]
    rows += [_r("wie storniere ich", "cancel-order", c, "de") for c in "ef"]  # joins the German version
    found = suggest(rows, library, bag_of_words, Questions(similarity=0.95))
    assert sorted((s.locale, s.question) for s in found) == [("de", "wie storniere ich"),
                                                             ("en", "how do i cancel an order fast")]
    content = tmp_path / "content"
    write_help_center(content)
    decide(content, [s for s in found if s.locale == "en"], "rejected", "Ann")
    decided = load_learned(content)
    assert [(e.status, e.by, e.clients) for e in decided] == [("rejected", "Ann", 2)]
    again = [*rows, *[_r("how do i cancel an order fast please", "cancel-order", c) for c in "gh"]]
    assert [s.locale for s in suggest(again, library, bag_of_words, Questions(similarity=0.9), decided)] == ["de"]


def test_a_language_without_the_article_goes_to_the_version_served(library: Library) -> None:
    rows = [_r("gdzie jest moja paczka", "track-parcel", c, "pl") for c in "ab"]
    (s,) = suggest(rows, library, bag_of_words, Questions())
    assert (s.article, s.locale) == ("track-parcel", "en")  # no Polish version: English is served


# -- end to end: the store, `kb questions`, `kb index`, search -----------------------------------
def _replay(data: Path, query: str, article: str, clients: str) -> None:
    store = open_store(data)
    try:
        for n, client in enumerate(clients):
            sid = uuid.uuid4().hex
            store.log_query(endpoint="search", locale="en", query=query, decision="answer", confidence=0.5,
                            top_ids=[article, "other"], top_scores=[0.6, 0.5], served_machine=False,
                            served_fallback=False, generation="g", search_id=sid, tracks_clicks=True,
                            client=f"10.0.0.{ord(client)}|test", at=T0 + dt.timedelta(minutes=n))
            assert store.record_click(sid, article)
    finally:
        store.close()


@pytest.mark.slow
def test_kb_questions_from_the_log_to_the_index(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from kb.search.engine import Engine

    monkeypatch.delenv("KB_DATABASE_URL", raising=False)
    content, data = write_help_center(tmp_path / "content"), tmp_path / "data"
    args = ["-c", str(content), "-d", str(data), "-e", "use-multilingual"]
    assert main(["index", *args]) == 0
    _replay(data, "my bank app asks for six digits at the till 4111 1111 1111 1111", "pay-with-blik", "abc")
    _replay(data, "parcel stuck in customs", "track-parcel", "de")
    _replay(data, "undo purchase yesterday", "cancel-order", "f")  # one client: never suggested
    capsys.readouterr()
    assert main(["questions", "list", *args, "--format", "json"]) == 0
    listed = {s["article"]: s for s in json.loads(capsys.readouterr().out)}
    assert set(listed) == {"pay-with-blik", "track-parcel"}
    blik = listed["pay-with-blik"]
    assert blik["question"] == "my bank app asks for six digits at the till" and blik["clients"] == 3
    assert blik["auto"] and not listed["track-parcel"]["auto"]  # 2 clients: below accept_clients = 3
    assert main(["questions", "auto", *args]) == 0
    assert "1 accepted automatically" in capsys.readouterr().out
    assert main(["questions", "reject", listed["track-parcel"]["id"], *args, "--by", "Ann"]) == 0
    assert main(["questions", "accept", "deadbeef", *args]) == 2
    assert [(e.article, e.status, e.by) for e in sorted(load_learned(content), key=lambda e: e.article)] == [
        ("pay-with-blik", "accepted", "auto"), ("track-parcel", "rejected", "Ann")]
    assert main(["questions", "list", *args]) == 0
    assert "no suggested questions" in capsys.readouterr().out
    assert main(["index", *args]) == 0
    hits = Engine(data).search("my bank app asks for six digits at the till", lang="en", k=3).hits
    assert hits[0].id == "pay-with-blik"
    assert main(["questions", "write-back", "-c", str(content)]) == 0
    text = (content / "en" / "payments" / "pay-with-blik.md").read_text()
    assert "  - my bank app asks for six digits at the till\n" in text and "4111" not in text
