"""The counts a loaded generation must agree on before it is served (kb/search/index/load.py).

The manifest's hashes (kb/search/index/integrity.py) catch any changed byte; these catch what
loads but does not fit together, in generations without hashes too (written by an older kb): a
passage count that is not the vectors' or FAISS's, BM25 rows out of range, passages that are not
where the manifest's article spans say (shuffled lines), records that are not the manifest's
articles. Each returns its problems, naming the file; none stops at the first.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kb.search.index.integrity import Damage
from kb.search.index.records import ARTICLES, PASSAGES, ArticleRecord, Span
from kb.search.passages import Passage


def base(passages: list[Passage], records: dict[tuple[str, str], ArticleRecord], spans: dict[str, Span],
         dense: Any, lexical: dict[str, Any], vectors: np.ndarray, counts: dict[str, Any], expected: int,
         dim: int) -> list[Damage]:
    """A full generation (or a delta's base) as loaded. `counts`: the manifest's (empty without
    an integrity record); `expected`: its passage count from the manifest."""
    n = len(passages)
    problems: list[Damage] = []
    want = counts.get("passages", expected)
    if n != want or n != expected:
        problems.append(Damage(PASSAGES, f"{n} passages, the manifest says {want}"))
    if len(records) != counts.get("articles", len(spans)):
        problems.append(Damage(ARTICLES, f"{len(records)} articles, the manifest says {counts.get('articles', len(spans))}"))
    elif {f"{locale}/{aid}" for aid, locale in records} != set(spans):
        problems.append(Damage(ARTICLES, "its articles are not the manifest's"))
    if tuple(vectors.shape) != (counts.get("vectors", n), dim) or len(vectors) != n:
        problems.append(Damage("vectors.npy", f"{len(vectors)} rows of {vectors.shape[1] if vectors.ndim == 2 else '?'} "
                                              f"dimensions, the index has {n} passages of {dim}"))
    if int(dense.ntotal) != counts.get("faiss", n) or int(dense.ntotal) != n or int(dense.d) != dim:
        problems.append(Damage("dense.faiss", f"{dense.ntotal} rows of {dense.d} dimensions, the index has "
                                              f"{n} passages of {dim}"))
    problems += bm25(lexical, counts.get("bm25"), 0, n, "")
    if not problems:
        problems += placed(passages, spans)
    return problems


def bm25(models: dict[str, Any], want: dict[str, int] | None, low: int, high: int, prefix: str) -> list[Damage]:
    """Each locale's model: as many documents as rows, rows in [low, high), and as many as the
    manifest counted; together they hold every row once (a base's: prefix "")."""
    problems: list[Damage] = []
    total = 0
    for locale, (model, rows) in models.items():
        name = f"{prefix}bm25-{locale}"
        docs = int(model.scores.get("num_docs", -1))
        total += len(rows)
        if docs != len(rows) or (want is not None and want.get(locale) != len(rows)):
            problems.append(Damage(name, f"{docs} documents over {len(rows)} rows, the manifest says "
                                         f"{want.get(locale) if want is not None else len(rows)}"))
        elif len(rows) and (int(rows.min()) < low or int(rows.max()) >= high):
            problems.append(Damage(f"{name}/rows.npy", f"rows outside {low}..{high - 1}"))
    for locale in sorted(set(want or {}) - set(models)):
        problems.append(Damage(f"{prefix}bm25-{locale}", "missing"))
    if not problems and not prefix and total != high - low:
        problems.append(Damage("bm25-*", f"{total} rows in all, the index has {high - low} passages"))
    return problems


def placed(passages: list[Passage], spans: dict[str, Span], split: int | None = None) -> list[Damage]:
    """The passages of each article in `spans` are at its span's rows (a shuffled or shifted
    passages file fails here even without hashes). Rows from `split` on are a delta's."""
    n = len(passages)
    for key, span in spans.items():
        locale, _, aid = key.partition("/")
        start, end = span.get("start"), span.get("end")
        if not (isinstance(start, int) and isinstance(end, int) and 0 <= start <= end <= n):
            return [Damage("manifest.json", f"article {key}: rows {start}..{end} outside the {n} passages")]
        for row in range(start, end):
            p = passages[row]
            if p.article_id != aid or p.locale != locale:
                file = f"delta/{PASSAGES}" if split is not None and row >= split else PASSAGES
                return [Damage(file, f"row {row} holds {p.locale}/{p.article_id}, the manifest puts {key} there "
                                     "(lines out of place)")]
    return []


def delta(extra: np.ndarray, dead: np.ndarray, passage_lines: int, record_lines: int, models: dict[str, Any],
          counts: dict[str, Any], info: dict[str, Any], base_rows: int, total: int, dim: int) -> list[Damage]:
    """A delta's own files against its manifest: `counts` its "delta" counts (empty without)."""
    problems: list[Damage] = []
    if passage_lines != counts.get("passages", total - base_rows) or base_rows + passage_lines != total:
        problems.append(Damage(f"delta/{PASSAGES}", f"{passage_lines} passages, the manifest says "
                                                    f"{counts.get('passages', total - base_rows)}"))
    if extra.ndim != 2 or len(extra) != passage_lines or (len(extra) and extra.shape[1] != dim):
        problems.append(Damage("delta/vectors.npy", f"shape {tuple(extra.shape)}, the delta has {passage_lines} "
                                                    f"passages of {dim} dimensions"))
    if "articles" in counts and record_lines != counts["articles"]:
        problems.append(Damage(f"delta/{ARTICLES}", f"{record_lines} articles, the manifest says {counts['articles']}"))
    if (dead.ndim != 1 or len(dead) != counts.get("dead", info.get("dead", len(dead)))
            or (len(dead) and (int(dead.min()) < 0 or int(dead.max()) >= base_rows))):
        problems.append(Damage("delta/dead.npy", f"{len(dead)} rows, the manifest says "
                                                 f"{counts.get('dead', info.get('dead'))}, all below {base_rows}"))
    problems += bm25(models, counts.get("bm25"), base_rows, total, "delta/")
    return problems
