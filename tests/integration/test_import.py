"""`flask photos import`: folder trees imported with an upload's checks, on worker processes.

Real photos from the shared corpus, a real database and a real data folder; every run is
checked for what it leaves under data/ (each row's files, nothing else, no temp files).
"""
from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select
from testapp import GPS_JPEG, OTHER_GPS_JPEG, SIX_MP_JPEG, TINY_JPEG, sha256

from app.extensions import db
from app.models import Photo
from app.services.thumbnails import SIZES as THUMBNAIL_SIZES

ROOT = Path(__file__).resolve().parents[2]
UNREADABLE = "not an image the gallery can read"
NOT_IMAGES = "Skipped, not images by their names"


def import_photos(runner, *args):
    return runner.invoke(args=["photos", "import", *(str(arg) for arg in args)])


def listed(output: str, title: str) -> dict[str, str]:
    """The entries under `title:` in a command's summary: {name: reason}."""
    lines = output.splitlines()
    if f"{title}:" not in lines:
        return {}
    entries = {}
    for line in lines[lines.index(f"{title}:") + 1:]:
        if not line.startswith("  "):
            break
        name, _, reason = line.strip().partition(": ")
        entries[name] = reason
    return entries


def files_of(photos: list[Photo]) -> set[str]:
    """What data/ holds for these photos: each original and its thumbnails, nothing else."""
    return {f"photos/{path}" for photo in photos
            for path in (photo.original_path, *(photo.thumbnail_path(size) for size in THUMBNAIL_SIZES))}


@pytest.fixture(scope="module")
def image_tree(tmp_path_factory, manifest) -> Path:
    """Every manifest file in its folder, and nothing else (the corpus also holds README.md and manifest.csv)."""
    tree = tmp_path_factory.mktemp("images")
    for row in manifest:
        target = tree / row["file"]
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(row["path"], target)
    return tree


@pytest.fixture
def library(app):
    """library() -> every Photo row, read in its own app context."""
    def rows() -> list[Photo]:
        with app.app_context():
            photos = list(db.session.scalars(select(Photo).order_by(Photo.id)))
            db.session.expunge_all()
            return photos
    return rows


@pytest.fixture
def folder(tmp_path) -> Path:
    folder = tmp_path / "incoming"
    folder.mkdir()
    return folder


def test_a_tree_is_imported_like_uploads_and_a_second_run_finds_only_duplicates(
        runner, user_id, image_tree, photos_dir, manifest, library, data_dir, data_files, app):
    result = import_photos(runner, "--recursive", image_tree)

    assert result.exit_code == 0, result.output
    count = len(manifest)
    assert f"Imported {count}, duplicates 0, rejected 0, failed 0, skipped 0 (of {count} files)." in result.output
    photos = {photo.sha256: photo for photo in library()}
    assert len(photos) == count
    for row in manifest:
        photo = photos[sha256(row["path"])]
        display = int(row["display_width"]), int(row["display_height"])
        assert (photo.owner_id, photo.original_name) == (user_id, row["path"].name), row["file"]
        assert (photo.format, photo.width, photo.height) == (row["format"], *display), row["file"]
        assert (data_dir / "photos" / photo.original_path).read_bytes() == row["path"].read_bytes(), row["file"]
        for size in THUMBNAIL_SIZES:
            with Image.open(data_dir / "photos" / photo.thumbnail_path(size)) as image:
                assert max(image.size) == min(app.config[f"{size.upper()}_SIZE"], max(display)), row["file"]
                assert (image.width >= image.height) == (display[0] >= display[1]), row["file"]
    assert data_files() == files_of(list(photos.values()))

    again = import_photos(runner, "--recursive", image_tree)

    assert again.exit_code == 0, again.output
    assert f"Imported 0, duplicates {count}, rejected 0, failed 0, skipped 0 (of {count} files)." in again.output
    assert data_files() == files_of(list(photos.values())) and len(library()) == count, "after the second run"

    # The corpus folder itself also holds its README and manifest: not images by their names, so skipped.
    corpus = import_photos(runner, "--recursive", photos_dir)

    assert corpus.exit_code == 0, corpus.output
    assert f"Imported 0, duplicates {count}, rejected 0, failed 0, skipped 2 (of {count + 2} files)." in corpus.output
    assert f"{NOT_IMAGES}: README.md, manifest.csv" in corpus.output.splitlines()
    assert data_files() == files_of(list(photos.values())), "after importing the corpus folder itself"


def test_copies_in_one_folder_make_one_photo_the_first_by_name(runner, user_id, photos_dir, folder, library,
                                                                data_files):
    """The writer stores files two at a time; copies still make one photo, named after the first copy
    in the folder's order, and the others are duplicates that leave nothing behind."""
    for name in ("a.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg"):
        shutil.copyfile(photos_dir / (GPS_JPEG if name in ("b.jpg", "c.jpg", "e.jpg") else TINY_JPEG), folder / name)

    result = import_photos(runner, folder)

    assert result.exit_code == 0, result.output
    assert "Imported 2, duplicates 3, rejected 0, failed 0, skipped 0 (of 5 files)." in result.output
    photos = library()
    assert sorted(photo.original_name for photo in photos) == ["a.jpg", "b.jpg"]
    assert data_files() == files_of(photos)


