"""Engine behaviour: SQLite pragmas, PostgreSQL's settings, a ping of a connection that sat idle, and retrying
a unit of work on transient errors."""
from __future__ import annotations

import logging
import time
from functools import cache
from typing import Callable, TypeVar

from flask import current_app, request
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.pool import Pool

from .config import ROOT
from .extensions import db

log = logging.getLogger(__name__)
T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_MS = 10_000


@event.listens_for(Engine, "connect")
def _set_sqlite_pragmas(dbapi_connection, connection_record):
    """WAL so readers never wait for the writer, a busy timeout, and enforced foreign keys.

    synchronous=FULL: in WAL mode each commit fsyncs the log before it returns, so an upload, keep or
    delete the gallery has answered survives a power cut (NORMAL syncs only at checkpoints, and a power
    cut may take back the last commits while their files stay on disk). It costs one fsync a commit.
    """
    if _driver(dbapi_connection) != "sqlite3":
        _set_postgresql_settings(dbapi_connection)
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()


def _driver(dbapi_connection) -> str:
    """The DB-API module of a connection: "sqlite3" or "psycopg"."""
    return type(dbapi_connection).__module__.split(".")[0]


def _set_postgresql_settings(dbapi_connection) -> None:
    """No parallel workers for the gallery's queries: a page's query reads a few hundred index entries,
    and two workers started for it (about 16 ms each time, three processes on a query) are what PostgreSQL
    chose for a search with three filters at 100,000 photos, where the one process takes 3 ms; under
    16 connections on 2 CPUs the workers' start-up made its p99 1.6 s (tests/benchmarks/bench_search.py).

    And a plan made for each statement's own values, never a generic one: psycopg prepares a statement
    run five times on a connection (SQLAlchemy leaves its prepare_threshold as it is), and after five more
    PostgreSQL may keep one plan for any values, costed without them. For a search's words that plan
    cannot tell a word on one photo from one on 40,000, nor a first page from a deep one: it reads every
    match and sorts them, and PostgreSQL chose it after ten pages of source=generated&steps_min=30&q=mount*
    (16 ms a page where a plan for the words takes 1 ms) and of a deep page of q=castle (the same). Planning
    each time costs 0.05 to 0.3 ms a statement; parsing is still saved by the prepared statement."""
    if _driver(dbapi_connection) != "psycopg":
        return
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET max_parallel_workers_per_gather = 0")
        cursor.execute("SET plan_cache_mode = force_custom_plan")
    dbapi_connection.commit()


READ_METHODS = frozenset({"GET", "HEAD"})


def read_without_transaction() -> None:
    """A GET or HEAD request on PostgreSQL reads in autocommit: its statements run as they come, each in
    its own snapshot, with no BEGIN before them and no ROLLBACK when the request ends (registered by
    create_app on PostgreSQL only, before any other before_request function, so the user's row is read
    this way too). Two round trips of a page's four (BEGIN, the user, the page, ROLLBACK): 4-6 % of a
    first search's requests/s at 16 connections (tests/benchmarks/bench_search.py). A page reads its
    rows in one statement, so one snapshot a statement shows it nothing half-written. SQLite sends no
    BEGIN before a SELECT and needs none of this.

    A view that writes on a GET (a purge, a view counter, a send to InvokeAI, a missing thumbnail made
    again) is marked reads_and_writes and keeps its transaction: in autocommit its writes would commit
    statement by statement.
    tests/integration/conftest.py fails any test whose GET or HEAD writes on an autocommit connection.
    """
    if request.method not in READ_METHODS or request.endpoint in (None, "static"):
        return
    if getattr(current_app.view_functions.get(request.endpoint), "writes", False):
        return
    db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


def reads_and_writes(view: Callable) -> Callable:
    """Marks a view that writes when it answers a GET: it keeps its transaction (read_without_transaction).
    Put it under the route's decorator."""
    view.writes = True
    return view


PING_AFTER_IDLE_SECONDS = 5.0


