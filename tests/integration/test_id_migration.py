"""The migration that makes photo, session and image ids never given twice (SQLite AUTOINCREMENT).

SQLite hands out max(id)+1 to a table without AUTOINCREMENT, so after the newest row is deleted its id
comes back; a stale tab could then act on another picture under the same URL. PostgreSQL's sequences
never go back. The upgrade rebuilds the three tables on SQLite: every row and every reference between
them must survive it, although foreign keys are on for every connection.
"""
from __future__ import annotations

import pytest
from sqlalchemy import inspect, text

from app import create_app
from app.extensions import db
from test_migrations import flask_db, scripts

BEFORE = "c05c7dfff764"  # the revision this migration starts from
SECRET = "id-migration-test-secret-" + "0" * 16
STAMP = "'2026-01-01 00:00:00'"


@pytest.fixture(params=["sqlite", "postgresql"])
def migrating_app(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'ids.db'}" if request.param == "sqlite" else \
        request.getfixturevalue("empty_postgresql_url")
    app = create_app({"SECRET_KEY": SECRET, "DATABASE_URL": url, "DATA_DIR": str(tmp_path / "data"), "TESTING": True})
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def execute(app, sql: str, **values):
    with app.app_context(), db.engine.begin() as connection:
        return connection.execute(text(sql), values)


def rows(app) -> dict:
    with app.app_context(), db.engine.connect() as connection:
        return {table: [tuple(row) for row in connection.execute(text(f"SELECT * FROM {table} ORDER BY id"))]
                for table in ("users", "photos", "generation_sessions", "generation_images")}


def add_photo(app, owner: int, name: str) -> int:
    """A photo row at whatever revision the database is: before and after this migration (a later one
    renamed rendition_ext to thumbnail_ext)."""
    with app.app_context():
        columns = {column["name"] for column in inspect(db.engine).get_columns("photos")}
    ext = "thumbnail_ext" if "thumbnail_ext" in columns else "rendition_ext"
    execute(app, f"INSERT INTO photos (owner_id, source, original_path, {ext}, original_name, sha256, format, "
                 f"mime_type, file_size, width, height, uploaded_at, sorted_at) VALUES (:owner, 'generated', :path, "
                 f"'jpg', :name, :sha, 'PNG', 'image/png', 10, 8, 8, {STAMP}, {STAMP})",
            owner=owner, path=f"generated/completed/{name}.png", name=f"{name}.png", sha=name[0] * 64)
    return execute(app, "SELECT max(id) FROM photos").scalar_one()


def add_session(app, owner: int, batch: str, photo_id: int | None = None) -> int:
    execute(app, "INSERT INTO generation_sessions (owner_id, batch_id, created_at, prompt, negative_prompt, model_key, "
                 "model_name, model_hash, model_base, width, height, steps, cfg_scale, scheduler, canceled) VALUES "
                 f"(:owner, :batch, {STAMP}, 'a lighthouse', '', 'k', 'tiny', 'h', 'sd-1', 64, 64, 2, 7.5, 'euler', "
                 ":no)", owner=owner, batch=batch, no=False)
    session_id = execute(app, "SELECT max(id) FROM generation_sessions").scalar_one()
    for index, photo in enumerate([photo_id, None]):
        execute(app, "INSERT INTO generation_images (session_id, seed_index, seed, state, decision, image_name, "
                     "photo_id) VALUES (:session, :index, :seed, 'done', :decision, :name, :photo)",
                session=session_id, index=index, seed=100 + index, decision="kept" if photo else "undecided",
                name=f"{batch}-{index}.png", photo=photo)
    return session_id


def test_upgrade_keeps_every_row_and_reference_and_ids_are_never_given_again(migrating_app):
    app = migrating_app
    assert flask_db(app, "upgrade", BEFORE) == 0
    execute(app, f"INSERT INTO users (username, username_key, password_hash, is_admin, created_at) VALUES "
                 f"('ann', 'ann', '!', :no, {STAMP})", no=False)
    owner = execute(app, "SELECT id FROM users").scalar_one()
    kept = add_photo(app, owner, "kept")
    add_session(app, owner, "first", photo_id=kept)
    newest_photo = add_photo(app, owner, "newest")
    newest_session = add_session(app, owner, "second")
    before = rows(app)

    assert flask_db(app, "upgrade") == 0
    after = rows(app)  # every row, every column, the kept photo's reference included (new columns come last)
    assert {table: [row[:len(before[table][0])] for row in found] for table, found in after.items()} == before
    if app.config["DATABASE_URL"].startswith("sqlite"):
        with app.app_context(), db.engine.connect() as connection:
            assert connection.execute(text("PRAGMA foreign_key_check")).all() == []
            assert connection.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
    assert flask_db(app, "check") == 0

    newest_images = [row[0] for row in before["generation_images"] if row[1] == newest_session]
    execute(app, "DELETE FROM generation_sessions WHERE id = :id", id=newest_session)  # its images go with it
    execute(app, "DELETE FROM photos WHERE id = :id", id=newest_photo)
    assert add_photo(app, owner, "again") > newest_photo
    again = add_session(app, owner, "third")
    assert again > newest_session
    assert min(execute(app, "SELECT id FROM generation_images WHERE session_id = :s", s=again).scalars()) > \
        max(newest_images)

    assert flask_db(app, "downgrade", BEFORE) == 0  # and back, rows intact
    assert flask_db(app, "upgrade") == 0
    assert scripts().get_current_head() != BEFORE
