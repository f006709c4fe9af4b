"""Small help centers written into a temporary folder for tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

from kb.content.article import content_hash

KB_TOML = """
name = "Test Shop Help"
source_locale = "en"
locales = ["en", "de", "pl", "tr"]
base_url = "http://help.test"

[categories.orders]
title = { en = "Orders", de = "Bestellungen" }

[categories.payments]
title = { en = "Payments", de = "Zahlung" }

[categories.shipping]
title = { en = "Shipping", de = "Versand" }

[support.en]
channels = ["E-mail: help@shop.test"]
hours = "Mon-Fri 9-17"
timezone = "Europe/London"

[support.de]
channels = ["E-Mail: hilfe@shop.test"]
hours = "Mo-Fr 9-17 Uhr"
timezone = "Europe/Berlin"
"""

EN = {
    "cancel-order": ("orders", "How do I cancel my order?", ["Can I stop an order?"],
        "Open My account, select the order and press Cancel order. It is free until the order is packed.\n\n"
        "## After dispatch\n\nOnce shipped, an order cannot be cancelled; return it instead."),
    "refund-timing": ("orders", "When will I get my refund?", ["How long does a refund take?"],
        "We refund within 5 business days after your return arrives.\n\n"
        "## Card payments\n\nBanks need 3 to 5 more days to show the money on your card."),
    "pay-with-blik": ("payments", "How do I pay with BLIK?", ["BLIK code payment"],
        "Choose BLIK at checkout, open your banking app and enter the six-digit BLIK code. "
        "The code is valid for two minutes."),
    "track-parcel": ("shipping", "Where is my parcel?", ["Track my package"],
        "Use the tracking link in your shipping e-mail to follow your parcel with the carrier."),
}

DE = {
    "cancel-order": ("Wie storniere ich meine Bestellung?", ["Kann ich eine Bestellung abbrechen?"],
        "Öffnen Sie Mein Konto, wählen Sie die Bestellung und klicken Sie auf Bestellung stornieren. "
        "Das ist kostenlos, bis die Bestellung verpackt wird.\n\n## Nach dem Versand\n\n"
        "Nach dem Versand kann eine Bestellung nicht mehr storniert werden; senden Sie sie zurück."),
}


def article_text(aid: str, category: str, title: str, questions: list[str], body: str,
                 extra: str = "") -> str:
    qs = "\n".join(f"  - {q}" for q in questions)
    return f"---\nid: {aid}\ntitle: {title}\ncategory: {category}\nquestions:\n{qs}\nupdated: 2026-10-01\n{extra}---\n{body}\n"


def write_help_center(root: Path, *, machine_de: tuple[str, ...] = ()) -> Path:
    """English sources, a human German translation of cancel-order; optional German machine drafts."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "kb.toml").write_text(textwrap.dedent(KB_TOML))
    for aid, (cat, title, qs, body) in EN.items():
        path = root / "en" / cat / f"{aid}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(article_text(aid, cat, title, qs, body))
    for aid, (title, qs, body) in DE.items():
        cat, src_title, _, src_body = EN[aid]
        extra = f"source_locale: en\nsource_hash: {content_hash(src_title, src_body + chr(10))}\nreview: human\n"
        path = root / "de" / cat / f"{aid}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(article_text(aid, cat, title, qs, body, extra))
    for aid in machine_de:
        cat, src_title, qs, src_body = EN[aid]
        extra = f"source_locale: en\nsource_hash: {content_hash(src_title, src_body + chr(10))}\nreview: machine\n"
        path = root / "de" / cat / f"{aid}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(article_text(aid, cat, f"Maschinell {src_title}", qs, src_body, extra))
    return root
