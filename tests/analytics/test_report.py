"""`kb report`: helpfulness, impressions and coverage per article and locale; text, JSON and CSV."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kb.analytics.report import FIELDS, build_report, format_text, to_csv
from kb.analytics.store import Store, open_store
from kb.cli import app
from kb.content.library import Library

pytestmark = pytest.mark.slow  # the index fixtures load the real embedders


def _search(store: Store, locale: str, ids: list[str], query: str = "q", search_id: str | None = None) -> None:
    store.log_query(endpoint="search", locale=locale, query=query, decision="answer", confidence=0.8, top_ids=ids,
                    top_scores=[0.9] * len(ids), served_machine=False, served_fallback=False, generation="gen-1",
                    search_id=search_id, tracks_clicks=search_id is not None)


@pytest.fixture
def logged(small_index: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path]:
    """The small help center with a query log and feedback in `tmp_path`: (content, data)."""
    content, _ = small_index
    store = open_store(tmp_path)
    _search(store, "de", ["cancel-order", "refund-timing"])
    _search(store, "de", ["refund-timing", "cancel-order", "refund-timing"], search_id="c" * 32)  # counted once
    assert store.record_click("c" * 32, "cancel-order")  # opened from the site's search page
    _search(store, "pl", ["pay-with-blik"])
    _search(store, "en", ["gone-article"])
    for helpful in (True, True, False):
        store.add_feedback(article_id="cancel-order", locale="de", helpful=helpful)
    store.add_feedback(article_id="pay-with-blik", locale="pl", helpful=False, reason="call me at +48 601 234 567")
    store.close()
    return content, tmp_path


def _rows(report_rows: list, aid: str) -> dict[str, object]:
    return {r.locale: r for r in report_rows if r.id == aid}


def test_report_counts_helpfulness_impressions_and_coverage(logged: tuple[Path, Path]) -> None:
    content, data = logged
    store = open_store(data)
    report = build_report(Library.load(content), store.list_queries(), store.list_feedback())
    store.close()
    assert (report.queries, report.feedback) == (4, 4)
    cancel = _rows(report.rows, "cancel-order")
    assert set(cancel) == {"en", "de", "pl", "tr"}
    de = cancel["de"]
    assert (de.version, de.stale, de.served_from) == ("human", False, "de")
    assert (de.impressions, de.top1, de.helpful_yes, de.helpful_no, de.helpful_ratio) == (2, 1, 2, 1, 0.667)
    assert (de.opened, _rows(report.rows, "refund-timing")["de"].opened) == (1, 0)
    assert (cancel["pl"].version, cancel["pl"].served_from, cancel["pl"].helpful_ratio) == (None, "en", None)
    refund = _rows(report.rows, "refund-timing")
    assert refund["de"].version == "machine" and (refund["de"].impressions, refund["de"].top1) == (2, 1)
    blik = _rows(report.rows, "pay-with-blik")["pl"]
    assert (blik.impressions, blik.helpful_no, blik.helpful_ratio, blik.served_from) == (1, 1, 0.0, "en")
    gone = _rows(report.rows, "gone-article")
    assert list(gone) == ["en"] and gone["en"].exists is False and gone["en"].impressions == 1
    assert report.rows[0].id in ("cancel-order", "refund-timing")  # most seen first
    assert report.coverage["de"]["machine"] == 1 and report.coverage["pl"]["present"] == 0
    text = format_text(report)
    assert "2/3 (67%)" in text and "missing → en" in text and "not in the content any more" in text


def test_report_formats_from_the_command_line(logged: tuple[Path, Path]) -> None:
    content, data = logged
    runner = CliRunner()
    args = ["report", "--content", str(content), "--data", str(data)]
    out = runner.invoke(app, [*args, "--format", "json"])
    assert out.exit_code == 0, out.output
    body = json.loads(out.stdout)
    assert set(body) == {"generated", "since", "queries", "feedback", "coverage", "rows"}
    assert {"id", "locale", "helpful_ratio", "impressions", "version", "stale"} <= set(body["rows"][0])
    out = runner.invoke(app, [*args, "--format", "csv"])
    assert out.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert tuple(rows[0]) == FIELDS
    de = next(r for r in rows if (r["id"], r["locale"]) == ("cancel-order", "de"))
    assert (de["helpful_yes"], de["helpful_no"], de["helpful_ratio"], de["impressions"], de["opened"]) == (
        "2", "1", "0.667", "2", "1")
    out = runner.invoke(app, [*args, "--since", "1h"])
    assert out.exit_code == 0 and "cancel-order" in out.stdout
    out = runner.invoke(app, [*args, "--format", "xml"])
    assert out.exit_code == 2 and "--format" in out.output
    out = runner.invoke(app, [*args, "--since", "yesterday"])
    assert out.exit_code == 2 and "--since" in out.output


def test_report_without_a_log(small_index: tuple[Path, Path], tmp_path: Path) -> None:
    content, _ = small_index
    out = CliRunner().invoke(app, ["report", "--content", str(content), "--data", str(tmp_path)])
    assert out.exit_code == 0 and "0 searches, 0 feedback" in out.stdout
    assert not (tmp_path / "kb.sqlite").exists()  # reading a report creates no database


def test_csv_of_an_empty_report(small_index: tuple[Path, Path]) -> None:
    report = build_report(Library.load(small_index[0]), [], [])
    rows = list(csv.DictReader(io.StringIO(to_csv(report))))
    assert len(rows) == 4 * 4 and all(r["impressions"] == "0" and r["helpful_ratio"] == "" for r in rows)
