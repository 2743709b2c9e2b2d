"""The engine's behaviour: SQLite pragmas, and the bounded retry of a unit of work."""
from __future__ import annotations

import logging

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError

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
