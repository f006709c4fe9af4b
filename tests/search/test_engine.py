"""The query pipeline on a small help center with the real default embedder."""

from __future__ import annotations

from pathlib import Path

import pytest

from kb.search.engine import Engine, QueryError, normalize_query


@pytest.fixture(scope="module")
def engine(small_index: tuple[Path, Path]) -> Engine:
    return Engine(small_index[1])


def test_polish_query_finds_english_only_article_flagged_fallback(engine: Engine) -> None:
    result = engine.search("Jak zapłacić kodem BLIK?", lang="pl")
    top = result.hits[0]
    assert top.id == "pay-with-blik"
    assert top.locale == "en" and top.fallback is True and top.machine_translated is False
    assert result.locale == "pl"


def test_turkish_query_detected_and_served_in_english(engine: Engine) -> None:
    result = engine.search("Kargom nerede, paketimi nasıl takip ederim?")
    assert result.locale == "tr" and result.locale_from == "detected"
    assert result.hits[0].id == "track-parcel"
    assert result.hits[0].fallback is True


def test_german_query_gets_german_version(engine: Engine) -> None:
    result = engine.search("Bestellung stornieren", lang="de")
    top = result.hits[0]
    assert (top.id, top.locale, top.fallback) == ("cancel-order", "de", False)
    assert top.url == "http://help.test/de/orders/cancel-order/" or top.url.startswith(
        "http://help.test/de/orders/cancel-order/#")


def test_german_version_served_even_when_english_passage_scores_higher(engine: Engine) -> None:
    # An English query with lang=de: the English passages match best, the German version is served.
    result = engine.search("How do I cancel my order?", lang="de")
    top = result.hits[0]
    assert top.id == "cancel-order"
    assert top.matched_locale == "en"
    assert top.locale == "de" and not top.fallback


def test_machine_draft_is_flagged(engine: Engine) -> None:
    result = engine.search("Wann bekomme ich mein Geld zurück?", lang="de")
    hit = next(h for h in result.hits if h.id == "refund-timing")
    assert hit.locale == "de" and hit.machine_translated is True and hit.review == "machine"


def test_accept_language_negotiation(engine: Engine) -> None:
    result = engine.search("cancel", accept_language="fr-CH, de-AT;q=0.9, en;q=0.5")
    assert result.locale == "de" and result.locale_from == "accept-language"
    result = engine.search("cancel", accept_language="ja, zh;q=0.8")
    assert result.locale_from in ("detected", "default")


def test_lang_parameter_wins_over_header(engine: Engine) -> None:
    result = engine.search("cancel order", lang="pl", accept_language="de")
    assert (result.locale, result.locale_from) == ("pl", "lang")


def test_snippet_highlights_query_terms(engine: Engine) -> None:
    hit = engine.search("BLIK code", lang="en").hits[0]
    assert "<mark>BLIK</mark>" in hit.snippet_html
    assert "<" not in hit.snippet


def test_category_filter(engine: Engine) -> None:
    result = engine.search("BLIK", lang="en", category="orders")
    assert result.hits and all(h.category == "orders" for h in result.hits)


@pytest.mark.parametrize(("kwargs", "param"), [
    ({"query": ""}, "q"), ({"query": "x" * 501}, "q"), ({"query": "ok", "k": 0}, "k"),
    ({"query": "ok", "k": 51}, "k"), ({"query": "ok", "category": "nope"}, "category"),
])
def test_bad_queries_name_the_parameter(engine: Engine, kwargs: dict, param: str) -> None:
    query = kwargs.pop("query")
    with pytest.raises(QueryError) as err:
        engine.search(query, **kwargs)
    assert err.value.param == param


def test_unknown_lang_is_an_error(engine: Engine) -> None:
    from kb.search.detect import BadLocale

    with pytest.raises(BadLocale, match="lang"):
        engine.search("cancel", lang="xx")
    with pytest.raises(BadLocale, match="not served"):
        engine.search("cancel", lang="ja")


