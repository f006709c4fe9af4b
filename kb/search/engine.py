"""The query pipeline: one engine behind the API, the CLI and `kb eval`.

query → locale → dense (all locales) + BM25 (shopper's and source locale) → fused article
scores → each article served in the shopper's locale (own version, else machine translation,
else the fallback chain) → calibrated confidence → answer / clarify / handoff.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from kb.content.locales import fallback_chain
from kb.content.text import VISIBLE_MESSAGE, plain, visible
from kb.errors import KbError, ParamError
from kb.search import calibration
from kb.search.cache import QueryVectors, query_cache_size
from kb.search.calibration import Calibration
from kb.search.decision import ANSWER_AT, confidence_of, decide  # noqa: F401 (ANSWER_AT: kb.analytics.gaps reads it here)
from kb.search.detect import choose_locale
from kb.search.embedcore import search_slots
from kb.search.embedders import get_embedder
from kb.search.fusion import DECISION_LEX_WEIGHT, DECISION_USE_WEIGHT, LEX_WEIGHT, Fusion
from kb.search.index import ArticleRecord, Index, Vectors
from kb.search.live import LiveIndex
from kb.search.query import normalize_query
from kb.search.rare import rare_term_articles
from kb.search.results import Answer, AnswerBody, Citation, Decision, Hit, SearchResult, Suggestion, Suggestions
from kb.search.scoring import Scores, content_scores, gather, score_articles, weigh
from kb.search.snippets import pick_section, query_terms
from kb.search.snippets import snippet as make_snippet
from kb.search.suggest import Titles, fill_query, prefix_matches, typed

MAX_QUERY_CHARS = 500  # the one limit: the API's schemas (kb.web) read it from here
# Fusion: BM25 adds a small bonus to the dense score, so exact terms (PayPal, BLIK) break ties
# but same-language word overlap cannot push a strong cross-lingual dense hit down.
# Relevance cut: a hit is shown only within this much of the best fused score (the margin that
# keeps the relevant article for 97 % of in-scope questions in every locale), so no tail of
# unrelated articles follows.
RELEVANCE_MARGIN = 0.089


MODES = ("hybrid", "dense", "lexical")
logger = logging.getLogger("kb.search")


class Translator(Protocol):
    def available(self, src: str, dst: str) -> bool: ...

    def translate_article(self, record: ArticleRecord, dst: str) -> ArticleRecord: ...


class QueryError(ParamError):
    """A bad query parameter; `param` names it."""


class Engine:
    """Serves the live index generation, reloaded when `kb index` swaps in a new one (a new one
    that fails its checks is refused and the loaded one keeps serving: kb/search/live.py)."""

    def __init__(self, data_dir: Path | str = ".kb", translator: Translator | None = None,
                 reload_interval: float = 1.0, mode: str = "hybrid", lex_weight: float = LEX_WEIGHT,
                 use_weight: float | None = None, calibrated: bool = True) -> None:
        if mode not in MODES:
            raise KbError(f"mode {mode!r}: use one of {', '.join(MODES)}")
        self.mode = mode
        self.lex_weight = lex_weight
        self.data_dir = Path(data_dir)
        self.translator = translator
        self.live = LiveIndex(self.data_dir, reload_interval)
        manifest = self.live.current.manifest
        self.embedder = get_embedder(manifest["embedder"])
        if self.embedder.version != manifest["embedder_version"]:
            raise KbError(f"the index was built with {manifest['embedder_version']}, "
                          f"this machine has {self.embedder.version}: run 'kb index' to reindex")
        # ranking: the default weights (or those given); the decision: the weights it was fitted with
        self.fusion = Fusion.of(self.embedder, use_weight)  # None for a single model
        self.reference = (Fusion.of(self.embedder, DECISION_USE_WEIGHT), DECISION_LEX_WEIGHT)
        self.defaults = (self.fusion, self.lex_weight)
        # the help center's own calibration (kb/search/calibration.py), read again when it changes
        self.calibration: Calibration | None = None
        self.calibrated = calibrated and use_weight is None and lex_weight == LEX_WEIGHT
        self._calibration_seen: tuple[float, int | None] = (-1.0, -1)
        self.query_vectors = QueryVectors(query_cache_size())
        self._titles: Titles | None = None  # for suggestions, built on first use per generation
        # searches running at once in this process (answers and suggestions are searches); the
        # rest wait here rather than fight over the GIL and the cores (kb/search/embedcore.py)
        self.slots = search_slots()
        self._running = threading.BoundedSemaphore(self.slots)

    # -- index lifecycle ------------------------------------------------------------------
    @property
    def index(self) -> Index:
        return self.live.get()

    @property
    def problem(self) -> str | None:
        """Why the newest generation is not the one served (None: it is)."""
        return self.live.problem

    @property
    def public_problem(self) -> str | None:
        return self.live.public_problem

    def reload_now(self) -> None:
        self.live.reload_now()

    @property
    def config(self) -> dict[str, Any]:
        return self.index.manifest["config"]

    @property
    def locales(self) -> list[str]:
        return list(self.index.manifest["locales"])

    @property
    def source_locale(self) -> str:
        return str(self.index.manifest["source_locale"])

    # -- search -----------------------------------------------------------------------------
    def snapshot(self) -> tuple[Index, Vectors]:
        """The live generation and its vectors, taken together: use one snapshot per request."""
        index = self.live.get()
        if self.calibrated:
            self._read_calibration()
        return index, index.vectors

    @property
    def ranking(self) -> str:
        """One line: the ranking weights served and why (the calibration's evidence)."""
        if self.calibrated:
            self._read_calibration()
        if self.calibration is not None:
            return self.calibration.summary()
        return "ranking weights: default (" + ("no calibration measured yet: kb index measures it)"
                                                if self.calibrated else "fixed for this engine)")

    def _read_calibration(self) -> None:
        checked, seen = self._calibration_seen
        now = time.monotonic()
        if now - checked < self.live.reload_interval:
            return
        try:
            mtime: int | None = (self.data_dir / calibration.FILE).stat().st_mtime_ns
        except OSError:
            mtime = None
        self._calibration_seen = (now, mtime)
        if mtime == seen:
            return
        try:
            cal = calibration.load(self.data_dir, self.embedder.version)
        except KbError as exc:
            logger.warning("%s", exc)
            cal = None
        self.calibration = cal
        if cal is not None and cal.adopted:
            self.fusion, self.lex_weight = Fusion.of(self.embedder, cal.use_weight), cal.lex_weight
        else:
            self.fusion, self.lex_weight = self.defaults

    def search(self, query: str, *, lang: str | None = None, accept_language: str | None = None,
               k: int = 10, category: str | None = None,
               snapshot: tuple[Index, Vectors] | None = None, cut: bool = True) -> SearchResult:
        """The articles for a query, best first. `cut=False` keeps the whole ranking (for
        measuring it): by default only hits within RELEVANCE_MARGIN of the best are returned."""
        started = time.perf_counter()
        query = _check_query(query)
        text = normalize_query(query)
        if not 1 <= k <= 50:
            raise QueryError("k", "must be between 1 and 50")
        index, vectors = snapshot or self.snapshot()
        config = index.manifest["config"]
        if category is not None and category not in config["categories"]:
            raise QueryError("category", f"unknown category {category!r}; use one of {', '.join(config['categories'])}")
        with self._running:
            locale, how = choose_locale(query, lang, accept_language, index.manifest["locales"],
                                        index.manifest["source_locale"], index.lexical)
            qvec = (self.query_vectors.get(text, lambda t: self.embedder.encode_queries([t])[0])
                    if self.mode != "lexical" else np.zeros(self.embedder.dim, dtype=np.float32))
            scores = self._scores(index, text, qvec, locale)
            ranked = sorted(scores.ranking.items(), key=lambda kv: -kv[1])
            reference = sorted(scores.reference.values(), reverse=True)[:15]
            if category is not None:
                ranked = [(aid, s) for aid, s in ranked if self._category(index, aid) == category]
                reference = sorted((scores.reference[aid] for aid, _ in ranked), reverse=True)[:15]
            shown = within_margin(ranked, keep=rare_term_articles(index, text,
                                                                  (locale, index.manifest["source_locale"])),
                                  by=scores.reference) if cut else ranked
            hits = [self._hit(index, vectors, aid, score, locale, query, qvec, scores.best_row[aid])
                    for aid, score in shown[:k]]
        confidence = confidence_of(reference)
        decision = decide(confidence, reference, scores.content_top, scores.dense_top)
        return SearchResult(query=query, locale=locale, locale_from=how,  # type: ignore[arg-type]
                            decision=decision, confidence=confidence, count=len(shown), hits=hits,
                            support=support_for(config, locale) if decision != "answer" else None,
                            generation=index.generation, took_ms=(time.perf_counter() - started) * 1000)

    def score_parts(self, query: str, lang: str) -> dict[str, dict[str, float]]:
        """For benchmarks/calibrate.py, before any cut or filter, with the decision's weights: each
        article's dense score (`dense`), the same over its own text alone (`content`: no
        `questions` entries) and its BM25 score relative to the query's best (`lexical`)."""
        index, _ = self.snapshot()
        text = normalize_query(_check_query(query))
        locale = choose_locale(text, lang, None, index.manifest["locales"], index.manifest["source_locale"])[0]
        qvec = self.query_vectors.get(text, lambda t: self.embedder.encode_queries([t])[0])
        c = gather(index, text, qvec, locale, mode="hybrid", fusions=[self.reference[0]])
        return {"dense": weigh(c, self.reference[0], 0.0, "dense")[0], "lexical": c.lexical,
                "content": content_scores(c, self.reference[0])[0]}

    def _scores(self, index: Index, text: str, qvec: np.ndarray, locale: str,
                exclude: frozenset[int] = frozenset()) -> Scores:
        return score_articles(index, text, qvec, locale, mode=self.mode, ranking=(self.fusion, self.lex_weight),
                              reference=self.reference, exclude=exclude)

    @staticmethod
    def _category(index: Index, aid: str) -> str:
        versions = index.by_id.get(aid)
        return next(iter(versions.values())).category if versions else ""

    def serve(self, index: Index, aid: str, locale: str) -> tuple[ArticleRecord, bool, bool] | None:
        """(record, machine_translated, fallback) for article `aid` shown to a shopper in `locale`."""
        versions = index.by_id.get(aid, {})
        if not versions:
            return None
        if locale in versions:
            return versions[locale], versions[locale].machine, False
        source = index.manifest["source_locale"]
        chain = fallback_chain(locale, source)
        for code in chain[1:-1]:  # the same language first: a de-AT shopper reads the de version
            if code in versions:
                return versions[code], versions[code].machine, True
        original = versions.get(source) or next(iter(versions.values()))
        if self.translator is not None and self.translator.available(original.locale, locale):
            try:
                return self.translator.translate_article(original, locale), True, False
            except KbError:
                pass  # the pair broke at run time: fall back below, flagged
        return original, original.machine, True

    def _hit(self, index: Index, vectors: Vectors, aid: str, score: float, locale: str,
             query: str, qvec: np.ndarray, best_row: int) -> Hit:
        served = self.serve(index, aid, locale)
        assert served is not None
        record, machine, fallback = served
        matched = index.passages[best_row]
        terms = query_terms(query, record.locale, locale)
        passage = pick_section(index, vectors, record, qvec, terms, matched)
        snippet = make_snippet(passage.text if passage else plain(record.body), query, record.locale, locale)
        anchor = passage.anchor if passage else ""
        section = passage.heading if passage and anchor else ""
        return Hit(id=aid, locale=record.locale, title=record.title, snippet=snippet[0], snippet_html=snippet[1],
                   url=article_url(index.manifest["config"]["base_url"], record, anchor, locale), anchor=anchor, section=section,
                   category=record.category, score=round(float(score), 4), machine_translated=machine,
                   review=record.review, stale=record.stale, fallback=fallback, matched_locale=matched.locale)

    # -- answers for chatbots ----------------------------------------------------------------
    def answer(self, question: str, *, lang: str | None = None, accept_language: str | None = None) -> Answer:
        snapshot = self.snapshot()
        index = snapshot[0]
        result = self.search(question, lang=lang, accept_language=accept_language, k=3, snapshot=snapshot)
        body, citations, alternatives = None, [], []
        if result.decision == "answer" and result.hits:
            top = result.hits[0]
            served = self.serve(index, top.id, result.locale)
            assert served is not None  # the hit came from this same snapshot
            record = served[0]
            body = AnswerBody(id=record.id, title=record.title, markdown=record.body.strip(), text=plain(record.body))
            citations = [Citation.of(top)]
            alternatives = [Citation.of(h) for h in result.hits[1:]]
        elif result.decision == "clarify":
            alternatives = [Citation.of(h) for h in result.hits[:3]]
        # clarify carries the contact too: "none of these" must lead to a person
        support = support_for(index.manifest["config"], result.locale) if result.decision != "answer" else None
        return Answer(question=result.query, locale=result.locale, locale_from=result.locale_from, decision=result.decision,
                      confidence=result.confidence, answer=body, citations=citations, alternatives=alternatives,
                      support=support, generation=result.generation)

    def suggest(self, prefix: str, *, lang: str | None = None, accept_language: str | None = None,
                k: int = 6) -> Suggestions:
        """Search-as-you-type (kb/search/suggest.py): titles and questions that go on from what
        was typed, then semantic matches unless the engine would hand the query off; the decision
        is the search's for the typed text (clarify when it would hand off but titles go on)."""
        prefix = _check_query(prefix, param="q")
        snapshot = self.snapshot()
        index = snapshot[0]
        locale, how = choose_locale(prefix, lang, accept_language, index.manifest["locales"],
                                    index.manifest["source_locale"], index.lexical)
        titles = self._titles
        if titles is None or titles.path != index.path:
            titles = self._titles = Titles(index)
        text = typed(prefix, locale, titles.common.get(locale, frozenset()))
        picked = prefix_matches(titles, locale, text, k)
        known = (locale, index.manifest["source_locale"])
        fill = fill_query(prefix, text, lambda word: any(index.lexical.known(word, loc) for loc in known))
        result = self.search(fill or prefix, lang=locale, k=k, snapshot=snapshot)
        decision: Decision = "clarify" if result.decision == "handoff" and picked else result.decision
        if len(picked) < k and fill and result.decision != "handoff":
            picked += [h.id for h in result.hits if h.id not in picked][: k - len(picked)]
        out: list[Suggestion] = []
        for aid in picked:
            served = self.serve(index, aid, locale)
            if served is None:
                continue
            record, machine, fallback = served
            out.append(Suggestion(id=aid, title=record.title, url=article_url(index.manifest["config"]["base_url"], record,
                                                                             page_locale=locale),
                                  locale=record.locale, machine_translated=machine, fallback=fallback))
        return Suggestions(query=prefix, locale=locale, locale_from=how, decision=decision,  # type: ignore[arg-type]
                           suggestions=out)

    def article(self, aid: str, locale: str) -> tuple[ArticleRecord, bool, bool]:
        index = self.index
        locale = choose_locale("", locale, None, index.manifest["locales"], index.manifest["source_locale"])[0]
        served = self.serve(index, aid, locale)
        if served is None:
            raise QueryError("id", f"no article with id {aid!r}")
        return served


def within_margin(ranked: list[tuple[str, float]], margin: float | None = None,
                  keep: set[str] | frozenset[str] = frozenset(),
                  by: dict[str, float] | None = None) -> list[tuple[str, float]]:
    """The head of a ranking (best first) within `margin` (RELEVANCE_MARGIN) of its best score,
    and the articles in `keep` (those with a rare term of the query: kb/search/rare.py) wherever
    they rank. `by`: the scores the margin is measured on (the decision's, on whose scale the
    margin was fitted), if not the ranking's own; the ranking's order is kept."""
    if not ranked:
        return []
    score_of = by if by is not None else dict(ranked)
    floor = max(score_of[aid] for aid, _ in ranked) - (RELEVANCE_MARGIN if margin is None else margin)
    return [(aid, score) for aid, score in ranked if score_of[aid] >= floor or aid in keep]


def _check_query(query: str, param: str = "q") -> str:
    query = visible(query or "")  # NUL, zero-width spaces, a byte-order mark pasted along: no text
    if not query:
        raise QueryError(param, VISIBLE_MESSAGE)
    if len(query) > MAX_QUERY_CHARS:
        raise QueryError(param, f"is {len(query)} characters; at most {MAX_QUERY_CHARS} are allowed")
    return query


def article_url(base_url: str, record: ArticleRecord, anchor: str = "", page_locale: str | None = None) -> str:
    """The site's page of the article as shown to a `page_locale` shopper (every locale of the site has
    every article: a version of its own, else the fallback shown under that locale's menus and contact)."""
    url = f"{base_url.rstrip('/')}/{page_locale or record.locale}/{record.category}/{record.id}/"
    return url + (f"#{anchor}" if anchor else "")


def support_for(config: dict[str, Any], locale: str) -> dict[str, Any] | None:
    support = config.get("support") or {}
    for code in (locale, locale.split("-")[0], config["source_locale"]):
        if code in support:
            return {"locale": code, **support[code]}
    return None
