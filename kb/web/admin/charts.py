"""The report's charts as SVG drawn on the server: no script, no chart library, works offline.

A chart is a list of marks (rectangles, lines, text …) with CSS classes; the template
`_chart.html` writes them out with autoescape, and admin.css colours the classes for light and
dark schemes. Texts carry their numbers; every mark has a tooltip (<title>) with its value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from kb.web.admin.reportdata import COVERAGE, DECISIONS, Coverage, Helpfulness, Opened, Outcomes, SearchesPerDay

WIDTH = 720
LABEL = 170  # room for row labels
ROW = 30
SERIES = 8  # colour classes s0 … s7, then again from s0


@dataclass
class Mark:
    kind: str  # rect | line | polyline | circle | text
    cls: str = ""
    x: float = 0
    y: float = 0
    w: float = 0  # rect width; line: x2; circle: radius
    h: float = 0  # rect height; line: y2
    text: str = ""
    tip: str = ""
    points: str = ""
    anchor: str = "start"


@dataclass
class Chart:
    name: str
    title: str
    desc: str
    height: float
    marks: list[Mark] = field(default_factory=list)
    legend: list[tuple[str, str]] = field(default_factory=list)  # (label, class)
    width: float = WIDTH
    empty: bool = False


def _r(value: float) -> float:
    return round(value, 1)


def _short(text: str, n: int = 24) -> str:
    return text if len(text) <= n else text[:n - 1] + "…"


def nice_ceiling(value: float) -> tuple[float, float]:
    """A round top for an axis over 0..value, and its tick step (four or five ticks)."""
    if value <= 0:
        return 1.0, 1.0
    raw = value / 4
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    step = max(step, 1.0)
    return step * math.ceil(value / step), step


def _empty(chart: Chart, message: str = "No data in this window.") -> Chart:
    chart.height, chart.empty = 60, True
    chart.marks = [Mark("text", "chart-note", WIDTH / 2, 34, text=message, anchor="middle")]
    return chart


def searches_chart(data: SearchesPerDay) -> Chart:
    chart = Chart("searches", "Searches per day by locale",
                  "Lines: logged searches and answers per UTC day, one line per shopper locale.", 280)
    if not data.counts:
        return _empty(chart)
    left, right, top, bottom = 48, 16, 14, 40
    plot_w, plot_h = WIDTH - left - right, chart.height - top - bottom
    peak = max(max(series) for series in data.counts.values())
    ceiling, step = nice_ceiling(peak)
    n = len(data.days)

    def x(i: int) -> float:
        return _r(left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2))

    def y(v: float) -> float:
        return _r(top + plot_h - plot_h * v / ceiling)

    marks = chart.marks
    tick = 0.0
    while tick <= ceiling + 1e-9:
        marks.append(Mark("line", "grid", left, y(tick), WIDTH - right, y(tick)))
        marks.append(Mark("text", "axis", left - 6, y(tick) + 4, text=f"{tick:g}", anchor="end"))
        tick += step
    every = max(1, math.ceil(n / 8))
    for i, day in enumerate(data.days):
        if i % every == 0 or i == n - 1:
            marks.append(Mark("text", "axis", x(i), chart.height - bottom + 18, text=day[5:], anchor="middle"))
    for k, (locale, series) in enumerate(data.counts.items()):
        cls = f"s{k % SERIES}"
        marks.append(Mark("polyline", f"series {cls}", points=" ".join(f"{x(i)},{y(v)}" for i, v in enumerate(series))))
        for i, v in enumerate(series):
            if v:
                marks.append(Mark("circle", f"dot {cls}", x(i), y(v), 3, tip=f"{locale}, {data.days[i]}: {v} searches"))
        chart.legend.append((f"{locale} ({sum(series)})", cls))
    return chart


def _stacked(chart: Chart, rows: list[tuple[str, list[tuple[str, int]], str]], classes: dict[str, str],
             total_of: dict[str, int] | None = None) -> Chart:
    """Horizontal stacked bars: (label, [(part, count)], note at the right) per row."""
    right = 110
    plot_w = WIDTH - LABEL - right
    chart.height = 10 + ROW * len(rows)
    for r, (label, parts, note) in enumerate(rows):
        top = 6 + ROW * r
        total = (total_of or {}).get(label) or sum(n for _, n in parts)
        chart.marks.append(Mark("text", "label", LABEL - 8, top + 16, text=_short(label), tip=label, anchor="end"))
        x = float(LABEL)
        for part, n in parts:
            if not n or not total:
                continue
            w = plot_w * n / total
            tip = f"{label}, {part}: {n} of {total} ({n / total:.0%})"
            chart.marks.append(Mark("rect", f"bar {classes[part]}", _r(x), top + 2, _r(w), ROW - 10, tip=tip))
            if w >= 34:
                chart.marks.append(Mark("text", f"bar-text on-{classes[part]}", _r(x + w / 2), top + 16, text=f"{n / total:.0%}",
                                        tip=tip, anchor="middle"))
            x += w
        chart.marks.append(Mark("text", "axis", WIDTH - right + 8, top + 16, text=note))
    return chart


def outcomes_chart(data: Outcomes) -> Chart:
    chart = Chart("outcomes", "Answered, clarified and handed off, per locale",
                  "Stacked bars: the share of logged queries per shopper locale that search answered, asked to "
                  "clarify, or handed off to a person.", 0)
    if not data.rows:
        return _empty(chart)
    words = {"answer": "answered", "clarify": "clarified", "handoff": "handed off"}
    rows = [(r.locale, [(words[d], getattr(r, d)) for d in DECISIONS], f"{r.total} {'query' if r.total == 1 else 'queries'}") for r in data.rows]
    chart.legend = [(words[d], d) for d in DECISIONS]
    return _stacked(chart, rows, {words[d]: d for d in DECISIONS})


def coverage_chart(data: Coverage) -> Chart:
    chart = Chart("coverage", "Coverage per locale",
                  "Stacked bars: per locale, the source articles written by people, reviewed, machine drafts and "
                  "missing; at the right, how many of those present are stale.", 0)
    if not data.rows:
        return _empty(chart)
    rows = [(r.locale, [(part, getattr(r, part)) for part in COVERAGE], f"{r.stale} stale") for r in data.rows]
    chart.legend = [(part, part) for part in COVERAGE]
    return _stacked(chart, rows, {part: part for part in COVERAGE}, {r.locale: r.total for r in data.rows})


def opened_chart(data: Opened) -> Chart:
    chart = Chart("opened", "Articles most opened from search",
                  "Bars: how often shoppers opened each article from the site's search results.", 0)
    if not data.rows:
        return _empty(chart, "No result opened from the site's search page in this window.")
    right = 70
    plot_w = WIDTH - LABEL - right
    peak = max(r.opened for r in data.rows)
    chart.height = 10 + ROW * len(data.rows)
    for i, row in enumerate(data.rows):
        top = 6 + ROW * i
        w = plot_w * row.opened / peak
        tip = f"{row.title} ({row.id}): opened {row.opened} times"
        chart.marks += [Mark("text", "label", LABEL - 8, top + 16, text=_short(row.title), tip=tip, anchor="end"),
                        Mark("rect", "bar s0", LABEL, top + 2, _r(max(w, 1)), ROW - 10, tip=tip),
                        Mark("text", "axis", _r(LABEL + w + 6), top + 16, text=str(row.opened))]
    return chart


def helpfulness_chart(data: Helpfulness) -> Chart:
    chart = Chart("helpfulness", "Helpfulness per article, with its trend",
                  "Per article: the share of 'yes' answers to 'Was this helpful?' (bar), the answers counted, and "
                  "the weekly share over the window (line; a gap where a week had no answers).", 0)
    if not data.rows:
        return _empty(chart, "No feedback in this window.")
    bar_w, spark_x, spark_w = 230.0, 530.0, 120.0
    chart.height = 10 + ROW * len(data.rows)
    for i, row in enumerate(data.rows):
        top = 6 + ROW * i
        ratio = row.ratio or 0.0
        tip = f"{row.title} ({row.id}): {row.yes} yes, {row.no} no ({ratio:.0%} helpful)"
        chart.marks += [Mark("text", "label", LABEL - 8, top + 16, text=_short(row.title), tip=tip, anchor="end"),
                        Mark("rect", "track", LABEL, top + 4, bar_w, ROW - 14),
                        Mark("rect", "bar yes", LABEL, top + 4, _r(max(bar_w * ratio, 1)), ROW - 14, tip=tip),
                        Mark("text", "axis", LABEL + bar_w + 8, top + 16, text=f"{ratio:.0%} of {row.yes + row.no}")]
        n = len(row.weeks)
        points = [(spark_x + (spark_w * k / (n - 1) if n > 1 else spark_w / 2), top + ROW - 8 - (ROW - 14) * w.ratio)
                  for k, w in enumerate(row.weeks) if w.ratio is not None]
        chart.marks.append(Mark("line", "grid", spark_x, top + ROW - 8, spark_x + spark_w, top + ROW - 8))
        if points:
            weekly = ", ".join(f"{w.start}: {w.ratio:.0%}" for w in row.weeks if w.ratio is not None)
            chart.marks.append(Mark("polyline", "series s1", tip=weekly,
                                    points=" ".join(f"{_r(px)},{_r(py)}" for px, py in points)))
            chart.marks += [Mark("circle", "dot s1", _r(px), _r(py), 2) for px, py in points]
        trend = "" if row.trend is None else f"{'▲' if row.trend > 0 else '▼' if row.trend < 0 else '='} {row.trend * 100:+.0f}"
        chart.marks.append(Mark("text", "axis", spark_x + spark_w + 8, top + 16, text=trend,
                                tip="change of the share of 'yes', second half of the window against the first, in points"))
    chart.legend = [("share of 'yes'", "yes"), ("weekly share", "s1")]
    return chart
