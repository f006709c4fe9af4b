"""Content gaps: what shoppers asked and the help center could not answer, grouped by meaning
across languages, and what to translate or review next.

A logged query is a gap when its decision was handoff, or its confidence was below 0.6 (the
engine's answer threshold; every clarify is below it), or it came from a client that reports
clicks (the site's search page: `track=true`, then POST /v1/click) and no result was opened
within 10 minutes. Chatbots and other API clients report no clicks, so for them "no click" says
nothing and is not counted.

Gap queries (already scrubbed of personal data) are embedded with a multilingual embedder and
clustered by average-linkage on cosine similarity (kb.analytics.cluster), so "Wie wird das
Wetter?" and "Che tempo fa?" land in one cluster. The default embedder here is USE multilingual:
on the 1,500 parallel xSID requests (../shared/eval/xsid-xling) it tells translations of one
request from other requests as well as the search ensemble does (AUC 0.976 vs 0.970) at 1/20 of
the time (900 queries: 1.2 s vs 22 s on 2 cores).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, Field

from kb.analytics.cluster import average_linkage
from kb.errors import KbError
from kb.search.embedders import get_embedder
from kb.search.engine import ANSWER_AT

if TYPE_CHECKING:
    from kb.analytics.store import Store
    from kb.search.embedders import Embedder
    from kb.search.engine import Engine

GAPS_EMBEDDER = "use-multilingual"
SIMILARITY = 0.4  # mean cosine (USE) for two clusters to merge; tuned on xSID replays (tests/analytics/test_gaps.py)
MAX_CLUSTERED = 2000  # distinct gap queries clustered (the most frequent)
CLICK_GRACE = dt.timedelta(minutes=10)  # a search younger than this may still get its click
CRITERIA = f"decision handoff, or confidence below {ANSWER_AT:g}, or no result opened"
CLICKS_NOTE = ("counted for searches from the site's search page (track=true), which reports the result a shopper "
               "opens; a search from there with no click within 10 minutes is a gap. Chatbot and other API "
               "searches report no clicks and are judged by decision and confidence alone")


class NearestArticle(BaseModel):
    id: str
    title: str
    locale: str
    url: str
    score: float


class GapCluster(BaseModel):
    size: int = Field(description="Gap queries in the cluster (repeats counted).")
    distinct: int = Field(description="Different query texts.")
    label: str = Field(description="The most central query of the cluster.")
    locales: dict[str, int] = Field(description="Queries per shopper locale.")
    decisions: dict[str, int]
    unclicked: int = Field(default=0, description="Queries in the cluster answered with confidence, whose results "
                                                  "the shopper did not open.")
    examples: dict[str, list[str]] = Field(description="The most central queries, per locale.")
    nearest: NearestArticle | None = Field(description="The existing article nearest to the label query.")


class TranslateNext(BaseModel):
    id: str
    title: str | None
    searches: int = Field(description="Searches whose top article was served by fallback or machine translation.")
    fallback: int
    machine: int
    now: str = Field(description="The article in this locale in the live index: missing, machine, reviewed, human; "
                     "deleted (no longer in the index) or unknown (no index).")


class GapsReport(BaseModel):
    generated: str
    since: str | None
    locale: str | None
    criteria: str = CRITERIA
    clicks: str = CLICKS_NOTE
    queries: int = Field(description="Logged queries in the window.")
    gaps: int = Field(description="Of those, gap queries.")
    clustered: int = Field(description="Distinct gap query texts clustered.")
    embedder: str
    similarity: float
    clusters: list[GapCluster]
    translate_next: dict[str, list[TranslateNext]] = Field(
        description="Per shopper locale, the articles most often served by fallback or machine translation.")


def unclicked(row: dict[str, Any], now: dt.datetime | None = None) -> bool:
    """A search from a client that reports clicks, old enough to have had one, that got none."""
    if not row.get("tracks_clicks") or row.get("clicked_id") or not row.get("top_ids"):
        return False
    return row["ts"] <= (now or dt.datetime.now(dt.UTC)) - CLICK_GRACE


def is_gap(row: dict[str, Any], now: dt.datetime | None = None) -> bool:
    return row["decision"] == "handoff" or float(row["confidence"]) < ANSWER_AT or unclicked(row, now)


def _distinct(rows: Iterable[dict[str, Any]]) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """(locale, text, rows) per distinct text, most frequent first (rows come newest first)."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    shown: dict[tuple[str, str], str] = {}
    for row in rows:
        text = " ".join(str(row["query_scrubbed"]).split())
        key = (row["locale"], text.casefold())
        shown.setdefault(key, text)
        groups[key].append(row)
    order = sorted(groups, key=lambda k: -len(groups[k]))  # stable: ties keep newest first
    return [(k[0], shown[k], groups[k]) for k in order]


def _nearest(engine: Engine | None, text: str, locale: str) -> NearestArticle | None:
    if engine is None:
        return None
    try:
        hits = engine.search(text, lang=locale, k=1).hits
    except KbError:
        return None
    if not hits:
        return None
    hit = hits[0]
    return NearestArticle(id=hit.id, title=hit.title, locale=hit.locale, url=hit.url, score=hit.score)


