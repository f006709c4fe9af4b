"""The API's plain fields (a hit's `snippet`, an answer's `text`) are plain text: raw HTML in an
article's Markdown never reaches them, and `snippet_html` holds only escaped text and <mark>."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from helpers import article_text, write_help_center

from kb.content.library import Library
from kb.search.embedders import get_embedder
from kb.search.engine import Engine
from kb.search.index import build_index
from kb.web.app import create_app
from kb.web.security import SecurityConfig

pytestmark = pytest.mark.slow

HOSTILE = """\
Gift cards <script>alert('gift')</script>can be redeemed at checkout: enter the <b>gift card code</b>
in the payment step.<iframe src="https://evil.example/frame"></iframe>

<div onclick="steal()">Each gift card is valid for two years.</div>

## Balance

<img src="x" onerror="alert(1)">Check the gift card balance under My account.
"""
TAG = re.compile(r"<[a-zA-Z/!?]")


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    base = tmp_path_factory.mktemp("plain")
    content = write_help_center(base / "content")
    (content / "en" / "payments" / "gift-cards.md").write_text(
        article_text("gift-cards", "How do I redeem a gift card?", HOSTILE, "payments", questions=["gift card code"]))
    build_index(Library.load(content), base / "data", get_embedder())
    app = create_app(base / "data", engine=Engine(base / "data"), log_queries=False, security=SecurityConfig(rate=0))
    with TestClient(app) as test_client:
        yield test_client


def test_snippets_carry_no_html(client: TestClient) -> None:
    for q in ("redeem a gift card code", "gift card balance", "how long is a gift card valid"):
        hits = client.get("/v1/search", params={"q": q, "lang": "en"}).json()["hits"]
        top = hits[0]
        assert top["id"] == "gift-cards", hits
        assert "gift card" in top["snippet"].lower()
        for hit in hits:
            assert not TAG.search(hit["snippet"]), hit["snippet"]
            assert not TAG.search(hit["snippet_html"].replace("<mark>", "").replace("</mark>", "")), hit["snippet_html"]
            assert "alert" not in hit["snippet"] and "evil.example" not in hit["snippet"]


def test_the_answers_text_carries_no_html(client: TestClient) -> None:
    body = client.post("/v1/answer", json={"question": "How do I redeem a gift card?", "lang": "en"}).json()
    assert body["decision"] == "answer" and body["answer"]["id"] == "gift-cards", body
    text = body["answer"]["text"]
    assert "gift card code" in text and "valid for two years" in text
    assert not TAG.search(text) and "alert" not in text and "steal" not in text
    assert "<script>" in body["answer"]["markdown"]  # the Markdown is the source, as written
