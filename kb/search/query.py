"""The text of a query as the engine embeds and matches it."""

from __future__ import annotations

import re

from kb.search.scripts import MARKS

# not punctuation: letters, digits and combining marks (a Hindi word may end in a vowel sign)
_EDGE_PUNCTUATION = re.compile(rf"(?:(?<=\s)|^)[^\w\s{MARKS}]+|[^\w\s{MARKS}]+(?=\s|$)")


def normalize_query(query: str) -> str:
    """What is embedded and matched: punctuation at the edges of words dropped ("towar?", "¿Cómo",
    "«Klarna»"), inside words kept (e-mail, KM-1234, 3.5), spaces collapsed, so that
    punctuation does not change the ranking."""
    return " ".join(_EDGE_PUNCTUATION.sub(" ", query).split()) or query
