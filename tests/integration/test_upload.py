"""Uploading through the form and its JSON face: what is stored, where, and what is refused.

Real photos from the shared corpus, a real database and a real data folder; every
refusal is checked for what it leaves behind (files under data/, rows).
"""
from __future__ import annotations

import csv
import errno
import random
import re
import struct
import zlib
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from PIL import Image
from sqlalchemy.exc import OperationalError
from testapp import GPS_JPEG, OTHER_GPS_JPEG, SIX_MP_JPEG, TINY_JPEG, sha256

from app.extensions import db
from app.models import Photo
from app.services import processing
from app.services import photos as photo_service

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "photos"  # the `photos_dir` fixture's folder
# What a person sees the decoded format stored as, whatever the client called the file.
EXTENSIONS = {"JPEG": "jpg", "MPO": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "TIFF": "tif",
              "HEIF": "heic", "AVIF": "avif"}
THUMBNAIL_FORMATS = {"jpg": "JPEG", "webp": "WEBP"}
ORIGINAL_PATH = re.compile(r"uploaded/(\d{4}-\d\d-\d\d)/([0-9a-f]{16})\.([a-z]+)")
HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>\n"
SVG = (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">'
       b'<script>alert(1)</script><rect width="64" height="64" fill="red"/></svg>\n')


def corpus_files(folders: tuple[str, ...], extra: tuple[str, ...]) -> list[str]:
    """Manifest entries to parametrize over, read at collection (none when the corpus is absent)."""
    try:
        with open(CORPUS / "manifest.csv", newline="") as fh:
            names = [row["file"] for row in csv.DictReader(fh)]
    except FileNotFoundError:
        return []
    return [name for name in names if name.startswith(folders) or name in extra]


def png_claiming(width: int, height: int) -> bytes:
    """A valid, tiny PNG whose header claims `width` x `height` pixels: a decompression bomb."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    first_row = zlib.compress(b"\x00" * (1 + 3 * 16))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", first_row) + chunk(b"IEND", b"")


def outcomes_of(response, json: bool) -> list[dict]:
    """Each file's outcome as the person sees it: from the JSON, or from the results page's table."""
    if json:
        return [{"name": f["name"], "result": f["result"], "link": f["url"], "message": f["message"]}
                for f in response.get_json()["files"]]
    page = BeautifulSoup(response.get_data(as_text=True), "html.parser")
    rows = page.select("table.outcomes tbody tr")
    outcomes = []
    for row in rows:
        name, result, details = row.find_all("td")
        link = details.find("a")
        outcomes.append({"name": name.get_text(strip=True), "result": result.get_text(strip=True),
                         "link": link["href"] if link else None, "message": details.get_text(" ", strip=True),
                         "class": row.get("class")})
    return outcomes


@pytest.fixture(autouse=True)
def keep_pillow_limit(monkeypatch):
    """Pillow's pixel limit is process-wide and the app adjusts it: leave it as each test found it."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)


@pytest.fixture
def stored(app):
    """stored(photo_id) -> the Photo row, read in its own app context."""
    def get(photo_id: int) -> Photo:
        with app.app_context():
            photo = db.session.get(Photo, photo_id)
            assert photo is not None, f"photo {photo_id} has no row"
            db.session.expunge(photo)
            return photo
    return get


@pytest.mark.parametrize("name", corpus_files(
    ("formats/", "odd/", "camera/"),
    ("large/leica-t-typ701_16mp_o8.jpg", "large/moto-g9-plus_16mp_emptygps.jpg",
     "orientation/landscape_0.jpg", "orientation/portrait_6.jpg")))
