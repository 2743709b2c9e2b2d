"""Migrations are the only way the schema changes: one head, a clean round trip, no drift.

Each test works on a database of its own: a fresh SQLite file, and, when TEST_DATABASE_URL
is set, a PostgreSQL database it creates beside that one on the same server and drops after
(the shared `database` fixture keeps its own schema in TEST_DATABASE_URL's database).
"""
from __future__ import annotations

from pathlib import Path

import pytest
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from app import create_app
from app.extensions import db

ROOT = Path(__file__).resolve().parents[2]
SECRET = "migration-test-secret-" + "0" * 16


def scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(Config(str(ROOT / "alembic.ini")))


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request, tmp_path) -> str:
    """The URL of a database with nothing in it."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fresh.db'}"
    return request.getfixturevalue("empty_postgresql_url")


@pytest.fixture
def migrating_app(empty_database, tmp_path):
    app = create_app({"SECRET_KEY": SECRET, "DATABASE_URL": empty_database, "DATA_DIR": str(tmp_path / "data"),
                      "TESTING": True})
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def flask_db(app, *args: str) -> int:
    """Run `flask db ...` against `app`; its exit code."""
    result = app.test_cli_runner().invoke(args=["db", *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code


def schema(app) -> tuple[str | None, set[str]]:
    """The database's alembic revision and its tables."""
    with app.app_context(), db.engine.connect() as connection:
        revision = MigrationContext.configure(connection).get_current_revision()
        return revision, set(inspect(connection).get_table_names())


def test_the_migrations_have_one_head_and_one_base():
    script = scripts()
    assert len(script.get_heads()) == 1
    assert len(script.get_bases()) == 1


# The full-text index no model describes (services/search.py): an FTS5 table and its shadow tables on
# SQLite, a table of tsvectors on PostgreSQL.
SEARCH_TABLES = {"sqlite": {"photo_search"} | {f"photo_search_{shadow}" for shadow in
                                               ("data", "idx", "content", "docsize", "config")},
                 "postgresql": {"photo_search"}}


def test_upgrade_check_downgrade_and_upgrade_again(migrating_app):
    head = scripts().get_current_head()
    with migrating_app.app_context():
        backend = db.engine.dialect.name
    tables = {"alembic_version"} | set(db.metadata.tables) | SEARCH_TABLES[backend]
    assert schema(migrating_app) == (None, set())

    assert flask_db(migrating_app, "upgrade") == 0
    assert schema(migrating_app) == (head, tables)
    assert flask_db(migrating_app, "check") == 0  # the models match the migrations

    assert flask_db(migrating_app, "downgrade", "base") == 0
    assert schema(migrating_app) == (None, {"alembic_version"})
    assert flask_db(migrating_app, "check") == 1  # behind head: check says so

    assert flask_db(migrating_app, "upgrade") == 0
    assert schema(migrating_app) == (head, tables)
    assert flask_db(migrating_app, "check") == 0


def test_check_notices_a_schema_the_models_do_not_describe(migrating_app):
    assert flask_db(migrating_app, "upgrade") == 0
    with migrating_app.app_context(), db.engine.begin() as connection:
        connection.execute(text("ALTER TABLE photos ADD COLUMN stray INTEGER"))

    assert flask_db(migrating_app, "check") == 1


def test_photos_from_before_accounts_belong_to_an_admin_afterwards(migrating_app):
    first = scripts().get_base()
    assert flask_db(migrating_app, "upgrade", first) == 0
    with migrating_app.app_context(), db.engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO photos (source, original_path, rendition_ext, original_name, sha256, format, mime_type,"
            " file_size, width, height, uploaded_at, sorted_at) VALUES ('uploaded', 'uploaded/2020-01-01/a.jpg',"
            " 'jpg', 'a.jpg', :sha, 'JPEG', 'image/jpeg', 1, 1, 1, '2020-01-01 00:00:00', '2020-01-01 00:00:00')"),
            {"sha": "a" * 64})

    assert flask_db(migrating_app, "upgrade") == 0

    with migrating_app.app_context(), db.engine.connect() as connection:
        owners = connection.execute(text(
            "SELECT users.username, users.is_admin, users.password_hash FROM photos JOIN users"
            " ON users.id = photos.owner_id")).all()
    assert [(name, bool(admin), hash_) for name, admin, hash_ in owners] == [("admin", True, "!")]


