"""The analytics store: query log and feedback, through SQLAlchemy.

SQLite in WAL mode at `<data_dir>/kb.sqlite` by default; PostgreSQL (psycopg 3) when
`KB_DATABASE_URL` is set, so several API replicas share one store. The schema is owned by the
Alembic migrations in `kb/analytics/migrations/`, applied when the store is opened.

Privacy: text is scrubbed here, on the way in (kb.analytics.scrub), so no caller can store a raw
query; no IP address, cookie or user id has a column. Every other text value loses its control,
format and surrogate characters on the way in too (strip_controls): PostgreSQL refuses a NUL, and
a row must never be dropped for one.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url

from kb.analytics.clients import client_key
from kb.analytics.scrub import scrub, strip_controls
from kb.errors import KbError

DB_ENV = "KB_DATABASE_URL"
DB_FILE = "kb.sqlite"
MIGRATIONS = Path(__file__).with_name("migrations")
SQLITE_BUSY_MS = 5000

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autoincrements INTEGER keys only

metadata = sa.MetaData()

queries = sa.Table(
    "queries", metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
    sa.Column("endpoint", sa.String(16), nullable=False),  # search | answer
    sa.Column("locale", sa.String(35), nullable=False),
    sa.Column("query_scrubbed", sa.Text, nullable=False),
    sa.Column("decision", sa.String(16), nullable=False),
    sa.Column("confidence", sa.Float, nullable=False),
    sa.Column("top_ids", sa.JSON, nullable=False),
    sa.Column("top_scores", sa.JSON, nullable=False),
    sa.Column("served_machine", sa.Boolean, nullable=False),
    sa.Column("served_fallback", sa.Boolean, nullable=False),
    sa.Column("generation", sa.String(100), nullable=False),
    # 0002: a search whose client reports clicks (the site's search box) and the result opened
    sa.Column("search_id", sa.String(32), nullable=True),
    sa.Column("tracks_clicks", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("clicked_id", sa.String(120), nullable=True),
    sa.Column("clicked_rank", sa.Integer, nullable=True),
    # 0003: the client's pseudonym (kb/analytics/clients.py) and the article it marked helpful from this search
    sa.Column("client", sa.String(32), nullable=True),
    sa.Column("helpful_id", sa.String(120), nullable=True),
    sa.Index("ix_queries_ts", "ts"),
    sa.Index("ix_queries_search_id", "search_id", unique=True),
    sa.Index("ix_queries_client_ts", "client", "ts"),
)

feedback = sa.Table(
    "feedback", metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
    sa.Column("article_id", sa.String(120), nullable=False),
    sa.Column("locale", sa.String(35), nullable=False),
    sa.Column("helpful", sa.Boolean, nullable=False),
    sa.Column("reason_scrubbed", sa.Text, nullable=True),
    sa.Index("ix_feedback_ts", "ts"),
    sa.Index("ix_feedback_article", "article_id", "locale"),
)


@dataclass(frozen=True)
class DailyCount:
    day: str  # YYYY-MM-DD, UTC
    key: str  # what is counted: a shopper locale
    count: int


@dataclass(frozen=True)
class ResolvedSearch:
    """A search that found its article: the shopper opened it and searched no more within the
    window (how="stayed"), or marked it helpful (how="helpful")."""
    query: str  # scrubbed
    locale: str
    article_id: str
    client: str  # a pseudonym
    ts: dt.datetime
    how: str


@dataclass(frozen=True)
class FeedbackDay:
    day: str  # YYYY-MM-DD, UTC
    article_id: str
    yes: int
    no: int


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _clean(value: str | None) -> str | None:
    return None if value is None else strip_controls(value)


def _utc(value: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def database_url(data_dir: Path | str, url: str | None = None) -> URL:
    """`url`, else KB_DATABASE_URL, else SQLite in the data folder; postgresql:// means psycopg 3."""
    raw = url or os.environ.get(DB_ENV) or ""
    if not raw:
        return make_url(f"sqlite:///{Path(data_dir).resolve() / DB_FILE}")
    try:
        parsed = make_url(raw)
    except sa.exc.ArgumentError as exc:
        raise KbError(f"{DB_ENV}: not a database URL ({exc})") from exc
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class Store:
    """One connection pool to the analytics database; safe to share between threads."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    # -- writes: one INSERT each ---------------------------------------------------------
    def log_query(self, *, endpoint: str, locale: str, query: str, decision: str, confidence: float,
                  top_ids: Sequence[str], top_scores: Sequence[float], served_machine: bool,
                  served_fallback: bool, generation: str, search_id: str | None = None,
                  tracks_clicks: bool = False, client: str | None = None, at: dt.datetime | None = None) -> None:
        """`search_id`: a random id the client may send back with a click (record_click);
        `tracks_clicks`: the client reports clicks, so a search without one says something;
        `client`: what tells clients apart (address, user agent), stored only as its keyed hash;
        `at`: when it was asked (now unless a replayed history says otherwise)."""
        row = {"ts": _now() if at is None else _utc(at), "endpoint": strip_controls(endpoint), "locale": strip_controls(locale),
               "query_scrubbed": scrub(query), "decision": strip_controls(decision), "confidence": float(confidence),
               "top_ids": [strip_controls(i) for i in top_ids], "top_scores": [round(float(s), 4) for s in top_scores],
               "served_machine": served_machine, "served_fallback": served_fallback,
               "generation": strip_controls(generation), "search_id": _clean(search_id),
               "tracks_clicks": tracks_clicks, "client": None if client is None else client_key(client)}
        with self.engine.begin() as conn:
            conn.execute(queries.insert(), row)

    def record_click(self, search_id: str, article_id: str) -> bool:
        """Note that the shopper opened `article_id` from the results of search `search_id`.
        Only the first click of a search counts, and only on an article it returned; False otherwise."""
        search_id, article_id = strip_controls(search_id), strip_controls(article_id)
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(queries.c.id, queries.c.top_ids, queries.c.clicked_id)
                               .where(queries.c.search_id == search_id)).first()
            if row is None or row.clicked_id is not None or article_id not in (row.top_ids or []):
                return False
            rank = list(row.top_ids).index(article_id) + 1
            done = conn.execute(queries.update().where(queries.c.id == row.id, queries.c.clicked_id.is_(None))
                                .values(clicked_id=article_id, clicked_rank=rank))
            return bool(done.rowcount)

    def add_feedback(self, *, article_id: str, locale: str, helpful: bool, reason: str | None = None,
                     search_id: str | None = None) -> None:
        """`search_id`: the search the shopper came from; a "helpful" marks that search resolved
        by this article when the search returned it (the first such mark counts)."""
        row = {"ts": _now(), "article_id": strip_controls(article_id), "locale": strip_controls(locale),
               "helpful": helpful, "reason_scrubbed": (scrub(reason) if reason else "") or None}
        with self.engine.begin() as conn:
            conn.execute(feedback.insert(), row)
            if helpful and search_id:
                found = conn.execute(sa.select(queries.c.id, queries.c.top_ids).where(
                    queries.c.search_id == strip_controls(search_id), queries.c.helpful_id.is_(None))).first()
                if found is not None and row["article_id"] in (found.top_ids or []):
                    conn.execute(queries.update().where(queries.c.id == found.id).values(helpful_id=row["article_id"]))

    # -- reads ---------------------------------------------------------------------------
    def list_queries(self, *, since: dt.datetime | None = None, locale: str | None = None,
                limit: int | None = None) -> list[dict[str, Any]]:
        """Logged queries, newest first."""
        stmt = sa.select(queries).order_by(queries.c.ts.desc(), queries.c.id.desc())
        if since is not None:
            stmt = stmt.where(queries.c.ts >= _utc(since))
        if locale is not None:
            stmt = stmt.where(queries.c.locale == locale)
        if limit is not None:
            stmt = stmt.limit(limit)
        return self._rows(stmt)

    def list_feedback(self, *, article_id: str | None = None, locale: str | None = None) -> list[dict[str, Any]]:
        """Feedback rows, newest first."""
        stmt = sa.select(feedback).order_by(feedback.c.ts.desc(), feedback.c.id.desc())
        if article_id is not None:
            stmt = stmt.where(feedback.c.article_id == article_id)
        if locale is not None:
            stmt = stmt.where(feedback.c.locale == locale)
        return self._rows(stmt)

    def resolved_searches(self, window: dt.timedelta, *, since: dt.datetime | None = None,
                          now: dt.datetime | None = None) -> list[ResolvedSearch]:
        """Searches of a known client that found their article, oldest first: marked helpful, or
        a result opened with no next search of that client within `window` (a search younger
        than `window` without a next one is not counted yet: the shopper may still come back)."""
        after = sa.func.lead(queries.c.ts, type_=queries.c.ts.type).over(
            partition_by=queries.c.client, order_by=(queries.c.ts, queries.c.id)).label("next_ts")
        inner = sa.select(queries.c.id, queries.c.query_scrubbed, queries.c.locale, queries.c.clicked_id,
                          queries.c.helpful_id, queries.c.client, queries.c.ts, after).where(
            queries.c.client.is_not(None))
        if since is not None:
            inner = inner.where(queries.c.ts >= _utc(since))
        sub = inner.subquery()
        stmt = sa.select(sub).where(sa.or_(sub.c.clicked_id.is_not(None), sub.c.helpful_id.is_not(None))).order_by(
            sub.c.ts, sub.c.id)
        horizon = (now or _now()) - window
        out: list[ResolvedSearch] = []
        with self.engine.connect() as conn:
            for row in conn.execute(stmt):
                ts = _utc(row.ts)
                if row.helpful_id is not None:
                    out.append(ResolvedSearch(row.query_scrubbed, row.locale, row.helpful_id, row.client, ts, "helpful"))
                elif (_utc(row.next_ts) - ts > window) if row.next_ts is not None else ts <= horizon:
                    out.append(ResolvedSearch(row.query_scrubbed, row.locale, row.clicked_id, row.client, ts, "stayed"))
        return out

    def served_counts(self) -> tuple[dict[tuple[str, str], int], int]:
        """How often search served each article, by the shopper locale of the query: ({(article id,
        locale): logged queries whose results held it}, queries logged in all). The review queue's demand."""
        counts: dict[tuple[str, str], int] = {}
        logged = 0
        with self.engine.connect() as conn:
            for locale, top_ids in conn.execute(sa.select(queries.c.locale, queries.c.top_ids)):
                logged += 1
                for aid in dict.fromkeys(top_ids or []):
                    counts[(str(aid), locale)] = counts.get((str(aid), locale), 0) + 1
        return counts, logged

    # -- the report's charts: counts grouped in SQL --------------------------------------
    def _day(self, column: Any) -> Any:
        """The UTC calendar day of a timestamp column (PostgreSQL: whatever the session's time zone)."""
        if self.engine.dialect.name == "postgresql":
            return sa.func.date(sa.func.timezone("UTC", column))
        return sa.func.date(column)

    def searches_per_day(self, since: dt.datetime | None = None) -> list[DailyCount]:
        """Logged searches and answers per UTC day and shopper locale, oldest day first."""
        day = self._day(queries.c.ts).label("day")
        stmt = sa.select(day, queries.c.locale, sa.func.count()).group_by(day, queries.c.locale).order_by(day)
        if since is not None:
            stmt = stmt.where(queries.c.ts >= _utc(since))
        with self.engine.connect() as conn:
            return [DailyCount(str(d)[:10], str(loc), int(n)) for d, loc, n in conn.execute(stmt)]

    def decisions_per_locale(self, since: dt.datetime | None = None) -> dict[tuple[str, str], int]:
        """{(shopper locale, decision): logged queries}: how often search answered, clarified or handed off."""
        stmt = sa.select(queries.c.locale, queries.c.decision, sa.func.count()).group_by(
            queries.c.locale, queries.c.decision)
        if since is not None:
            stmt = stmt.where(queries.c.ts >= _utc(since))
        with self.engine.connect() as conn:
            return {(str(loc), str(dec)): int(n) for loc, dec, n in conn.execute(stmt)}

    def feedback_per_day(self, since: dt.datetime | None = None) -> list[FeedbackDay]:
        """"Was this helpful?" answers per article and UTC day (all locales together), oldest first."""
        day = self._day(feedback.c.ts).label("day")
        yes = sa.func.sum(sa.case((feedback.c.helpful, 1), else_=0))
        stmt = (sa.select(day, feedback.c.article_id, yes, sa.func.count())
                .group_by(day, feedback.c.article_id).order_by(day, feedback.c.article_id))
        if since is not None:
            stmt = stmt.where(feedback.c.ts >= _utc(since))
        with self.engine.connect() as conn:
            return [FeedbackDay(str(d)[:10], str(aid), int(y or 0), int(n) - int(y or 0))
                    for d, aid, y, n in conn.execute(stmt)]

    def opened_most(self, *, locale: str | None = None, since: dt.datetime | None = None,
                    limit: int = 5) -> list[tuple[str, int]]:
        """The articles shoppers opened most from search results (a search's first click), most first:
        [(article id, times opened)]; ties by id. The home page's popular articles and the report's chart."""
        count = sa.func.count().label("opened")
        stmt = (sa.select(queries.c.clicked_id, count).where(queries.c.clicked_id.is_not(None))
                .group_by(queries.c.clicked_id).order_by(count.desc(), queries.c.clicked_id).limit(limit))
        if locale is not None:
            stmt = stmt.where(queries.c.locale == locale)
        if since is not None:
            stmt = stmt.where(queries.c.ts >= _utc(since))
        with self.engine.connect() as conn:
            return [(str(aid), int(n)) for aid, n in conn.execute(stmt)]

    def _rows(self, stmt: sa.Select[Any]) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(stmt)]
        for row in rows:
            row["ts"] = _utc(row["ts"])
        return rows

    # -- retention -----------------------------------------------------------------------
    def prune(self, older_than: dt.timedelta) -> dict[str, int]:
        """Delete queries and feedback older than `older_than`; returns rows deleted per table."""
        cutoff = _now() - older_than
        with self.engine.begin() as conn:
            return {table.name: conn.execute(table.delete().where(table.c.ts < cutoff)).rowcount
                    for table in (queries, feedback)}

    def close(self) -> None:
        self.engine.dispose()