def test_a_photo_is_stored_byte_for_byte_with_both_thumbnails(name, manifest, upload, stored, photo_count,
                                                               data_files, data_dir, app):
    row = next(row for row in manifest if row["file"] == name)
    original_bytes = row["path"].read_bytes()
    display = int(row["display_width"]), int(row["display_height"])

    response = upload(row["path"])

    assert response.status_code == 201, response.get_json()
    [outcome] = response.get_json()["files"]
    assert outcome["result"] == "stored" and outcome["name"] == row["path"].name, outcome
    photo = stored(outcome["photo_id"])
    assert outcome["url"] == f"/photos/{photo.id}"
    assert photo_count() == 1
    assert (photo.format, photo.width, photo.height) == (row["format"], *display)
    assert photo.original_name == row["path"].name and photo.file_size == len(original_bytes)

    day, stem, extension = ORIGINAL_PATH.fullmatch(photo.original_path).groups()
    assert day == photo.uploaded_at.date().isoformat()
    assert extension == EXTENSIONS[row["format"]]
    original = data_dir / "photos" / photo.original_path
    assert sha256(original.read_bytes()) == sha256(original_bytes) == photo.sha256

    thumbnails = {}
    for size in ("grid", "preview"):
        relative = f"photos/thumbnails/uploaded/{day}/{stem}.{size}.{photo.thumbnail_ext}"
        with Image.open(data_dir / relative) as image:
            assert image.format == THUMBNAIL_FORMATS[photo.thumbnail_ext], f"{size} thumbnail"
            # Upright, in proportion, never upscaled: the long edge is the configured size at most.
            long_edge = min(app.config[f"{size.upper()}_SIZE"], max(display))
            assert max(image.size) == long_edge, f"{size} thumbnail {image.size}"
            assert (image.width >= image.height) == (display[0] >= display[1]), f"{size} thumbnail {image.size}"
            assert abs(min(image.size) - min(display) * long_edge / max(display)) <= 1, f"{size} thumbnail {image.size}"
        thumbnails[size] = relative
    # Exactly the original and its two thumbnails: no temp file, nothing else.
    assert data_files() == {f"photos/{photo.original_path}", *thumbnails.values()}


def test_a_form_post_answers_with_the_results_page(upload, photos_dir, photo_count):
    response = upload(photos_dir / GPS_JPEG, json=False)

    assert response.status_code == 201
    assert response.mimetype == "text/html"
    page = BeautifulSoup(response.get_data(as_text=True), "html.parser")
    assert page.select_one("header.site a.brand") is not None
    [outcome] = outcomes_of(response, json=False)
    assert outcome["name"] == Path(GPS_JPEG).name and outcome["result"] == "stored"
    assert outcome["class"] == ["stored"]
    assert re.fullmatch(r"/photos/\d+", outcome["link"])
    assert photo_count() == 1


@pytest.mark.parametrize("json", [True, False], ids=["json", "form"])
def test_a_mixed_upload_reports_every_file(json, upload_files, upload, photos_dir, photo_count, stored):
    existing_id = upload(photos_dir / GPS_JPEG).get_json()["files"][0]["photo_id"]
    new = (photos_dir / OTHER_GPS_JPEG).read_bytes()
    files = [(new, "new.jpg"), ((photos_dir / GPS_JPEG).read_bytes(), "again.jpg"), (HTML, "page.jpg"),
             (new, "new, twice in one request.jpg")]

    response = upload_files(files, json=json)

    assert response.status_code == 200
    outcomes = outcomes_of(response, json)
    assert [o["name"] for o in outcomes] == [name for _, name in files]
    assert [o["result"] for o in outcomes] == ["stored", "duplicate", "rejected", "duplicate"]
    new_link = outcomes[0]["link"]
    assert new_link != f"/photos/{existing_id}"
    assert outcomes[1]["link"] == f"/photos/{existing_id}"
    assert outcomes[3]["link"] == new_link
    assert outcomes[2]["link"] is None and "not an image" in outcomes[2]["message"]
    assert photo_count() == 2
    assert stored(int(new_link.rsplit("/", 1)[1])).original_name == "new.jpg"


def test_the_same_bytes_again_are_a_duplicate_and_nothing_new(upload, photos_dir, data_files, photo_count):
    first = upload(photos_dir / GPS_JPEG).get_json()["files"][0]
    files_after_first = data_files()

    response = upload(photos_dir / GPS_JPEG, name="renamed copy.jpg")

    assert response.status_code == 200
    [outcome] = response.get_json()["files"]
    assert outcome["result"] == "duplicate"
    assert outcome["photo_id"] == first["photo_id"] and outcome["url"] == first["url"]
    assert data_files() == files_after_first
    assert photo_count() == 1


