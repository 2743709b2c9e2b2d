"""Starting the app: a bad setting stops it naming the setting, and start writes no schema."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from bs4 import BeautifulSoup
from sqlalchemy import text

from app import ConfigError, create_app
from app.extensions import db

SECRET = "config-test-secret-" + "0" * 16
ROOT = Path(__file__).resolve().parents[2]


def settings(tmp_path, **overrides) -> dict:
    return {"SECRET_KEY": SECRET, "DATA_DIR": str(tmp_path / "data"),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'gallery.db'}", **overrides}


@pytest.mark.parametrize("overrides, setting", [
    ({"PAGE_SIZE": 0}, "GALLERY_PAGE_SIZE"),
    ({"MAX_FILES_PER_UPLOAD": "many"}, "GALLERY_MAX_FILES_PER_UPLOAD"),
    ({"JPEG_QUALITY": 100}, "GALLERY_JPEG_QUALITY"),
    ({"GRID_SIZE": 2000, "PREVIEW_SIZE": 1000}, "GALLERY_GRID_SIZE"),
    ({"DATABASE_URL": "mysql://gallery@127.0.0.1/gallery"}, "GALLERY_DATABASE_URL"),
    ({"SECRET_KEY": "short"}, "GALLERY_SECRET_KEY"),
])
def test_a_bad_setting_stops_start_naming_it(overrides, setting, tmp_path):
    with pytest.raises(ConfigError, match=setting):
        create_app(settings(tmp_path, **overrides))


@pytest.mark.parametrize("variable, value", [("GALLERY_PAGE_SIZE", "sixty"), ("GALLERY_MAX_REQUEST_BYTES", "0")])
def test_a_bad_environment_variable_stops_start_naming_it(variable, value, tmp_path, monkeypatch):
    monkeypatch.setenv(variable, value)
    config = settings(tmp_path)

    with pytest.raises(ConfigError, match=variable):
        create_app(config)


@pytest.mark.parametrize("database", ["an empty file", "the default location"])
def test_start_creates_no_table(database, tmp_path):
    if database == "an empty file":
        path = tmp_path / "gallery.db"
        sqlite3.connect(path).close()
        config = settings(tmp_path, DATABASE_URL=f"sqlite:///{path}")
    else:
        path = tmp_path / "data" / "gallery.db"  # GALLERY_DATABASE_URL unset: a file in the data folder
        config = settings(tmp_path, DATABASE_URL=None)

    app = create_app(config)
    with app.app_context():
        assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{path}"

    if database == "the default location":
        assert not path.exists()
    else:
        with closing(sqlite3.connect(path)) as connection:
            assert connection.execute("SELECT type, name FROM sqlite_master").fetchall() == []


def test_a_data_folder_under_a_file_stops_start(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("a file where a folder should be")

    with pytest.raises(ConfigError, match="GALLERY_DATA_DIR"):
        create_app(settings(tmp_path, DATA_DIR=str(blocker / "data")))


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through chmod 500; the data-folder-under-a-file "
                                              "test covers an unwritable folder")
def test_a_read_only_data_folder_stops_start(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o500)
    try:
        with pytest.raises(ConfigError, match="GALLERY_DATA_DIR"):
            create_app(settings(tmp_path, DATA_DIR=str(data)))
    finally:
        data.chmod(0o700)


# --- the `flask` command: a bad setting is one line and exit status 2, never a traceback ---------

def flask_command(tmp_path, args: list[str], **variables: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if not key.startswith("GALLERY_")}
    env.update({"GALLERY_SECRET_KEY": SECRET, "GALLERY_DATA_DIR": str(tmp_path / "data"),
                "GALLERY_DATABASE_URL": f"sqlite:///{tmp_path / 'gallery.db'}", "GALLERY_INVOKEAI_URL": "off",
                **variables})
    return subprocess.run([sys.executable, "-m", "flask", "--app", "app", *args], cwd=ROOT, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("args", [["gallery", "check"], ["db", "upgrade"], ["users", "list"],
                                  ["photos", "import", "."], ["run", "--port", "0"]],
                         ids=lambda args: " ".join(args))
def test_a_bad_setting_is_one_line_naming_it_for_every_command(args, tmp_path):
    result = flask_command(tmp_path, args, GALLERY_PAGE_SIZE="abc")

    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == ["Error: GALLERY_PAGE_SIZE must be a whole number, not 'abc'"]
    assert result.stdout == ""


@pytest.mark.parametrize("problem", ["an unknown key in the file", "a data folder under a file"])
def test_a_bad_config_file_or_data_folder_is_one_line_too(problem, tmp_path):
    if problem == "an unknown key in the file":
        (tmp_path / "gallery.toml").write_text("PAGE_SIZE = 30\nTHUMB_SIZE = 200\n")
        variables, expected = {"GALLERY_CONFIG": str(tmp_path / "gallery.toml")}, "Error: GALLERY_CONFIG: unknown"
    else:
        (tmp_path / "file.txt").write_text("a file where a folder should be")
        variables, expected = {"GALLERY_DATA_DIR": str(tmp_path / "file.txt" / "data")}, "Error: GALLERY_DATA_DIR:"

    result = flask_command(tmp_path, ["gallery", "check"], **variables)

    assert result.returncode == 2, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith(expected)


# --- a database `flask db upgrade` has not reached: a 503 that says what to run ----------------

UPGRADE = "flask --app app db upgrade"


@pytest.fixture(params=["sqlite", "postgresql"])
def unmigrated(request, tmp_path):
    """An app on a database with nothing in it (the migrations never ran)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'fresh.db'}"
    else:
        url = request.getfixturevalue("empty_postgresql_url")
    # Not TESTING, so errors reach the error pages; no CSRF token, so a test can post the login form.
    app = create_app(settings(tmp_path, DATABASE_URL=url, WTF_CSRF_ENABLED=False))
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def flask_db(app, *args: str) -> None:
    result = app.test_cli_runner().invoke(args=["db", *args])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("path", ["/", "/login", "/setup"])
