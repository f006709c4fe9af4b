"""Contract of the HTTP API: every endpoint, every error shape, locales, flags and the query log.

One small help center (5 English articles; German versions of 3, one a machine draft, one stale)
is indexed once per session with the real default embedder.
"""

from __future__ import annotations

import logging
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from kb.analytics.store import Store, open_store
from kb.analytics.store import queries as queries_table
from kb.content.article import content_hash
from kb.content.library import Library
from kb.search.embedders import DEFAULT, get_embedder
from kb.search.engine import Engine
from kb.search.index import build_index
from kb.web.app import create_app
from kb.web.schemas import search_json
from kb.web.security import SecurityConfig

pytestmark = pytest.mark.slow

KB_TOML = """\
name = "Test Shop Help"
source_locale = "en"
locales = ["en", "de", "pl"]
base_url = "https://help.example"

[categories.orders]
title = { en = "Orders", de = "Bestellungen", pl = "Zamówienia" }
[categories.payments]
title = { en = "Payments", de = "Zahlung" }
[categories.shipping]
title = { en = "Shipping", de = "Versand", pl = "Wysyłka" }
[categories.returns]
title = { en = "Returns", de = "Rücksendungen", pl = "Zwroty" }

[support.en]
channels = ["E-mail: help@shop.example"]
hours = "Monday to Friday, 9:00-17:00"
timezone = "Europe/London"

[support.de]
channels = ["E-Mail: hilfe@shop.example"]
hours = "Montag bis Freitag, 9-17 Uhr"
timezone = "Europe/Berlin"
"""

EN: dict[str, tuple[str, str, list[str], str]] = {
    "cancel-order": ("orders", "How do I cancel my order?", ["Can I cancel an order?", "cancel my purchase"], """\
        Open **My account › Orders**, choose the order and select **Cancel order**. Cancelling is free
        until the order ships.

        ## After the order has shipped

        Once the parcel is on its way, you can no longer cancel it. Refuse the delivery or return it."""),
    "payment-methods": ("payments", "Which payment methods can I use?", ["How can I pay?", "Do you take PayPal?"], """\
        You can pay by credit or debit card, PayPal, Klarna or BLIK. The checkout shows every method
        available for your country.

        ## When you are charged

        Cards and PayPal are charged when the order ships."""),
    "track-order": ("shipping", "How do I track my parcel?", ["Where is my parcel?", "Where is my order?"], """\
        When your order ships, we e-mail you a tracking link. You can also follow the parcel in
        **My account › Orders › Track**.

        ## No updates yet?

        It can take 24 hours before the carrier shows the first scan."""),
    "return-item": ("returns", "How do I return an item?", ["Can I send something back?", "return policy"], """\
        You have 30 days to return an item. Print the free return label from **My account › Returns**
        and drop the parcel at any post office.

        ## Refunds

        We refund your money within 14 days of receiving the return."""),
    "change-address": ("orders", "Can I change my delivery address?", ["I entered the wrong address"], """\
        You can change the delivery address until the order ships: open the order and select
        **Change address**. After that, ask the carrier to redirect the parcel."""),
}

# (id, title, body, extra front matter lines); source_hash is filled in from the English version.
DE: list[tuple[str, str, str, str]] = [
    ("cancel-order", "Wie storniere ich meine Bestellung?", """\
        Öffnen Sie **Mein Konto › Bestellungen**, wählen Sie die Bestellung und dann **Bestellung
        stornieren**. Die Stornierung ist kostenlos, bis die Bestellung versendet wird.

        ## Nach dem Versand

        Ist das Paket unterwegs, können Sie nicht mehr stornieren. Senden Sie es zurück.""",
     "review: reviewed\nreviewed_by: anna\nreviewed_on: 2026-01-10\n"),
    ("track-order", "Wie verfolge ich mein Paket?", """\
        Wenn Ihre Bestellung versendet wird, schicken wir Ihnen einen Link zur Sendungsverfolgung.
        Sie können das Paket auch unter **Mein Konto › Bestellungen › Verfolgen** verfolgen.""",
     "review: machine\n"),
    ("return-item", "Wie sende ich einen Artikel zurück?", """\
        Sie haben 30 Tage Zeit für eine Rücksendung. Drucken Sie das kostenlose Rücksendeetikett aus.""",
     "STALE"),
]


