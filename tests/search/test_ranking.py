"""Results a shopper can scan (issue 16): punctuation does not move the ranking, a relevance cut
with the count, suggestions that go on from what was typed, snippets in the served locale from
the section that matched, no stop words marked. The small help center of tests/helpers.py with
the real default embedder."""

from __future__ import annotations

from pathlib import Path

import pytest

from kb.search.engine import RELEVANCE_MARGIN, Engine, normalize_query, within_margin
from kb.search.rare import rare_term_articles
from kb.search.snippets import query_terms, snippet


@pytest.fixture(scope="module")
def engine(small_index: tuple[Path, Path]) -> Engine:
    return Engine(small_index[1])


def _ranking(engine: Engine, query: str, lang: str) -> list[tuple[str, float]]:
    return [(h.id, h.score) for h in engine.search(query, lang=lang, cut=False).hits]


@pytest.mark.parametrize(("plain_query", "variants", "lang"), [
    ("How do I cancel my order", ["How do I cancel my order?", "How do I cancel my order ?!", "(How do I cancel my order)"], "en"),
    ("jak zwrucic towar", ["jak zwrucic towar?", "jak zwrucic towar...", "„jak zwrucic towar”"], "pl"),
    ("Wo ist mein Paket", ["Wo ist mein Paket?", "¿Wo ist mein Paket?!"], "de"),
])
def test_punctuation_does_not_change_the_ranking(engine: Engine, plain_query: str, variants: list[str], lang: str) -> None:
    expected = engine.search(plain_query, lang=lang, cut=False)
    for variant in variants:
        got = engine.search(variant, lang=lang, cut=False)
        assert [(h.id, h.score) for h in got.hits] == [(h.id, h.score) for h in expected.hits], variant
        assert (got.decision, got.confidence) == (expected.decision, expected.confidence)


def test_punctuation_inside_words_is_kept() -> None:
    assert normalize_query("e-mail for KM-1234, 3.5 kg?") == "e-mail for KM-1234 3.5 kg"
    assert normalize_query("«Klarna» ¿Cómo pago?") == "Klarna Cómo pago"
    assert normalize_query("?!") == "?!"  # nothing but punctuation stays as typed


def test_relevance_cut_keeps_only_the_head_and_counts_it(engine: Engine) -> None:
    full = engine.search("BLIK code", lang="en", cut=False)
    cut = engine.search("BLIK code", lang="en")
    assert cut.hits[0].id == "pay-with-blik"
    best = full.hits[0].score
    kept = [h.id for h in full.hits if h.score >= best - RELEVANCE_MARGIN]
    assert [h.id for h in cut.hits][:len(kept)] == kept and cut.count == len(cut.hits)
    for hit in cut.hits[len(kept):]:  # below the margin only when its text has the rare term
        assert "blik" in engine.article(hit.id, "en")[0].body.lower(), hit.id
    assert len(cut.hits) < len(full.hits)  # the unrelated tail is gone
    assert (cut.decision, cut.confidence) == (full.decision, full.confidence)


def test_a_rare_term_keeps_its_articles_below_the_margin(engine: Engine) -> None:
    assert rare_term_articles(engine.index, "BLIK code", ["en"]) == {"pay-with-blik"}
    ranked = [("a", 1.0), ("b", 0.5), ("c", 0.4)]
    assert within_margin(ranked, keep={"c"}) == [("a", 1.0), ("c", 0.4)]


def test_count_is_the_whole_head_when_k_is_smaller(engine: Engine) -> None:
    result = engine.search("order", lang="en", k=1)
    head = engine.search("order", lang="en", k=50)  # the whole head within the cut
    assert len(result.hits) == 1
    assert result.count == len(head.hits) == head.count >= 1


def test_nonsense_suggests_nothing(engine: Engine) -> None:
    for typed in ("xyzzy", "asdfgh", "qwertz uiop", "xyzzy?", "blorf zquux."):
        out = engine.suggest(typed, lang="en")
        assert (out.suggestions, out.decision) == ([], "handoff"), typed


def test_suggestions_carry_the_search_decision(engine: Engine) -> None:
    for typed in ("How do I cancel my order", "BLIK code"):
        out = engine.suggest(typed, lang="en")
        assert out.decision == engine.search(typed, lang="en").decision != "handoff", typed
        assert out.suggestions and (out.locale, out.locale_from) == ("en", "lang")


def test_a_word_being_typed_is_completed_from_the_titles(engine: Engine) -> None:
    assert [s.id for s in engine.suggest("How do I p", lang="en").suggestions][:1] == ["pay-with-blik"]
    offered = engine.suggest("How do I c", lang="en").suggestions
    assert offered[0].id == "cancel-order"
    assert "pay-with-blik" not in [s.id for s in offered]  # no P-word here: not offered for a C
    german = engine.suggest("Wie storniere ich meine B", lang="de").suggestions
    assert (german[0].id, german[0].locale) == ("cancel-order", "de")


def test_a_match_in_another_locale_shows_its_counterpart_section(engine: Engine) -> None:
    # the English "After dispatch" section matches; the German version's same section is shown
    hit = engine.search("Once shipped, an order cannot be cancelled; return it instead", lang="de").hits[0]
    assert (hit.id, hit.locale, hit.matched_locale) == ("cancel-order", "de", "en")
    assert hit.anchor == "nach-dem-versand" and hit.url.endswith("#nach-dem-versand")
    assert hit.section == "Nach dem Versand"  # the heading in the served locale, not "After dispatch"
    assert hit.snippet.startswith("Nach dem Versand kann eine Bestellung nicht mehr storniert werden")


def test_the_section_holding_the_query_word_is_shown(engine: Engine) -> None:
    hit = next(h for h in engine.search("card", lang="en").hits if h.id == "refund-timing")
    assert hit.anchor == "card-payments"
    assert "<mark>card</mark>" in hit.snippet_html


def test_stop_words_are_not_marked() -> None:
    assert query_terms("Na jaki adres wysyłacie?", "pl", "pl") == query_terms("adres wysyłacie", "pl", "pl")
    _, html = snippet("Na paczkę czekamy pod adresem dostawy. Adres zmienią Państwo na koncie.",
                      "Na jaki adres", "pl", "pl")
    assert "<mark>Na</mark>" not in html and "<mark>na</mark>" not in html
    assert "<mark>Adres</mark>" in html
    # a Polish stop word typed against an English snippet is not marked either
    _, english = snippet("Enter the address: Na is not a word here", "na adres", "en", "pl")
    assert "<mark>" not in english
