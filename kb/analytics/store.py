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
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url

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
    sa.Index("ix_queries_ts", "ts"),
    sa.Index("ix_queries_search_id", "search_id", unique=True),
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
                  tracks_clicks: bool = False) -> None:
        """`search_id`: a random id the client may send back with a click (record_click);
        `tracks_clicks`: the client reports clicks, so a search without one says something."""
        row = {"ts": _now(), "endpoint": strip_controls(endpoint), "locale": strip_controls(locale),
               "query_scrubbed": scrub(query), "decision": strip_controls(decision), "confidence": float(confidence),
               "top_ids": [strip_controls(i) for i in top_ids], "top_scores": [round(float(s), 4) for s in top_scores],
               "served_machine": served_machine, "served_fallback": served_fallback,
               "generation": strip_controls(generation), "search_id": _clean(search_id),
               "tracks_clicks": tracks_clicks}
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

    def add_feedback(self, *, article_id: str, locale: str, helpful: bool, reason: str | None = None) -> None:
        row = {"ts": _now(), "article_id": strip_controls(article_id), "locale": strip_controls(locale),
               "helpful": helpful, "reason_scrubbed": (scrub(reason) if reason else "") or None}
        with self.engine.begin() as conn:
            conn.execute(feedback.insert(), row)

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