@event.listens_for(Pool, "checkin")
def _note_checkin(dbapi_connection, connection_record) -> None:
    connection_record.info["checked_in_at"] = time.monotonic()


@event.listens_for(Pool, "checkout")
def _ping_if_idle(dbapi_connection, connection_record, connection_proxy) -> None:
    """A PostgreSQL connection that sat in the pool for PING_AFTER_IDLE_SECONDS or more is pinged before
    a request uses it, and replaced when the server no longer answers it (DisconnectionError: the pool
    tries another), so a restart of PostgreSQL or a connection a firewall dropped costs no request an
    error. SQLAlchemy's pool_pre_ping pinged on every checkout: a round trip a request, about 0.4 ms of
    the worker's CPU and 0.2 ms of PostgreSQL's, 15 % of a first search's requests/s at 16 connections
    (tests/benchmarks/bench_search.py); a connection busy with request after request needs none. A
    server that goes away under load fails the statements in flight once; SQLAlchemy then invalidates
    the pool and the next requests connect anew. SQLite is a file: nothing to ping."""
    if _driver(dbapi_connection) != "psycopg":
        return
    checked_in_at = connection_record.info.get("checked_in_at")
    if checked_in_at is None or time.monotonic() - checked_in_at < PING_AFTER_IDLE_SECONDS:
        return
    autocommit = dbapi_connection.autocommit
    try:
        dbapi_connection.autocommit = True  # the ping opens no transaction (as SQLAlchemy's pre-ping)
        dbapi_connection.execute(";")
        dbapi_connection.autocommit = autocommit
    except Exception as exc:  # the driver's own error, whichever: the connection is no use
        raise DisconnectionError(f"the connection did not answer a ping: {exc}") from exc


def is_transient(exc: Exception) -> bool:
    """A dropped connection or a lock that outlived busy_timeout: worth trying again."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, OperationalError) and "database is locked" in str(exc.orig)


def run_unit_of_work(work: Callable[[], T], attempts: int) -> T:
    """Run `work` (which must commit) again after a rollback when it fails transiently."""
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except DBAPIError as exc:
            db.session.rollback()
            if attempt == attempts or not is_transient(exc):
                raise
            log.warning("transient database error (attempt %d of %d), retrying: %s",
                        attempt, attempts, exc.orig)
            time.sleep(0.05 * 2 ** attempt)
    raise AssertionError("unreachable")


def schema_is_behind(exc: BaseException | None) -> bool:
    """Whether `exc`, an error that reached the 500 page, comes from a database the migrations have not
    brought to this code's head (`flask db upgrade` forgotten, or not re-run after an update); logged.

    Asked only on that error path, never per request: a working gallery pays nothing for it. A
    database error pays one SELECT of alembic_version (alembic reads the migration files for the
    head once per process); any other error is answered at once.
    """
    gap = schema_gap(exc)
    if gap is not None:
        log.warning("%s: run `flask --app app db upgrade`", gap)
    return gap is not None


def schema_gap(exc: BaseException | None) -> str | None:
    """"the database is at migration X, this code needs Y" when `exc` is a database error of a schema
    behind the migrations' head; None for any other error (or a database that cannot be reached)."""
    if not isinstance(exc, DBAPIError) or is_transient(exc):
        return None
    from alembic.runtime.migration import MigrationContext

    alembic_log = logging.getLogger("alembic.runtime.migration")
    level = alembic_log.level
    alembic_log.setLevel(logging.WARNING)  # its "Context impl SQLiteImpl" lines say nothing here
    try:
        with db.engine.connect() as connection:
            current = set(MigrationContext.configure(connection).get_current_heads())
    except DBAPIError:
        return None  # the database cannot be reached at all: not a schema to upgrade
    finally:
        alembic_log.setLevel(level)
    if current == migration_heads():
        return None
    return (f"the database is at migration {', '.join(sorted(current)) or 'none'}, "
            f"this code needs {', '.join(sorted(migration_heads()))}")


@cache
def migration_heads() -> set[str]:
    from alembic.script import ScriptDirectory

    return set(ScriptDirectory(str(ROOT / "alembic")).get_heads())
