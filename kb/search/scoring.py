"""Article scores for one query: dense (all locales) + BM25 (the shopper's and the source locale).

Two sets of weights are applied to the same candidates: the *ranking* weights (the default, or
the help center's own calibration: kb/search/calibration.py) order the results; the *reference*
weights are the ones the answer / clarify / handoff models were fitted with (USE 0.25, BM25
0.05: kb/search/fusion.py), so a calibration that reorders results cannot move the decision's scale.

The candidates (passage rows with each model's cosine, and the BM25 scores) are gathered once
and then weighed any number of ways: the calibration tries a grid of weights on them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from kb.search.fusion import Fusion
from kb.search.index import Index

DENSE_CANDIDATES = 100
LEX_CANDIDATES = 50


@dataclass
class Scores:
    ranking: dict[str, float]  # article -> score with the ranking weights
    reference: dict[str, float]  # article -> score with the decision's weights
    best_row: dict[str, int]  # article -> its best passage's row (by the ranking weights)
    content_top: float = 0.0  # the best dense score (decision's weights) of a passage of article text
    dense_top: float = 0.0  # the best dense score (decision's weights) of any passage, no BM25


@dataclass
class Candidates:
    """What one query matched, before any weighing."""

    locale: str  # the query's
    rows: list[int]  # dense candidate passage rows
    cos: np.ndarray  # (rows, parts) cosines for an ensemble, (rows, 1) dense scores otherwise
    locales: list[str]  # each row's passage locale
    articles: list[str]  # each row's article
    lexical: dict[str, float]  # article -> BM25 relative to the query's best
    lexical_rows: dict[str, int]  # article -> its best BM25 passage row
    kinds: list[str] = field(default_factory=list)  # each row's passage kind (title, question, section, article)


def search_vectors(index: Index, qvec: np.ndarray, locale: str, fusions: list[Fusion | None]) -> np.ndarray:
    """The vectors `gather` searches FAISS with for an ensemble (one or two a fusion), as rows."""
    return np.stack([vec for fusion in dict.fromkeys(f for f in fusions if f is not None)
                     for vec in fusion.search_vectors(qvec, locale, index.manifest["locales"])])


def gather(index: Index, query: str, qvec: np.ndarray, locale: str, *, mode: str,
           fusions: list[Fusion | None], exclude: frozenset[int] = frozenset(),
           hits: list[list[tuple[int, float]]] | None = None) -> Candidates:
    """The candidates that any of `fusions` would find; `exclude` holds passage rows that must not
    match (a question held out while the calibration tests it). `hits`: the FAISS hits of
    `search_vectors`, found beforehand and at least as many as asked here (the calibration
    searches for all its questions at once); by default the index is searched."""
    rows: list[int] = []
    cos = np.zeros((0, 1))
    if mode != "lexical":
        k = DENSE_CANDIDATES + len(exclude)
        ensemble = next((f for f in fusions if f is not None), None)
        if ensemble is None:
            hits = [(r, s) for r, s in index.dense_search(qvec, k) if r not in exclude]
            rows, cos = [r for r, _ in hits], np.array([[s] for _, s in hits]).reshape(-1, 1)
        else:
            found: dict[int, None] = {}
            if hits is None:
                hits = index.dense_search_many(search_vectors(index, qvec, locale, fusions), k)
            for each in hits:
                found.update((row, None) for row, _ in each[:k] if row not in exclude)
            rows = list(found)
            cos = ensemble.cosines(qvec, index.vectors[rows]) if rows else np.zeros((0, len(ensemble.parts)))
    lexical: dict[str, float] = {}
    lexical_rows: dict[str, int] = {}
    if mode != "dense":
        for loc in dict.fromkeys((locale, index.manifest["source_locale"])):
            for row, score in index.lexical.search(query, loc, LEX_CANDIDATES + len(exclude)):
                if row in exclude:
                    continue
                aid = index.passages[row].article_id
                if score > lexical.get(aid, 0.0):
                    lexical[aid], lexical_rows[aid] = score, row
        top = max(lexical.values(), default=0.0)
        lexical = {aid: s / top for aid, s in lexical.items()}
    return Candidates(locale, rows, cos, [index.passages[r].locale for r in rows],
                      [index.passages[r].article_id for r in rows], lexical, lexical_rows,
                      [index.passages[r].kind for r in rows])


def content_scores(c: Candidates, fusion: Fusion | None) -> tuple[dict[str, float], float, float]:
    """Each article's best dense score over passages of its own text (titles, sections: not its
    `questions` entries), and the best of them. Short questions are close to any short question in
    the multilingual models, whatever its subject (an English weather question's nearest passage is
    a Turkish or Polish question 20 times in 22): the decision reads the article text's score, which
    off-topic questions do not reach. With no such passage among the candidates, the lowest
    candidate article's score bounds it. Also the best dense score of any passage."""
    if not len(c.rows):
        return {}, 0.0, 0.0
    dense_rows = (c.cos[:, 0] if fusion is None else fusion.combine(c.cos, c.locale, c.locales)).tolist()
    content: dict[str, float] = {}
    dense: dict[str, float] = {}
    for aid, kind, score in zip(c.articles, c.kinds, dense_rows, strict=True):
        dense[aid] = max(score, dense.get(aid, -1.0))
        if kind != "question" and score > content.get(aid, -1.0):
            content[aid] = score
    return content, max(content.values()) if content else min(dense.values()), max(dense.values())


def weigh(c: Candidates, fusion: Fusion | None, lex_weight: float, mode: str) -> tuple[dict[str, float], dict[str, int]]:
    """Article scores (and each article's best row) under one weighing of the candidates."""
    if mode == "lexical":
        return dict(c.lexical), dict(c.lexical_rows)
    dense_rows = c.cos[:, 0] if fusion is None or not len(c.rows) else fusion.combine(c.cos, c.locale, c.locales)
    dense: dict[str, float] = {}
    best: dict[str, int] = {}
    for row, aid, score in zip(c.rows, c.articles, dense_rows.tolist(), strict=True):
        if score > dense.get(aid, -1.0):
            dense[aid], best[aid] = score, row
    if mode == "dense":
        return dense, best
    for aid, score in c.lexical.items():
        if aid in dense:  # BM25 alone never introduces an article the dense side did not see
            dense[aid] += lex_weight * score
    return dense, best


def score_articles(index: Index, query: str, qvec: np.ndarray, locale: str, *, mode: str,
                   ranking: tuple[Fusion | None, float], reference: tuple[Fusion | None, float],
                   exclude: frozenset[int] = frozenset()) -> Scores:
    """`ranking` and `reference` are (fusion, BM25 weight) pairs."""
    # one candidate search, the ranking's: the decision weighs the same candidates its own way
    c = gather(index, query, qvec, locale, mode=mode, fusions=[ranking[0]], exclude=exclude)
    ranked, best = weigh(c, ranking[0], ranking[1], mode)
    if reference == ranking:
        ref = ranked
    else:
        ref = weigh(c, reference[0], reference[1], mode)[0]
    _, content_top, dense_top = content_scores(c, reference[0])
    return Scores(ranked, ref, best, content_top, dense_top)
