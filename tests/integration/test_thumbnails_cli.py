"""`flask thumbnails rebuild`: thumbnails made again from the originals, all or only the missing."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select, update
from test_import import files_of, import_photos, listed

from app.extensions import db
from app.models import Photo

FILES = ["camera/canon-eos-40d_tiny.jpg", "camera/nikon-coolpix-p6000_gps.jpg",
         "camera/blackberry-z10_6mp_o6.jpg", "formats/png-palette-transparent.png"]


def rebuild(runner, *args):
    return runner.invoke(args=["thumbnails", "rebuild", *args])


def identity(path: Path) -> tuple[int, int]:
    """Changes when the file is replaced, even by the same bytes."""
    stat = path.stat()
    return stat.st_ino, stat.st_mtime_ns


@pytest.fixture
def photos(runner, app, user_id, photos_dir, tmp_path):
    """Four imported photos (one with alpha, so WebP thumbnails), by original name."""
    folder = tmp_path / "few"
    folder.mkdir()
    for name in FILES:
        shutil.copyfile(photos_dir / name, folder / Path(name).name)
    assert import_photos(runner, folder).exit_code == 0
    with app.app_context():
        rows = list(db.session.scalars(select(Photo)))
        db.session.expunge_all()
    return {photo.original_name: photo for photo in rows}


@pytest.fixture
def thumbnails(photos, data_dir):
    """{(original name, size): path} of every thumbnail."""
    return {(name, size): data_dir / "photos" / photo.thumbnail_path(size)
            for name, photo in photos.items() for size in ("grid", "preview")}


def sizes_of(paths) -> dict:
    result = {}
    for key, path in paths.items():
        with Image.open(path) as image:
            result[key] = image.size
    return result


def test_missing_only_makes_exactly_the_missing_files_again(runner, photos, thumbnails, data_files):
    gone = {key: thumbnails[key] for key in [("canon-eos-40d_tiny.jpg", "grid"),
                                             ("png-palette-transparent.png", "preview")]}
    expected_sizes = sizes_of(gone)
    for path in gone.values():
        path.unlink()
    kept = {key: identity(path) for key, path in thumbnails.items() if key not in gone}

    result = rebuild(runner, "--missing-only")

    assert result.exit_code == 0, result.output
    assert "Re-made the thumbnails of 2 of 2 photos (4 in the gallery); 0 with problems." in result.output
    assert sizes_of(gone) == expected_sizes
    assert {key: identity(thumbnails[key]) for key in kept} == kept  # the others were not touched
    assert data_files() == files_of(list(photos.values()))
    assert "Re-made the thumbnails of 0 of 0 photos" in rebuild(runner, "--missing-only").output


def test_a_full_rebuild_makes_every_thumbnail_again(runner, photos, thumbnails, data_files):
    before, expected_sizes = {key: identity(path) for key, path in thumbnails.items()}, sizes_of(thumbnails)

    result = rebuild(runner)

    assert result.exit_code == 0, result.output
    assert "Re-made the thumbnails of 4 of 4 photos (4 in the gallery); 0 with problems." in result.output
    assert all(identity(path) != before[key] for key, path in thumbnails.items())
    assert sizes_of(thumbnails) == expected_sizes
    assert data_files() == files_of(list(photos.values()))


def test_a_missing_or_undecodable_original_is_reported_and_fails_the_run(runner, photos, thumbnails, data_dir,
                                                                         data_files):
    missing, damaged = photos["nikon-coolpix-p6000_gps.jpg"], photos["blackberry-z10_6mp_o6.jpg"]
    (data_dir / "photos" / missing.original_path).unlink()
    (data_dir / "photos" / damaged.original_path).write_bytes(b"not a photo any more")
    files_before = data_files()

    result = rebuild(runner)

    assert result.exit_code == 1
    assert "Re-made the thumbnails of 2 of 4 photos (4 in the gallery); 2 with problems." in result.output
    assert listed(result.output, "Problems (photo id, original)") == {
        f"{missing.id} {missing.original_path}": "the original is missing",
        f"{damaged.id} {damaged.original_path}": "the original cannot be used: not an image the gallery can read "
                                                 "(it takes JPEG, PNG, WebP, GIF, TIFF, HEIC or AVIF)",
    }
    assert data_files() == files_before  # their old thumbnails stay; no temp file is left


def test_thumbnails_of_the_wrong_kind_are_replaced_and_the_row_follows(runner, app, photos, data_dir, data_files):
    """A JPEG whose row says its thumbnails are WebP (as an older decoder might have judged its alpha)."""
    photo = photos["nikon-coolpix-p6000_gps.jpg"]
    with app.app_context():
        db.session.execute(update(Photo).where(Photo.id == photo.id).values(thumbnail_ext="webp"))
        db.session.commit()
    for size in ("grid", "preview"):  # what that older run left on disk
        jpg = data_dir / "photos" / photo.thumbnail_path(size)
        jpg.rename(jpg.with_suffix(".webp"))

    result = rebuild(runner, "--missing-only")  # the row's WebP files are there: only a full rebuild sees it

    assert "Re-made the thumbnails of 0 of 0 photos" in result.output
    result = rebuild(runner)

    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.get(Photo, photo.id).thumbnail_ext == "jpg"
    for size in ("grid", "preview"):
        with Image.open(data_dir / "photos" / photo.thumbnail_path(size)) as image:
            assert image.format == "JPEG"
    assert data_files() == files_of(list(photos.values()))  # the WebP files are gone
