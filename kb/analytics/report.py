"""`kb report`: per article and locale, helpfulness, search impressions and coverage.

- helpfulness: "Was this helpful?" yes/no counts from the feedback table, and yes / (yes + no);
- impressions: searches by shoppers in that locale whose results held the article (top_ids), how
  often it came first, and how often a shopper opened it from the site's search page (clicks);
- coverage: whether the locale has its own version, its review state (human, machine, reviewed),
  whether it is stale, and what a shopper in that locale is served otherwise (the fallback).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import Counter
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

from kb.content.library import Library

FIELDS = ("id", "locale", "category", "title", "exists", "version", "stale", "served_from", "impressions", "top1",
          "opened", "helpful_yes", "helpful_no", "helpful_ratio")


class ReportRow(BaseModel):
    id: str
    locale: str
    category: str | None
    title: str | None
    exists: bool  # the article is in the content (False: only the log knows it)
    version: str | None  # review state of the version in this locale; None when missing
    stale: bool
    served_from: str | None  # the locale a shopper here is served
    impressions: int
    top1: int
    opened: int  # searches from the site's search page whose shopper opened this article
    helpful_yes: int
    helpful_no: int
    helpful_ratio: float | None


class Report(BaseModel):
    generated: str
    since: str | None
    queries: int
    feedback: int
    coverage: dict[str, dict[str, int]]
    rows: list[ReportRow]


def build_report(library: Library, queries: Iterable[dict[str, Any]], feedback: Iterable[dict[str, Any]],
                 since: str | None = None) -> Report:
    shown: Counter[tuple[str, str]] = Counter()
    first: Counter[tuple[str, str]] = Counter()
    opened: Counter[tuple[str, str]] = Counter()
    n_queries = 0
    for row in queries:
        n_queries += 1
        ids = [str(i) for i in dict.fromkeys(row["top_ids"] or [])]
        shown.update((aid, row["locale"]) for aid in ids)
        if ids:
            first[(ids[0], row["locale"])] += 1
        if row.get("clicked_id"):
            opened[(str(row["clicked_id"]), row["locale"])] += 1
    votes: dict[tuple[str, str], Counter[bool]] = {}
    n_feedback = 0
    for row in feedback:
        n_feedback += 1
        votes.setdefault((row["article_id"], row["locale"]), Counter())[bool(row["helpful"])] += 1

    locales = list(library.config.locales)
    keys = [(aid, loc) for aid in library.ids() for loc in locales]
    known = set(keys)
    keys += sorted({k for k in (*shown, *votes) if k not in known})
    rows = []
    for aid, loc in keys:
        own = library.get(aid, loc)
        source = library.source(aid)
        served = library.resolve(aid, loc) if loc in locales and library.group(aid) else None
        yes, no = votes.get((aid, loc), Counter())[True], votes.get((aid, loc), Counter())[False]
        rows.append(ReportRow(
            id=aid, locale=loc, category=(own or source).category if (own or source) else None,
            title=(own or source).title if (own or source) else None, exists=bool(library.group(aid)),
            version=own.review if own else None, stale=bool(own and library.is_stale(own)),
            served_from=served[0].locale if served else None, impressions=shown[(aid, loc)], top1=first[(aid, loc)],
            opened=opened[(aid, loc)], helpful_yes=yes, helpful_no=no, helpful_ratio=round(yes / (yes + no), 3) if yes + no else None))
    impressions = Counter[str]()
    for row in rows:
        impressions[row.id] += row.impressions
    rows.sort(key=lambda r: (-impressions[r.id], r.id, locales.index(r.locale) if r.locale in locales else 999, r.locale))
    return Report(generated=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), since=since, queries=n_queries,
                  feedback=n_feedback, coverage=library.coverage(), rows=rows)


def to_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in report.rows:
        record = row.model_dump()
        record["helpful_ratio"] = "" if row.helpful_ratio is None else f"{row.helpful_ratio:.3f}"
        record["version"] = row.version or ""
        record["served_from"] = row.served_from or ""
        writer.writerow({k: record[k] if record[k] is not None else "" for k in FIELDS})
    return out.getvalue()


def _helpful(row: ReportRow) -> str:
    if row.helpful_ratio is None:
        return "-"
    return f"{row.helpful_yes}/{row.helpful_yes + row.helpful_no} ({row.helpful_ratio:.0%})"


def format_text(report: Report) -> str:
    window = f"since {report.since}" if report.since else "the whole log"
    lines = [f"Report over {window}: {report.queries} searches, {report.feedback} feedback answers."]
    current = None
    for row in report.rows:
        if row.id != current:
            current = row.id
            present = [r.locale for r in report.rows if r.id == row.id and r.version]
            note = "" if row.exists else "  (not in the content any more)"
            lines.append(f"\n{row.id} ({row.category or '?'}) {row.title!r}: in {', '.join(present) or 'no locale'}{note}")
            lines.append(f"  {'locale':8}{'version':24}{'impressions':>12}{'first':>7}{'opened':>8}  helpful")
        if row.version:
            version = row.version + (", stale" if row.stale else "")
        else:
            version = f"missing → {row.served_from}" if row.served_from else "missing"
        lines.append(f"  {row.locale:8}{version:24}{row.impressions:>12}{row.top1:>7}{row.opened:>8}  {_helpful(row)}")
    lines.append("\nCoverage per locale (present/total; machine drafts; stale):")
    for loc, c in report.coverage.items():
        lines.append(f"  {loc:8}{c['present']}/{c['total']}; machine {c['machine']}; stale {c['stale']}")
    return "\n".join(lines)
