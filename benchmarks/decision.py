"""The analysis behind benchmarks/calibrate.py: confidence models, the answer / handoff thresholds
and the relevance cut, chosen by the rule in BENCHMARKS.md on the choosing half of the questions
and reported per locale on the confirming half.

A row is one question as calibrate.py saved it: group (offtopic, same, xling, bitext,
shared-offtopic, shared/<set>), locale, half (choose, confirm, fit), gold article ids (none for
off-topic), the engine's ranking ([[id, fused score]] best first) and, from this version on, the
two parts of the fused score (dense, lexical) so that the BM25 weight can vary.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np

from kb.search.decision import confidence_features

LOCALES = ("en", "de", "fr", "es", "it", "pl", "tr")
TODAY = {"bias": -10.907, "score": 12.692, "margin": 43.078, "handoff": 0.25, "answer": 0.6}
# round 2 (issue 16, main at c93f545): the rule round 3 starts from, "before" in its tables
ROUND2: dict[str, Any] = {"answerable": {"bias": -54.408, "top": 72.461, "lift": -5.493}, "handoff": 0.41,
                          "right": {"bias": -17.382, "top": 20.394, "margin": 38.102}, "answer": 0.56}
HANDOFF_TARGET = 0.90  # off-topic questions handed off, in every locale
KEEP_SLACK = 0.05  # in-scope not-handed-off may fall at most this much below today's, per locale
PRECISION = 0.85  # right article among answered in-scope questions
KEEP_RELEVANT = 0.97  # the cut keeps the relevant article this often, worst locale
Rows = list[dict[str, Any]]


def scores_of(row: dict[str, Any], lex_weight: float | None) -> list[tuple[str, float]]:
    """The row's ranking, recomputed from its parts at `lex_weight` (None: as the engine ranked)."""
    if lex_weight is None or "dense" not in row:
        return [(aid, float(s)) for aid, s in row["ranked"]]
    lexical = row["lexical"]
    fused = {aid: s + lex_weight * lexical.get(aid, 0.0) for aid, s in row["dense"].items()}
    return sorted(fused.items(), key=lambda kv: -kv[1])[:20]


def content_top(row: dict[str, Any]) -> float | None:
    """The best dense score of a passage of article text (no questions entries), as the engine
    computes it (kb/search/scoring.content_scores); None for rows collected without it."""
    if "content" not in row:
        return None
    if row["content"]:
        return max(row["content"].values())
    return min(row["dense"].values()) if row.get("dense") else 0.0


def dense_top(row: dict[str, Any] | None) -> float | None:
    """The best dense score (no BM25) with the decision's weights, as kb/search/scoring computes it."""
    return max(row["dense"].values()) if row is not None and row.get("dense") and "content" in row else None


def features(ranked: list[tuple[str, float]], row: dict[str, Any] | None = None) -> dict[str, float]:
    return confidence_features([score for _, score in ranked], content_top(row) if row is not None else None,
                               dense_top(row))


def right(row: dict[str, Any], ranked: list[tuple[str, float]]) -> bool:
    return bool(ranked) and ranked[0][0] in row["gold"]


def rank_of_gold(row: dict[str, Any], ranked: list[tuple[str, float]]) -> int | None:
    for n, (aid, _) in enumerate(ranked[:10]):
        if aid in row["gold"]:
            return n
    return None


def mrr(rows: Rows, lex_weight: float | None) -> float:
    ranks = [rank_of_gold(r, scores_of(r, lex_weight)) for r in rows]
    return float(np.mean([0.0 if n is None else 1.0 / (n + 1) for n in ranks])) if rows else float("nan")


def fit_logistic(x: np.ndarray, y: np.ndarray, steps: int = 6000, lr: float = 0.5) -> np.ndarray:
    mu, sd = x.mean(0), x.std(0) + 1e-9
    zb = np.hstack([np.ones((len(x), 1)), (x - mu) / sd])
    w = np.zeros(zb.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-zb @ w))
        w -= lr * zb.T @ (p - y) / len(y)
    coef = w[1:] / sd
    return np.concatenate([[w[0] - float((w[1:] * mu / sd).sum())], coef])