def cluster_gaps(items: Sequence[tuple[str, str, list[dict[str, Any]]]], embedder: Embedder, similarity: float,
                 engine: Engine | None, limit: int | None, examples: int) -> list[GapCluster]:
    if not items:
        return []
    vectors = embedder.encode_queries([text for _, text, _ in items])
    weights = np.array([len(rows) for _, _, rows in items], dtype=np.float64)
    groups = average_linkage(vectors, similarity, weights)
    groups.sort(key=lambda g: (-weights[g].sum(), min(g)))
    out: list[GapCluster] = []
    for members in groups[:limit]:
        centroid = (vectors[members] * weights[members, None]).sum(axis=0)
        centrality = vectors[members] @ (centroid / max(float(np.linalg.norm(centroid)), 1e-12))
        ranked = [members[i] for i in np.argsort(-centrality, kind="stable")]
        locales: Counter[str] = Counter()
        decisions: Counter[str] = Counter()
        no_click = 0
        per_locale: dict[str, list[str]] = defaultdict(list)
        for m in ranked:
            locale, text, rows = items[m]
            locales[locale] += len(rows)
            decisions.update(r["decision"] for r in rows)
            no_click += sum(r["decision"] != "handoff" and float(r["confidence"]) >= ANSWER_AT for r in rows)
            if len(per_locale[locale]) < examples:
                per_locale[locale].append(text)
        label_locale, label, _ = items[ranked[0]]
        out.append(GapCluster(size=int(weights[members].sum()), distinct=len(members), label=label,
                              locales=dict(locales.most_common()), decisions=dict(decisions.most_common()),
                              unclicked=no_click, examples={loc: per_locale[loc] for loc, _ in locales.most_common()},
                              nearest=_nearest(engine, label, label_locale)))
    return out


def translate_next(rows: Iterable[dict[str, Any]], engine: Engine | None, top: int = 10) -> dict[str, list[TranslateNext]]:
    counts: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    for row in rows:
        if not row["top_ids"] or not (row["served_fallback"] or row["served_machine"]):
            continue
        tally = counts[row["locale"]][str(row["top_ids"][0])]
        tally["searches"] += 1
        tally["fallback"] += bool(row["served_fallback"])
        tally["machine"] += bool(row["served_machine"])
    by_id = engine.index.by_id if engine is not None else {}
    out: dict[str, list[TranslateNext]] = {}
    for locale in sorted(counts):
        ranked = sorted(counts[locale].items(), key=lambda kv: (-kv[1]["searches"], kv[0]))[:top]
        items = []
        for aid, tally in ranked:
            versions = by_id.get(aid, {})
            own = versions.get(locale)
            source = versions.get(engine.source_locale) if engine is not None else None
            source = source or next(iter(versions.values()), None)
            now = ("unknown" if engine is None else "deleted" if not versions else
                   "missing" if own is None else own.review)
            items.append(TranslateNext(id=aid, title=source.title if source else None, searches=tally["searches"],
                                       fallback=tally["fallback"], machine=tally["machine"], now=now))
        out[locale] = items
    return out


def find_gaps(rows: Sequence[dict[str, Any]], *, engine: Engine | None = None, embedder: Embedder | None = None,
              similarity: float = SIMILARITY, limit: int | None = 20, examples: int = 3,
              since: str | None = None, locale: str | None = None) -> GapsReport:
    """The gaps report for logged query `rows` (Store.list_queries rows)."""
    model = embedder or get_embedder(GAPS_EMBEDDER)
    now = dt.datetime.now(dt.UTC)
    gap_rows = [r for r in rows if is_gap(r, now)]
    items = _distinct(gap_rows)[:MAX_CLUSTERED]
    return GapsReport(
        generated=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), since=since, locale=locale,
        queries=len(rows), gaps=len(gap_rows), clustered=len(items), embedder=model.name, similarity=similarity,
        clusters=cluster_gaps(items, model, similarity, engine, limit, examples),
        translate_next=translate_next(rows, engine))


def gaps_from_store(store: Store, *, since: dt.timedelta | None, since_text: str | None = None,
                    locale: str | None = None, engine: Engine | None = None, **kwargs: Any) -> GapsReport:
    start = dt.datetime.now(dt.UTC) - since if since is not None else None
    rows = store.list_queries(since=start, locale=locale)
    return find_gaps(rows, engine=engine, since=since_text, locale=locale, **kwargs)


def format_text(report: GapsReport) -> str:
    where = f"locale {report.locale}" if report.locale else "all locales"
    lines = [f"Content gaps ({where}, since {report.since or 'the start of the log'}): {report.gaps} of "
             f"{report.queries} queries ended in {report.criteria}.",
             f"Clicks: {report.clicks}.",
             f"{report.clustered} distinct gap queries clustered by meaning ({report.embedder}, mean cosine >= "
             f"{report.similarity:g}); the {len(report.clusters)} largest clusters:"]
    for n, cluster in enumerate(report.clusters, start=1):
        spread = ", ".join(f"{loc} {count}" for loc, count in cluster.locales.items())
        decided = ", ".join(f"{d} {count}" for d, count in cluster.decisions.items())
        if cluster.unclicked:
            decided += f"; {cluster.unclicked} answered but not opened"
        lines.append(f"{n:3}. {cluster.size} queries ({spread}; {decided}): {cluster.label!r}")
        for loc, texts in cluster.examples.items():
            lines.append(f"       {loc}: " + " | ".join(texts))
        if cluster.nearest:
            near = cluster.nearest
            lines.append(f"       nearest article: {near.id} [{near.locale}] {near.title!r} (score {near.score:.2f})")
    if not report.clusters:
        lines.append("  (none)")
    lines.append("Translate or review next (searches whose top article was served by fallback or machine translation):")
    for loc, items in report.translate_next.items():
        shown = "; ".join(f"{i.id} {i.searches} (fallback {i.fallback}, machine {i.machine}, now {i.now})" for i in items)
        lines.append(f"  {loc}: {shown}")
    if not report.translate_next:
        lines.append("  (none)")
    return "\n".join(lines)