def test_a_database_never_upgraded_answers_503_naming_the_command(unmigrated, path):
    client = unmigrated.test_client()

    page = client.get(path)
    api = client.get("/setup", headers={"Accept": "application/json"})  # "/" would answer 401 first

    assert page.status_code == 503 and page.mimetype == "text/html"
    assert UPGRADE in BeautifulSoup(page.get_data(as_text=True), "html.parser").select_one("code").get_text()
    assert api.status_code == 503 and UPGRADE in api.get_json()["error"]


def test_a_schema_behind_the_code_answers_503_to_a_login(unmigrated):
    heads = ScriptDirectory(str(ROOT / "alembic")).get_heads()
    with unmigrated.app_context():
        flask_db(unmigrated, "upgrade", "e2536a97fe8c")  # accounts exist; columns added since do not yet
        with db.engine.begin() as connection:
            connection.execute(text("INSERT INTO users (username, password_hash, is_admin, created_at) "
                                    "VALUES ('alice', 'x', true, CURRENT_TIMESTAMP)"))
    client = unmigrated.test_client()
    form = {"username": "alice", "password": "not checked: the account's row cannot be read", "next": ""}

    page = client.post("/login", data=form)

    assert page.status_code == 503 and UPGRADE in page.get_data(as_text=True)
    with unmigrated.app_context():
        flask_db(unmigrated, "upgrade")
        with db.engine.connect() as connection:
            assert set(MigrationContext.configure(connection).get_current_heads()) == set(heads)
    assert unmigrated.test_client().post("/login", data=form).status_code == 401


def test_other_database_errors_stay_a_500(unmigrated):
    with unmigrated.app_context():
        flask_db(unmigrated, "upgrade")

    @unmigrated.before_request  # runs before the sign-in check
    def broken():
        db.session.execute(text("SELECT no_such_column FROM users"))

    response = unmigrated.test_client().get("/login")

    assert response.status_code == 500 and UPGRADE not in response.get_data(as_text=True)


@pytest.mark.parametrize("args", [["users", "list"], ["gallery", "check"], ["photos", "import", "."],
                                  ["thumbnails", "rebuild"]], ids=lambda args: " ".join(args))
def test_a_command_on_a_database_never_upgraded_is_one_line_naming_the_upgrade(args, tmp_path):
    result = flask_command(tmp_path, args)

    assert result.returncode == 2, result.stderr
    head = ", ".join(ScriptDirectory(str(ROOT / "alembic")).get_heads())
    assert result.stderr.splitlines() == [f"Error: the database is at migration none, this code needs {head}: "
                                          f"run `{UPGRADE}` first."]


def test_a_command_after_the_upgrade_runs(tmp_path):
    assert flask_command(tmp_path, ["db", "upgrade"]).returncode == 0

    result = flask_command(tmp_path, ["users", "list"])

    assert result.returncode == 0, result.stderr


def test_a_process_that_builds_many_apps_still_runs_their_commands(tmp_path):
    """The CLI groups are module-level: building an app must not wrap them once more each time (the
    test suite builds over a thousand apps in one process, and every command then overflowed the stack)."""
    script = f"""
import sys
from app import create_app
settings = {settings(tmp_path)!r}
for _ in range(300):
    app = create_app(settings)
sys.setrecursionlimit(250)
result = app.test_cli_runner().invoke(args=["gallery", "purge-trash"])  # on a database never upgraded
print(result.exit_code, type(result.exception).__name__, result.output.strip())
"""
    finished = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert finished.stdout.strip().splitlines()[-1].startswith("2 SystemExit Error: the database is at migration "
                                                               "none"), finished.stdout + finished.stderr
