"""`flask gallery check [--repair]` on a real gallery: each problem it promises to find is made by
hand on a gallery built with real uploads and a real (fake-InvokeAI) generation, then found,
repaired where it can be, and never by deleting an original or a row.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image
from testapp import sha256
from sample_gallery import UPLOADS, app_config, gallery  # noqa: F401  (fixtures)
from sqlalchemy import select, update

from app import create_app
from app.cli import gallery as gallery_cli
from app.extensions import db
from app.models import Photo
from app.services import storage
from app.services.thumbnails import SIZES as THUMBNAIL_SIZES, thumbnail_path


@dataclass
class Outcome:
    exit_code: int
    findings: list[str]  # the lines that name a path and what is wrong with it
    tidied: list[str]
    summary: str
    stderr: str


@pytest.fixture
def check(runner):
    """check(*options) -> Outcome of `flask gallery check` in this app."""
    def run(*options: str) -> Outcome:
        result = runner.invoke(args=["gallery", "check", *options])
        assert result.exception is None or isinstance(result.exception, SystemExit), result.output
        lines = result.stdout.splitlines()
        return Outcome(result.exit_code, [line for line in lines[:-1] if not line.startswith("tidied: ")],
                       [line for line in lines if line.startswith("tidied: ")], lines[-1], result.stderr)
    return run


def set_mtime_back(path: Path, seconds: int = 3600) -> None:
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns - seconds * 10**9))


def decodes(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        image.load()
        return image.size


# --- a healthy gallery ---------------------------------------------------------------------------

def test_a_healthy_gallery_passes_with_its_candidates_tracked(gallery, check, data_dir):
    outcome = check()

    assert outcome.exit_code == 0, outcome
    assert outcome.findings == [] and outcome.tidied == []
    assert outcome.summary == "Checked 4 photos, 1 generation images and 15 files: no problems."
    assert not (data_dir / "quarantine").exists()


# --- each problem it promises to find -----------------------------------------------------------

def test_a_missing_original_is_reported_and_its_row_kept_even_with_repair(gallery, check, photo_count):
    photo = gallery.photos[1]
    gallery.file(photo.path).unlink()
    finding = (f"photos/{photo.path}: the original of {photo.label} is missing; restore it from a backup "
               "(check never deletes a row)")

    assert check().findings == [finding]
    repaired = check("--repair")
    assert repaired.exit_code == 2 and repaired.findings == [finding]
    assert repaired.summary.endswith(": 1 problem, 0 repaired, 1 left.")
    assert photo_count() == 4
    assert gallery.file(photo.thumbnail("grid")).is_file()  # its thumbnails stay too


def test_a_missing_candidate_file_is_reported(gallery, check):
    gallery.file(gallery.candidate.path).unlink()
    assert check().findings == [f"photos/{gallery.candidate.path}: the original of {gallery.candidate.label} "
                                "is missing; restore it from a backup (check never deletes a row)"]


def test_files_no_row_points_to_are_reported_then_quarantined_with_their_path(gallery, check, photos_dir,
                                                                               data_dir):
    strays = {"uploaded/2026-01-02/0123456789abcdef.jpg": (photos_dir / UPLOADS[0]).read_bytes(),
              "thumbnails/uploaded/2026-01-02/0123456789abcdef.grid.jpg": b"\xff\xd8 an orphan thumbnail",
              "generated/sessions/999/fedcba9876543210.png": (photos_dir / UPLOADS[2]).read_bytes(),
              "notes.txt": b"dropped here by hand"}
    for relative, content in strays.items():
        gallery.file(relative).parent.mkdir(parents=True, exist_ok=True)
        gallery.file(relative).write_bytes(content)

    found = check()
    assert found.exit_code == 2
    assert sorted(found.findings) == sorted(f"photos/{path}: no row points to this file" for path in strays)

    repaired = check("--repair")
    assert repaired.exit_code == 1
    assert sorted(repaired.findings) == sorted(f"photos/{path}: no row points to this file -> moved to "
                                               f"quarantine/{path}" for path in strays)
    for relative, content in strays.items():
        assert not gallery.file(relative).exists()
        assert (data_dir / "quarantine" / relative).read_bytes() == content
    assert check().exit_code == 0


def test_a_stray_whose_name_is_taken_in_quarantine_gets_a_number(gallery, check, data_dir):
    (data_dir / "quarantine").mkdir()
    (data_dir / "quarantine" / "notes.txt").write_bytes(b"an earlier stray")
    gallery.file("notes.txt").write_bytes(b"a later stray")

    assert check("--repair").findings == ["photos/notes.txt: no row points to this file -> moved to "
                                          "quarantine/notes.txt.1"]
    assert (data_dir / "quarantine" / "notes.txt").read_bytes() == b"an earlier stray"
    assert (data_dir / "quarantine" / "notes.txt.1").read_bytes() == b"a later stray"


def test_a_changed_original_is_a_sha256_mismatch_never_repaired(gallery, check):
    photo = gallery.photos[1]
    original = gallery.file(photo.path)
    changed = original.read_bytes() + b"appended by some other program"  # still a decodable JPEG
    original.write_bytes(changed)
    for size in THUMBNAIL_SIZES:  # newer than the original, so only the hash is wrong
        os.utime(gallery.file(photo.thumbnail(size)))
    finding = (f"photos/{photo.path}: SHA-256 differs from {photo.label}'s row: the file changed or is damaged; "
               "restore it from a backup")

    assert check().findings == [finding]
    repaired = check("--repair")
    assert (repaired.exit_code, repaired.findings) == (2, [finding])
    assert original.read_bytes() == changed


def test_an_undecodable_original_is_reported_and_its_thumbnails_are_not_touched(gallery, check, app):
    photo = gallery.photos[1]
    original = gallery.file(photo.path)
    stat = original.stat()
    truncated = original.read_bytes()[: stat.st_size // 2]
    original.write_bytes(truncated)
    os.utime(original, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # as old as before: the thumbnails stay fresh
    with app.app_context():  # the row agrees with the bytes, so only the decode can tell
        db.session.execute(update(Photo).where(Photo.id == photo.id)
                           .values(sha256=sha256(truncated)))
        db.session.commit()

    outcome = check("--repair")
    assert outcome.exit_code == 2
    assert outcome.findings == [f"photos/{photo.path}: the original of {photo.label} cannot be decoded: the image "
                                "is damaged or truncated and cannot be decoded"]
    assert original.read_bytes() == truncated


@pytest.mark.parametrize("damage, problem", [
    (lambda path: path.unlink(), "is missing"),
    (set_mtime_back, "is stale (older than its original)"),
    (lambda path: path.write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG"), "cannot be decoded"),
], ids=["missing", "stale", "undecodable"])
@pytest.mark.parametrize("which", ["upload", "upload with alpha", "kept generation", "candidate"])
def test_a_bad_thumbnail_is_found_and_re_made(gallery, check, damage, problem, which):
    item = {"upload": gallery.photos[1], "upload with alpha": gallery.photos[2], "kept generation": gallery.photos[3],
            "candidate": gallery.candidate}[which]
    good = {size: decodes(gallery.file(item.thumbnail(size))) for size in THUMBNAIL_SIZES}
    damage(gallery.file(item.thumbnail("grid")))
    finding = f"photos/{item.thumbnail('grid')}: {item.label}'s grid thumbnail {problem}"

    assert check().findings == [finding]
    repaired = check("--repair")
    assert (repaired.exit_code, repaired.findings) == (1, [finding + " -> re-made from the original"])
    assert {size: decodes(gallery.file(item.thumbnail(size))) for size in THUMBNAIL_SIZES} == good
    assert gallery.file(item.thumbnail("grid")).stat().st_mtime_ns >= gallery.file(item.path).stat().st_mtime_ns
    assert check().exit_code == 0


def test_a_row_whose_path_leaves_the_data_folder_is_refused_not_read(gallery, check, app, data_dir):
    secret = data_dir.parent / "outside.jpg"
    secret.write_bytes(b"not the gallery's")
    with app.app_context():
        row = db.session.get(Photo, gallery.photos[0].id)
        db.session.add(Photo(owner_id=row.owner_id, source="uploaded", original_path="../../outside.jpg",
                             thumbnail_ext="jpg", original_name="x.jpg", sha256="0" * 64, format="JPEG",
                             mime_type="image/jpeg", file_size=1, width=1, height=1, uploaded_at=row.uploaded_at,
                             sorted_at=row.sorted_at))
        db.session.commit()
        bad_id = db.session.scalar(select(Photo.id).where(Photo.original_path == "../../outside.jpg"))

    outcome = check("--repair")
    assert outcome.exit_code == 2
    assert outcome.findings == [f"../../outside.jpg: photo {bad_id}'s path leaves the photos folder; refused, "
                                "not read"]
    assert secret.read_bytes() == b"not the gallery's"


# --- repair never deletes an original; exit codes ------------------------------------------------

def test_repair_never_deletes_an_original(gallery, check, app, photos_dir, data_dir, photo_count):
    gallery.file(gallery.photos[0].path).unlink()  # missing: reported
    gallery.file(gallery.photos[1].path).write_bytes((photos_dir / UPLOADS[0]).read_bytes())  # mismatch
    stray = gallery.file("uploaded/2026-01-02/0123456789abcdef.jpg")
    stray.parent.mkdir(parents=True)
    stray.write_bytes((photos_dir / UPLOADS[1]).read_bytes())
    gallery.file(gallery.photos[2].thumbnail("preview")).unlink()
    originals_before = {path: content for path, content in gallery.all_files().items()
                        if not path.startswith("photos/thumbnails/")}

    outcome = check("--repair")
    assert outcome.exit_code == 2
    # missing; changed, and its thumbnails older than the changed file (kept: made from the right bytes);
    # a stray, quarantined; a missing thumbnail, re-made
    assert outcome.summary.endswith(": 6 problems, 2 repaired, 4 left.")
    after = gallery.all_files()
    for path, content in originals_before.items():  # each one where it was, or in quarantine
        assert after.get(path, after.get(path.replace("photos/", "quarantine/", 1))) == content, path
    assert "quarantine/uploaded/2026-01-02/0123456789abcdef.jpg" in after
    assert photo_count() == 4


def test_exit_codes_say_nothing_found_all_repaired_or_problems_left(gallery, check):
    assert check().exit_code == 0
    gallery.file(gallery.photos[0].thumbnail("grid")).unlink()
    assert check().exit_code == 2  # found, not repaired
    assert check("--repair").exit_code == 1  # found, all repaired
    assert check().exit_code == 0
    gallery.file(gallery.photos[0].path).unlink()
    assert check("--repair").exit_code == 2  # found, some left


def test_many_photos_get_a_progress_bar_on_stderr(gallery, check, monkeypatch):
    monkeypatch.setattr(gallery_cli, "PROGRESS_FROM", 3)
    assert "Checking photos" in check().stderr
    monkeypatch.setattr(gallery_cli, "PROGRESS_FROM", 100)
    assert check().stderr == ""


# --- what a crash leaves -------------------------------------------------------------------------

def finished_process_id() -> int:
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                           check=True)
    return int(child.stdout)


def crashed_note(root: Path, pid: int, note: dict) -> Path:
    intent = root / storage.TEMP_DIR / f"{pid}-0123456789abcdef{storage.INTENT_SUFFIX}"
    intent.parent.mkdir(exist_ok=True)
    intent.write_text(json.dumps(note))
    return intent


def test_start_removes_temp_files_of_dead_processes_only(gallery, data_dir, app):
    temp = gallery.root / storage.TEMP_DIR
    dead = temp / f"{finished_process_id()}-a1b2c3d4.part"
    nameless = temp / "half-an-upload.part"
    live = temp / f"{os.getpid()}-e5f6a7b8.part"
    for path in (dead, nameless, live):
        path.write_bytes(b"half a photo")

    create_app({**{key: app.config[key] for key in ("SECRET_KEY", "DATABASE_URL", "DATA_DIR")}})
    assert not dead.exists() and not nameless.exists()
    assert live.exists()


def test_check_undoes_an_upload_that_crashed_before_its_commit(gallery, check, photos_dir, data_dir):
    pid = finished_process_id()
    relative = "uploaded/2026-01-02/0123456789abcdef.jpg"
    content = (photos_dir / UPLOADS[1]).read_bytes()
    gallery.file(relative).parent.mkdir(parents=True)
    gallery.file(relative).write_bytes(content)
    for size in THUMBNAIL_SIZES:
        thumbnail = gallery.file(thumbnail_path(relative, size, "jpg"))
        thumbnail.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(gallery.file(gallery.photos[1].thumbnail(size)), thumbnail)
    intent = crashed_note(gallery.root, pid, {"action": "place", "path": relative})
    part = gallery.root / storage.TEMP_DIR / f"{pid}-a1b2c3d4.part"
    part.write_bytes(b"half a photo")

    outcome = check()
    assert outcome.exit_code == 0 and outcome.findings == []
    assert outcome.tidied == [f"tidied: undid an interrupted upload of photos/{relative} (original moved to "
                              f"quarantine/{relative})",
                              f"tidied: removed stale temp file photos/.tmp/{part.name}"]
    assert not intent.exists() and not part.exists()
    assert (data_dir / "quarantine" / relative).read_bytes() == content
    assert not gallery.file("thumbnails/uploaded/2026-01-02").exists()  # its thumbnails are gone


def test_check_clears_the_note_of_an_upload_that_crashed_after_its_commit(gallery, check):
    photo = gallery.photos[0]
    intent = crashed_note(gallery.root, finished_process_id(), {"action": "place", "path": photo.path})

    outcome = check()
    assert (outcome.exit_code, outcome.findings) == (0, [])
    assert outcome.tidied == [f"tidied: cleared a finished place of photos/{photo.path}"]
    assert not intent.exists() and gallery.file(photo.path).is_file()


@pytest.mark.parametrize("committed", [False, True], ids=["before the commit", "after the commit"])
def test_check_finishes_or_undoes_a_delete_that_crashed(gallery, check, app, committed):
    photo = gallery.photos[1]
    pid = finished_process_id()
    relatives = [photo.path] + [photo.thumbnail(size) for size in THUMBNAIL_SIZES]
    staged = {relative: f"{pid}-{index:016x}.part" for index, relative in enumerate(relatives)}
    contents = {relative: gallery.file(relative).read_bytes() for relative in relatives}
    for relative, name in staged.items():
        os.replace(gallery.file(relative), gallery.root / storage.TEMP_DIR / name)
    crashed_note(gallery.root, pid, {"action": "delete", "path": photo.path, "staged": staged})
    if committed:
        with app.app_context():
            db.session.delete(db.session.get(Photo, photo.id))
            db.session.commit()

    create_app({key: app.config[key] for key in ("SECRET_KEY", "DATABASE_URL", "DATA_DIR")})  # a restart
    assert all((gallery.root / storage.TEMP_DIR / name).exists() for name in staged.values())

    outcome = check()
    assert (outcome.exit_code, outcome.findings) == (0, [])
    if committed:
        assert outcome.tidied == [f"tidied: finished an interrupted delete of photos/{photo.path}"]
        assert not any(gallery.file(relative).exists() for relative in relatives)
    else:
        assert outcome.tidied == [f"tidied: put back the files of an interrupted delete of photos/{photo.path}"]
        assert {relative: gallery.file(relative).read_bytes() for relative in relatives} == contents
    assert list((gallery.root / storage.TEMP_DIR).iterdir()) == []


def test_check_moves_back_a_keep_that_crashed_before_its_commit(gallery, check):
    candidate = gallery.candidate
    kept_path = "generated/completed/" + candidate.path.rsplit("/", 1)[1]
    moves = [(candidate.path, kept_path)] + [(candidate.thumbnail(size),
                                              thumbnail_path(kept_path, size, candidate.thumbnail_ext))
                                             for size in THUMBNAIL_SIZES]
    for source, target in moves:
        os.replace(gallery.file(source), gallery.file(target))
    crashed_note(gallery.root, finished_process_id(), {"action": "move", "path": kept_path,
                                                       "source": candidate.path})

    outcome = check()
    assert (outcome.exit_code, outcome.findings) == (0, [])
    assert outcome.tidied == [f"tidied: moved an interrupted keep of photos/{kept_path} back to "
                              f"photos/{candidate.path}"]
    assert all(gallery.file(source).is_file() and not gallery.file(target).exists() for source, target in moves)


def test_files_a_live_process_is_placing_are_not_strays(gallery, check, photos_dir):
    relative = "uploaded/2026-01-02/0123456789abcdef.jpg"
    intent = storage.record_intent(gallery.root, "place", relative)  # this live process: an upload in flight
    gallery.file(relative).parent.mkdir(parents=True)
    gallery.file(relative).write_bytes((photos_dir / UPLOADS[1]).read_bytes())

    outcome = check("--repair")
    assert (outcome.exit_code, outcome.findings, outcome.tidied) == (0, [], [])
    assert gallery.file(relative).is_file() and intent.exists()