def test_the_same_bytes_arriving_at_the_same_moment_are_still_one_photo(monkeypatch, upload, photos_dir,
                                                                       data_files, photo_count):
    """Both requests pass the early duplicate check; the unique sha256 column settles it."""
    first = upload(photos_dir / GPS_JPEG).get_json()["files"][0]
    files_after_first = data_files()
    real_check, checks = photo_service.raise_if_duplicate, []

    def check_before_the_other_commit(owner_id, digest):
        checks.append(digest)
        if len(checks) > 1:
            real_check(owner_id, digest)

    monkeypatch.setattr(photo_service, "raise_if_duplicate", check_before_the_other_commit)

    response = upload(photos_dir / GPS_JPEG, name="same moment.jpg")

    assert len(checks) == 2  # the insert was refused and the check asked again
    assert response.status_code == 200
    [outcome] = response.get_json()["files"]
    assert outcome["result"] == "duplicate" and outcome["photo_id"] == first["photo_id"]
    assert data_files() == files_after_first
    assert photo_count() == 1


BAD_FILES = {
    # id: (client's name, content from the corpus folder, status, the name shown back)
    "zero bytes": ("empty.jpg", lambda photos: b"", 400, "empty.jpg"),
    "random bytes named .jpg": ("noise.jpg", lambda photos: random.Random(7).randbytes(64 * 1024), 415, "noise.jpg"),
    "truncated JPEG": ("cut.jpg", lambda photos: (photos / GPS_JPEG).read_bytes()[:80_000], 400, "cut.jpg"),
    "HTML named .jpg": ("page.jpg", lambda photos: HTML, 415, "page.jpg"),
    "SVG": ("drawing.svg", lambda photos: SVG, 415, "drawing.svg"),
    "pixel bomb": ("bomb.png", lambda photos: png_claiming(100_000, 100_000), 413, "bomb.png"),
    "name with ../": ("../../etc/cron.d/photo.jpg", lambda photos: (photos / TINY_JPEG).read_bytes(), 400,
                      "photo.jpg"),
    "name with backslashes": ("..\\..\\photo.jpg", lambda photos: (photos / TINY_JPEG).read_bytes(), 400,
                              "photo.jpg"),
    "name with NUL": ("photo\x00.php.jpg", lambda photos: (photos / TINY_JPEG).read_bytes(), 400, "photo.php.jpg"),
    "name with newline": ("photo\r\n.jpg", lambda photos: (photos / TINY_JPEG).read_bytes(), 400, "photo.jpg"),
    "name with a bidi override": ("photo\u202egpj.exe", lambda photos: (photos / TINY_JPEG).read_bytes(), 400,
                                  "photogpj.exe"),
    "name of 300 characters": ("a" * 296 + ".jpg", lambda photos: (photos / TINY_JPEG).read_bytes(), 400,
                               "a" * 59 + "…" + "a" * 16 + ".jpg"),
    "blank name": ("   ", lambda photos: (photos / TINY_JPEG).read_bytes(), 400, "(no name)"),
}


@pytest.mark.parametrize("name, content, status, shown", BAD_FILES.values(), ids=BAD_FILES.keys())
def test_a_bad_file_is_refused_and_leaves_nothing(name, content, status, shown, upload, photos_dir, data_files,
                                                  photo_count):
    before = data_files()

    response = upload(content(photos_dir), name)

    assert response.status_code == status
    [outcome] = response.get_json()["files"]
    assert outcome["result"] == "rejected" and outcome["photo_id"] is None
    assert outcome["name"] == shown and outcome["message"]
    assert data_files() == before == set()
    assert photo_count() == 0


def test_the_results_page_shows_a_rejected_name_cleaned(upload):
    sent = "../../" + "\u202e" + "x" * 290 + "\u200b\u2066.jpg\n"

    response = upload(b"not an image", name=sent, json=False)

    [outcome] = outcomes_of(response, json=False)
    assert outcome["result"] == "rejected"
    assert outcome["name"] == "x" * 59 + "…" + "x" * 16 + ".jpg"
    assert not {"\u202e", "\u200b", "\u2066"} & set(response.get_data(as_text=True))
    assert "../" not in response.get_data(as_text=True)


def test_an_unsupported_file_gets_415_on_the_results_page(upload, photo_count):
    response = upload(SVG, name="drawing.svg", json=False)

    assert response.status_code == 415
    page = BeautifulSoup(response.get_data(as_text=True), "html.parser")
    assert page.select_one("header.site a.brand") is not None
    [outcome] = outcomes_of(response, json=False)
    assert outcome["class"] == ["rejected"] and outcome["link"] is None
    assert "not an image the gallery can read" in outcome["message"]
    assert photo_count() == 0