def _write_help_center(root: Path) -> None:
    (root).mkdir(parents=True)
    (root / "kb.toml").write_text(KB_TOML, encoding="utf-8")
    hashes: dict[str, str] = {}
    for aid, (category, title, questions, body) in EN.items():
        body = textwrap.dedent(body).strip() + "\n"
        hashes[aid] = content_hash(title, body)
        qs = "".join(f"  - {q}\n" for q in questions)
        path = root / "en" / category / f"{aid}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"---\nid: {aid}\ntitle: {title}\ncategory: {category}\nquestions:\n{qs}"
                        f"updated: 2026-01-05\n---\n{body}", encoding="utf-8")
    for aid, title, body, extra in DE:
        category = EN[aid][0]
        source_hash = "0123456789abcdef" if extra == "STALE" else hashes[aid]
        extra = "" if extra == "STALE" else extra
        path = root / "de" / category / f"{aid}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"---\nid: {aid}\ntitle: {title}\ncategory: {category}\nupdated: 2026-01-06\n"
                        f"source_locale: en\nsource_hash: {source_hash}\n{extra}---\n"
                        f"{textwrap.dedent(body).strip()}\n", encoding="utf-8")


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Engine]:
    root = tmp_path_factory.mktemp("api")
    content, data = root / "content", root / "data"
    _write_help_center(content)
    library = Library.load(content)
    assert not library.problems, library.problems
    build_index(library, data, get_embedder(DEFAULT))
    return data, Engine(data)


@pytest.fixture(scope="session")
def store(built: tuple[Path, Engine]) -> Iterator[Store]:
    data, _ = built
    opened = open_store(data, f"sqlite:///{data / 'kb.sqlite'}")
    yield opened
    opened.close()


@pytest.fixture(scope="session")
def client(built: tuple[Path, Engine], store: Store) -> Iterator[TestClient]:
    data, engine = built
    with TestClient(create_app(data, engine=engine, store=store, security=SecurityConfig(rate=0))) as test_client:
        yield test_client


def _error(response: Any, status: int, param: str | None) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"param", "message"}, body
    assert body["error"]["param"] == param, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return str(body["error"]["message"])


HIT_KEYS = {"id", "locale", "title", "snippet", "snippet_html", "url", "anchor", "section", "category", "score",
            "machine_translated", "review", "stale", "fallback", "matched_locale"}
CITATION_KEYS = {"id", "title", "url", "locale", "score", "machine_translated", "review", "stale", "fallback"}


# -- /v1/search ----------------------------------------------------------------------------------
def test_search_contract(client: TestClient) -> None:
    r = client.get("/v1/search", params={"q": "How do I cancel my order?", "lang": "en", "k": 3})
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"query", "locale", "locale_from", "decision", "confidence", "count", "hits", "support",
                         "generation", "search_id"}
    assert body["locale"] == "en" and body["locale_from"] == "lang"
    assert body["decision"] in ("answer", "clarify", "handoff") and 0 <= body["confidence"] <= 1
    assert 1 <= len(body["hits"]) <= 3
    top = body["hits"][0]
    assert set(top) == HIT_KEYS
    assert top["id"] == "cancel-order" and top["locale"] == "en" and top["category"] == "orders"
    assert top["url"].startswith("https://help.example/en/orders/cancel-order/")
    assert not top["fallback"] and not top["machine_translated"] and top["review"] == "human"
    assert "<mark>" in top["snippet_html"] or top["snippet"]


def test_search_json_is_the_api_response(client: TestClient, built: tuple[Path, Engine]) -> None:
    """kb.web.schemas.search_json (for `kb search --json`) gives what GET /v1/search sends."""
    _, engine = built
    for params in ({"q": "Wie kann ich meine Bestellung stornieren?", "lang": "de", "k": 3},
                   {"q": "Wie hoch ist der Eiffelturm in Metern?", "lang": "de", "k": 2}):  # a handoff
        sent = client.get("/v1/search", params=params).json()
        made = search_json(engine.search(params["q"], lang=params["lang"], k=params["k"]), sent["search_id"])
        assert made == sent
        assert list(made) == list(sent) and list(made["hits"][0]) == list(sent["hits"][0])
    assert made["decision"] == "handoff" and made["support"]["locale"] == "de"


