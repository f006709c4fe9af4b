"""Calibration on the help center's own questions (issue 15, item 3).

Articles carry alternative phrasings in `questions:`. After `kb index`, each of them is asked as
a shopper would (in its own locale), with every `question` passage of its article held out of
the index while it is tested (in every locale: a translated question must not give the answer
away), and the rank of its article scored (mrr@10). A small fixed grid of ranking weights (USE's
share of the dense score, BM25's bonus) is tried; the default is one of them.

A choice other than the default is used only when the evidence is strong:
- at least MIN_QUESTIONS questions;
- honest evidence of a gain: the questions are split in two by article (an article's questions
  stay together); the weights chosen on one half are scored against the default on the other,
  and the other way round, so no question scores a choice it helped to make; the gains of these
  held-out questions are resampled (BOOTSTRAP times, fixed seed) and the 95 % interval's lower
  end must be above zero;
- and both halves agree on the weights the whole set chooses.
Otherwise the default stays. Whatever the outcome, calibration.json in the data folder says what
was measured; the engine reads it (for the embedder version it was measured with) and `kb index`,
`/healthz` and `kb eval` show it.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kb.errors import KbError
from kb.search.fusion import LEX_WEIGHT, USE_WEIGHT, Fusion
from kb.search.query import normalize_query
from kb.search.scoring import DENSE_CANDIDATES, gather, search_vectors, weigh

FILE = "calibration.json"
MIN_QUESTIONS = 60
BOOTSTRAP = 2000
USE_GRID = (0.0, USE_WEIGHT, 0.25, 0.5)
LEX_GRID = (0.0, LEX_WEIGHT, 0.1)


@dataclass(frozen=True)
class Calibration:
    adopted: bool  # True: the engine ranks with use_weight / lex_weight
    use_weight: float | None  # USE's share (None: a single model)
    lex_weight: float
    reason: str  # one line a person can read
    questions: int = 0
    default_mrr: float = 0.0
    chosen_mrr: float = 0.0
    heldout_gain: float = 0.0  # mean gain of held-out questions (cross-fitted)
    interval: tuple[float, float] = (0.0, 0.0)  # its 95 % bootstrap interval
    embedder_version: str = ""
    fingerprint: str = ""  # the questions and passages it was measured on
    grid: dict[str, float] = field(default_factory=dict)  # "use,lex" -> mrr@10 on all questions

    def summary(self) -> str:
        if not self.questions:
            return f"ranking weights: default ({self.reason})"
        used = "used" if self.adopted else "not used, default kept"
        return (f"ranking weights: USE {_w(self.use_weight)}, BM25 {self.lex_weight:g} {used}: {self.reason} "
                f"({self.questions} questions; mrr@10 {self.default_mrr:.3f} default, {self.chosen_mrr:.3f} chosen; "
                f"held-out gain {self.heldout_gain:+.3f}, 95 % interval {self.interval[0]:+.3f} to {self.interval[1]:+.3f})")

    def public(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("fingerprint")
        out["interval"] = list(self.interval)
        return out


def _w(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def default(lex_weight: float, reason: str, **extra: Any) -> Calibration:
    use_weight = extra.pop("use_weight", USE_WEIGHT)  # None for a single model (measure())
    return Calibration(False, use_weight, lex_weight, reason, **extra)


def load(data_dir: Path, embedder_version: str) -> Calibration | None:
    """The calibration measured for this data folder, if one is there for this embedder; a file
    that cannot be read is ignored (the default ranks) and named in the log by the caller."""
    path = Path(data_dir) / FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        raw["interval"] = tuple(raw.get("interval") or (0.0, 0.0))
        cal = Calibration(**raw)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as exc:
        raise KbError(f"{path}: cannot be read ({exc}); run 'kb index' to measure it again, "
                      "or delete the file to rank with the default weights") from exc
    return cal if cal.embedder_version == embedder_version else None


def save(data_dir: Path, cal: Calibration) -> None:
    path = Path(data_dir) / FILE
    fd, tmp = tempfile.mkstemp(prefix=".calibration-", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(asdict(cal), fh, ensure_ascii=False, indent=1)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def fingerprint(index: Any, embedder_version: str) -> str:
    digest = hashlib.sha256(embedder_version.encode())
    # the rule itself: a new grid, default or threshold is measured anew
    digest.update(repr((USE_GRID, LEX_GRID, USE_WEIGHT, LEX_WEIGHT, MIN_QUESTIONS, BOOTSTRAP)).encode())
    digest.update(str(index.manifest.get("split_version", "")).encode())
    for p in index.passages:
        digest.update(f"{p.article_id}\x1f{p.locale}\x1f{p.kind}\x1f{p.text}\x1e".encode())
    return digest.hexdigest()


def measure(engine: Any, previous: Calibration | None = None, seed: int = 0) -> Calibration:
    """Measure the grid on `engine`'s live generation (the engine's ranking is left as it was)."""
    index = engine.index
    version = engine.embedder.version
    mark = fingerprint(index, version)
    if previous is not None and previous.fingerprint == mark:
        return previous
    if engine.fusion is None:
        return default(engine.lex_weight, "a single model: nothing to weigh", embedder_version=version,
                       fingerprint=mark, use_weight=None)
    held, asks = questions(index)
    if len(asks) < MIN_QUESTIONS:
        return default(engine.lex_weight, f"{len(asks)} questions in the articles, {MIN_QUESTIONS} needed",
                       questions=len(asks), embedder_version=version, fingerprint=mark)
    texts = [normalize_query(p.text) for _, p in asks]
    qvecs = _query_vectors(engine, texts)
    fusions = {use: Fusion.of(engine.embedder, use) for use in USE_GRID}
    grid: dict[tuple[float, float], list[float]] = {(u, lx): [] for u in USE_GRID for lx in LEX_GRID}
    searched = _searched(index, engine.mode, asks, qvecs, list(fusions.values()), held)
    for (_, asked), text, qvec, hits in zip(asks, texts, qvecs, searched, strict=True):
        found = gather(index, text, qvec, asked.locale, mode=engine.mode, fusions=list(fusions.values()),
                       exclude=frozenset(held[asked.article_id]), hits=hits)
        for use, lex in grid:
            scores = weigh(found, fusions[use], lex, engine.mode)[0]
            top = sorted(scores, key=lambda aid: -scores[aid])[:10]
            grid[(use, lex)].append(1.0 / (top.index(asked.article_id) + 1) if asked.article_id in top else 0.0)
    base = (USE_WEIGHT, engine.lex_weight if engine.lex_weight in LEX_GRID else LEX_GRID[1])
    return decide({k: np.array(v) for k, v in grid.items()}, base, [p.article_id for _, p in asks], version, mark, seed)


def questions(index: Any) -> tuple[dict[str, list[int]], list[tuple[int, Any]]]:
    """The live `question` passages: their rows by article (held out together while one is
    asked) and each as (row, passage), in that order."""
    held: dict[str, list[int]] = {}
    for row, p in enumerate(index.passages):
        if p.kind == "question" and index.live(row):
            held.setdefault(p.article_id, []).append(row)
    return held, [(row, index.passages[row]) for rows in held.values() for row in rows]


def _searched(index: Any, mode: str, asks: list[tuple[int, Any]], qvecs: np.ndarray, fusions: list[Any],
              held: dict[str, list[int]]) -> list[Any]:
    """Each question's FAISS hits (the `hits` that `gather` takes), found with one search for all
    the questions: 1,649 searches one at a time took 4 of the sample's 16 seconds."""
    if mode == "lexical" or not asks:
        return [None] * len(asks)
    vectors = [search_vectors(index, qvec, asked.locale, fusions) for (_, asked), qvec in zip(asks, qvecs, strict=True)]
    k = DENSE_CANDIDATES + max(len(rows) for rows in held.values())
    found = index.dense_search_many(np.vstack(vectors), k, batch=True)
    ends = np.cumsum([len(block) for block in vectors])
    return [found[end - len(block):end] for block, end in zip(vectors, ends, strict=True)]


