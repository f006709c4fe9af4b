"""Calibration on the help center's own questions (kb/search/calibration.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from kb.search import calibration
from kb.search.calibration import Calibration, decide
from kb.search.fusion import USE_WEIGHT

BASE = (0.25, 0.05)
OTHER = (0.0, 0.05)


def _articles(n: int) -> list[str]:
    return [f"a{i // 3}" for i in range(n)]  # three questions an article


def test_a_clear_gain_on_held_out_questions_is_adopted() -> None:
    rng = np.random.default_rng(1)
    base = rng.choice([0.0, 0.25, 0.5, 1.0], size=240)
    better = np.where(rng.random(240) < 0.3, 1.0, base)  # a third of the questions move to rank 1
    cal = decide({BASE: base, OTHER: better}, BASE, _articles(240), "v1", "f")
    assert cal.adopted and (cal.use_weight, cal.lex_weight) == OTHER
    assert cal.interval[0] > 0 and cal.heldout_gain > 0.1 and cal.questions == 240
    assert "used" in cal.summary() and "not used" not in cal.summary()


def test_the_default_stays_without_strong_evidence() -> None:
    rng = np.random.default_rng(2)
    base = rng.choice([0.0, 0.5, 1.0], size=240)
    # better on one question only: chosen on all questions, but the interval holds no gain
    one = base.copy()
    one[np.argmin(base)] = 1.0
    cal = decide({BASE: base, OTHER: one}, BASE, _articles(240), "v1", "f")
    assert not cal.adopted and cal.interval[0] <= 0 and "not used" in cal.summary()
    # worse everywhere: the default serves best
    cal = decide({BASE: base, OTHER: base * 0.5}, BASE, _articles(240), "v1", "f")
    assert not cal.adopted and cal.reason.startswith("the default")
    # a tie goes to the default
    cal = decide({OTHER: base.copy(), BASE: base}, BASE, _articles(240), "v1", "f")
    assert not cal.adopted and (cal.use_weight, cal.lex_weight) == BASE


def test_halves_that_disagree_keep_the_default() -> None:
    n = 240
    articles = _articles(n)
    base = np.full(n, 0.5)
    # better by a lot on some articles, worse on others: which half wins depends on the split
    sign = np.array([1.0 if int(a[1:]) % 2 else -0.9 for a in articles])
    cal = decide({BASE: base, OTHER: base + 0.4 * sign}, BASE, articles, "v1", "f", seed=0)
    assert not cal.adopted


def _engine(data: Path):  # type: ignore[no-untyped-def]
    from kb.search.engine import Engine

    return Engine(data, calibrated=False)


def _copy(data: Path, tmp_path: Path) -> Path:
    out = tmp_path / "data"
    shutil.copytree(data, out, symlinks=True)
    return out


@pytest.mark.slow
def test_measured_on_the_sample_with_questions_held_out(sample_index: Path, tmp_path: Path) -> None:
    data = _copy(sample_index, tmp_path)
    cal = calibration.run(_engine(data))
    assert cal.questions >= calibration.MIN_QUESTIONS
    assert len(cal.grid) == len(calibration.USE_GRID) * len(calibration.LEX_GRID)
    # held out for real: a question left in the index would find itself, rank 1 nearly always
    assert 0.2 < cal.default_mrr < 0.95
    assert json.loads((data / calibration.FILE).read_text())["questions"] == cal.questions
    # the same questions and passages: not measured again
    assert calibration.run(_engine(data)) == cal

    from kb.search.engine import Engine

    engine = Engine(data)
    assert engine.ranking == cal.summary()
    expected = (cal.use_weight, 1 - cal.use_weight) if cal.adopted else (USE_WEIGHT, 1 - USE_WEIGHT)
    assert engine.snapshot() and engine.fusion is not None
    assert engine.fusion.weights == pytest.approx(expected)
    # the decision keeps the weights it was fitted with
    assert engine.reference[0] is not None and engine.reference[0].weights == pytest.approx((0.25, 0.75))


@pytest.mark.slow
def test_questions_searched_together_find_what_each_finds_alone(sample_index: Path) -> None:
    """The calibration runs one FAISS search for all its questions; each question's candidates
    must be those of its own search, held-out rows excluded."""
    from kb.search.fusion import Fusion
    from kb.search.query import normalize_query
    from kb.search.scoring import gather, weigh

    engine = _engine(sample_index)
    index = engine.index
    held, asks = calibration.questions(index)
    texts = [normalize_query(p.text) for _, p in asks]
    qvecs = engine.embedder.encode_queries(texts)
    fusions = [Fusion.of(engine.embedder, use) for use in calibration.USE_GRID]
    searched = calibration._searched(index, engine.mode, asks, qvecs, fusions, held)
    assert len(asks) >= 4
    for (_, asked), text, qvec, hits in zip(asks, texts, qvecs, searched, strict=True):
        out = frozenset(held[asked.article_id])
        together = gather(index, text, qvec, asked.locale, mode=engine.mode, fusions=fusions, exclude=out, hits=hits)
        alone = gather(index, text, qvec, asked.locale, mode=engine.mode, fusions=fusions, exclude=out)
        # the same rows (a batched search may list near-ties in another order), the same scores
        assert set(together.rows) == set(alone.rows) and not set(together.rows) & out
        cos = dict(zip(alone.rows, alone.cos.tolist(), strict=True))
        assert all(np.allclose(c, cos[row]) for row, c in zip(together.rows, together.cos.tolist(), strict=True))
        for fusion in fusions:
            assert weigh(together, fusion, 0.05, engine.mode)[0] == pytest.approx(weigh(alone, fusion, 0.05, engine.mode)[0])


@pytest.mark.slow
def test_a_help_center_without_questions_keeps_the_default(tmp_path: Path) -> None:
    from helpers import write_help_center

    from kb.content.library import Library
    from kb.search.embedders import get_embedder
    from kb.search.index import build_index

    content = write_help_center(tmp_path / "content")
    for path in content.rglob("*.md"):  # a copy whose articles have no questions
        text = path.read_text(encoding="utf-8")
        head, _, body = text.partition("\n---\n")
        head = "\n".join(line for line in head.splitlines() if not line.startswith(("questions:", "  - ")))
        path.write_text(head + "\n---\n" + body, encoding="utf-8")
    library = Library.load(content)
    assert library.articles and not any(a.meta.questions for a in library.articles)
    data = tmp_path / "data"
    build_index(library, data, get_embedder())
    cal = calibration.run(_engine(data))
    assert not cal.adopted and cal.questions == 0 and "0 questions" in cal.reason


@pytest.mark.slow
def test_the_engine_reads_the_file_and_refuses_a_bad_one(sample_index: Path, tmp_path: Path,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    from kb.search.engine import Engine

    data = _copy(sample_index, tmp_path)
    engine = Engine(data, reload_interval=0.0)
    version = engine.embedder.version
    calibration.save(data, Calibration(True, 0.0, 0.15, "a clear held-out gain", questions=100,
                                       embedder_version=version))
    assert "USE 0, BM25 0.15 used" in engine.ranking
    assert engine.fusion is not None and engine.fusion.weights == (0.0, 1.0) and engine.lex_weight == 0.15
    calibration.save(data, Calibration(True, 0.0, 0.15, "x", questions=100, embedder_version="another-model"))
    assert engine.ranking.startswith("ranking weights: default") and engine.lex_weight == 0.03
    (data / calibration.FILE).write_text("{not json", encoding="utf-8")
    with caplog.at_level("WARNING", logger="kb.search"):
        assert engine.ranking.startswith("ranking weights: default")
    assert any(calibration.FILE in r.getMessage() and "kb index" in r.getMessage() for r in caplog.records)
    assert engine.fusion is not None and engine.fusion.weights == pytest.approx((USE_WEIGHT, 1 - USE_WEIGHT))


@pytest.mark.slow
def test_a_single_model_has_nothing_to_weigh(tmp_path: Path) -> None:
    from helpers import write_help_center

    from kb.content.library import Library
    from kb.search.embedders import get_embedder
    from kb.search.index import build_index

    data = tmp_path / "data"
    build_index(Library.load(write_help_center(tmp_path / "content")), data, get_embedder("use-multilingual"))
    cal = calibration.run(_engine(data))
    assert not cal.adopted and cal.use_weight is None and "single model" in cal.summary()
