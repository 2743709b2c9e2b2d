"""Accounts under concurrency: two browsers on the first-run setup page at once, and a burst of
wrong passwords against the login throttle.

Real threads, each with its own test client, started together by a Barrier. Where the outcome
would otherwise hang on timing, gates in the service's steps (hashing or checking a password,
the INSERT of an account) hold each request until the others have caught up, so the race
happens every run.
"""
from __future__ import annotations

import threading

import pytest
from live_redis import redis_cache_fixture  # noqa: F401  (the redis_cache fixture)
from sqlalchemy import event, select
from testapp import make_app, page_text, run_together

from app.extensions import db
from app.models import User
from app.services import users as user_service

WAIT = 10  # seconds a gate waits before giving up, so a broken test fails instead of hanging
OVERLAP = 1.0  # seconds a setup's INSERT waits for the other's before committing


# --- first-run setup ----------------------------------------------------------------------

@pytest.fixture
def workers(app):
    """Two app instances on the test's database, as two WSGI workers would be."""
    instances = [make_app(app.config["SQLALCHEMY_DATABASE_URI"], app.config["DATA_DIR"]) for _ in range(2)]
    yield instances
    for instance in instances:
        with instance.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def hashing_together(monkeypatch):
    """Each setup request waits inside its password hashing until the other one is hashing too:
    both have read the form and the (empty) accounts table before either can write."""
    both = threading.Barrier(2, timeout=WAIT)
    real = user_service.generate_password_hash

    def gated(password: str, *args, **kwargs) -> str:
        both.wait()
        return real(password, *args, **kwargs)

    monkeypatch.setattr(user_service, "generate_password_hash", gated)


@pytest.fixture
def inserting_together(workers):
    """After its INSERT into users, each setup request waits (at most OVERLAP seconds) for the
    other's INSERT before it commits. With nothing to keep them apart both run on a snapshot
    without the other's account, and both commit; when the other request is held at a lock
    instead, the wait runs out and the first commits alone."""
    seen = {"inserts": 0}
    inserted = threading.Condition()

    def gate(connection, cursor, statement, parameters, context, executemany):
        if statement.startswith("INSERT INTO users"):
            with inserted:
                seen["inserts"] += 1
                inserted.notify_all()
                inserted.wait_for(lambda: seen["inserts"] >= 2, timeout=OVERLAP)

    engines = []
    for worker in workers:
        with worker.app_context():
            engines.append(db.engine)
    for engine in engines:
        event.listen(engine, "after_cursor_execute", gate)
    yield
    for engine in engines:
        event.remove(engine, "after_cursor_execute", gate)


@pytest.mark.parametrize("names", [("admin", "admin"), ("anna", "bert")], ids=["same name", "two names"])
def test_two_setups_at_once_make_one_admin_and_the_other_is_sent_to_login(app, workers, hashing_together,
                                                                         inserting_together, names):
    browsers = [worker.test_client() for worker in workers]
    forms = [{"username": name, "password": "s3cret passphrase", "confirm": "s3cret passphrase"} for name in names]

    answers = run_together([lambda b=b, f=f: b.post("/setup", data=f) for b, f in zip(browsers, forms)])

    assert [answer.status_code for answer in answers] == [302, 302]
    assert sorted(answer.headers["Location"] for answer in answers) == ["/", "/login"]
    with app.app_context():
        accounts = list(db.session.scalars(select(User)))
        assert [(user.username, user.is_admin) for user in accounts] in ([(names[0], True)], [(names[1], True)])
    winner, loser = browsers if answers[0].headers["Location"] == "/" else browsers[::-1]
    assert winner.get("/").status_code == 200
    told = loser.get("/login")
    assert told.status_code == 200
    assert "already set up" in page_text(told)
    assert loser.get("/").headers["Location"].startswith("/login")


# --- login throttling ---------------------------------------------------------------------

LIMIT = 3
ATTEMPTS = 8


class PasswordGate:
    """Counts the password checks. Each check waits until every attempt has been either checked
    or refused, so no attempt can finish (and be counted, the old way) while others are still
    deciding whether to check: all of them arrive at the throttle together."""

    def __init__(self, attempts: int):
        self.attempts, self.checked, self.refused = attempts, 0, 0
        self.settled = threading.Condition()
        self.real = user_service.check_password_hash

    def check(self, password_hash: str, password: str) -> bool:
        with self.settled:
            self.checked += 1
            self.settled.notify_all()
            self.settled.wait_for(lambda: self.checked + self.refused >= self.attempts, timeout=WAIT)
        return self.real(password_hash, password)

    def count_refusal(self) -> None:
        with self.settled:
            self.refused += 1
            self.settled.notify_all()


class TestConcurrentLogins:
    """The same wrong-password burst through the in-process cache and through Redis."""

    @pytest.fixture(params=["SimpleCache", "RedisCache"])
    def app_config(self, request):
        config = {"LOGIN_ATTEMPTS_PER_MINUTE": LIMIT}
        if request.param == "RedisCache":
            url, prefix = request.getfixturevalue("redis_cache")
            config.update(CACHE_REDIS_URL=url, CACHE_KEY_PREFIX=prefix)
        return config

    @pytest.fixture
    def checks(self, monkeypatch) -> PasswordGate:
        gate = PasswordGate(ATTEMPTS)
        monkeypatch.setattr(user_service, "check_password_hash", gate.check)
        return gate

    def test_a_burst_of_wrong_passwords_checks_at_most_the_limit(self, app, user_id, password, checks):
        def attempt():
            response = app.test_client().post("/login", data={"username": "alice", "password": "wrong password"},
                                              environ_base={"REMOTE_ADDR": "203.0.113.9"})
            if response.status_code == 429:
                checks.count_refusal()
            return response

        answers = run_together([attempt] * ATTEMPTS)

        assert sorted(answer.status_code for answer in answers) == [401] * LIMIT + [429] * (ATTEMPTS - LIMIT)
        assert checks.checked == LIMIT
        right = app.test_client().post("/login", data={"username": "alice", "password": password},
                                       environ_base={"REMOTE_ADDR": "203.0.113.9"})
        assert right.status_code == 429
        assert "Too many failed logins" in page_text(right)
        elsewhere = app.test_client().post("/login", data={"username": "alice", "password": password},
                                           environ_base={"REMOTE_ADDR": "198.51.100.4"})
        assert elsewhere.status_code == 302

    def test_the_right_password_under_the_limit_works_and_forgets_the_failures(self, app, user_id, password):
        browser = app.test_client()

        def sign_in(secret: str) -> int:
            return browser.post("/login", data={"username": "alice", "password": secret}).status_code

        for _ in range(2):
            assert [sign_in("wrong password") for _ in range(LIMIT - 1)] == [401] * (LIMIT - 1)
            assert sign_in(password) == 302
        assert [sign_in("wrong password") for _ in range(LIMIT)] == [401] * LIMIT
        assert sign_in(password) == 429
