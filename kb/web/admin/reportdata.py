"""The numbers behind the report's charts, from the store's grouped counts and the content.

Each chart's data is a dataclass: the JSON endpoints return it as is (dataclasses.asdict) and
`table()` gives the same numbers as rows for CSV.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kb.content.library import Library

if TYPE_CHECKING:
    from kb.analytics.store import Store

DECISIONS = ("answer", "clarify", "handoff")
COVERAGE = ("human", "reviewed", "machine", "missing")
TOP = 15  # articles shown in the per-article charts
MAX_DAYS = 400

Cell = str | int | float | None


@dataclass
class Table:
    columns: list[str]
    rows: list[list[Cell]]

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(self.columns)
        writer.writerows([["" if cell is None else cell for cell in row] for row in self.rows])
        return out.getvalue()


@dataclass
class SearchesPerDay:
    days: list[str]
    counts: dict[str, list[int]]  # shopper locale -> searches on each day

    def table(self) -> Table:
        locales = list(self.counts)
        return Table(["day", *locales], [[day, *(self.counts[loc][i] for loc in locales)]
                                          for i, day in enumerate(self.days)])


@dataclass
class Outcome:
    locale: str
    answer: int
    clarify: int
    handoff: int

    @property
    def total(self) -> int:
        return self.answer + self.clarify + self.handoff

    def share(self, decision: str) -> float:
        return round(getattr(self, decision) / self.total, 4) if self.total else 0.0


@dataclass
class Outcomes:
    rows: list[Outcome]

    def table(self) -> Table:
        return Table(["locale", "answered", "clarified", "handed_off", "total", "answered_share",
                      "clarified_share", "handed_off_share"],
                     [[r.locale, r.answer, r.clarify, r.handoff, r.total, *(r.share(d) for d in DECISIONS)]
                      for r in self.rows])


@dataclass
class Week:
    start: str  # the Monday, YYYY-MM-DD
    yes: int
    no: int

    @property
    def ratio(self) -> float | None:
        return round(self.yes / (self.yes + self.no), 4) if self.yes + self.no else None


@dataclass
class ArticleHelpfulness:
    id: str
    title: str
    yes: int
    no: int
    ratio: float | None
    trend: float | None  # ratio in the window's second half minus its first half
    weeks: list[Week] = field(default_factory=list)


@dataclass
class Helpfulness:
    rows: list[ArticleHelpfulness]

    def table(self) -> Table:
        weeks = [w.start for w in self.rows[0].weeks] if self.rows else []
        return Table(["id", "title", "yes", "no", "ratio", "trend", *(f"ratio_week_of_{w}" for w in weeks)],
                     [[r.id, r.title, r.yes, r.no, r.ratio, r.trend, *(w.ratio for w in r.weeks)] for r in self.rows])


@dataclass
class OpenedArticle:
    id: str
    title: str
    opened: int


@dataclass
class Opened:
    rows: list[OpenedArticle]

    def table(self) -> Table:
        return Table(["id", "title", "opened"], [[r.id, r.title, r.opened] for r in self.rows])


@dataclass
class LocaleCoverage:
    locale: str
    total: int
    human: int
    reviewed: int
    machine: int
    missing: int
    stale: int


@dataclass
class Coverage:
    rows: list[LocaleCoverage]

    def table(self) -> Table:
        return Table(["locale", "total", "human", "reviewed", "machine", "missing", "stale"],
                     [[r.locale, r.total, r.human, r.reviewed, r.machine, r.missing, r.stale] for r in self.rows])


def _title(library: Library, aid: str) -> str:
    article = library.source(aid) or next(iter(library.group(aid).values()), None)
    return article.title if article else f"{aid} (not in the content)"


def _days(start: dt.date, end: dt.date) -> list[str]:
    start = max(start, end - dt.timedelta(days=MAX_DAYS - 1))
    return [(start + dt.timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]


def searches_per_day(store: Store, start: dt.datetime, today: dt.date) -> SearchesPerDay:
    found = store.searches_per_day(since=start)
    days = _days(start.date(), today)
    index = {day: n for n, day in enumerate(days)}
    counts: dict[str, list[int]] = {}
    for row in found:
        if row.day in index:
            counts.setdefault(row.key, [0] * len(days))[index[row.day]] += row.count
    ordered = sorted(counts, key=lambda loc: (-sum(counts[loc]), loc))
    return SearchesPerDay(days, {loc: counts[loc] for loc in ordered})


def outcomes(store: Store, start: dt.datetime) -> Outcomes:
    found = store.decisions_per_locale(since=start)
    per: dict[str, dict[str, int]] = defaultdict(dict)
    for (locale, decision), n in found.items():
        per[locale][decision] = per[locale].get(decision, 0) + n
    rows = [Outcome(loc, *(per[loc].get(d, 0) for d in DECISIONS)) for loc in per]
    return Outcomes(sorted(rows, key=lambda r: (-r.total, r.locale)))


def helpfulness(store: Store, library: Library, start: dt.datetime, today: dt.date) -> Helpfulness:
    found = store.feedback_per_day(since=start)
    first_monday = start.date() - dt.timedelta(days=start.date().weekday())
    mondays = [first_monday + dt.timedelta(weeks=n) for n in range((today - first_monday).days // 7 + 1)]
    middle = start.date() + (today - start.date()) / 2
    tallies: dict[str, dict[dt.date, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    halves: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # yes, no before the middle; yes, no after
    for row in found:
        day = dt.date.fromisoformat(row.day)
        week = tallies[row.article_id][day - dt.timedelta(days=day.weekday())]
        week[0] += row.yes
        week[1] += row.no
        half = halves[row.article_id]
        offset = 0 if day < middle else 2
        half[offset] += row.yes
        half[offset + 1] += row.no
    rows = []
    for aid, weeks in tallies.items():
        yes, no = sum(w[0] for w in weeks.values()), sum(w[1] for w in weeks.values())
        a, b, c, d = halves[aid]
        trend = round(c / (c + d) - a / (a + b), 4) if a + b and c + d else None
        rows.append(ArticleHelpfulness(aid, _title(library, aid), yes, no, round(yes / (yes + no), 4) if yes + no else None,
                                       trend, [Week(m.isoformat(), *weeks.get(m, [0, 0])) for m in mondays]))
    rows.sort(key=lambda r: (-(r.yes + r.no), r.id))
    return Helpfulness(rows[:TOP])


def opened(store: Store, library: Library, start: dt.datetime) -> Opened:
    return Opened([OpenedArticle(aid, _title(library, aid), n) for aid, n in store.opened_most(since=start, limit=TOP)])


def coverage(library: Library) -> Coverage:
    return Coverage([LocaleCoverage(loc, c["total"], c["human"], c["reviewed"], c["machine"], c["missing"], c["stale"])
                     for loc, c in library.coverage().items()])