class Model:
    """Confidence = σ(bias + Σ weight·feature) over the named features."""

    def __init__(self, name: str, names: tuple[str, ...], weights: np.ndarray) -> None:
        self.name, self.names, self.weights = name, names, weights

    def __call__(self, feats: dict[str, float]) -> float:
        z = self.weights[0] + sum(w * feats[n] for w, n in zip(self.weights[1:], self.names, strict=True))
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

    def describe(self) -> dict[str, float]:
        return {"bias": round(float(self.weights[0]), 3),
                **{n: round(float(w), 3) for n, w in zip(self.names, self.weights[1:], strict=True)}}


Conf = float | tuple[float, float]  # one confidence, or (P(answerable) for handoff, P(right) for answer)


def _parts(conf: Conf) -> tuple[float, float]:
    return conf if isinstance(conf, tuple) else (conf, conf)


def decide(conf: Conf, handoff: float, answer: float) -> str:
    gate, score = _parts(conf)
    return "handoff" if gate < handoff else "answer" if score >= answer else "clarify"


def rates(rows: Rows, confs: list[Conf], handoff: float, answer: float) -> dict[str, dict[str, dict[str, float]]]:
    """Per group and locale: handoff / clarify / answer rates, and right-among-answered."""
    acc: dict[tuple[str, str], list[tuple[str, bool]]] = defaultdict(list)
    for row, conf in zip(rows, confs, strict=True):
        acc[(row["group"], row["locale"])].append((decide(conf, handoff, answer), row["_right"]))
    out: dict[str, dict[str, dict[str, float]]] = defaultdict(dict)
    for (group, locale), items in acc.items():
        n = len(items)
        answered = [ok for d, ok in items if d == "answer"]
        out[group][locale] = {"n": n, **{d: sum(1 for x, _ in items if x == d) / n for d in ("handoff", "clarify", "answer")},
                              "right_answered": (sum(answered) / len(answered)) if answered else float("nan")}
    return out


def choose_thresholds(rows: Rows, confs: list[Conf], today: dict[str, dict[str, dict[str, float]]]
                      ) -> tuple[float, float, dict[str, Any]] | None:
    """The rule's thresholds on the choosing half: (handoff, answer, summary) or None."""
    best: tuple[bool, float, float, dict[str, Any]] | None = None
    inscope = [i for i, r in enumerate(rows) if r["group"] in ("same", "xling", "bitext")]
    for handoff in np.arange(0.05, 0.99, 0.01):
        table = rates(rows, confs, float(handoff), 1.01)
        off = [table["offtopic"][loc]["handoff"] for loc in LOCALES if loc in table["offtopic"]]
        kept_ok = all(1 - table["same"][loc]["handoff"] >= 1 - today["same"][loc]["handoff"] - KEEP_SLACK
                      for loc in LOCALES if loc in table["same"]) and all(
            table["xling"][loc]["handoff"] <= today["xling"][loc]["handoff"] + KEEP_SLACK
            for loc in LOCALES if loc in table.get("xling", {}) and loc in today.get("xling", {}))
        if not kept_ok:
            continue
        answer = None
        two = isinstance(confs[0], tuple)
        for a in np.arange(0.05 if two else float(handoff), 0.96, 0.01):
            answered = [rows[i]["_right"] for i in inscope
                        if _parts(confs[i])[1] >= a and _parts(confs[i])[0] >= handoff]
            if answered and sum(answered) / len(answered) >= PRECISION:
                answer = float(a)
                break
        if answer is None:
            continue
        table = rates(rows, confs, float(handoff), answer)
        worst_answer = min(table["same"][loc]["answer"] for loc in LOCALES if loc in table["same"])
        # rule 4, ties going to more off-topic questions handed off, then to the lower threshold
        key = (min(off) >= HANDOFF_TARGET, worst_answer if min(off) >= HANDOFF_TARGET else min(off), min(off))
        summary = {"handoff": round(float(handoff), 2), "answer": round(answer, 2),
                   "worst_offtopic_handoff": round(min(off), 3), "worst_same_answer": round(worst_answer, 3)}
        if best is None or key > best[:3]:
            best = (*key, summary)
    return (best[3]["handoff"], best[3]["answer"], best[3]) if best else None