def _query_vectors(engine: Any, texts: list[str]) -> np.ndarray:
    """The questions embedded as queries, through the data folder's embedding cache (a second
    `kb index` after a change embeds only new questions)."""
    from kb.search.cache import EmbeddingCache

    cache = EmbeddingCache(Path(engine.data_dir) / "cache" / "embeddings.sqlite")
    try:
        version = engine.embedder.version
        keys = [cache.key(version, "query", t) for t in texts]
        have = cache.get_many(list(dict.fromkeys(keys)), engine.embedder.dim)
        missing = list(dict.fromkeys(t for t, k in zip(texts, keys, strict=True) if k not in have))
        for i in range(0, len(missing), 128):
            batch = missing[i:i + 128]
            fresh = {cache.key(version, "query", t): v for t, v in zip(batch, engine.embedder.encode_queries(batch),
                                                                        strict=True)}
            cache.put_many(fresh)
            have.update(fresh)
        return np.stack([have[k] for k in keys]) if keys else np.zeros((0, engine.embedder.dim), np.float32)
    finally:
        cache.close()


def decide(grid: dict[tuple[float, float], np.ndarray], base: tuple[float, float], articles: list[str],
           version: str, mark: str, seed: int = 0) -> Calibration:
    """The rule in the module's docstring, on per-question reciprocal ranks for each grid point."""
    n = len(articles)
    rng = random.Random(seed)
    ids = sorted(set(articles))
    rng.shuffle(ids)
    half = {aid: i % 2 for i, aid in enumerate(ids)}
    folds = [np.array([half[a] == f for a in articles]) for f in (0, 1)]

    def best(mask: np.ndarray) -> tuple[float, float]:
        # ties go to the default, then to the grid's order
        top = max(float(v[mask].mean()) for v in grid.values())
        if float(grid[base][mask].mean()) >= top - 1e-9:
            return base
        return next(k for k, v in grid.items() if float(v[mask].mean()) >= top - 1e-9)

    chosen = best(np.ones(n, dtype=bool))
    picks = [best(folds[f]) for f in (0, 1)]
    gains = np.zeros(n)
    for f in (0, 1):  # chosen on fold f, scored on the other
        other = folds[1 - f]
        gains[other] = grid[picks[f]][other] - grid[base][other]
    rs = np.random.default_rng(seed)
    boot = np.sort(np.array([gains[rs.integers(0, n, n)].mean() for _ in range(BOOTSTRAP)]))
    low, high = float(boot[int(0.025 * BOOTSTRAP)]), float(boot[int(0.975 * BOOTSTRAP) - 1])
    table = {f"{u:g},{lx:g}": round(float(v.mean()), 4) for (u, lx), v in grid.items()}
    common = dict(questions=n, default_mrr=round(float(grid[base].mean()), 4),
                  chosen_mrr=round(float(grid[chosen].mean()), 4), heldout_gain=round(float(gains.mean()), 4),
                  interval=(round(low, 4), round(high, 4)), embedder_version=version, fingerprint=mark, grid=table)
    if chosen == base:
        return Calibration(False, base[0], base[1], "the default serves these questions best", **common)
    if picks[0] != chosen or picks[1] != chosen:
        return Calibration(False, chosen[0], chosen[1], "the two halves of the questions choose differently", **common)
    if low <= 0.0:
        return Calibration(False, chosen[0], chosen[1], "the held-out gain's interval includes no gain", **common)
    return Calibration(True, chosen[0], chosen[1], "a clear held-out gain", **common)


def run(engine: Any) -> Calibration:
    """Measure the live generation `engine` serves (an Engine made with calibrated=False), unless
    the previous measurement was of the same questions and passages, and write calibration.json
    into its data folder."""
    data_dir = Path(engine.data_dir)
    try:
        previous = load(data_dir, engine.embedder.version)
    except KbError:
        previous = None  # unreadable: measured again and written anew
    cal = measure(engine, previous)
    if cal is not previous:
        save(data_dir, cal)
    return cal
