"""Scripts without spaces and scripts with combining marks (issue 15, item 5): words, BM25,
snippets with their marks, and suggestions in Chinese, Thai, Arabic, Greek, Hindi and Russian."""

from __future__ import annotations

import html
import re

import pytest
from helpers import write_scripts_center

from kb.search import scripts
from kb.search.lexical import Lexical, tokenize, words
from kb.search.snippets import SNIPPET_CHARS, marked, query_terms, snippet

SENTENCES = {
    "zh": "如果您想退货，请在订单页面点击退货按钮。",
    "th": "หากต้องการคืนสินค้า กรุณากดปุ่มในหน้าคำสั่งซื้อ",
    "ar": "يمكنك إرجاعُ المنتجات خلال ثلاثين يومًا.",
    "el": "Μπορείτε να επιστρέψετε τα Προϊόντα μέσα σε τριάντα ημέρες.",
    "hi": "आप तीस दिनों के भीतर उत्पाद वापस कर सकते हैं।",
    "ru": "Вы можете вернуть Товары в течение тридцати дней.",
}


def _marked_texts(text: str, query: str, locale: str) -> list[str]:
    return re.findall(r"<mark>(.*?)</mark>", snippet(text, query, locale)[1])


# -- words ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("locale", "expected"), [
    ("hi", ["आप", "तीस", "दिनों", "के", "भीतर", "उत्पाद", "वापस", "कर", "सकते", "हैं"]),
    ("ru", ["можете", "вернуть", "товары", "течение", "тридцати", "дней"]),  # stop words dropped
    ("el", ["μπορείτε", "να", "επιστρέψετε", "τα", "προϊόντα", "μέσα", "σε", "τριάντα", "ημέρες"]),
    ("ar", ["يمكنك", "إرجاع", "المنتجات", "خلال", "ثلاثين", "يوما"]),  # harakat and tanwin dropped
])
def test_words_of_spaced_scripts_stay_whole_and_lowercase(locale: str, expected: list[str]) -> None:
    assert words(SENTENCES[locale], locale) == expected


def test_words_keep_their_combining_marks() -> None:
    # Python's \w alone parts Devanagari and Thai letters from their vowel signs
    assert re.findall(r"\w+", "उत्पाद") != ["उत्पाद"]
    assert scripts.WORD.findall("उत्पाद वापस") == ["उत्पाद", "वापस"]
    assert scripts.WORD.findall("ที่นี่ ok_go") == ["ที่นี่", "ok", "go"]


@pytest.mark.parametrize(("locale", "inside"), [
    ("zh", ["退货", "订单", "页面", "按钮"]),
    ("th", ["คืนสินค้า", "หน้า", "คำสั่งซื้อ"]),
])
def test_words_inside_an_unspaced_sentence_are_found_as_bigrams(locale: str, inside: list[str]) -> None:
    tokens = tokenize(SENTENCES[locale], locale)
    for word in inside:
        assert set(tokenize(word, locale)) <= set(tokens), word  # (NFKC splits Thai's sara am)
    # and a word that is not in the sentence is not
    assert not set(tokenize("发票" if locale == "zh" else "ใบเสร็จ", locale)) <= set(tokens)


def test_mixed_runs_and_single_characters() -> None:
    assert scripts.grams("iphone15手机壳") == ["iphone15", "手机", "机壳"]
    assert scripts.grams("货") == ["货"]
    assert tokenize("退", "zh") == ["退"]


def test_inflections_meet_through_stemming() -> None:
    assert set(tokenize("товары", "ru")) == set(tokenize("товар", "ru"))
    assert set(tokenize("προϊόντα", "el")) == set(tokenize("ΠΡΟΪΟΝΤΑ", "el"))
    assert set(tokenize("المنتجات", "ar")) == set(tokenize("المُنتجات", "ar"))


# -- BM25 ----------------------------------------------------------------------------------------
PASSAGES = {
    "zh": (["我们提供免费送货服务。", "如果您想退货，请在订单页面点击退货按钮。", "付款方式包括银行卡和支付宝。"], "退货"),
    "th": (["เราจัดส่งฟรีทั่วประเทศ", "หากต้องการคืนสินค้า กรุณากดปุ่มในหน้าคำสั่งซื้อ", "ชำระเงินด้วยบัตรเครดิตได้"], "คืนสินค้า"),
    "ar": (["نقدم شحنا مجانيا.", "يمكنك إرجاعُ المنتجات خلال ثلاثين يومًا.", "يمكنك الدفع بالبطاقة."], "المنتج"),
    "el": (["Η αποστολή είναι δωρεάν.", "Μπορείτε να επιστρέψετε τα προϊόντα μέσα σε τριάντα ημέρες.",
            "Πληρώστε με κάρτα."], "προϊόντα"),
    "hi": (["हम मुफ्त शिपिंग देते हैं।", "आप तीस दिनों के भीतर उत्पाद वापस कर सकते हैं।", "आप कार्ड से भुगतान कर सकते हैं।"], "उत्पादों"),
    "ru": (["Доставка бесплатная.", "Вы можете вернуть товары в течение тридцати дней.", "Оплата картой."], "товар"),
}