def test_german_query_is_served_the_german_version(client: TestClient) -> None:
    r = client.get("/v1/search", params={"q": "Wie kann ich meine Bestellung stornieren?", "lang": "de"})
    top = r.json()["hits"][0]
    assert (top["id"], top["locale"]) == ("cancel-order", "de")
    assert top["fallback"] is False and top["machine_translated"] is False
    assert top["review"] == "reviewed" and top["stale"] is False
    assert top["url"].startswith("https://help.example/de/orders/cancel-order/")


def test_english_only_article_served_to_polish_query_is_flagged_fallback(client: TestClient) -> None:
    r = client.get("/v1/search", params={"q": "Jakie metody płatności mogę wybrać? Czy mogę zapłacić PayPal?",
                                         "lang": "pl"})
    body = r.json()
    assert body["locale"] == "pl"
    top = body["hits"][0]
    assert (top["id"], top["locale"], top["fallback"]) == ("payment-methods", "en", True)
    # the Polish fallback page (Polish menus and contact, the English text): the site has one for every article
    assert top["url"].startswith("https://help.example/pl/payments/payment-methods/")


def test_machine_draft_is_flagged(client: TestClient) -> None:
    r = client.get("/v1/search", params={"q": "Wo ist mein Paket? Sendungsverfolgung", "lang": "de"})
    hit = next(h for h in r.json()["hits"] if h["id"] == "track-order")
    assert hit["locale"] == "de" and hit["machine_translated"] is True and hit["review"] == "machine"
    assert hit["fallback"] is False


def test_accept_language_negotiation(client: TestClient) -> None:
    q = {"q": "cancel order"}
    r = client.get("/v1/search", params=q, headers={"Accept-Language": "de-CH, de;q=0.9, en;q=0.5"})
    assert (r.json()["locale"], r.json()["locale_from"]) == ("de", "accept-language")
    r = client.get("/v1/search", params={**q, "lang": "pl"}, headers={"Accept-Language": "de"})
    assert (r.json()["locale"], r.json()["locale_from"]) == ("pl", "lang")
    r = client.get("/v1/search", params=q, headers={"Accept-Language": "ja, ko;q=0.5"})
    assert r.json()["locale_from"] in ("detected", "default")
    r = client.get("/v1/categories", headers={"Accept-Language": "pl-PL,pl;q=0.9"})
    assert r.json()["locale"] == "pl"


def test_search_category_filter(client: TestClient) -> None:
    r = client.get("/v1/search", params={"q": "order", "category": "returns", "lang": "en"})
    assert r.status_code == 200
    assert {h["category"] for h in r.json()["hits"]} == {"returns"}


def test_handoff_carries_the_support_contact(client: TestClient) -> None:
    body = client.post("/v1/answer", json={"question": "Wie hoch ist der Eiffelturm in Metern?", "lang": "de"}).json()
    assert body["decision"] == "handoff", body
    assert body["answer"] is None and body["citations"] == []
    assert body["support"] == {"locale": "de", "channels": ["E-Mail: hilfe@shop.example"],
                               "hours": "Montag bis Freitag, 9-17 Uhr", "timezone": "Europe/Berlin"}


@pytest.mark.parametrize(("params", "param"), [
    ({}, "q"),
    ({"q": ""}, "q"),
    ({"q": "   "}, "q"),
    ({"q": "\ufeff"}, "q"),  # blank to JSON Schema (ECMAScript) though not to Python's \S
    ({"q": "\u3000\x85"}, "q"),
    ({"q": "\x00"}, "q"),  # no visible character: control and format characters do not count
    ({"q": "\u200b"}, "q"),
    ({"q": "\u200b\u200d\u2060\ufeff\x1b"}, "q"),
    ({"q": "\U000e0001"}, "q"),  # above the pattern's reach: the validator catches it
    ({"q": "x" * 501}, "q"),
    ({"q": "refund", "lang": "zz"}, "lang"),
    ({"q": "refund", "lang": ""}, "lang"),
    ({"q": "refund", "lang": "not a locale!"}, "lang"),
    ({"q": "refund", "lang": "ja"}, "lang"),
    ({"q": "refund", "k": "0"}, "k"),
    ({"q": "refund", "k": "51"}, "k"),
    ({"q": "refund", "k": "ten"}, "k"),
    ({"q": "refund", "category": "nope"}, "category"),
])
def test_search_bad_input_names_the_parameter(client: TestClient, params: dict[str, str], param: str) -> None:
    _error(client.get("/v1/search", params=params), 422, param)


