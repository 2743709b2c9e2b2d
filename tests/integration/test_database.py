"""The engine's behaviour: SQLite pragmas, PostgreSQL's reads without a transaction, the ping of an idle
connection, and the bounded retry of a unit of work."""
from __future__ import annotations

import logging

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError, OperationalError

from app import database as engine_behaviour
from app.database import run_unit_of_work
from app.extensions import db


class LockedError(Exception):
    """Stands in for the driver's exception inside SQLAlchemy's OperationalError."""

    def __str__(self):
        return "database is locked"


def locked() -> OperationalError:
    return OperationalError("INSERT INTO photos ...", {}, LockedError())


def test_sqlite_runs_with_wal_busy_timeout_and_foreign_keys(app, database):
    if database.backend != "sqlite":
        pytest.skip("SQLite pragmas only")
    with app.app_context():
        assert db.session.scalar(text("PRAGMA journal_mode")) == "wal"
        assert db.session.scalar(text("PRAGMA foreign_keys")) == 1
        assert db.session.scalar(text("PRAGMA busy_timeout")) >= 5000


def test_sqlite_commits_reach_the_disk_before_the_answer(app, database):
    """SQLite: synchronous=FULL in WAL, so each commit fsyncs the log and an upload answered "stored" survives
    a power cut (NORMAL may lose the last commits). PostgreSQL: its default, a commit waits for its WAL flush.
    Asked of a connection the engine has just opened."""
    with app.app_context():
        db.engine.dispose()  # the next connection is a new one, made with the engine's own settings
        with db.engine.connect() as connection:
            if database.backend == "sqlite":
                assert connection.scalar(text("PRAGMA synchronous")) == 2  # FULL
                assert connection.scalar(text("PRAGMA journal_mode")) == "wal"
            else:
                assert connection.scalar(text("SHOW synchronous_commit")) == "on"


def test_a_transient_error_is_retried_and_logged(app, caplog):
    calls = []

    def work():
        calls.append(1)
        if len(calls) < 3:
            raise locked()
        return "done"

    with app.app_context(), caplog.at_level(logging.WARNING, logger="app.database"):
        assert run_unit_of_work(work, attempts=3) == "done"
    assert len(calls) == 3
    assert sum("retrying" in record.message for record in caplog.records) == 2


def test_retries_are_bounded(app):
    calls = []

    def work():
        calls.append(1)
        raise locked()

    with app.app_context(), pytest.raises(OperationalError):
        run_unit_of_work(work, attempts=2)
    assert len(calls) == 2


def test_a_real_error_is_not_retried(app):
    calls = []

    def work():
        calls.append(1)
        db.session.execute(text("SELECT * FROM no_such_table"))

    with app.app_context(), pytest.raises(DBAPIError, match="no_such_table"):
        run_unit_of_work(work, attempts=3)
    assert len(calls) == 1


@pytest.mark.parametrize("idle", [True, False])
def test_a_connection_the_server_dropped_is_replaced_after_it_sat_idle(app, database, monkeypatch, idle):
    """PostgreSQL ends the connection the pool holds (a restart, a firewall): the next request that takes it
    after it sat idle gets a new one and answers; one taken at once still has the dropped one (the cost of
    not pinging a connection busy with request after request), which SQLAlchemy then replaces."""
    if database.backend != "postgresql":
        pytest.skip("a PostgreSQL connection; SQLite is a file")
    from sqlalchemy import create_engine

    with app.app_context():
        old_pid = db.session.scalar(text("SELECT pg_backend_pid()"))
        db.session.remove()  # back to the pool
        server = create_engine(app.config["SQLALCHEMY_DATABASE_URI"], isolation_level="AUTOCOMMIT")
        try:
            with server.connect() as connection:
                assert connection.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": old_pid})
        finally:
            server.dispose()
        monkeypatch.setattr(engine_behaviour, "PING_AFTER_IDLE_SECONDS", 0.0 if idle else 3600.0)
        if idle:
            assert db.session.scalar(text("SELECT pg_backend_pid()")) != old_pid
        else:
            with pytest.raises(DBAPIError):
                db.session.scalar(text("SELECT pg_backend_pid()"))
            db.session.rollback()
            assert db.session.scalar(text("SELECT pg_backend_pid()")) != old_pid
        db.session.remove()


def test_postgresql_pages_read_without_a_transaction_and_writes_keep_theirs(app, client, database):
    """A GET on PostgreSQL runs its statements in autocommit (no BEGIN, no ROLLBACK: database.read_without_
    transaction); a POST, and a GET whose view writes (the trash's page purges what passed its days), in
    a transaction, which the album's POST shows by committing both its rows."""
    if database.backend != "postgresql":
        pytest.skip("SQLite sends no BEGIN before a SELECT")
    seen = []
    with app.app_context():
        engine = db.engine

    @event.listens_for(engine, "before_cursor_execute")
    def note(connection, cursor, statement, parameters, context, executemany):
        seen.append((statement.split()[0], connection.connection.dbapi_connection.autocommit))

    def autocommit_of(method, path, **kwargs):
        seen.clear()
        response = client.open(path, method=method, **kwargs)
        assert response.status_code < 400, response.status_code
        return {autocommit for _, autocommit in seen}

    try:
        assert autocommit_of("GET", "/") == {True}
        assert autocommit_of("GET", "/search?q=castle&camera=canon") == {True}
        assert autocommit_of("HEAD", "/albums") == {True}
        assert autocommit_of("POST", "/albums", data={"name": "Holidays"}) == {False}
        assert autocommit_of("GET", "/trash") == {False}
        assert autocommit_of("GET", "/albums") == {True}
    finally:
        event.remove(engine, "before_cursor_execute", note)
    assert b"Holidays" in client.get("/albums").data
