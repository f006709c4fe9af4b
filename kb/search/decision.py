"""The answer / clarify / handoff decision of a search, the same rule in every language.

Fitted and chosen by benchmarks/calibrate.py by the rules in BENCHMARKS.md ("One decision rule for
all languages" and its round 3), from confidence_features of the ranking's scores (fused with the
weights the models were fitted with: kb/search/scoring.py's reference):
- ANSWERABLE: P(the help center answers the question at all): in-scope questions of every sample
  locale against off-topic ones; below HANDOFF_BELOW the question goes to a person;
- CALIBRATION: P(the top article is right), the `confidence` of a result; from ANSWER_AT at
  least 85 % of answered in-scope questions get the right article; clarify in between.
"""

from __future__ import annotations

import math

from kb.search.results import Decision

# Round 3 (BENCHMARKS.md): P(answerable) from the article text's best score (ctop), the best dense
# score of any passage (dtop: a stored question a shopper's words are close to, also across
# languages) and the lift; round 2's read the fused top, which short questions of every subject
# reach through the `questions` entries (Turkish and Polish ones most).
ANSWERABLE = {"bias": -51.968, "ctop": 42.654, "dtop": 30.927, "lift": 10.429}
HANDOFF_BELOW = 0.88
CALIBRATION = {"bias": -1.325, "lift": 4.503, "margin": 45.976}
ANSWER_AT = 0.42


def confidence_features(scores: list[float], content_top: float | None = None,
                        dense_top: float | None = None) -> dict[str, float]:
    """What confidence is computed from, given the ranking's fused scores (best first): the top
    score, its margin to the runner-up, and its lift over the ranking's body (the mean of ranks
    5–15), which measures how much the best article stands out from the rest for *this* query
    whatever the language's score scale; `ctop`, the best dense score of a passage of article
    text (no `questions` entry: kb/search/scoring.content_scores), and `dtop`, the best dense score
    of any passage (no BM25); both the top when not given."""
    s = [float(x) for x in scores[:15]] + [0.0, 0.0]
    body = s[4:15] if len(scores) >= 8 else s[1:2]
    return {"top": s[0], "margin": s[0] - s[1], "lift": s[0] - sum(body) / len(body),
            "ctop": s[0] if content_top is None else float(content_top),
            "dtop": s[0] if dense_top is None else float(dense_top)}


def _logistic(weights: dict[str, float], features: dict[str, float]) -> float:
    z = weights["bias"] + sum(weight * features[name] for name, weight in weights.items() if name != "bias")
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


def confidence_of(scores: list[float]) -> float:
    """P(the top article is right): a logistic over confidence_features (CALIBRATION)."""
    return round(_logistic(CALIBRATION, confidence_features(scores)), 4) if scores else 0.0


def answerable(scores: list[float], content_top: float | None = None, dense_top: float | None = None) -> float:
    """P(the help center answers the question at all), from the same features (ANSWERABLE)."""
    return _logistic(ANSWERABLE, confidence_features(scores, content_top, dense_top)) if scores else 0.0


def decide(confidence: float, scores: list[float], content_top: float | None = None,
           dense_top: float | None = None) -> Decision:
    """handoff when the question does not look like one the help center answers (whatever the
    language: ANSWERABLE); answer when confident the top article is right; clarify in between."""
    if not scores or answerable(scores, content_top, dense_top) < HANDOFF_BELOW:
        return "handoff"
    return "answer" if confidence >= ANSWER_AT else "clarify"