@pytest.mark.parametrize("q", ["\x00", "\u200b", "\u2060\ufeff", "\U000e0001"])
def test_invisible_queries_are_refused_everywhere(client: TestClient, q: str) -> None:
    for path in ("/v1/search", "/v1/suggest"):
        assert "visible character" in _error(client.get(path, params={"q": q}), 422, "q")
    assert "visible character" in _error(client.post("/v1/answer", json={"question": q}), 422, "question")


def test_control_and_format_characters_are_dropped_from_a_query(client: TestClient) -> None:
    body = client.get("/v1/search", params={"q": "\u200bcancel\x00 my\torder\u2060", "lang": "en"}).json()
    assert body["query"] == "cancel my order"
    assert body["hits"][0]["id"] == "cancel-order"


# -- /v1/answer ----------------------------------------------------------------------------------
def test_answer_contract(client: TestClient) -> None:
    r = client.post("/v1/answer", json={"question": "Wie storniere ich meine Bestellung?", "lang": "de"})
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"question", "locale", "locale_from", "decision", "confidence", "answer", "citations",
                         "alternatives", "support", "search_id"}
    assert body["locale"] == "de" and body["locale_from"] == "lang"
    assert body["decision"] == "answer" and body["support"] is None and len(body["search_id"]) == 32
    assert set(body["answer"]) == {"id", "title", "markdown", "text"}
    assert body["answer"]["id"] == "cancel-order" and "**Bestellung" in body["answer"]["markdown"]
    assert "**" not in body["answer"]["text"]
    assert [set(c) for c in body["citations"]] == [CITATION_KEYS]
    assert body["citations"][0]["locale"] == "de"
    assert all(set(c) == CITATION_KEYS for c in body["alternatives"])


def test_a_byte_order_mark_pasted_with_the_question_is_ignored(client: TestClient) -> None:
    r = client.post("/v1/answer", json={"question": "\ufeffWie storniere ich meine Bestellung?", "lang": "de"})
    assert r.status_code == 200
    assert r.json()["question"] == "Wie storniere ich meine Bestellung?"
    assert r.json()["answer"]["id"] == "cancel-order"


def test_answer_honours_accept_language(client: TestClient) -> None:
    r = client.post("/v1/answer", json={"question": "cancel my order"}, headers={"Accept-Language": "de"})
    assert (r.json()["locale"], r.json()["locale_from"]) == ("de", "accept-language")
    r = client.post("/v1/answer", json={"question": "cancel my order"})
    assert r.json()["locale_from"] in ("detected", "default")


def test_answer_citations_of_a_missing_translation_point_to_the_shoppers_page(client: TestClient) -> None:
    body = client.post("/v1/answer", json={"question": "Czy mogę zapłacić przez PayPal?", "lang": "pl"}).json()
    cited = body["citations"] + body["alternatives"]
    top = next(c for c in cited if c["id"] == "payment-methods")
    assert top["locale"] == "en" and top["fallback"] is True
    assert top["url"].startswith("https://help.example/pl/payments/payment-methods/")
    assert all(c["url"].startswith("https://help.example/pl/") for c in cited)


def test_a_click_on_an_answer_is_recorded(client: TestClient, store: Store) -> None:
    body = client.post("/v1/answer", json={"question": "How do I cancel my order?", "lang": "en", "track": True}).json()
    assert body["decision"] == "answer"
    click = {"search_id": body["search_id"], "article_id": body["citations"][0]["id"]}
    assert client.post("/v1/click", json=click).json() == {"recorded": True}
    row = next(r for r in store.list_queries(limit=5) if r["search_id"] == body["search_id"])
    assert (row["endpoint"], row["tracks_clicks"], row["clicked_id"], row["clicked_rank"]) == (
        "answer", True, "cancel-order", 1)


