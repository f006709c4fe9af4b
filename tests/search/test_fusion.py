"""kb/search/fusion.py: scoring weights applied at query time, and no model asked about a
language it does not know."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from kb.search.embedders import Ensemble
from kb.search.fusion import USE_FROM_E5, USE_LANGUAGES, Fusion


@dataclass
class Model:
    name: str
    dim: int
    version: str = "1"


def _unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    x = rng.normal(size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _setup(stored: float = 0.25, use_weight: float = 0.1):
    rng = np.random.default_rng(3)
    use, e5 = Model("use-multilingual", 6), Model("e5-small", 4)
    ens = Ensemble([use, e5], [stored, 1 - stored])  # type: ignore[list-item]
    u_q, e_q = _unit(rng, 1, 6)[0], _unit(rng, 1, 4)[0]
    u_p, e_p = _unit(rng, 5, 6), _unit(rng, 5, 4)
    q = ens._join([u_q[None], e_q[None]])[0]
    p = ens._join([u_p, e_p])
    fusion = Fusion.of(ens, use_weight)
    assert fusion is not None
    return fusion, q, p, u_q @ u_p.T, e_p @ e_q


def test_a_single_model_has_no_fusion() -> None:
    assert Fusion.of(Model("e5-small", 4)) is None


def test_scores_are_the_scoring_weights_mean_whatever_the_stored_weights() -> None:
    for stored in (0.25, 0.5):
        fusion, q, p, cos_use, cos_e5 = _setup(stored, use_weight=0.1)
        got = fusion.scores(q, p, "de", ["en"] * 5)
        assert got == pytest.approx(0.1 * cos_use + 0.9 * cos_e5, abs=1e-5)
        # FAISS's one inner product gives the same for passages both models know
        vec = fusion.search_vectors(q, "de", ["en", "de"])
        assert len(vec) == 1
        assert p @ vec[0] == pytest.approx(got, abs=1e-5)


def test_a_language_use_does_not_know_gets_its_cosine_estimated_from_e5() -> None:
    assert "el" not in USE_LANGUAGES and "hi" not in USE_LANGUAGES and "de" in USE_LANGUAGES
    fusion, q, p, cos_use, cos_e5 = _setup()
    a, b = USE_FROM_E5
    estimated = 0.1 * (a + b * cos_e5) + 0.9 * cos_e5  # USE's part on e5's evidence, same scale
    mixed = 0.1 * cos_use + 0.9 * cos_e5
    got = fusion.scores(q, p, "de", ["el", "en", "el", "hi", "en"])
    assert got == pytest.approx([estimated[0], mixed[1], estimated[2], estimated[3], mixed[4]], abs=1e-5)
    assert fusion.scores(q, p, "el-GR", ["en"] * 5) == pytest.approx(estimated, abs=1e-5)
    # the older rule, kept for comparison: weight zero, e5's cosine alone
    zero = Fusion.of(fusion_embedder(), 0.1, unknown="zero")
    assert zero is not None
    assert zero.scores(q, p, "de", ["el", "en", "el", "hi", "en"]) == pytest.approx(
        [cos_e5[0], mixed[1], cos_e5[2], cos_e5[3], mixed[4]], abs=1e-5)
    assert fusion.pair_weights("vi", "en").tolist() == [0.0, 1.0]
    assert fusion.pair_weights("pt-BR", "en").tolist() == pytest.approx([0.1, 0.9])


def fusion_embedder() -> Ensemble:
    return Ensemble([Model("use-multilingual", 6), Model("e5-small", 4)], [0.25, 0.75])  # type: ignore[list-item]


def test_a_help_center_with_unknown_languages_is_searched_twice() -> None:
    fusion, q, p, cos_use, cos_e5 = _setup()
    first, second = fusion.search_vectors(q, "en", ["en", "el"])
    assert p @ first == pytest.approx(0.1 * cos_use + 0.9 * cos_e5, abs=1e-5)
    assert p @ second == pytest.approx(cos_e5, abs=1e-5)  # finds Greek passages by e5 alone
    # a Greek query: one search, e5 alone
    only = fusion.search_vectors(q, "el", ["en"])
    assert p @ only[0] == pytest.approx(cos_e5, abs=1e-5)


def test_language_blind_fusion_for_comparison_and_bad_weight() -> None:
    use, e5 = Model("use-multilingual", 6), Model("e5-small", 4)
    ens = Ensemble([use, e5], [0.25, 0.75])  # type: ignore[list-item]
    blind = Fusion.of(ens, 0.3, aware=False)
    assert blind is not None and blind.pair_weights("el", "hi").tolist() == pytest.approx([0.3, 0.7])
    with pytest.raises(ValueError, match="use_weight"):
        Fusion.of(ens, 1.5)
    with pytest.raises(ValueError, match="unknown"):
        Fusion.of(ens, 0.1, unknown="guess")
