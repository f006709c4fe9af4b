"""The decision reads the best score of a passage of article text (issue 16, round 3): `questions`
entries are left out of it, because a short question is close to any short question in the
multilingual models whatever its subject."""

from __future__ import annotations

import numpy as np

from kb.search.decision import confidence_features
from kb.search.scoring import Candidates, content_scores


def _candidates(kinds: list[str], scores: list[float], articles: list[str]) -> Candidates:
    return Candidates(locale="en", rows=list(range(len(kinds))), cos=np.array([[s] for s in scores]),
                      locales=["en"] * len(kinds), articles=articles, lexical={}, lexical_rows={}, kinds=kinds)


def test_question_passages_do_not_count() -> None:
    c = _candidates(["question", "section", "title", "question"], [0.9, 0.6, 0.7, 0.95], ["a", "a", "b", "b"])
    per_article, top, dense_top = content_scores(c, None)
    assert per_article == {"a": 0.6, "b": 0.7} and top == 0.7 and dense_top == 0.95


def test_only_questions_among_the_candidates_bound_the_text_score_by_the_lowest_article() -> None:
    c = _candidates(["question", "question", "question"], [0.9, 0.8, 0.5], ["a", "a", "b"])
    assert content_scores(c, None) == ({}, 0.5, 0.9)
    assert content_scores(_candidates([], [], []), None) == ({}, 0.0, 0.0)


def test_the_feature_defaults_to_the_top_when_not_given() -> None:
    assert (confidence_features([0.8, 0.7])["ctop"], confidence_features([0.8, 0.7])["dtop"]) == (0.8, 0.8)
    assert confidence_features([0.8, 0.7], 0.55, 0.75)["ctop"] == 0.55
    assert confidence_features([0.8, 0.7], 0.55, 0.75)["dtop"] == 0.75
