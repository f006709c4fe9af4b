"""Rare exact terms: an article whose text has a word of the query that few articles of the
locale use (a payment method's name, a product code) stays in the results whatever the relevance
cut says: `BLIK` must list the payment-methods article that names BLIK in its table although its
dense score is far below the BLIK article's (issue 16)."""

from __future__ import annotations

import math
from collections.abc import Iterable

from kb.search.index import Index
from kb.search.lexical import tokenize

# A term is rare when at most max(RARE_ARTICLES, √N) of the help center's N articles have it in
# that locale: BLIK in 4 of the sample's 39 (√39 > 6), or a product code in 100 of 10,000 (1 %).
RARE_ARTICLES = 2


def rare_term_articles(index: Index, query: str, locales: Iterable[str]) -> set[str]:
    """Ids of the articles that have a rare term of the query (compared as BM25 tokens, stemmed)
    in one of `locales` (the shopper's and the source locale)."""
    limit = max(RARE_ARTICLES, math.isqrt(len(index.by_id)))
    out: set[str] = set()
    for locale in dict.fromkeys(locales):
        for stem in dict.fromkeys(tokenize(query, locale)):
            rows = index.lexical.rows_with(stem, locale)
            if not len(rows) or len(rows) > 40 * limit:  # a common word: no need to look further
                continue
            articles = {index.passages[int(row)].article_id for row in rows}
            if len(articles) <= limit:
                out |= articles
    return out