def test_bad_files_are_listed_with_their_reasons_and_leave_nothing(runner, user_id, photos_dir, folder, library,
                                                                   data_files):
    shutil.copyfile(photos_dir / TINY_JPEG, folder / "good.jpg")
    (folder / "noise.jpg").write_bytes(random.Random(7).randbytes(64 * 1024))
    (folder / "cut.jpg").write_bytes((photos_dir / GPS_JPEG).read_bytes()[:80_000])
    (folder / "empty.jpg").write_bytes(b"")
    shutil.copyfile(photos_dir / OTHER_GPS_JPEG, folder / "two\nlines.jpg")  # fine bytes, a name uploads refuse

    result = import_photos(runner, folder)

    assert result.exit_code == 1
    assert "Imported 1, duplicates 0, rejected 4, failed 0, skipped 0 (of 5 files)." in result.output
    assert listed(result.output, "Rejected") == {
        "noise.jpg": "not an image the gallery can read (it takes JPEG, PNG, WebP, GIF, TIFF, HEIC or AVIF)",
        "cut.jpg": "the image is damaged or truncated and cannot be decoded",
        "empty.jpg": "the file is empty",
        "'two\\nlines.jpg'": "the file name contains control characters",  # quoted, never printed raw
    }
    [photo] = library()
    assert photo.original_name == "good.jpg"
    assert data_files() == files_of([photo])


def test_hidden_files_other_files_and_links_out_of_the_folder_are_passed_over(runner, user_id, photos_dir, folder,
                                                                              tmp_path, library, data_files):
    shutil.copyfile(photos_dir / TINY_JPEG, folder / "good.jpg")
    shutil.copyfile(photos_dir / GPS_JPEG, folder / ".hidden.jpg")
    (folder / "sub").mkdir()
    shutil.copyfile(photos_dir / OTHER_GPS_JPEG, folder / "sub" / "nested.jpg")
    (folder / ".thumbnails").mkdir()
    shutil.copyfile(photos_dir / SIX_MP_JPEG, folder / ".thumbnails" / "cached.jpg")
    (folder / "inside.jpg").symlink_to(folder / "good.jpg")  # stays in the folder: the same photo again
    (folder / "outside.jpg").symlink_to(photos_dir / SIX_MP_JPEG)
    (tmp_path / "elsewhere").mkdir()
    shutil.copyfile(photos_dir / SIX_MP_JPEG, tmp_path / "elsewhere" / "far.jpg")
    (folder / "linked-folder").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    os.mkfifo(folder / "pipe.jpg")  # opening it would wait forever

    flat = import_photos(runner, folder)

    assert flat.exit_code == 0, flat.output
    assert "Imported 1, duplicates 1, rejected 0, failed 0, skipped 2 (of 4 files)." in flat.output
    assert listed(flat.output, "Skipped") == {"outside.jpg": "a symbolic link out of the folder",
                                              "pipe.jpg": "not a regular file"}

    deep = import_photos(runner, "--recursive", folder)

    assert deep.exit_code == 0, deep.output
    assert "Imported 1, duplicates 2, rejected 0, failed 0, skipped 2 (of 5 files)." in deep.output
    photos = library()
    assert sorted(photo.original_name for photo in photos) == ["good.jpg", "nested.jpg"]
    assert data_files() == files_of(photos)


def test_files_not_images_by_their_names_are_skipped_and_only_images_that_fail_exit_1(runner, user_id, photos_dir,
                                                                                    folder, library, data_files):
    shutil.copyfile(photos_dir / TINY_JPEG, folder / "good.jpg")
    shutil.copyfile(photos_dir / GPS_JPEG, folder / "IMG_0002.JPEG")  # any case, any usual JPEG extension
    (folder / "README").write_text("holiday photos\n")
    (folder / "notes.txt").write_text("the second one is blurry\n")
    (folder / "good.jpg.json").write_text('{"title": "good"}\n')  # a sidecar, as Google Takeout writes

    result = import_photos(runner, folder)

    assert result.exit_code == 0, result.output
    assert "Imported 2, duplicates 0, rejected 0, failed 0, skipped 3 (of 5 files)." in result.output
    assert f"{NOT_IMAGES}: README, good.jpg.json, notes.txt" in result.output.splitlines()
    assert sorted(photo.original_name for photo in library()) == ["IMG_0002.JPEG", "good.jpg"]

    (folder / "looks-like.png").write_bytes(b"a text file named like an image\n")
    for number in range(10):
        (folder / f"IMG_{number:04}.jpg.json").write_text("{}\n")

    again = import_photos(runner, folder)

    assert again.exit_code == 1, again.output
    assert "Imported 0, duplicates 2, rejected 1, failed 0, skipped 13 (of 16 files)." in again.output
    assert listed(again.output, "Rejected") == {"looks-like.png": UNREADABLE + " (it takes JPEG, PNG, WebP, GIF, "
                                                                             "TIFF, HEIC or AVIF)"}
    assert f"{NOT_IMAGES}: 13 files (11 .json, 1 .txt, 1 with no extension)" in again.output.splitlines()
    assert data_files() == files_of(library())