def test_clarify_carries_the_contact_in_search_and_answer(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    import kb.search.decision as decision

    monkeypatch.setattr(decision, "ANSWER_AT", 1.01)  # the middle band, whatever the scores
    monkeypatch.setattr(decision, "HANDOFF_BELOW", 0.0)
    search = client.get("/v1/search", params={"q": "Wie storniere ich meine Bestellung?", "lang": "de"}).json()
    answer = client.post("/v1/answer", json={"question": "Wie storniere ich meine Bestellung?", "lang": "de"}).json()
    for body in (search, answer):
        assert body["decision"] == "clarify"
        assert body["support"] is not None and body["support"]["channels"] == ["E-Mail: hilfe@shop.example"]
    monkeypatch.undo()
    assert client.get("/v1/search", params={"q": "Wie storniere ich meine Bestellung?", "lang": "de"}).json()[
        "support"] is None  # an answer needs no contact


@pytest.mark.parametrize(("kwargs", "status", "param"), [
    ({"content": b'{"question": "x"', "headers": {"content-type": "application/json"}}, 400, "body"),
    ({"content": b"", "headers": {"content-type": "application/json"}}, 422, "body"),
    ({"content": b'{"question": "x"}', "headers": {"content-type": "text/plain"}}, 422, "body"),
    ({"json": ["question"]}, 422, "body"),
    ({"json": {}}, 422, "question"),
    ({"json": {"question": 5}}, 422, "question"),
    ({"json": {"question": ""}}, 422, "question"),
    ({"json": {"question": " \n "}}, 422, "question"),
    ({"json": {"question": "\ufeff"}}, 422, "question"),
    ({"json": {"question": "\x00"}}, 422, "question"),
    ({"json": {"question": "\u200b \u2060"}}, 422, "question"),
    ({"json": {"question": "\U000e0001\U000e0020"}}, 422, "question"),
    ({"json": {"question": "x" * 501}}, 422, "question"),
    ({"json": {"question": "refund", "lang": "xx-bad!"}}, 422, "lang"),
    ({"json": {"question": "refund", "lang": 7}}, 422, "lang"),
    ({"json": {"question": "refund", "lang": ""}}, 422, "lang"),
    ({"json": {"question": "refund", "extra": 1}}, 422, "extra"),
])
def test_answer_bad_input_names_the_field(client: TestClient, kwargs: dict[str, Any], status: int, param: str) -> None:
    _error(client.post("/v1/answer", **kwargs), status, param)


def test_body_over_16_kib_is_refused(client: TestClient) -> None:
    big = b'{"question": "' + b"a" * 17_000 + b'"}'
    _error(client.post("/v1/answer", content=big, headers={"content-type": "application/json"}), 413, "body")

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while reading
        yield b'{"question": "'
        for _ in range(20):
            yield b"a" * 1024
        yield b'"}'

    _error(client.post("/v1/answer", content=chunks(), headers={"content-type": "application/json"}), 413, "body")


# -- /v1/suggest ---------------------------------------------------------------------------------
def test_suggest(client: TestClient) -> None:
    r = client.get("/v1/suggest", params={"q": "track my parcel", "lang": "de"})
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"query", "locale", "locale_from", "decision", "suggestions"}
    assert (body["locale"], body["locale_from"]) == ("de", "lang") and body["decision"] in ("answer", "clarify")
    suggestions = body["suggestions"]
    assert suggestions and all(set(s) == {"id", "title", "url", "locale", "machine_translated", "fallback"}
                               for s in suggestions)
    track = next(s for s in suggestions if s["id"] == "track-order")
    assert track["locale"] == "de" and track["machine_translated"] is True
    _error(client.get("/v1/suggest", params={"q": ""}), 422, "q")
    _error(client.get("/v1/suggest", params={"q": "x", "lang": "zz"}), 422, "lang")


# -- /v1/articles, /v1/locales, /v1/categories -----------------------------------------------
def test_article_in_its_locale(client: TestClient) -> None:
    r = client.get("/v1/articles/cancel-order", params={"lang": "de"})
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"id", "locale", "title", "category", "markdown", "updated", "review", "machine_translated",
                         "stale", "fallback", "url", "available_locales"}
    assert (body["id"], body["locale"], body["title"]) == ("cancel-order", "de", "Wie storniere ich meine Bestellung?")
    assert body["available_locales"] == ["en", "de"]
    assert body["url"] == "https://help.example/de/orders/cancel-order/"
    assert body["updated"] == "2026-01-06" and body["review"] == "reviewed" and body["fallback"] is False