@pytest.mark.parametrize("locale", sorted(PASSAGES))
def test_bm25_finds_the_passage_by_a_word_inside_it(locale: str) -> None:
    texts, query = PASSAGES[locale]
    lexical = Lexical.build(texts + ["A passage in English about returns."], [locale] * 3 + ["en"])
    found = lexical.search(query, locale)
    assert found and found[0][0] == 1, found
    assert all(row != 3 for row, _ in found)  # one locale's model only


# -- snippets and marks --------------------------------------------------------------------------
@pytest.mark.parametrize(("locale", "query", "expected"), [
    ("zh", "怎么退货", ["退货", "退货"]),
    ("th", "คืนสินค้าอย่างไร", ["คืนสินค้า"]),
    ("ar", "المنتج", ["المنتجات"]),
    ("el", "προϊόντα", ["Προϊόντα"]),
    ("hi", "उत्पाद", ["उत्पाद"]),
    ("ru", "товар", ["Товары"]),
])
def test_snippets_mark_whole_words(locale: str, query: str, expected: list[str]) -> None:
    assert _marked_texts(SENTENCES[locale], query, locale) == expected


@pytest.mark.parametrize("locale", ["th", "hi", "ar"])
def test_a_mark_never_parts_a_letter_from_its_marks(locale: str) -> None:
    text = SENTENCES[locale]
    # every piece of the text, even one starting or ending inside a letter's cluster, as a query
    for start in range(len(text)):
        for end in range(start + 2, min(len(text), start + 5) + 1):
            terms = query_terms(text[start:end], locale, locale)
            for a, b in marked(text, locale, terms):
                assert not scripts.MARK.match(text, a), (text[start:end], text[a:b])
                assert b == len(text) or not scripts.MARK.match(text, b), (text[start:end], text[a:b])


def test_thai_marks_need_more_than_one_bigram() -> None:
    # a lone Thai bigram is no word ("าร" turns up everywhere): it is not marked alone
    assert marked("การสั่งซื้อ", "th", {"าร"}) == []
    assert marked("การสั่งซื้อ", "th", {"สั", "ั่", "่ง"}) == [(3, 7)]


@pytest.mark.parametrize("locale", ["zh", "th"])
def test_a_long_unspaced_text_is_cut_near_the_mark_on_whole_characters(locale: str) -> None:
    filler, word = ("我们的服务" * 80, "退货") if locale == "zh" else ("บริการของเราที่ดี" * 40, "คืนสินค้า")
    text = filler + word + filler
    plain_text, marked_html = snippet(text, word, locale)
    assert f"<mark>{word}</mark>" in marked_html
    assert plain_text.startswith("…") and plain_text.endswith("…")
    body = plain_text.strip("…")
    assert len(body) <= SNIPPET_CHARS
    assert not scripts.MARK.match(body, 0)  # the cut parts no letter from its marks
    assert text.find(body) >= 0 and not scripts.MARK.match(text, text.find(body) + len(body))
    assert html.unescape(re.sub("</?mark>", "", marked_html)) == plain_text


# -- suggestions ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from kb.content.library import Library
    from kb.search.embedders import get_embedder
    from kb.search.engine import Engine
    from kb.search.index import build_index

    base = tmp_path_factory.mktemp("scripts")
    data = base / "data"
    build_index(Library.load(write_scripts_center(base / "content")), data, get_embedder())
    return Engine(data)


@pytest.mark.parametrize(("locale", "prefix", "title"), [
    ("zh", "如何退", "如何退货？"),
    ("zh", "包裹", "我的包裹在哪里？"),
    ("th", "คืนสิน", "คืนสินค้าอย่างไร"),
    ("th", "พัสดุของ", "พัสดุของฉันอยู่ที่ไหน"),
    ("ar", "كيف أُرج", "كيف أُرجع المنتجات؟"),
    ("ar", "أين طر", "أين طردي؟"),
    ("el", "Πώς επιστρέ", "Πώς επιστρέφω προϊόντα;"),
    ("hi", "मैं उत्पाद वाप", "मैं उत्पाद वापस कैसे करूँ?"),
    ("hi", "मेरा पार्स", "मेरा पार्सल कहाँ है?"),
    ("ru", "Как верн", "Как вернуть товары?"),
    ("ru", "Где моя пос", "Где моя посылка?"),
])
def test_suggestions_complete_a_prefix(engine, locale: str, prefix: str, title: str) -> None:  # type: ignore[no-untyped-def]
    got = engine.suggest(prefix, lang=locale).suggestions
    assert got and got[0].title == title, [s.title for s in got]


def test_bm25_in_the_engine_marks_the_chinese_snippet(engine) -> None:  # type: ignore[no-untyped-def]
    result = engine.search("退货", lang="zh", cut=False)
    hit = next(h for h in result.hits if h.id == "return-items")
    assert "<mark>退货</mark>" in hit.snippet_html
