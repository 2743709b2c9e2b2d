"""X-Accel-Redirect: with ACCEL_REDIRECT_PREFIX set, originals and thumbnails are answered with the
headers and an empty body, and nginx's internal location sends the file: after the same access checks."""
from __future__ import annotations

from pathlib import Path

import pytest
from werkzeug.http import parse_options_header

from app.extensions import db
from app.models import Photo
from testapp import GPS_JPEG, TRANSPARENT_PNG, log_in

PREFIX = "/protected-photos"


@pytest.fixture
def app_config():
    return {"ACCEL_REDIRECT_PREFIX": PREFIX}


@pytest.fixture
def photo(app, upload, photos_dir):
    """photo(name) -> the stored Photo (detached) of an upload of ../shared/photos/<name>."""
    def make(name: str) -> Photo:
        response = upload(photos_dir / name, Path(name).name)
        assert response.status_code == 201, response.get_data(as_text=True)
        with app.app_context():
            row = db.session.get(Photo, response.get_json()["files"][0]["photo_id"])
            db.session.expunge(row)
            return row
    return make


def accel_target(response, data_dir: Path) -> Path:
    """The file under data/photos that the X-Accel-Redirect header names."""
    header = response.headers["X-Accel-Redirect"]
    assert header.startswith(PREFIX + "/")
    return data_dir / "photos" / header.removeprefix(PREFIX + "/")


def test_the_original_is_named_for_nginx_with_its_headers_and_no_body(photo, client, data_dir, photos_dir):
    stored = photo(GPS_JPEG)

    response = client.get(f"/photos/{stored.id}/original", headers={"Range": "bytes=0-99"}, buffered=True)

    assert response.status_code == 200  # ranges are nginx's to answer, from the file
    assert response.data == b"" and response.content_length == 0
    assert response.headers["X-Accel-Redirect"] == f"{PREFIX}/{stored.original_path}"
    assert accel_target(response, data_dir).read_bytes() == (photos_dir / GPS_JPEG).read_bytes()
    assert response.mimetype == "image/jpeg"
    assert parse_options_header(response.headers["Content-Disposition"]) == (
        "attachment", {"filename": "nikon-coolpix-p6000_gps.jpg"})
    assert response.cache_control.private and not response.cache_control.public
    assert response.cache_control.max_age == 3600
    assert response.headers["ETag"] == f'"{stored.sha256}"'


@pytest.mark.parametrize("name, content_type", [(GPS_JPEG, "image/jpeg"), (TRANSPARENT_PNG, "image/webp")])
@pytest.mark.parametrize("size", ["grid", "preview"])
def test_a_thumbnail_is_named_for_nginx_with_its_headers_and_no_body(size, name, content_type, photo, client,
                                                                      data_dir):
    stored = photo(name)

    response = client.get(f"/thumbnails/{stored.id}/{size}", buffered=True)

    assert response.status_code == 200 and response.data == b""
    assert response.headers["X-Accel-Redirect"] == f"{PREFIX}/{stored.thumbnail_path(size)}"
    assert accel_target(response, data_dir).is_file()
    assert response.mimetype == content_type
    assert response.cache_control.immutable and response.cache_control.private
    assert response.cache_control.max_age >= 365 * 24 * 3600
    assert response.headers["ETag"]


def test_a_missing_thumbnail_is_made_before_nginx_is_sent_to_it(photo, client, data_dir):
    stored = photo(GPS_JPEG)
    path = data_dir / "photos" / stored.thumbnail_path("preview")
    path.unlink()

    response = client.get(f"/thumbnails/{stored.id}/preview", buffered=True)

    assert response.status_code == 200 and accel_target(response, data_dir) == path and path.is_file()


def test_another_users_photo_is_refused_without_naming_the_file(app, photo, make_user, anonymous):
    stored = photo(GPS_JPEG)
    bob = log_in(app.test_client(), make_user("bob"))
    for url in (f"/photos/{stored.id}/original", f"/thumbnails/{stored.id}/grid", f"/thumbnails/{stored.id}/preview"):
        refused = bob.get(url, buffered=True)
        assert refused.status_code == 404 and "X-Accel-Redirect" not in refused.headers
        outsider = anonymous.get(url, buffered=True)
        assert outsider.status_code == 302 and "X-Accel-Redirect" not in outsider.headers


def test_a_missing_original_is_404_not_a_redirect(photo, client, data_dir):
    stored = photo(GPS_JPEG)
    (data_dir / "photos" / stored.original_path).unlink()

    response = client.get(f"/photos/{stored.id}/original", buffered=True)

    assert response.status_code == 404 and "X-Accel-Redirect" not in response.headers
