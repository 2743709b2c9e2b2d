"""A full disk and a data folder the server may not write: the person is told in words (507 for no
space, 500 for permission), and nothing half-made is left, neither a file nor a row; the app
refuses to start on a data folder it cannot write, saying so and naming GALLERY_DATA_DIR.

The tests run as root, whom chmod does not stop: in-process, the os calls of the storage module
fail as the kernel would make them fail; the real server runs under setpriv without
CAP_DAC_OVERRIDE, where a folder's mode bits bind root too.
"""
from __future__ import annotations

import errno
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from live_server import ServerDidNotStart, env, servers, visit  # noqa: F401  (fixtures)
from testapp import GPS_JPEG, TINY_JPEG

from app import ConfigError, create_app
from app.extensions import db
from app.models import Photo
from app.services import storage
from app.services.thumbnails import SIZES as THUMBNAIL_SIZES

FULL = "the disk is full"
PERMISSION = "permission denied (the server may not write to its data folder, GALLERY_DATA_DIR)"
NO_DAC = ("setpriv", "--bounding-set=-dac_override,-dac_read_search", "--")  # root without its override


def failing(monkeypatch, name: str, code: int, when) -> list:
    """Make os.<name> fail with `code` when when(*args) is true, as the kernel would; the failed calls."""
    real = getattr(os, name)
    failed = []

    def call(*args, **kwargs):
        if when(*args):
            failed.append(args)
            raise OSError(code, os.strerror(code), str(args[0]) if args else None)
        return real(*args, **kwargs)

    monkeypatch.setattr(storage.os, name, call)  # the os module itself: Path.mkdir and mkstemp use it too
    return failed


def under(folder: str):
    """Calls on a path under data/photos/<folder>."""
    return lambda path, *rest: f"/photos/{folder}" in str(path)


def into(folder: str):
    """Renames to a path under data/photos/<folder>."""
    return lambda source, destination, *rest: f"/photos/{folder}" in str(destination)


def first_call():
    calls = []
    return lambda *args: (calls.append(args), len(calls) == 1)[1]


UPLOAD_FAILURES = {
    # name: (os call, error, a fresh `when`, status, words)
    "disk full while streaming the upload": ("fsync", errno.ENOSPC, first_call, 507, FULL),
    "disk full placing a thumbnail": ("replace", errno.ENOSPC, lambda: into("thumbnails/"), 507, FULL),
    "disk quota placing the original": ("replace", errno.EDQUOT, lambda: into("uploaded/"), 507,
                                        "the disk quota is used up"),
    "no permission in the day folder": ("replace", errno.EACCES, lambda: into("uploaded/"), 500, PERMISSION),
    "no permission for the temp file": ("open", errno.EPERM, lambda: under(".tmp/"), 500, PERMISSION),
    "read-only disk": ("replace", errno.EROFS, lambda: into("uploaded/"), 500, "the disk is read-only"),
}


@pytest.mark.parametrize("failure", list(UPLOAD_FAILURES))
def test_an_upload_the_disk_refuses_says_why_and_leaves_nothing(failure, upload, photos_dir, data_files,
                                                                  photo_count, monkeypatch):
    assert upload(photos_dir / TINY_JPEG).status_code == 201
    before = data_files()
    call, code, when, status, words = UPLOAD_FAILURES[failure]

    with monkeypatch.context() as patch:
        failed = failing(patch, call, code, when())
        response = upload(photos_dir / GPS_JPEG)

    assert failed, "the failure was never reached"
    assert response.status_code == status
    [outcome] = response.get_json()["files"]
    assert outcome["result"] == "rejected" and outcome["message"].endswith(f": {words}.")
    assert data_files() == before and photo_count() == 1
    assert upload(photos_dir / GPS_JPEG).status_code == 201  # nothing stale stands in the way


def test_the_results_page_says_it_in_words(upload, photos_dir, monkeypatch):
    with monkeypatch.context() as patch:
        failing(patch, "fsync", errno.ENOSPC, first_call())
        response = upload(photos_dir / GPS_JPEG, json=False)
    assert response.status_code == 507
    assert "Could not store the upload: the disk is full." in response.get_data(as_text=True)