def test_the_photo_counts_migration_counts_the_photos_already_there(migrating_app):
    before = "e2536a97fe8c"  # the revision before users' photo counts
    assert flask_db(migrating_app, "upgrade", before) == 0
    with migrating_app.app_context(), db.engine.begin() as connection:
        connection.execute(text("INSERT INTO users (username, password_hash, is_admin, created_at) VALUES "
                                "('ann', '!', :yes, '2020-01-01 00:00:00'), ('ben', '!', :no, '2020-01-01 00:00:00')"),
                           {"yes": True, "no": False})
        ann = connection.execute(text("SELECT id FROM users WHERE username = 'ann'")).scalar_one()
        for i, source in enumerate(["uploaded", "uploaded", "generated"]):
            connection.execute(text(
                "INSERT INTO photos (owner_id, source, original_path, rendition_ext, original_name, sha256, format,"
                " mime_type, file_size, width, height, uploaded_at, sorted_at) VALUES (:owner, :source, :path,"
                " 'jpg', 'a.jpg', :sha, 'JPEG', 'image/jpeg', 1, 1, 1, '2020-01-01 00:00:00',"
                " '2020-01-01 00:00:00')"), {"owner": ann, "source": source, "path": f"{source}/2020-01-01/{i}.jpg",
                                              "sha": str(i) * 64})

    assert flask_db(migrating_app, "upgrade") == 0

    with migrating_app.app_context(), db.engine.connect() as connection:
        counts = connection.execute(text(
            "SELECT username, uploaded_photos, generated_photos FROM users ORDER BY username")).all()
    assert [tuple(row) for row in counts] == [("ann", 2, 1), ("ben", 0, 0)]


BEFORE_NAME_KEY = "3b7d52c1a9e4"  # the revision before users.username_key


def add_users(app, *names: str) -> None:
    with app.app_context(), db.engine.begin() as connection:
        for name in names:
            connection.execute(text("INSERT INTO users (username, password_hash, is_admin, created_at) VALUES "
                                    "(:name, '!', :no, '2020-01-01 00:00:00')"), {"name": name, "no": False})


def test_the_name_key_migration_keys_each_name_in_lower_case(migrating_app):
    assert flask_db(migrating_app, "upgrade", BEFORE_NAME_KEY) == 0
    add_users(migrating_app, "Ann", "ben")

    assert flask_db(migrating_app, "upgrade") == 0

    with migrating_app.app_context(), db.engine.connect() as connection:
        keys = connection.execute(text("SELECT username, username_key FROM users ORDER BY username_key")).all()
    assert [tuple(row) for row in keys] == [("Ann", "ann"), ("ben", "ben")]


def test_names_differing_only_in_case_stop_the_name_key_migration_before_it_changes_anything(migrating_app):
    assert flask_db(migrating_app, "upgrade", BEFORE_NAME_KEY) == 0
    add_users(migrating_app, "Ann", "ann", "ben")

    result = migrating_app.test_cli_runner().invoke(args=["db", "upgrade"])

    assert result.exit_code == 1
    assert "These user names differ only in case: 'Ann' (id 1), 'ann' (id 2)." in result.output
    assert schema(migrating_app)[0] == BEFORE_NAME_KEY
    with migrating_app.app_context(), db.engine.connect() as connection:
        assert "username_key" not in {column["name"] for column in inspect(connection).get_columns("users")}
        connection.execute(text("UPDATE users SET username = 'ann2' WHERE id = 2"))
        connection.commit()
    assert flask_db(migrating_app, "upgrade") == 0  # renamed as the message says, the upgrade goes through


BEFORE_THUMBNAIL_EXT = "7c1e5d2a9b40"  # the revision before rendition_ext became thumbnail_ext


def test_the_thumbnail_ext_rename_keeps_every_rows_value_both_ways(migrating_app):
    assert flask_db(migrating_app, "upgrade", BEFORE_THUMBNAIL_EXT) == 0
    add_users(migrating_app, "ann")
    with migrating_app.app_context(), db.engine.begin() as connection:
        for i, ext in enumerate(["jpg", "webp"]):
            connection.execute(text(
                "INSERT INTO photos (owner_id, source, original_path, rendition_ext, original_name, sha256, format,"
                " mime_type, file_size, width, height, uploaded_at, sorted_at) VALUES (1, 'uploaded', :path, :ext,"
                " 'a.png', :sha, 'PNG', 'image/png', 1, 1, 1, '2020-01-01 00:00:00', '2020-01-01 00:00:00')"),
                {"path": f"uploaded/2020-01-01/{i}.png", "ext": ext, "sha": str(i) * 64})

    assert flask_db(migrating_app, "upgrade") == 0
    with migrating_app.app_context(), db.engine.connect() as connection:
        assert connection.execute(text("SELECT thumbnail_ext FROM photos ORDER BY id")).scalars().all() == [
            "jpg", "webp"]
        assert "thumbnail_ext" in {column["name"] for column in inspect(connection).get_columns("generation_images")}

    assert flask_db(migrating_app, "downgrade", BEFORE_THUMBNAIL_EXT) == 0
    with migrating_app.app_context(), db.engine.connect() as connection:
        assert connection.execute(text("SELECT rendition_ext FROM photos ORDER BY id")).scalars().all() == [
            "jpg", "webp"]