def test_article_flags(client: TestClient) -> None:
    stale = client.get("/v1/articles/return-item", params={"lang": "de"}).json()
    assert stale["locale"] == "de" and stale["stale"] is True
    fallback = client.get("/v1/articles/payment-methods", params={"lang": "pl"}).json()
    assert fallback["locale"] == "en" and fallback["fallback"] is True and fallback["available_locales"] == ["en"]
    assert fallback["url"] == "https://help.example/pl/payments/payment-methods/"  # the Polish fallback page
    draft = client.get("/v1/articles/track-order", headers={"Accept-Language": "de-AT"}).json()
    assert draft["locale"] == "de" and draft["machine_translated"] is True and draft["review"] == "machine"
    default = client.get("/v1/articles/track-order").json()
    assert default["locale"] == "en"


def test_article_errors(client: TestClient) -> None:
    assert "nope" in _error(client.get("/v1/articles/nope"), 404, "id")
    _error(client.get("/v1/articles/cancel-order", params={"lang": "zz"}), 422, "lang")
    _error(client.get("/v1/articles/" + "a" * 121), 422, "id")


def test_locales(client: TestClient) -> None:
    body = client.get("/v1/locales").json()
    assert body == {"source_locale": "en", "locales": [
        {"code": "en", "name": "English", "rtl": False}, {"code": "de", "name": "Deutsch", "rtl": False},
        {"code": "pl", "name": "Polski", "rtl": False}]}


def test_categories(client: TestClient) -> None:
    body = client.get("/v1/categories", params={"lang": "de"}).json()
    assert body["locale"] == "de"
    assert body["categories"][0] == {"key": "orders", "title": "Bestellungen"}
    pl = {c["key"]: c["title"] for c in client.get("/v1/categories", params={"lang": "pl"}).json()["categories"]}
    assert pl == {"orders": "Zamówienia", "payments": "Payments", "shipping": "Wysyłka", "returns": "Zwroty"}
    _error(client.get("/v1/categories", params={"lang": "zz"}), 422, "lang")


# -- /v1/feedback --------------------------------------------------------------------------------
def test_feedback_is_stored_scrubbed(client: TestClient, store: Store) -> None:
    reason = "Did not help. Call me on +49 30 901820 44 or jan@example.com"
    r = client.post("/v1/feedback", json={"article_id": "return-item", "locale": "de", "helpful": False,
                                          "reason": reason})
    assert (r.status_code, r.json()) == (201, {"ok": True})
    client.post("/v1/feedback", json={"article_id": "return-item", "locale": "en", "helpful": True})
    rows = store.list_feedback(article_id="return-item")
    assert [(x["locale"], x["helpful"]) for x in rows] == [("en", True), ("de", False)]
    assert rows[0]["reason_scrubbed"] is None
    assert rows[1]["reason_scrubbed"] == "Did not help. Call me on <phone> or <email>"


@pytest.mark.parametrize(("body", "status", "param"), [
    ({"article_id": "nope", "locale": "de", "helpful": True}, 404, "article_id"),
    ({"article_id": "cancel-order", "locale": "xx", "helpful": True}, 422, "locale"),
    ({"article_id": "cancel-order", "locale": "ja", "helpful": True}, 422, "locale"),
    ({"article_id": "cancel-order", "locale": "de", "helpful": "maybe"}, 422, "helpful"),
    ({"article_id": "cancel-order", "locale": "de", "helpful": 1}, 422, "helpful"),
    ({"article_id": "cancel-order", "locale": "de"}, 422, "helpful"),
    ({"article_id": "cancel-order", "locale": "de", "helpful": True, "reason": "x" * 501}, 422, "reason"),
    ({"article_id": "cancel-order", "locale": "de", "helpful": True, "reason": 5}, 422, "reason"),
    ({"article_id": "cancel-order", "locale": "de", "helpful": True, "ip": "1.2.3.4"}, 422, "ip"),
    ({"locale": "de", "helpful": True}, 422, "article_id"),
])
def test_feedback_bad_input(client: TestClient, body: dict[str, Any], status: int, param: str) -> None:
    _error(client.post("/v1/feedback", json=body), status, param)


