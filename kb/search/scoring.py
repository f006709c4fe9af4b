"""Article scores for one query: dense (all locales) + BM25 (the shopper's and the source locale).

Two sets of weights are applied to the same candidates: the *ranking* weights (the default, or
the help center's own calibration: kb/search/calibration.py) order the results; the *reference*
weights are the ones the answer / clarify / handoff models were fitted with (USE 0.25, BM25
LEX_WEIGHT), so a calibration that reorders results cannot move the decision's scale.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from kb.search.fusion import Fusion
from kb.search.index import Index

DENSE_CANDIDATES = 100
LEX_CANDIDATES = 50


@dataclass(frozen=True)
class Weights:
    """How the parts of a score are mixed: USE's share of the dense score (None: the embedder's
    own; a single model has no share) and BM25's bonus (relative to the query's best BM25)."""

    use: float | None
    lexical: float


@dataclass
class Scores:
    ranking: dict[str, float]  # article -> score with the ranking weights
    reference: dict[str, float]  # article -> score with the decision's weights
    best_row: dict[str, int]  # article -> its best passage's row (by the ranking weights)
    dense: dict[str, float] = field(default_factory=dict)  # the reference dense part
    lexical: dict[str, float] = field(default_factory=dict)  # BM25 relative to the query's best


def score_articles(index: Index, query: str, qvec: np.ndarray, locale: str, *, mode: str,
                   ranking: tuple[Fusion | None, float], reference: tuple[Fusion | None, float],
                   exclude: frozenset[int] = frozenset()) -> Scores:
    """`ranking` and `reference` are (fusion, BM25 weight) pairs; `exclude` holds passage rows
    that must not match (a question held out while the calibration tests it)."""
    dense_rank: dict[str, float] = {}
    dense_ref: dict[str, float] = {}
    best_row: dict[str, int] = {}
    if mode != "lexical":
        rows, rank_scores, ref_scores = _dense(index, qvec, locale, ranking[0], reference[0], exclude)
        for row, score, ref in zip(rows, rank_scores, ref_scores, strict=True):
            aid = index.passages[row].article_id
            if score > dense_rank.get(aid, -1.0):
                dense_rank[aid] = score
                best_row[aid] = row
            if ref > dense_ref.get(aid, -1.0):
                dense_ref[aid] = ref
    if mode == "dense":
        return Scores(dense_rank, dense_ref, best_row, dense_ref)
    lexical: dict[str, float] = {}
    for loc in dict.fromkeys((locale, index.manifest["source_locale"])):
        for row, score in index.lexical.search(query, loc, LEX_CANDIDATES + len(exclude)):
            if row in exclude:
                continue
            aid = index.passages[row].article_id
            if score > lexical.get(aid, 0.0):
                lexical[aid] = score
                if mode == "lexical":
                    best_row[aid] = row
    top_lex = max(lexical.values(), default=0.0)
    relative = {aid: s / top_lex for aid, s in lexical.items()}
    if mode == "lexical":
        return Scores(dict(relative), dict(relative), best_row, {}, relative)
    return Scores(_fuse(dense_rank, relative, ranking[1]), _fuse(dense_ref, relative, reference[1]),
                  best_row, dense_ref, relative)


def _fuse(dense: dict[str, float], lexical: dict[str, float], weight: float) -> dict[str, float]:
    fused = dict(dense)
    for aid, score in lexical.items():
        if aid in fused:  # BM25 alone never introduces an article the dense side did not see
            fused[aid] += weight * score
    return fused


def _dense(index: Index, qvec: np.ndarray, locale: str, ranking: Fusion | None, reference: Fusion | None,
           exclude: frozenset[int]) -> tuple[list[int], list[float], list[float]]:
    """Candidate passage rows and their dense scores under both weightings. For an ensemble the
    candidates come from the search vectors of both and are scored exactly (kb/search/fusion.py)."""
    k = DENSE_CANDIDATES + len(exclude)
    if ranking is None or reference is None:
        hits = [(r, s) for r, s in index.dense_search(qvec, k) if r not in exclude]
        rows = [r for r, _ in hits]
        scores = [s for _, s in hits]
        return rows, scores, scores
    locales = index.manifest["locales"]
    found: dict[int, None] = {}
    vectors = ranking.search_vectors(qvec, locale, locales)
    if reference != ranking:
        vectors += reference.search_vectors(qvec, locale, locales)
    for vec in vectors:
        found.update((row, None) for row, _ in index.dense_search(vec, k) if row not in exclude)
    if not found:
        return [], [], []
    rows = list(found)
    cos = ranking.cosines(qvec, index.vectors[rows])
    passage_locales = [index.passages[r].locale for r in rows]
    rank_scores = ranking.combine(cos, locale, passage_locales)
    ref_scores = rank_scores if reference == ranking else reference.combine(
        cos, locale, passage_locales)
    return rows, rank_scores.tolist(), ref_scores.tolist()
