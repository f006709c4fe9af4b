"""How the ensemble's models are weighed for one query and one passage (issue 15, items 1-2).

The index stores an ensemble vector as its parts side by side, part i scaled by sqrt(b_i) (the
weights it was built with, `Ensemble.weights`): the stored vectors and the embedding cache do
not depend on the weights used for scoring. At query time each part gets a scoring weight w_i,
and the dense score of a passage is sum_i w_i * cos_i(query, passage). A model is not asked
about a language it does not know: when USE does not know the query's or the passage's
language, its cosine is estimated from e5's (USE_FROM_E5), so the pair stays on the scale of
every other pair (or, with unknown="zero", its weight goes to the parts that know both).

FAISS finds the candidates with one inner product (the query's parts scaled by w_i / sqrt(b_i)
give exactly that sum for passages every part knows), and, when the help center holds passages
in a language some part does not know, also with the parts that know every language; the
candidates are then scored exactly, part by part, from their stored vectors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# The 16 languages USE multilingual v3 was trained on (its model card): ar, zh (simplified and
# traditional), en, fr, de, it, ja, ko, nl, pl, pt, es, th, tr, ru. Not el, hi, vi, ...
USE_LANGUAGES = frozenset({"ar", "de", "en", "es", "fr", "it", "ja", "ko", "nl", "pl", "pt", "ru", "th", "tr", "zh"})

# The USE part's scoring weight, e5's is 1 minus it. Chosen by the rule written in BENCHMARKS.md
# ("Fusion: the default, chosen honestly") before measuring: the largest worst-case margin over
# the better single model on the four shared sets (0.25 before: it lost 0.044 to e5 alone on
# xquad-r-pooled); the numbers are there.
USE_WEIGHT = 0.075
# BM25's bonus to an article the dense side found: LEX_WEIGHT x (its BM25 / the query's best).
# 0.03 ranks best on the shared sets (0.05, issue 16's value, lost 0.003-0.019 mrr@10 on three of
# them: BENCHMARKS.md, "Retrieval on the final code"); exact rare terms are kept by kb/search/rare.py.
LEX_WEIGHT = 0.03
# The weights the answer / clarify / handoff models were fitted with (benchmarks/calibrate.py):
# the decision always reads scores fused with them, whatever weights order the results.
DECISION_USE_WEIGHT = 0.25
DECISION_LEX_WEIGHT = 0.05
# For a query or passage in a language USE does not know, its cosine is not used: it is
# estimated from e5's, cos_USE ~ a + b * cos_e5 (least squares over the dense candidates of 180
# queries of each of bitext-en, xsid-xling and xquad-r-xling, where USE knows every language),
# so that such passages are scored on the same scale as the others. Giving USE weight zero
# instead (e5's cosine alone) put them on e5's higher scale: it lost 0.008-0.058 mrr@10 on
# xquad-r-pooled (BENCHMARKS.md, "Fusion").
USE_FROM_E5 = (-1.642, 2.257)


def language(locale: str) -> str:
    """'pt-BR' -> 'pt', 'zh-Hant' -> 'zh'."""
    return locale.split("-", 1)[0].split("_", 1)[0].lower()


@dataclass(frozen=True)
class Part:
    name: str
    start: int  # the part's columns in the stored vector
    stop: int
    stored: float  # the weight the vectors were built with (scaled by its square root)
    languages: frozenset[str] | None  # None: every language

    def knows(self, locale: str) -> bool:
        return self.languages is None or language(locale) in self.languages


@dataclass(frozen=True)
class Fusion:
    parts: tuple[Part, ...]
    weights: tuple[float, ...]  # scoring weights, summing to 1
    unknown: str = "estimate"  # a part's cosine for a language it does not know: "estimate" or "zero" weight

    @classmethod
    def of(cls, embedder: object, use_weight: float | None = None, aware: bool = True,
           unknown: str = "estimate") -> Fusion | None:
        """The fusion of an ensemble embedder (None for a single model). `use_weight` overrides
        USE_WEIGHT for the USE part (a calibration, a benchmark); `aware=False` asks every model
        about every language (the fusion before issue 15, for comparison); `unknown="zero"` gives
        a model weight zero for a language it does not know instead of estimating its cosine."""
        parts_of = getattr(embedder, "parts", None)
        if not parts_of:
            return None
        parts, start = [], 0
        for model, stored in zip(parts_of, embedder.weights, strict=True):  # type: ignore[attr-defined]
            langs = USE_LANGUAGES if aware and model.name == "use-multilingual" else None
            parts.append(Part(model.name, start, start + model.dim, float(stored), langs))
            start += model.dim
        use = USE_WEIGHT if use_weight is None else use_weight
        if not 0.0 <= use <= 1.0:
            raise ValueError(f"use_weight {use}: give a number from 0 to 1")
        if len(parts) == 2 and {p.name for p in parts} >= {"use-multilingual"}:
            weights = tuple(use if p.name == "use-multilingual" else 1.0 - use for p in parts)
        else:
            weights = tuple(p.stored for p in parts)
        if unknown not in ("estimate", "zero"):
            raise ValueError(f"unknown={unknown!r}: use 'estimate' or 'zero'")
        return cls(tuple(parts), weights, unknown)

    def pair_weights(self, query_locale: str, passage_locale: str) -> np.ndarray:
        w = np.array([wi if p.knows(query_locale) and p.knows(passage_locale) else 0.0
                      for p, wi in zip(self.parts, self.weights, strict=True)])
        total = w.sum()
        if total <= 0:  # no part knows both: every part counts as it would
            return np.asarray(self.weights, dtype=np.float64)
        return w / total

    def query_vector(self, qvec: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """The search vector whose inner product with a stored passage vector is
        sum_i weights_i * cos_i."""
        out = np.zeros_like(qvec, dtype=np.float32)
        for p, w in zip(self.parts, weights, strict=True):
            if w and p.stored > 0:
                out[p.start:p.stop] = qvec[p.start:p.stop] * (w / p.stored)
        return out

    def search_vectors(self, qvec: np.ndarray, query_locale: str, locales: list[str]) -> list[np.ndarray]:
        """One search vector for the passages every part knows (in the query's weights) and, if
        the help center has passages some part does not know, one with only the parts that know
        every language there."""
        out = [self.query_vector(qvec, self.pair_weights(query_locale, query_locale))]
        if any(not p.knows(loc) for p in self.parts for loc in locales):
            universal = [p.languages is None or all(p.knows(loc) for loc in locales) for p in self.parts]
            w = np.array([wi if ok else 0.0 for wi, ok in zip(self.weights, universal, strict=True)])
            if w.sum() > 0:
                out.append(self.query_vector(qvec, w / w.sum()))
        return out

    def cosines(self, qvec: np.ndarray, stored: np.ndarray) -> np.ndarray:
        """Each part's cosine between the query and stored passage vectors: (rows, parts)."""
        cos = np.stack([stored[:, p.start:p.stop] @ qvec[p.start:p.stop] for p in self.parts], axis=1)
        return cos / np.array([p.stored if p.stored > 0 else 1.0 for p in self.parts])

    def combine(self, cos: np.ndarray, query_locale: str, passage_locales: list[str]) -> np.ndarray:
        """The dense scores from `cosines`: a part that does not know the query's or the
        passage's language has its cosine estimated from the universal part's (or, with
        unknown="zero", its weight shared by the parts that know both)."""
        universal = next((i for i, p in enumerate(self.parts) if p.languages is None), None)
        if not passage_locales:
            return np.zeros(0)
        each = dict.fromkeys(passage_locales)  # a row's weights or mask depend only on its locale
        if self.unknown == "estimate" and universal is not None:
            masks = {loc: [p.knows(query_locale) and p.knows(loc) for p in self.parts] for loc in each}
            known = np.array([masks[loc] for loc in passage_locales], dtype=bool)
            a, b = USE_FROM_E5
            estimate = a + b * cos[:, universal]
            return np.where(known, cos, estimate[:, None]) @ np.asarray(self.weights)
        pair = {loc: self.pair_weights(query_locale, loc) for loc in each}
        return (cos * np.stack([pair[loc] for loc in passage_locales])).sum(axis=1)

    def scores(self, qvec: np.ndarray, stored: np.ndarray, query_locale: str,
               passage_locales: list[str]) -> np.ndarray:
        """The exact dense scores of stored passage vectors (rows of `stored`)."""
        return self.combine(self.cosines(qvec, stored), query_locale, passage_locales)