def margin_for(rows: Rows, lex_weight: float | None) -> float:
    """The smallest margin keeping the relevant article (found in the top 10) for KEEP_RELEVANT of
    the in-scope questions in every locale of both sets."""
    gaps: dict[tuple[str, str], list[float]] = defaultdict(list)
    for row in rows:
        ranked = scores_of(row, lex_weight)
        n = rank_of_gold(row, ranked)
        if n is not None:
            gaps[(row["group"], row["locale"])].append(ranked[0][1] - ranked[n][1])
    return max(float(np.quantile(g, KEEP_RELEVANT)) for g in gaps.values()) if gaps else 0.1


def cut_report(rows: Rows, lex_weight: float | None, margin: float) -> dict[str, dict[str, dict[str, float]]]:
    out: dict[str, dict[str, dict[str, float]]] = defaultdict(dict)
    acc: dict[tuple[str, str], list[tuple[bool | None, int]]] = defaultdict(list)
    for row in rows:
        ranked = scores_of(row, lex_weight)[:10]
        shown = [s for s in ranked if s[1] >= ranked[0][1] - margin] if ranked else []
        n = rank_of_gold(row, ranked)
        acc[(row["group"], row["locale"])].append((None if n is None else n < len(shown), len(shown)))
    for (group, locale), items in acc.items():
        found = [k for k, _ in items if k is not None]
        out[group][locale] = {"kept_relevant": round(sum(found) / len(found), 3) if found else float("nan"),
                              "mean_shown": round(float(np.mean([m for _, m in items])), 2)}
    return out


def _print_rates(title: str, table: dict[str, dict[str, dict[str, float]]]) -> None:
    print(f"\n{title}")
    print(f"{'locale':8}{'off-topic handoff':>19}{'same: answer':>14}{'same: clarify':>15}{'same: handoff':>15}"
          f"{'xling: answer':>15}{'xling: handoff':>16}")
    for loc in LOCALES:
        o, s, x = (table.get(g, {}).get(loc) for g in ("offtopic", "same", "xling"))
        print(f"{loc:8}{_pct(o, 'handoff'):>19}{_pct(s, 'answer'):>14}{_pct(s, 'clarify'):>15}{_pct(s, 'handoff'):>15}"
              f"{_pct(x, 'answer'):>15}{_pct(x, 'handoff'):>16}")


def _pct(cell: dict[str, float] | None, key: str) -> str:
    return "—" if not cell else f"{cell[key]:.1%}"


def _conf(gate: Model, model: Model | None, row: dict[str, Any]) -> Conf:
    return gate(row["_feats"]) if model is None else (gate(row["_feats"]), model(row["_feats"]))


