"""The app through its HTTP and CLI faces on a real database and a real data folder.

Every test that takes `app` runs on SQLite and, when TEST_DATABASE_URL is set,
again on PostgreSQL. The schema is made by the migrations, once per backend.
"""
from __future__ import annotations

import functools
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import has_request_context, request
from sqlalchemy import create_engine, event, func, select, text
from sqlalchemy.engine import Engine, make_url

from fake_invokeai import closed_port_url, fake_invokeai  # noqa: F401  (fixtures for the generation tests)
import api_contract
import testapp
from testapp import JSON, PASSWORD, PASSWORD_HASH, log_in, make_app, migrate_fresh, multipart_body, sign_in
from app.extensions import db
from app.models import GenerationImage, LoginSession, Photo, User


READS = ("SELECT", "WITH", "SHOW")


@event.listens_for(Engine, "before_cursor_execute")
def refuse_writes_in_autocommit(connection, cursor, statement, parameters, context, executemany):
    """A GET or HEAD request on PostgreSQL reads in autocommit (app/database.read_without_transaction),
    where a write would commit statement by statement: the `app` fixture fails any test whose such
    request wrote."""
    if (has_request_context() and request.method in ("GET", "HEAD")
            and connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT"
            and not statement.lstrip().upper().startswith(READS)):
        WRITES_IN_AUTOCOMMIT.append(f"{request.method} {request.path}: {statement[:200]}")


WRITES_IN_AUTOCOMMIT: list[str] = []


@dataclass
class Database:
    backend: str
    url: str
    template: Path | None = None  # SQLite: a migrated file copied for each test

    def url_for_test(self, tmp_path: Path) -> str:
        if self.template is None:
            return self.url
        target = tmp_path / "gallery.db"
        shutil.copyfile(self.template, target)
        return f"sqlite:///{target}"


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database(request, tmp_path_factory) -> Database:
    work = tmp_path_factory.mktemp(f"db-{request.param}")
    if request.param == "postgresql":
        url = os.environ.get("TEST_DATABASE_URL")
        if not url:
            pytest.skip("TEST_DATABASE_URL is not set, so the PostgreSQL run is skipped")
        migrate_fresh(url, work / "data")
        return Database("postgresql", url)
    template = work / "template.db"
    migrate_fresh(f"sqlite:///{template}", work / "data")
    return Database("sqlite", f"sqlite:///{template}", template)


@pytest.fixture
def app_config() -> dict:
    """Overrides for one test's app: `def app_config(): return {...}` in a test module or class."""
    return {}


@pytest.fixture
def app(database, tmp_path, app_config):
    app = make_app(database.url_for_test(tmp_path), tmp_path / "data", **app_config)
    broken_contract = api_contract.watch(app)
    WRITES_IN_AUTOCOMMIT.clear()
    yield app
    invokeai = app.extensions.get("invokeai")  # one requests.Session to InvokeAI: close its sockets
    if invokeai is not None:
        invokeai.close()
    with app.app_context():
        db.session.remove()
        if database.backend == "postgresql":
            tables = ", ".join(table.name for table in db.metadata.sorted_tables)
            with db.engine.begin() as connection:
                connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        db.engine.dispose()
    assert not broken_contract, "API answers that break the OpenAPI document:\n" + "\n".join(broken_contract)
    assert not WRITES_IN_AUTOCOMMIT, "reads that wrote outside a transaction:\n" + "\n".join(WRITES_IN_AUTOCOMMIT)


@pytest.fixture
def make_user(app):
    """make_user(name, is_admin=False) -> the new user's id; every test user's password is PASSWORD."""
    def make(username: str, is_admin: bool = False) -> int:
        with app.app_context():
            user = User(username=username, password_hash=PASSWORD_HASH, is_admin=is_admin)
            db.session.add(user)
            db.session.commit()
            return user.id
    return make


@pytest.fixture
def password() -> str:
    """The password of every user that make_user made."""
    return PASSWORD


@pytest.fixture
def user_id(make_user) -> int:
    """alice: the user most tests act as."""
    return make_user("alice")


@pytest.fixture
def client(app, user_id):
    """A test client signed in as alice."""
    return log_in(app.test_client(), user_id)


@pytest.fixture
def bob_id(make_user) -> int:
    """bob: the other account, for tests of what one person may see of another's."""
    return make_user("bob")


@pytest.fixture
def bob(app, bob_id, password):
    """A client signed in as bob through the login form."""
    browser = app.test_client()
    assert sign_in(browser, "bob", password).status_code == 302
    return browser


@pytest.fixture
def anonymous(app):
    """A test client nobody has signed in with."""
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def data_dir(app) -> Path:
    return Path(app.config["DATA_DIR"])