def test_user_names_the_library_and_is_needed_when_there_are_several(runner, user_id, make_user, photos_dir, folder,
                                                                     library):
    shutil.copyfile(photos_dir / TINY_JPEG, folder / "tiny.jpg")
    bob_id = make_user("bob")

    ambiguous = import_photos(runner, folder)
    unknown = import_photos(runner, "--user", "nobody", folder)

    assert ambiguous.exit_code == 1 and "more than one account" in ambiguous.output and "--user" in ambiguous.output
    assert unknown.exit_code == 1 and "No user named nobody." in unknown.output
    assert library() == []

    result = import_photos(runner, "--user", "bob", folder)

    assert result.exit_code == 0, result.output
    assert "bob's library" in result.output
    assert [photo.owner_id for photo in library()] == [bob_id]
    # The same bytes are still new to alice: duplicates are per library.
    assert import_photos(runner, "--user", "alice", folder).exit_code == 0
    assert sorted(photo.owner_id for photo in library()) == sorted([bob_id, user_id])


def test_the_only_account_is_the_default_and_no_account_is_an_error(runner, make_user, photos_dir, folder, library):
    shutil.copyfile(photos_dir / TINY_JPEG, folder / "tiny.jpg")

    nobody = import_photos(runner, folder)

    assert nobody.exit_code == 1 and "No accounts yet" in nobody.output
    carol_id = make_user("carol")
    assert import_photos(runner, folder).exit_code == 0
    assert [photo.owner_id for photo in library()] == [carol_id]


# --- Ctrl-C, in a real `flask` process with its worker processes -----------------------------

def children_of(pid: int) -> dict[int, str]:
    """{pid: command line} of the processes whose parent is `pid`."""
    children = {}
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and int((entry / "stat").read_text().rpartition(")")[2].split()[1]) == pid:
                children[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError):
            continue  # it ended meanwhile
    return children


def wait_for(condition, process, what: str, seconds: float = 60):
    """Poll `condition` until it holds, failing if the deadline passes or the process ends first."""
    deadline = time.monotonic() + seconds
    while not (result := condition()):
        if process is not None and process.poll() is not None:
            pytest.fail(f"the import ended before {what}: {process.communicate()}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {seconds} s")
        time.sleep(0.05)
    return result


def flask_env(app) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("GALLERY_")}
    env.update(GALLERY_DATA_DIR=app.config["DATA_DIR"], GALLERY_DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
               GALLERY_SECRET_KEY=app.config["SECRET_KEY"], GALLERY_INVOKEAI_URL="off")
    return env


# `flask` with Ctrl-C handled as in a terminal, even when the test runner was started with SIGINT ignored
# (nohup, some CI runners): a child inherits SIG_IGN and Python keeps it, so the import would never see the
# test's Ctrl-C. Reset in the child itself (a preexec_fn is not safe in a process that has threads).
FLASK_WITH_CTRL_C = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
                     "from flask.cli import main; sys.argv[0] = 'flask'; main()")


def test_ctrl_c_stops_the_workers_and_leaves_only_whole_photos(app, user_id, photos_dir, tmp_path, data_dir,
                                                               data_files, library):
    big = tmp_path / "big"
    for copy in range(4):  # 36 photos of 12-24 MP: each copy's bytes differ after the image ends
        (big / f"copy{copy}").mkdir(parents=True)
        for source in sorted((photos_dir / "large").iterdir()):
            (big / f"copy{copy}" / source.name).write_bytes(source.read_bytes() + b"\0" * (copy + 1))
    uploaded = data_dir / "photos" / "uploaded"
    process = subprocess.Popen(
        [sys.executable, "-c", FLASK_WITH_CTRL_C, "--app", "app", "photos", "import", "--recursive", "--workers", "2",
         str(big)], cwd=ROOT, env=flask_env(app), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: uploaded.is_dir() and any(uploaded.rglob("*.jpg")), process, "first photo")
        workers = {pid for pid, command in children_of(process.pid).items() if "spawn_main" in command}
        assert len(workers) == 2

        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    assert process.returncode == 130, (out, err)
    assert "Stopped before the end" in out
    wait_for(lambda: not any(Path(f"/proc/{pid}").exists() for pid in workers), None, "end of the workers", 10)
    photos = library()
    assert 0 < len(photos) < 36
    # No temp file, no half-stored photo: every row has its files and every file its row.
    assert data_files() == files_of(photos)
    assert not any((data_dir / "photos" / ".tmp").glob("*"))
