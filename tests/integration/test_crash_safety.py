"""Crash safety, on the real server: gunicorn is SIGKILLed at each stage of an upload, restarted
without the crash point, and then `flask gallery check` finds nothing, every upload that got a
success answer is complete (row, original with the SHA-256 of the bytes sent, both thumbnails),
and the killed upload is either wholly there or wholly gone.

The stages after the body has arrived are reached with app/failpoints.py: GALLERY_CRASH_AT=<name>
makes the worker SIGKILL itself at that step of storage.placing (named <label>-<step>).
"""
from __future__ import annotations

import socket
from pathlib import Path

import pytest
import requests
from live_server import TIMEOUT, env, flask_cli, servers, visit  # noqa: F401  (fixtures)
from PIL import Image
from testapp import sha256
from sqlalchemy import select

from app.extensions import db
from app.models import Photo
from app.services import storage
from app.services.thumbnails import SIZES as THUMBNAIL_SIZES, thumbnail_path

ANSWERED = ["camera/canon-eos-40d_tiny.jpg", "camera/nikon-coolpix-p6000_gps.jpg"]  # uploaded before the crash
KILLED = "camera/nikon-d70_6mp.jpg"  # 1.6 MB, so half of its body is a real partial upload
# (stage, what the check tidies of it once the server has restarted)
STAGES = {
    "mid-body": None,  # the client has sent half the body
    "upload-original-written": None,  # the whole original is in a temp file
    "upload-grid-written": None,  # and both thumbnails, in temp files (the grid one is written last)
    "upload-files-placed": "undid an interrupted upload",  # all three files in place, no row yet
    "upload-committed": "cleared a finished place",  # the row is committed; no answer was sent
}


def crash(stage: str, server, env, servers, visit, content: bytes) -> None:
    """Send `content` as an upload and have the server die at `stage`."""
    if stage == "mid-body":
        request = visit(server).raw_upload_request(content, "killed.jpg", server.port)
        with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as connection:
            connection.sendall(request[: len(request) // 2])
            server.kill()
        return
    server.stop()
    server = servers({**env, "GALLERY_CRASH_AT": stage})
    with pytest.raises(requests.ConnectionError):  # the worker died without an answer
        visit(server).upload(content, "killed.jpg")
    server.kill()  # the master too, as a power cut would


def photo_rows(app) -> dict[int, dict]:
    with app.app_context():
        rows = {photo.id: {"path": photo.original_path, "sha256": photo.sha256, "ext": photo.thumbnail_ext}
                for photo in db.session.scalars(select(Photo))}
        db.session.remove()
    return rows


def assert_complete(root: Path, row: dict, content: bytes, what: str) -> None:
    """`what` (which upload, for the failure message) has its row, its original and its thumbnails whole."""
    assert row["sha256"] == sha256(content), f"{what}: its row's sha256"
    assert sha256((root / row["path"]).read_bytes()) == sha256(content), f"{what}: its original {row['path']}"
    for size in THUMBNAIL_SIZES:
        with Image.open(root / thumbnail_path(row["path"], size, row["ext"])) as thumbnail:
            thumbnail.load()


@pytest.mark.parametrize("stage", list(STAGES))
def test_a_crash_at_any_stage_of_an_upload_leaves_a_consistent_gallery(stage, app, env, servers, visit, photos_dir,
                                                                       data_dir):
    root = storage.photos_root(data_dir)
    server = servers(env)
    visitor = visit(server)
    answered: dict[int, bytes] = {}
    for name in ANSWERED:
        content = (photos_dir / name).read_bytes()
        response = visitor.upload(content, Path(name).name)
        assert response.status_code == 201, response.text
        answered[response.json()["files"][0]["photo_id"]] = content
    killed = (photos_dir / KILLED).read_bytes()

    crash(stage, server, env, servers, visit, killed)

    server = servers(env)  # the restart, without the crash point
    left = sorted(path.name for path in (root / storage.TEMP_DIR).iterdir())
    assert not [name for name in left if name.endswith(storage.TEMP_SUFFIX)], left  # start removed them
    assert len(left) == (1 if STAGES[stage] else 0), left  # a note only check can settle: it needs the database

    checked = flask_cli(env, "gallery", "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    *lines, summary = checked.stdout.splitlines()
    assert summary.endswith("no problems."), checked.stdout
    assert [line.split(" of ")[0] for line in lines] == ([f"tidied: {STAGES[stage]}"] if STAGES[stage] else [])
    assert list((root / storage.TEMP_DIR).iterdir()) == []

    rows = photo_rows(app)
    for photo_id, content in answered.items():  # every upload that was answered is whole
        assert_complete(root, rows[photo_id], content, f"answered photo {photo_id}")
        with visitor.http.get(f"{server.url}/photos/{photo_id}/original", timeout=TIMEOUT) as original:
            assert original.status_code == 200 and original.content == content, f"answered photo {photo_id}"
    killed_rows = [row for photo_id, row in rows.items() if photo_id not in answered]
    if stage == "upload-committed":  # committed, only the answer was lost: whole
        [row] = killed_rows
        assert_complete(root, row, killed, "the upload killed after its commit")
    else:  # never committed: no row, and no file of it in the gallery
        assert killed_rows == []
    if stage == "upload-files-placed":  # its original was kept aside, never deleted
        [kept] = [path for path in (data_dir / "quarantine").rglob("*") if path.is_file()]
        assert kept.read_bytes() == killed

    again = visit(server).upload(killed, "killed.jpg")  # nothing half-made stands in the way
    assert again.status_code == (200 if stage == "upload-committed" else 201), again.text