@pytest.fixture
def data_files(data_dir):
    """A callable listing every file under data/ (temp files included), relative to it."""
    def files() -> set[str]:
        return {str(p.relative_to(data_dir)) for p in data_dir.rglob("*") if p.is_file()}
    return files


@pytest.fixture
def accounts(app):
    """accounts() -> {username: User} as the database holds them now."""
    def read() -> dict[str, User]:
        with app.app_context():
            found = {user.username: user for user in db.session.scalars(select(User))}
            db.session.expunge_all()
            return found
    return read


@pytest.fixture
def login_sessions(app):
    """login_sessions(user_id) -> (user agent, address) of each of the user's sessions in the database."""
    def read(user_id: int) -> list[tuple[str, str]]:
        with app.app_context():
            return [(row.user_agent, row.address) for row in db.session.scalars(
                select(LoginSession).where(LoginSession.user_id == user_id).order_by(LoginSession.id))]
    return read


@pytest.fixture
def photos_of(app):
    """photos_of(user_id) -> the original paths of that user's photos."""
    def read(owner_id: int) -> set[str]:
        with app.app_context():
            return set(db.session.scalars(select(Photo.original_path).where(Photo.owner_id == owner_id)))
    return read


@pytest.fixture
def row_count(app):
    """row_count(Model) -> how many rows its table holds now."""
    def count(model) -> int:
        with app.app_context():
            return db.session.scalar(select(func.count()).select_from(model))
    return count


@pytest.fixture
def photo_count(row_count):
    """photo_count() -> how many photos the database holds now (everyone's)."""
    return functools.partial(row_count, Photo)


@pytest.fixture
def upload_files(client):
    """upload_files([(bytes, name), ...], json=True) -> response of one POST /upload with them all."""
    def send(files: list[tuple[bytes, str]], json: bool = True, headers: dict | None = None):
        payload, content_type = multipart_body(files)
        headers = {**(JSON if json else {}), **(headers or {})}
        return client.post("/upload", data=payload, headers=headers, content_type=content_type)
    return send


@pytest.fixture
def upload(upload_files):
    """upload(path_or_bytes, name=None, json=True) -> response of POST /upload with one file."""
    def send(content, name: str | None = None, json: bool = True, headers: dict | None = None):
        if isinstance(content, (str, Path)):
            content, name = Path(content).read_bytes(), name or Path(content).name
        return upload_files([(content, name)], json=json, headers=headers)
    return send


# --- generating, against the fake InvokeAI (a module points the app at it in its app_config) -----------
# The gallery's side is driven only through its routes (the test client); InvokeAI's side is read from the
# fake's request log (`fake.requests`, `fake.count`, `fake.enqueued_batches()`). Each polling GET the gallery
# makes is one tick of the fake's queue, so polling the session's status route moves the images along
# without any sleep.

@pytest.fixture
def fake(fake_invokeai):
    """The fake InvokeAI, by the short name the generation tests use."""
    return fake_invokeai


@pytest.fixture
def generate(client):
    """generate(**form overrides) -> the new session's id (POST /generate, answered with a redirect)."""
    return functools.partial(testapp.generate, client)


@pytest.fixture
def status(client):
    """status(session_id, as_client=client) -> the response of the JSON status route the page polls."""
    def poll(session_id: int, as_client=None):
        return (as_client or client).post(f"/generate/sessions/{session_id}/status", headers=JSON)
    return poll


@pytest.fixture
def poll_until_finished(status):
    """poll_until_finished(session_id) -> the last status JSON; each poll ticks the fake, so no sleeping."""
    def poll(session_id: int, limit: int = 50) -> dict:
        for _ in range(limit):
            response = status(session_id)
            assert response.status_code == 200, response.get_json()
            data = response.get_json()
            if data["finished"]:
                return data
        raise AssertionError(f"session {session_id} not finished after {limit} polls: {data}")
    return poll


@pytest.fixture
def stored_images(app):
    """stored_images(session_id) -> {seed: GenerationImage} as the database has them (detached copies)."""
    def load(session_id: int) -> dict[int, GenerationImage]:
        with app.app_context():
            images = db.session.scalars(select(GenerationImage).where(GenerationImage.session_id == session_id))
            result = {image.seed: image for image in images}
            db.session.expunge_all()
            return result
    return load


@pytest.fixture
def empty_postgresql_url():
    """A new, empty database on TEST_DATABASE_URL's server, dropped afterwards (for a test that needs
    a schema of its own: migrations, or a server started by the test)."""
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        pytest.skip("TEST_DATABASE_URL is not set, so the PostgreSQL run is skipped")
    base_url = make_url(base)
    name = f"{base_url.database}_{secrets.token_hex(4)}"
    server = create_engine(base_url, isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield base_url.set(database=name).render_as_string(hide_password=False)
        with server.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        server.dispose()