def analyse(rows: Rows, before: Rows | None = None) -> dict[str, Any]:
    report: dict[str, Any] = {}
    choose = [r for r in rows if r["half"] in ("choose", "fit")]
    confirm = [r for r in rows if r["half"] == "confirm" or r["group"] == "bitext"]
    same_choose = [r for r in choose if r["group"] == "same"]
    bitext = [r for r in rows if r["group"] == "bitext"]
    # 1. the BM25 weight
    weights = (0.03, 0.05, 0.075, 0.1, 0.15, 0.2)
    by_weight = {}
    for w in weights:
        per = {loc: mrr([r for r in same_choose if r["locale"] == loc], w) for loc in LOCALES}
        by_weight[w] = {"worst_same": min(per.values()), "bitext": mrr(bitext, w), "per_locale": per}
    lex = 0.03
    for w in weights[1:]:
        if by_weight[w]["worst_same"] > by_weight[lex]["worst_same"] and by_weight[w]["bitext"] >= by_weight[0.03]["bitext"] - 0.005:
            lex = w
    report["lex_weight"] = {"chosen": lex, "measured": {str(w): v for w, v in by_weight.items()}}
    print("BM25 weight: mrr@10 same-language (worst locale, choosing half) / Bitext")
    for w, v in by_weight.items():
        print(f"  {w:<6} {v['worst_same']:.4f} / {v['bitext']:.4f}  " + " ".join(f"{k} {x:.3f}" for k, x in v["per_locale"].items()))
    print(f"  chosen: {lex}")
    # 2. confidence models and thresholds
    for r in rows:
        ranked = scores_of(r, lex)
        r["_feats"], r["_right"] = features(ranked, r), right(r, ranked)
    today_model = Model("today", ("top", "margin"), np.array([TODAY["bias"], TODAY["score"], TODAY["margin"]]))
    if ROUND2:  # today is round 2's rule: two models (handoff by P(answerable), answer by P(right))
        gate2 = Model("round 2 answerable", ("top", "lift"), np.array([ROUND2["answerable"][k] for k in ("bias", "top", "lift")]))
        right2 = Model("round 2 right", ("top", "margin"), np.array([ROUND2["right"][k] for k in ("bias", "top", "margin")]))
        today_conf: Callable[[dict[str, Any]], Conf] = lambda r: (gate2(r["_feats"]), right2(r["_feats"]))  # noqa: E731
        today_cut = (ROUND2["handoff"], ROUND2["answer"])
    else:
        today_conf, today_cut = (lambda r: today_model(r["_feats"])), (TODAY["handoff"], TODAY["answer"])
    base_rows = before if before is not None else rows
    for r in base_rows:
        if "_feats" not in r:
            ranked = scores_of(r, None)
            r["_feats"], r["_right"] = features(ranked, r), right(r, ranked)
    today_choose = rates([r for r in base_rows if r["half"] in ("choose", "fit")],
                         [today_conf(r) for r in base_rows if r["half"] in ("choose", "fit")], *today_cut)
    today_confirm_rows = [r for r in base_rows if r["half"] == "confirm" or r["group"] == "bitext"]
    today_confirm = rates(today_confirm_rows, [today_conf(r) for r in today_confirm_rows], *today_cut)
    report["before_choosing_half"] = today_choose
    _print_rates("before (today's confidence and thresholds), confirming half", today_confirm)
    report["before"] = today_confirm
    candidates: list[tuple[tuple[Model, Model | None], float, float, dict[str, Any]]] = []
    models: dict[str, list[Model]] = {"right": [], "answerable": []}
    # fitted to "the top article is right" (as before) or to "the help center answers this
    # question" (in-scope against off-topic, whatever the top); the thresholds decide the rest
    labels = {"right": np.array([1.0 if r["_right"] else 0.0 for r in choose]),
              "answerable": np.array([0.0 if r["group"] in ("offtopic", "shared-offtopic") else 1.0 for r in choose])}
    shapes = [("top", "margin"), ("top", "margin", "lift"), ("top", "lift"), ("lift", "margin")]
    if all("content" in r for r in choose if r["group"] in ("offtopic", "same")):  # round 3: the article text's top
        shapes += [("ctop", "lift"), ("ctop", "top", "lift"), ("ctop", "margin", "lift"), ("ctop", "top"), ("ctop",),
                   ("ctop", "dtop"), ("ctop", "dtop", "lift"), ("ctop", "dtop", "margin")]
    for (label, y), names in itertools.product(labels.items(), shapes):
        if label == "right" and "ctop" in names:
            continue  # the answer's confidence stays P(top right) from the ranking's scores
        x = np.array([[r["_feats"][n] for n in names] for r in choose])
        models[label].append(Model(f"{label}: " + "+".join(names), names, fit_logistic(x, y)))
    pairs = [(m, None) for m in models["right"]] + list(itertools.product(models["answerable"], models["right"]))
    for gate, model in pairs:
        confs = [_conf(gate, model, r) for r in choose]
        picked = choose_thresholds(choose, confs, today_choose)
        name = model.name if model is not None else gate.name
        if model is not None:
            name = f"handoff by {gate.name}, answer by {model.name}"
        print(f"\n{name}: {picked[2] if picked else 'no thresholds meet the rule'}")
        if picked:
            candidates.append(((gate, model), picked[0], picked[1], picked[2]))
    if not candidates:
        return report
    met = [c for c in candidates if c[3]["worst_offtopic_handoff"] >= HANDOFF_TARGET]
    pool = met or candidates
    key: Callable[[Any], tuple[float, float]] = (
        (lambda c: (c[3]["worst_same_answer"], c[3]["worst_offtopic_handoff"])) if met
        else (lambda c: (c[3]["worst_offtopic_handoff"], c[3]["worst_same_answer"])))
    (gate, model), handoff, answer, summary = max(pool, key=key)
    after = rates(confirm, [_conf(gate, model, r) for r in confirm], handoff, answer)
    _print_rates("after, choosing half", rates(choose, [_conf(gate, model, r) for r in choose], handoff, answer))
    _print_rates("before, choosing half", today_choose)
    described = {"handoff_model": gate.name, "handoff_weights": gate.describe()}
    if model is not None:
        described.update(answer_model=model.name, answer_weights=model.describe())
    _print_rates(f"after: {described}, handoff < {handoff}, answer ≥ {answer}; confirming half", after)
    report["chosen"] = {**described, "handoff_below": handoff, "answer_at": answer, "rule_met": bool(met),
                        "choosing_half": summary}
    report["after"] = after
    # 3. the relevance cut
    inscope_choose = [r for r in choose if r["group"] in ("same", "xling")]
    margin = round(margin_for(inscope_choose, lex), 3)
    cut = cut_report([r for r in confirm if r["group"] in ("same", "xling", "offtopic", "bitext")], lex, margin)
    print(f"\nrelevance margin {margin}: relevant kept / mean results shown (of 10), confirming half")
    for group in ("same", "xling", "bitext", "offtopic"):
        print(f"  {group:9}" + " ".join(f"{loc} {c['kept_relevant']:.3f}/{c['mean_shown']:.1f}"
                                        for loc, c in sorted(cut.get(group, {}).items())))
    report["relevance_margin"] = {"margin": margin, "confirming_half": cut}
    # 4. the language chosen without lang or Accept-Language
    detect: dict[str, dict[str, float]] = defaultdict(dict)
    for group in ("same", "offtopic"):
        for loc in LOCALES:
            items = [r for r in rows if r["group"] == group and r["locale"] == loc and "detected" in r]
            if items:
                detect[group][loc] = round(sum(r["detected"] == loc for r in items) / len(items), 3)
    report["detected"] = detect
    print("\nlanguage found without lang or Accept-Language (share right): "
          + "; ".join(f"{g}: " + " ".join(f"{k} {v:.2f}" for k, v in d.items()) for g, d in detect.items()))
    if before is not None:
        old = {g: {loc: round(sum(r["detected"] == loc for r in before if r["group"] == g and r["locale"] == loc)
                              / max(1, sum(1 for r in before if r["group"] == g and r["locale"] == loc)), 3)
                   for loc in LOCALES} for g in ("same", "offtopic")}
        report["detected_before"] = old
        print("  before: " + "; ".join(f"{g}: " + " ".join(f"{k} {v:.2f}" for k, v in d.items()) for g, d in old.items()))
    return report