BEFORE_MARKS = "a0a558dcea18"  # the revision before photos.favourite and photos.rating


def test_the_marks_migration_leaves_photos_unmarked_and_refuses_a_seventh_star(migrating_app):
    assert flask_db(migrating_app, "upgrade", BEFORE_MARKS) == 0
    add_users(migrating_app, "ann")
    with migrating_app.app_context(), db.engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO photos (owner_id, source, original_path, thumbnail_ext, original_name, sha256, format,"
            " mime_type, file_size, width, height, uploaded_at, sorted_at) VALUES (1, 'uploaded', 'uploaded/a.png',"
            " 'jpg', 'a.png', :sha, 'PNG', 'image/png', 1, 1, 1, '2020-01-01 00:00:00', '2020-01-01 00:00:00')"),
            {"sha": "a" * 64})

    assert flask_db(migrating_app, "upgrade") == 0
    with migrating_app.app_context(), db.engine.connect() as connection:
        assert [tuple(row) for row in connection.execute(text("SELECT favourite, rating FROM photos"))] in (
            [(False, 0)], [(0, 0)])
        indexes = {index["name"] for index in inspect(connection).get_indexes("photos")}
        assert {"ix_photos_owner_id_uploaded_at_id", "ix_photos_owner_id_favourite_sorted_at_id"} <= indexes
    with migrating_app.app_context(), db.engine.connect() as connection:
        with pytest.raises(IntegrityError):
            connection.execute(text("UPDATE photos SET rating = 6"))
        connection.rollback()
        connection.execute(text("UPDATE photos SET rating = 5, favourite = :yes"), {"yes": True})
        connection.commit()

    assert flask_db(migrating_app, "downgrade", BEFORE_MARKS) == 0
    with migrating_app.app_context(), db.engine.connect() as connection:
        columns = {column["name"] for column in inspect(connection).get_columns("photos")}
        assert not {"favourite", "rating"} & columns
        assert connection.execute(text("SELECT original_name FROM photos")).scalars().all() == ["a.png"]


BEFORE_TRASH = "b7e3f0c2d915"  # the revision before photos.trashed_at and users.trashed_photos


def test_the_trash_migration_adds_an_empty_trash_and_its_downgrade_returns_trashed_photos_to_the_library(
        migrating_app):
    assert flask_db(migrating_app, "upgrade", BEFORE_TRASH) == 0
    add_users(migrating_app, "ann")
    with migrating_app.app_context(), db.engine.begin() as connection:
        for i in range(3):
            connection.execute(text(
                "INSERT INTO photos (owner_id, source, original_path, thumbnail_ext, original_name, sha256, format,"
                " mime_type, file_size, width, height, uploaded_at, sorted_at) VALUES (1, 'uploaded', :path, 'jpg',"
                " 'a.png', :sha, 'PNG', 'image/png', 1, 1, 1, '2020-01-01 00:00:00', '2020-01-01 00:00:00')"),
                {"path": f"uploaded/2020-01-01/{i}.png", "sha": str(i) * 64})
        connection.execute(text("UPDATE users SET uploaded_photos = 3"))

    assert flask_db(migrating_app, "upgrade") == 0
    with migrating_app.app_context(), db.engine.begin() as connection:
        assert connection.execute(text("SELECT uploaded_photos, trashed_photos FROM users")).one() == (3, 0)
        assert connection.execute(text("SELECT count(*) FROM photos WHERE trashed_at IS NOT NULL")).scalar() == 0
        connection.execute(text("UPDATE photos SET trashed_at = '2026-12-01 00:00:00' WHERE id = 1"))
        connection.execute(text("UPDATE users SET uploaded_photos = 2, trashed_photos = 1"))

    assert flask_db(migrating_app, "downgrade", BEFORE_TRASH) == 0
    with migrating_app.app_context(), db.engine.connect() as connection:
        assert connection.execute(text("SELECT uploaded_photos FROM users")).scalar() == 3
        assert "trashed_at" not in {column["name"] for column in inspect(connection).get_columns("photos")}
    assert flask_db(migrating_app, "upgrade") == 0