@pytest.mark.parametrize("app_config", [{"PROPAGATE_EXCEPTIONS": False}], ids=["error pages"])
@pytest.mark.parametrize("call, code, status, words", [
    ("replace", errno.ENOSPC, 507, FULL),
    ("mkdir", errno.EACCES, 500, PERMISSION),
], ids=["disk full", "no permission"])
def test_a_thumbnail_made_on_request_that_the_disk_refuses_says_why_and_leaves_nothing(
        call, code, status, words, app_config, client, upload, photos_dir, data_dir, data_files, photo_count,
        monkeypatch):
    photo_id = upload(photos_dir / GPS_JPEG).get_json()["files"][0]["photo_id"]
    with client.application.app_context():
        photo = db.session.get(Photo, photo_id)
        thumbnails = [data_dir / "photos" / photo.thumbnail_path(size) for size in THUMBNAIL_SIZES]
    shutil.rmtree(thumbnails[0].parent)  # both thumbnails and their folder are gone
    before = data_files()

    with monkeypatch.context() as patch:
        failed = failing(patch, call, code, into("thumbnails/") if call == "replace" else under("thumbnails/"))
        response = client.get(f"/thumbnails/{photo_id}/grid")

    assert failed and response.status_code == status
    assert f": {words}." in response.get_data(as_text=True)
    assert data_files() == before and photo_count() == 1  # no partial thumbnail, no temp file
    with client.get(f"/thumbnails/{photo_id}/grid") as again:  # made once the disk lets it
        assert again.status_code == 200
    assert all(path.is_file() for path in thumbnails)


def test_start_on_a_data_folder_it_cannot_write_names_the_setting_and_the_reason(tmp_path, monkeypatch):
    settings = {"SECRET_KEY": "disk-test-secret-" + "0" * 16, "DATA_DIR": str(tmp_path / "data"),
                "DATABASE_URL": f"sqlite:///{tmp_path / 'gallery.db'}"}
    with monkeypatch.context() as patch:
        failing(patch, "mkdir", errno.EACCES, lambda path, *rest: True)
        with pytest.raises(ConfigError) as caught:
            create_app(settings)
    assert str(caught.value) == f"GALLERY_DATA_DIR: cannot write to {tmp_path / 'data'}: Permission denied"


# --- the real server, as root without CAP_DAC_OVERRIDE -------------------------------------------

@pytest.fixture(scope="module")
def no_dac_override(tmp_path_factory):
    """Skip unless setpriv can take root's override away here (it needs root and a bounding set to drop)."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv (util-linux) to run the server without CAP_DAC_OVERRIDE")
    folder = tmp_path_factory.mktemp("read-only")
    folder.chmod(0o500)
    probe = subprocess.run([*NO_DAC, "touch", str(folder / "x")], capture_output=True, text=True, check=False)
    folder.chmod(0o700)
    if probe.returncode == 0 or "Permission denied" not in probe.stderr:
        pytest.skip(f"setpriv could not take CAP_DAC_OVERRIDE away: {probe.stderr.strip()}")
    return NO_DAC


@pytest.fixture
def read_only(data_dir):
    """read_only(folder) makes data/photos/<folder> read-only (given back at the end)."""
    made = []

    def make(relative: str) -> Path:
        folder = data_dir / "photos" / relative
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o555)
        made.append(folder)
        return folder

    yield make
    for folder in made:
        folder.chmod(0o755)


def test_the_real_server_refuses_to_start_on_a_data_folder_it_cannot_write(no_dac_override, env, servers, data_dir,
                                                                            read_only):
    read_only("")  # data/photos itself

    with pytest.raises(ServerDidNotStart) as caught:
        servers(env, prefix=no_dac_override)
    assert f"GALLERY_DATA_DIR: cannot write to {data_dir / 'photos'}: Permission denied" in str(caught.value)


def test_the_real_server_answers_an_upload_it_may_not_store_with_words(no_dac_override, env, servers, visit,
                                                                        photos_dir, data_files, photo_count,
                                                                        read_only):
    server = servers(env, prefix=no_dac_override)
    visitor = visit(server)
    read_only("uploaded")
    before = data_files()

    response = visitor.upload((photos_dir / GPS_JPEG).read_bytes(), "small.jpg")
    assert response.status_code == 500
    [outcome] = response.json()["files"]
    assert outcome["message"] == f"Could not store the photo: {PERMISSION}."
    assert data_files() == before and photo_count() == 0  # its thumbnails and temp files went too


def test_the_real_server_answers_a_thumbnail_it_may_not_write_with_words(no_dac_override, env, servers, visit,
                                                                          photos_dir, data_dir, data_files,
                                                                          photo_count, read_only, app):
    server = servers(env, prefix=no_dac_override)
    visitor = visit(server)
    photo_id = visitor.upload((photos_dir / GPS_JPEG).read_bytes(), "small.jpg").json()["files"][0]["photo_id"]
    with app.app_context():
        grid = data_dir / "photos" / db.session.get(Photo, photo_id).thumbnail_path("grid")
    grid.unlink()
    read_only(str(grid.parent.relative_to(data_dir / "photos")))
    before = data_files()

    with visitor.http.get(f"{server.url}/thumbnails/{photo_id}/grid", timeout=30) as response:
        assert response.status_code == 500
        assert PERMISSION in response.text
    assert data_files() == before and photo_count() == 1
