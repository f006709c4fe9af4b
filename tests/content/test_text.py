"""kb.content.text: plain text carries no HTML; one definition of visible text, as code and as a pattern."""

from __future__ import annotations

import re

import pytest
from helpers import ROOT
from hypothesis import given
from hypothesis import strategies as st

from kb.content.library import Library
from kb.content.text import has_visible, plain, strip_html, visible, visible_pattern

TAG_START = re.compile(r"<[a-zA-Z/!?]")


@pytest.mark.parametrize(("markdown", "expected"), [
    ("Open <b>My account</b> and press **Cancel**.", "Open My account and press Cancel."),
    ("Before <script>alert('x')</script>after", "Before after"),
    ("Before <SCRIPT src=x>never closed\nand more", "Before"),
    ('<iframe src="https://evil.example"></iframe>Text', "Text"),
    ('<img src="x>" onerror="alert(1)">Text', "Text"),
    ("<<b>script>alert(1)", "script>alert(1)"),
    ("<div>\nA block\n</div>\n\nNext", "A block\nNext"),
    ("line<br>break", "line break"),
    ("<!-- a note for editors -->Text", "Text"),
    ("Write to <help@shop.example> or see <https://shop.example/help>.",
     "Write to help@shop.example or see https://shop.example/help."),
    ("Fish &amp; chips for 5&nbsp;&euro;", "Fish & chips for 5\u00a0€"),
    ("Written as text: &lt;b&gt;", "Written as text: &lt;b&gt;"),
    ("A [link](https://x.example) stays text", "A link stays text"),
    ("Orders < 50 EUR ship in 3 days", "Orders < 50 EUR ship in 3 days"),
])
def test_plain_drops_raw_html_and_keeps_the_text(markdown: str, expected: str) -> None:
    assert plain(markdown) == expected


PIECES = [*"<>/!?-\"'= abcs\n", "script", "iframe", "<!--", "-->", "&lt;", "&#60;"]


@given(st.lists(st.sampled_from(PIECES), max_size=40).map("".join))
def test_no_tag_ever_survives_plain(markdown: str) -> None:
    assert not TAG_START.search(plain(markdown))


def test_ordinary_sample_articles_are_untouched() -> None:
    """The sample help center has no raw HTML: its passages' text (and so the index) does not change."""
    library = Library.load(ROOT / "content")
    assert len(library.articles) > 100
    for article in library.articles:
        assert strip_html(article.body) == article.body, article.path


@pytest.mark.parametrize(("text", "expected"), [
    ("\x00", ""), ("\u200b", ""), ("\u200b\u200c\u200d\u200e\u200f\u2060\ufeff", ""), (" \t\n\u3000", ""),
    ("\x1b[31m", "[31m"), ("\ufeffrefund\x00", "refund"), ("re\tfund\npolicy", "re fund policy"),
    ("\u00a0 Rückgabe \u00a0", "Rückgabe"), ("zwrot\u00ad", "zwrot"), ("\U000e0001x", "x"),
])
def test_visible_removes_control_and_format_characters(text: str, expected: str) -> None:
    assert visible(text) == expected
    assert has_visible(text) == bool(expected)


def test_the_pattern_and_the_code_agree_on_every_character_of_the_bmp() -> None:
    pattern = re.compile(visible_pattern())
    disagree = [hex(c) for c in range(0x10000) if bool(pattern.fullmatch(chr(c))) != has_visible(chr(c))]
    assert not disagree
    assert not pattern.search("\x00\u200b\u2060\ufeff \u3000") and pattern.search("\x00a")

TABLE = """Before the table.

| Method | Where available |
|---|:---:|
| PayPal | All countries |
| BLIK | Poland, payments in PLN |

After the table."""


def test_table_cells_and_rows_stay_apart() -> None:
    text = plain(TABLE)
    assert "PayPal · All countries;" in text
    assert "BLIK · Poland, payments in PLN;" in text
    flat = " ".join(text.split())  # as a snippet shows it
    assert "All countries; BLIK" in flat and "---" not in flat and "|" not in flat


def test_markup_is_dropped_and_links_keep_their_text() -> None:
    assert plain("## Heading\n\n**Bold** and [a link](x.md) and `code`\n\n- item") == "Heading\nBold and a link and code\nitem"
