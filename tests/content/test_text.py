"""plain(): Markdown as readable text, for snippets, descriptions and the offline index."""

from __future__ import annotations

from kb.content.text import plain

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