@contextmanager
def _migration_lock(url: URL) -> Iterator[None]:
    """SQLite: one process migrates at a time (PostgreSQL takes an advisory lock in env.py)."""
    path = url.database if url.get_backend_name() == "sqlite" else None
    if not path or path == ":memory:":
        yield
        return
    with open(f"{path}.migrate-lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def migrate(engine: Engine) -> None:
    """Bring the database to the newest schema (Alembic `upgrade head`, configured in code)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    with _migration_lock(engine.url), engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def logged_demand(data_dir: Path | str, store: Store | None = None) -> tuple[dict[tuple[str, str], int], int] | None:
    """Store.served_counts() of `store`, else of the store in KB_DATABASE_URL or `<data_dir>/kb.sqlite`
    when one exists (none is created here). None when there is no query log or it cannot be read."""
    owned = None
    if store is None:
        if not (os.environ.get(DB_ENV) or (Path(data_dir) / DB_FILE).is_file()):
            return None
        try:
            store = owned = open_store(data_dir)
        except KbError:
            return None
    try:
        return store.served_counts()
    except sa.exc.SQLAlchemyError:
        return None
    finally:
        if owned is not None:
            owned.close()


def open_store(data_dir: Path | str = ".kb", url: str | None = None) -> Store:
    """Open (and migrate) the store: `url`, else KB_DATABASE_URL, else `<data_dir>/kb.sqlite`."""
    target = database_url(data_dir, url)
    if target.get_backend_name() == "sqlite" and target.database not in (None, "", ":memory:"):
        Path(target.database).parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = sa.create_engine(target, pool_pre_ping=target.get_backend_name() != "sqlite")
    except ImportError as exc:
        raise KbError(f"database driver for {target.drivername} is missing: pip install 'kb-helpcenter[postgres]'") from exc
    if target.get_backend_name() == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    try:
        migrate(engine)
    except sa.exc.OperationalError as exc:
        engine.dispose()
        raise KbError(f"cannot open the analytics store at {target.render_as_string(hide_password=True)}: "
                      f"{exc.orig}") from exc
    return Store(engine)