def test_clicks_from_the_site_search_page(client: TestClient, store: Store) -> None:
    # a one-word query that names several articles (a full question keeps only its answer)
    r = client.get("/v1/search", params={"q": "Bestellung", "lang": "de", "track": "true"})
    body = r.json()
    search_id, first, second = body["search_id"], body["hits"][0]["id"], body["hits"][1]["id"]
    assert len(search_id) == 32
    click = {"search_id": search_id, "article_id": second}
    assert client.post("/v1/click", json={**click, "article_id": "no-such-article"}).json() == {"recorded": False}
    assert client.post("/v1/click", json=click).json() == {"recorded": True}
    assert client.post("/v1/click", json={**click, "article_id": first}).json() == {"recorded": False}
    untracked = client.get("/v1/search", params={"q": "Bestellung", "lang": "de"}).json()
    assert untracked["search_id"] != search_id
    rows = {r["search_id"]: r for r in store.list_queries(limit=5)}
    assert (rows[search_id]["tracks_clicks"], rows[search_id]["clicked_id"], rows[search_id]["clicked_rank"]) == (
        True, second, 2)
    assert rows[untracked["search_id"]]["tracks_clicks"] is False
    _error(client.post("/v1/click", json={"search_id": "not-hex", "article_id": first}), 422, "search_id")
    _error(client.post("/v1/click", json={"search_id": search_id}), 422, "article_id")


def test_a_helpful_answer_resolves_the_search_it_came_from(client: TestClient, store: Store) -> None:
    headers = {"user-agent": "resolved-search-test"}
    body = client.get("/v1/search", params={"q": "Bestellung stornieren", "lang": "de", "track": "true"},
                      headers=headers).json()
    first = body["hits"][0]["id"]
    r = client.post("/v1/feedback", json={"article_id": first, "locale": "de", "helpful": True,
                                          "search_id": body["search_id"]})
    assert r.status_code == 201
    row = next(x for x in store.list_queries(limit=5) if x["search_id"] == body["search_id"])
    assert row["helpful_id"] == first and row["client"] and "testclient" not in row["client"]
    again = client.get("/v1/search", params={"q": "Rückgabe", "lang": "de"}, headers=headers).json()
    other = client.get("/v1/search", params={"q": "Rückgabe", "lang": "de"}, headers={"user-agent": "other"}).json()
    keys = {x["search_id"]: x["client"] for x in store.list_queries(limit=5)}
    assert keys[again["search_id"]] == row["client"] != keys[other["search_id"]]
    _error(client.post("/v1/feedback", json={"article_id": first, "locale": "de", "helpful": True,
                                             "search_id": "nope"}), 422, "search_id")


# -- the query log -------------------------------------------------------------------------------
def test_queries_are_logged_scrubbed(client: TestClient, store: Store) -> None:
    q = "refund for KM-12345678 paid with 4111 1111 1111 1111, mail anna.k@example.org IBAN DE89370400440532013000"
    assert client.get("/v1/search", params={"q": q, "lang": "en"}).status_code == 200
    assert client.post("/v1/answer", json={"question": "call 0171 2345678 about my return", "lang": "de"}).status_code == 200
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(queries_table).order_by(queries_table.c.id.desc()).limit(2)).mappings().all()
    answer, search = rows
    assert search["endpoint"] == "search" and search["locale"] == "en"
    assert search["query_scrubbed"] == "refund for <order> paid with <card>, mail <email> IBAN <iban>"
    assert answer["endpoint"] == "answer" and answer["query_scrubbed"] == "call <phone> about my return"
    assert search["top_ids"] and len(search["top_ids"]) == len(search["top_scores"])
    assert search["generation"].startswith("gen-")
    for text in ("4111", "12345678", "anna.k", "DE89", "2345678"):
        assert text not in search["query_scrubbed"] + answer["query_scrubbed"]
    columns = {c.name for c in queries_table.columns}
    assert not any(word in col for col in columns for word in ("ip", "cookie", "user", "session"))


