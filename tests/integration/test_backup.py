"""`flask gallery backup DEST`, then a restore into an empty folder by the README's steps, which
passes `flask gallery check`: on SQLite (online backup API) and on PostgreSQL (pg_dump, psql).
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from testapp import log_in, make_app, sha256
from sample_gallery import app_config, gallery  # noqa: F401  (fixtures)
from sqlalchemy import create_engine, func, make_url, select, text

from app.extensions import db
from app.models import GenerationImage, Photo, User


def restored_name(database_url: str) -> str:
    """The database these tests make and drop beside the test database, named after it: two checkouts
    testing on one server (each with its own test database) never drop each other's."""
    return f"{make_url(database_url).database}_restore"


def files_under(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def backup(runner):
    """backup(dest) -> the click result of `flask gallery backup DEST`."""
    def run(dest: Path):
        return runner.invoke(args=["gallery", "backup", str(dest)])
    return run


@pytest.fixture
def restored_database(database, tmp_path):
    """load(backup folder) -> the URL of a new database loaded from it, as the README says."""
    engines = []

    def load(dest: Path) -> str:
        if database.backend == "sqlite":
            target = tmp_path / "restored" / "gallery.db"
            target.parent.mkdir(exist_ok=True)
            shutil.copy2(dest / "gallery.db", target)
            return f"sqlite:///{target}"
        name = restored_name(database.url)
        admin = create_engine(database.url, isolation_level="AUTOCOMMIT")
        engines.append(admin)
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(database.url).set(database=name)
        libpq = url.set(drivername="postgresql").render_as_string(hide_password=False)
        subprocess.run(["psql", "--quiet", "--no-psqlrc", "-v", "ON_ERROR_STOP=1", f"--dbname={libpq}",
                        "--file", str(dest / "gallery.sql")], check=True, capture_output=True, timeout=120)
        return url.render_as_string(hide_password=False)

    yield load
    for admin in engines:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{restored_name(database.url)}" WITH (FORCE)'))
        admin.dispose()


def test_backup_then_restore_into_an_empty_folder_passes_check(gallery, backup, restored_database, app, user_id,
                                                               tmp_path, database):
    dest = tmp_path / "backup"
    result = backup(dest)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""

    database_file = "gallery.db" if database.backend == "sqlite" else "gallery.sql"
    originals = [item.path for item in gallery.photos] + [gallery.candidate.path]
    # Originals and the candidate; no thumbnails, no temp files, no -wal beside the database.
    assert files_under(dest) == {database_file, "manifest.json"} | {f"photos/{path}" for path in originals}
    for path in originals:
        assert (dest / "photos" / path).read_bytes() == gallery.file(path).read_bytes(), f"backup of {path}"
        assert (dest / "photos" / path).stat().st_mtime_ns == gallery.file(path).stat().st_mtime_ns, \
            f"backup of {path}: its time"
    manifest = json.loads((dest / "manifest.json").read_text())
    assert manifest["database"] == database.backend and manifest["database_file"] == database_file
    assert {entry["path"]: (entry["size"], entry["sha256"]) for entry in manifest["files"]} == {
        path: ((dest / path).stat().st_size, sha256(dest / path)) for path in files_under(dest) - {"manifest.json"}}

    # The README's restore: photos into a new data folder, the database loaded, thumbnails re-made.
    data = tmp_path / "restored" / "data"
    shutil.copytree(dest / "photos", data / "photos")
    restored = make_app(restored_database(dest), data)
    try:
        cli = restored.test_cli_runner()
        remade = cli.invoke(args=["gallery", "check", "--repair"])
        assert remade.exit_code == 1, remade.output  # it found the thumbnails missing and re-made them all
        assert remade.stdout.count("thumbnail is missing -> re-made from the original") == 2 * len(originals), \
            remade.stdout
        final = cli.invoke(args=["gallery", "check"])
        assert final.exit_code == 0, final.output
        assert final.stdout.endswith(f"Checked 4 photos, 1 generation images and {3 * len(originals)} files: "
                                     "no problems.\n"), final.stdout

        with restored.app_context():
            assert db.session.scalar(select(func.count(Photo.id))) == 4, "photos in the restored database"
            assert db.session.scalar(select(func.count(GenerationImage.id))) == 2, "its generation images"
            assert db.session.scalar(select(User.username).where(User.id == user_id)) == "alice", "its user"
        visitor = log_in(restored.test_client(), user_id)
        photo = gallery.photos[1]
        with visitor.get(f"/photos/{photo.id}/original") as original:
            assert original.status_code == 200 and sha256(original.data) == photo.sha256, "the restored original"
        with visitor.get(f"/thumbnails/{photo.id}/grid") as grid:
            assert grid.status_code == 200, "the re-made thumbnail"
    finally:
        with restored.app_context():
            db.session.remove()
            db.engine.dispose()


def test_a_backup_made_while_nothing_changed_twice_has_the_same_files(gallery, backup, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    assert backup(first).exit_code == 0
    assert backup(second).exit_code == 0
    photos = {path for path in files_under(first) if path.startswith("photos/")}
    assert photos == {path for path in files_under(second) if path.startswith("photos/")}
    assert all(sha256(first / path) == sha256(second / path) for path in photos)


@pytest.mark.parametrize("what", ["a file", "a folder with a file"])
def test_backup_refuses_a_destination_that_is_not_empty(gallery, backup, tmp_path, what):
    dest = tmp_path / "backup"
    if what == "a file":
        dest.write_text("not a folder")
    else:
        dest.mkdir()
        (dest / "old.txt").write_text("an earlier backup")
    before = files_under(tmp_path / "backup") if dest.is_dir() else None

    result = backup(dest)
    assert result.exit_code == 1
    assert f"{dest} is not an empty folder" in result.output
    assert (files_under(dest) if dest.is_dir() else None) == before


def test_backup_refuses_a_destination_inside_the_photos_folder(gallery, backup, data_files):
    before = data_files()
    result = backup(gallery.root / "backup")
    assert result.exit_code == 1
    assert "is inside the photos folder" in result.output
    assert data_files() == before


def test_backup_into_an_empty_folder_is_fine(gallery, backup, tmp_path):
    dest = tmp_path / "empty"
    dest.mkdir()
    assert backup(dest).exit_code == 0
    assert (dest / "manifest.json").is_file()


def test_a_missing_original_is_named_and_the_rest_backed_up(gallery, backup, tmp_path):
    missing = gallery.photos[0]
    gallery.file(missing.path).unlink()
    dest = tmp_path / "backup"

    result = backup(dest)
    assert result.exit_code == 1
    assert f"warning: photos/{missing.path}: missing, so not in the backup" in result.stderr
    manifest = json.loads((dest / "manifest.json").read_text())
    assert len([entry for entry in manifest["files"] if entry["path"].startswith("photos/")]) == 4


def test_without_pg_dump_the_backup_says_what_to_install(gallery, backup, database, tmp_path, monkeypatch):
    if database.backend != "postgresql":
        pytest.skip("pg_dump is PostgreSQL's")
    monkeypatch.setenv("PATH", str(tmp_path / "no-programs-here"))
    dest = tmp_path / "backup"

    result = backup(dest)
    assert result.exit_code == 1
    assert "pg_dump is not installed" in result.output and "apt-get install postgresql-client" in result.output
    assert not dest.exists()


def test_a_backup_keeps_the_trash_and_a_restore_brings_it_back(gallery, backup, restored_database, client, user_id,
                                                                tmp_path):
    trashed = gallery.photos[1]
    assert client.post(f"/photos/{trashed.id}/delete").status_code == 302
    dest = tmp_path / "backup"
    assert backup(dest).exit_code == 0

    assert (dest / "photos" / trashed.path).read_bytes() == gallery.file(trashed.path).read_bytes(), \
        "a photo in the trash is backed up with the rest"
    data = tmp_path / "restored" / "data"
    shutil.copytree(dest / "photos", data / "photos")
    restored = make_app(restored_database(dest), data)
    try:
        cli = restored.test_cli_runner()
        assert cli.invoke(args=["gallery", "check", "--repair"]).exit_code == 1  # re-made the thumbnails
        final = cli.invoke(args=["gallery", "check"])
        assert final.exit_code == 0, final.output
        with restored.app_context():
            user = db.session.get_one(User, user_id)
            assert (user.uploaded_photos, user.generated_photos, user.trashed_photos) == (2, 1, 1)
            assert db.session.scalar(select(Photo.trashed_at).where(Photo.id == trashed.id)) is not None
        visitor = log_in(restored.test_client(), user_id)
        trash_page = visitor.get("/trash").get_data(as_text=True)
        assert f'href="/photos/{trashed.id}"' in trash_page
        assert visitor.post(f"/photos/{trashed.id}/restore").status_code == 302
        with restored.app_context():
            assert db.session.get_one(User, user_id).uploaded_photos == 3
    finally:
        with restored.app_context():
            db.session.remove()
            db.engine.dispose()


def test_a_backup_keeps_the_albums_and_a_restore_brings_them_back(gallery, backup, restored_database, client,
                                                                  user_id, tmp_path):
    photo = gallery.photos[1]
    top = client.post("/albums", data={"name": "Trips"})
    top_id = int(top.location.rsplit("/", 1)[1])
    inner = client.post("/albums", data={"name": "Coast", "parent_id": str(top_id)})
    inner_id = int(inner.location.rsplit("/", 1)[1])
    assert client.post(f"/photos/{photo.id}/albums", data={"album_id": str(inner_id)}).status_code == 303
    dest = tmp_path / "backup"
    assert backup(dest).exit_code == 0

    data = tmp_path / "restored" / "data"
    shutil.copytree(dest / "photos", data / "photos")
    restored = make_app(restored_database(dest), data)
    try:
        visitor = log_in(restored.test_client(), user_id)
        page = visitor.get(f"/albums/{inner_id}").get_data(as_text=True)
        assert f'href="/photos/{photo.id}?album_id={inner_id}' in page and f'href="/albums/{top_id}"' in page  # its photo, its parent
    finally:
        with restored.app_context():
            db.session.remove()
            db.engine.dispose()