@pytest.mark.parametrize("files", [[(b"", "")], []], ids=["empty file input", "no file field"])
def test_no_file_chosen_is_a_bad_request(files, upload_files, photo_count):
    response = upload_files(files, json=False)

    assert response.status_code == 400
    page = BeautifulSoup(response.get_data(as_text=True), "html.parser")
    assert page.select_one("header.site") is not None
    assert "Choose at least one photo" in page.select_one("section.error").get_text()
    assert photo_count() == 0


@pytest.mark.parametrize("app_config", [{"MAX_FILES_PER_UPLOAD": 2}], ids=["two files at most"])
def test_more_files_than_allowed_stores_none_of_them(upload_files, photos_dir, data_files, photo_count):
    files = [((photos_dir / name).read_bytes(), Path(name).name)
             for name in (TINY_JPEG, GPS_JPEG, OTHER_GPS_JPEG)]

    response = upload_files(files)

    assert response.status_code == 413
    assert "At most 2 files" in response.get_json()["error"]
    assert data_files() == set() and photo_count() == 0
    assert upload_files(files[:2]).status_code == 201  # the limit itself is allowed
    assert photo_count() == 2


@pytest.mark.parametrize("app_config", [{"MAX_REQUEST_BYTES": 100_000}], ids=["100 KB requests"])
def test_a_request_over_the_size_limit_gets_the_gallerys_413_page(upload, photos_dir, data_files, photo_count):
    response = upload(photos_dir / GPS_JPEG, json=False)  # 160 KB

    assert response.status_code == 413
    page = BeautifulSoup(response.get_data(as_text=True), "html.parser")
    assert page.select_one("header.site a.brand") is not None
    assert page.select_one("section.error h1").get_text().startswith("413")
    assert data_files() == set() and photo_count() == 0
    assert upload(photos_dir / TINY_JPEG).status_code == 201  # 8 KB still goes through


@pytest.mark.parametrize("app_config, too_big", [
    ({"MAX_IMAGE_PIXELS": 1_000_000}, SIX_MP_JPEG),  # six times the limit
    ({"MAX_IMAGE_PIXELS": 250_000}, GPS_JPEG),  # 1.2 times: where Pillow's own guard only warns
], ids=["6x the limit", "1.2x the limit"])
def test_a_photo_over_the_pixel_limit_is_refused(app_config, too_big, upload, photos_dir, data_files,
                                                 photo_count):
    response = upload(photos_dir / too_big)

    assert response.status_code == 413
    [outcome] = response.get_json()["files"]
    assert outcome["result"] == "rejected"
    assert f"{app_config['MAX_IMAGE_PIXELS'] / 1e6:g} MP" in outcome["message"]
    assert data_files() == set() and photo_count() == 0
    assert upload(photos_dir / TINY_JPEG).status_code == 201


def fill_the_disk_on_the_second_thumbnail(monkeypatch):
    """The first thumbnail is written to its temp file; the second fills the disk half-way."""
    real_save = processing.encode_thumbnail
    calls = []

    def save(image, path, *args):
        calls.append(path)
        if len(calls) == 1:
            return real_save(image, path, *args)
        path.write_bytes(b"\xff\xd8\xff half a thumbnail")
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(processing, "encode_thumbnail", save)


def fail_the_insert(monkeypatch):
    """The row is flushed inside the transaction, then the database gives up before the commit."""
    def insert(photo):
        db.session.add(photo)
        db.session.flush()
        raise OperationalError("COMMIT", {}, OSError("disk I/O error"))

    monkeypatch.setattr(photo_service, "insert_photo", insert)


@pytest.mark.parametrize("app_config", [{"PROPAGATE_EXCEPTIONS": False}], ids=["error pages"])
@pytest.mark.parametrize("break_ingest, status, message", [
    (fill_the_disk_on_the_second_thumbnail, 507, "the disk is full"),
    (fail_the_insert, 500, "unexpected error"),
], ids=["disk full", "database fails"])
def test_a_failure_mid_upload_leaves_nothing_half_made(break_ingest, status, message, monkeypatch, upload,
                                                      photos_dir, data_files, photo_count):
    with monkeypatch.context() as patch:
        break_ingest(patch)
        response = upload(photos_dir / GPS_JPEG)

    assert response.status_code == status
    assert message in response.get_data(as_text=True)
    assert data_files() == set()
    assert photo_count() == 0
    # Nothing stale (a row, a file, a cached count) stands in the way of the same upload now.
    assert upload(photos_dir / GPS_JPEG).status_code == 201
    assert photo_count() == 1 and len(data_files()) == 3