def test_a_failing_log_does_not_fail_the_search(client: TestClient, store: Store,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(**_: Any) -> None:
        raise sa.exc.OperationalError("INSERT", {}, Exception("database is locked"))

    monkeypatch.setattr(store, "log_query", broken)
    assert client.get("/v1/search", params={"q": "refund", "lang": "en"}).status_code == 200


# -- health, errors, docs, site ------------------------------------------------------------------
def test_healthz(client: TestClient, built: tuple[Path, Engine]) -> None:
    assert client.get("/v1/search", params={"q": "refund"}).status_code == 200  # the store's last write succeeded
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 200
    assert body == {"status": "ok", "generation": built[1].index.generation, "articles": 5,
                    "embedder": get_embedder(DEFAULT).name, "reasons": [],
                    "store_write_failures": body["store_write_failures"], "ranking": built[1].ranking}
    # no calibration.json in this data folder: the default ranks, and /healthz says so
    assert body["ranking"].startswith("ranking weights: default (no calibration measured yet")


def test_unknown_route_and_method(client: TestClient) -> None:
    _error(client.get("/v1/nope"), 404, None)
    _error(client.delete("/v1/search"), 405, None)


def test_unexpected_error_is_a_json_500_without_traceback(client: TestClient, built: tuple[Path, Engine],
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    def boom(*_: Any, **__: Any) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(built[1], "search", boom)
    with caplog.at_level(logging.ERROR, logger="kb.api"):
        r = client.get("/v1/search", params={"q": "refund"})
    assert r.status_code == 500
    assert r.json() == {"error": {"param": None, "message": "internal error"}}
    assert "secret" not in r.text and "Traceback" not in r.text
    assert any("secret internals" in (rec.exc_text or "") for rec in caplog.records)


def test_openapi_documents_every_endpoint_and_error_shape(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    for path, method in [("/v1/search", "get"), ("/v1/answer", "post"), ("/v1/suggest", "get"),
                         ("/v1/articles/{id}", "get"), ("/v1/locales", "get"), ("/v1/categories", "get"),
                         ("/v1/feedback", "post"), ("/healthz", "get")]:
        responses = paths[path][method]["responses"]
        ok = responses["201" if path == "/v1/feedback" else "200"]
        assert "$ref" in ok["content"]["application/json"]["schema"]
        for code, spec in responses.items():
            if code.startswith(("4", "5")):
                shape = "/Health" if (path, code) == ("/healthz", "503") else "/ErrorResponse"  # degraded: the health
                assert spec["content"]["application/json"]["schema"]["$ref"].endswith(shape)
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    search = {p["name"]: p["schema"] for p in paths["/v1/search"]["get"]["parameters"]}
    assert search["lang"]["enum"] == ["en", "de", "pl"]
    assert search["category"]["enum"] == ["orders", "payments", "shipping", "returns"]
    assert (search["q"]["minLength"], search["q"]["maxLength"]) == (1, 500)
    assert (search["k"]["minimum"], search["k"]["maximum"]) == (1, 50)
    feedback = schema["components"]["schemas"]["FeedbackRequest"]
    assert feedback["additionalProperties"] is False and feedback["properties"]["locale"]["enum"] == ["en", "de", "pl"]
    assert "cancel-order" in feedback["properties"]["article_id"]["examples"]
    assert client.get("/docs").status_code == 200


def test_static_site_after_the_api(built: tuple[Path, Engine], store: Store, tmp_path: Path) -> None:
    data, engine = built
    site = tmp_path / "site"
    (site / "en").mkdir(parents=True)
    (site / "en" / "index.html").write_text("<h1>Help</h1>", encoding="utf-8")
    with TestClient(create_app(data, site_dir=site, engine=engine, store=store)) as c:
        r = c.get("/", follow_redirects=False)
        assert r.status_code == 302 and r.headers["location"] == "en/"  # no Accept-Language, no root page: kb.web.landing
        assert "<h1>Help</h1>" in c.get("/en/").text
        assert c.get("/v1/locales").json()["source_locale"] == "en"
        assert c.get("/healthz").status_code == 200
        _error(c.get("/de/missing.html"), 404, None)


def test_no_site_root_points_to_the_docs(client: TestClient) -> None:
    r = client.get("/", follow_redirects=False)
    assert r.status_code in (302, 307) and r.headers["location"] == "/docs"