def test_off_topic_question_is_handed_off_with_support(engine: Engine) -> None:
    result = engine.search("Wake me up at seven tomorrow with my favourite playlist", lang="en")
    assert result.decision == "handoff"
    assert result.support is not None and result.support["channels"]


def test_answer_for_chatbots(engine: Engine) -> None:
    out = engine.answer("How can I cancel my order?", lang="en")
    assert out.decision == "answer"
    assert out.answer is not None and out.answer.id == "cancel-order" and "Cancel order" in out.answer.markdown
    assert out.citations[0].url.startswith("http://help.test/en/orders/cancel-order/")
    assert 0.0 <= out.confidence <= 1.0


def test_suggest_prefers_title_prefix(engine: Engine) -> None:
    titles = [s.title for s in engine.suggest("How do I pay", lang="en").suggestions]
    assert titles[0] == "How do I pay with BLIK?"


def test_suggest_matches_word_prefixes_as_you_type(engine: Engine) -> None:
    first = engine.suggest("canc", lang="en").suggestions[0]
    assert first.id == "cancel-order" and first.locale == "en"
    german = engine.suggest("Bestellung stor", lang="de").suggestions[0]
    assert (german.id, german.locale, german.fallback) == ("cancel-order", "de", False)


def test_answer_reports_the_generation_it_used(engine: Engine) -> None:
    out = engine.answer("BLIK code", lang="en")
    assert out.generation == engine.index.generation


def test_clarify_offers_choices_and_a_person(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    import kb.search.decision as decision
    import kb.search.engine as eng

    # force the middle band so the clarify branch is exercised whatever the scores are
    monkeypatch.setattr(decision, "ANSWER_AT", 1.01)
    monkeypatch.setattr(decision, "HANDOFF_BELOW", 0.0)
    monkeypatch.setattr(eng, "RELEVANCE_MARGIN", 1.0)  # and keep the runner-ups, however far behind
    out = engine.answer("order", lang="en")
    assert out.decision == "clarify" and out.answer is None
    assert len(out.alternatives) >= 2 and out.support is not None and out.support["channels"]


def test_repeated_query_reuses_its_vector_with_the_same_result(engine: Engine) -> None:
    query = "Wie lange dauert die Rückerstattung bei Zahlung per Karte?"
    first = engine.search(query, lang="de")
    calls: list[list[str]] = []
    real = engine.embedder.encode_queries

    def counting(texts: list[str]):
        calls.append(texts)
        return real(texts)

    engine.embedder.encode_queries = counting  # type: ignore[method-assign]
    try:
        again = engine.search(query, lang="de")
        other = engine.search(query + " Danke", lang="de")
    finally:
        del engine.embedder.encode_queries
    assert calls == [[normalize_query(query + " Danke")]]  # the repeat did not embed, the new query did
    assert [(h.id, h.score) for h in again.hits] == [(h.id, h.score) for h in first.hits]
    assert other.hits


@pytest.mark.parametrize("slots", [1, 3])
def test_no_more_searches_run_at_once_than_the_slots(small_index: tuple[Path, Path], slots: int,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """KB_SEARCH_SLOTS searches run at once in a process; the others wait their turn and are
    answered all the same (answers and suggestions are searches too)."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setenv("KB_SEARCH_SLOTS", str(slots))
    engine = Engine(small_index[1])
    assert engine.slots == slots
    running, most, lock = 0, 0, threading.Lock()
    real = engine.embedder.encode_queries

    def slow(texts: list[str]):
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.05)
        try:
            return real(texts)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(engine.embedder, "encode_queries", slow)
    asks = [lambda i=i: engine.search(f"refund by card, order {i}", lang="en") for i in range(4)]
    asks += [lambda i=i: engine.answer(f"how do I return a parcel {i}", lang="en") for i in range(2)]
    asks += [lambda i=i: engine.suggest(f"ship{'p' * i}", lang="en") for i in range(2)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda ask: ask(), asks))
    assert most == slots
    assert all(r.hits for r in results[:4])
    assert all(r.decision for r in results[4:6])