BEFORE_GENERATED_FROM_METADATA = "d4a7e2c81f35"


def test_photos_uploaded_with_a_prompt_become_generated_and_the_counts_follow(migrating_app):
    assert flask_db(migrating_app, "upgrade", BEFORE_GENERATED_FROM_METADATA) == 0
    with migrating_app.app_context(), db.engine.begin() as connection:
        for name in ("ann", "ben"):
            connection.execute(text("INSERT INTO users (username, username_key, password_hash, is_admin, created_at)"
                                    " VALUES (:name, :name, '!', :no, '2020-01-01 00:00:00')"), {"name": name, "no": False})
        for i, (owner, prompt, trashed) in enumerate([(1, "a cat", None), (1, None, None), (1, "", None),
                                                      (1, "a dog", "2026-12-01 00:00:00"), (2, None, None)]):
            connection.execute(text(
                "INSERT INTO photos (owner_id, source, original_path, thumbnail_ext, original_name, sha256, format,"
                " mime_type, file_size, width, height, uploaded_at, sorted_at, prompt, trashed_at) VALUES (:owner,"
                " 'uploaded', :path, 'jpg', 'a.png', :sha, 'PNG', 'image/png', 1, 1, 1, '2020-01-01 00:00:00',"
                " '2020-01-01 00:00:00', :prompt, :trashed)"),
                {"owner": owner, "path": f"uploaded/2020-01-01/{i}.png", "sha": str(i) * 64, "prompt": prompt,
                 "trashed": trashed})
        connection.execute(text("UPDATE users SET uploaded_photos = 3, trashed_photos = 1 WHERE id = 1"))
        connection.execute(text("UPDATE users SET uploaded_photos = 1 WHERE id = 2"))
        versions = dict(connection.execute(text("SELECT id, library_version FROM users")).all())

    assert flask_db(migrating_app, "upgrade") == 0
    with migrating_app.app_context(), db.engine.connect() as connection:
        sources = [row[0] for row in connection.execute(text("SELECT source FROM photos ORDER BY id"))]
        counts = connection.execute(text("SELECT id, uploaded_photos, generated_photos, trashed_photos, library_version"
                                         " FROM users ORDER BY id")).all()
    assert sources == ["generated", "uploaded", "generated", "generated", "uploaded"]
    assert [tuple(row) for row in counts] == [(1, 1, 2, 1, versions[1] + 1), (2, 1, 0, 0, versions[2])]


BEFORE_SEARCH = "e5b1c7a3f902"  # the revision before the full-text index


def test_the_search_migration_indexes_the_photos_already_there(migrating_app):
    from app.services import search
    assert flask_db(migrating_app, "upgrade", BEFORE_SEARCH) == 0
    add_users(migrating_app, "ann")
    with migrating_app.app_context(), db.engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO photos (owner_id, source, original_path, thumbnail_ext, original_name, sha256, format,"
            " mime_type, file_size, width, height, uploaded_at, sorted_at, prompt, favourite, rating)"
            " VALUES (1, 'generated', 'generated/completed/a.png', 'jpg', 'a.png', :sha, 'PNG', 'image/png', 1, 1, 1,"
            " '2020-01-01 00:00:00', '2020-01-01 00:00:00', 'A lighthouse in the Fjörd', false, 0)"), {"sha": "1" * 64})
        connection.execute(text("INSERT INTO tags (owner_id, name, name_key, created_at) "
                                "VALUES (1, 'Norway', 'norway', '2020-01-01 00:00:00')"))
        connection.execute(text("INSERT INTO photo_tags (photo_id, tag_id) VALUES (1, 1)"))

    assert flask_db(migrating_app, "upgrade") == 0
    with migrating_app.app_context():
        for words in ("lighthouse", "fjord", "norway", "light*"):
            assert db.session.scalars(search.matching_ids(search.parse_words(words))).all() == [1], words
        db.session.remove()
    assert flask_db(migrating_app, "downgrade", BEFORE_SEARCH) == 0
    assert "photo_search" not in schema(migrating_app)[1]
