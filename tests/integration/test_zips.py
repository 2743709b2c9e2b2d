"""Zip downloads of a selection and of an album, on both databases: each streamed zip is read back and every
member's bytes checked against the original on disk; names are the download names made unique, and a file
gone from disk is left out and listed in MISSING.txt."""
from __future__ import annotations

import binascii
import io
import struct
import zipfile
from contextlib import contextmanager
from pathlib import Path

from PIL import Image
from sqlalchemy import event, select, update
from testapp import JSON, jpeg, sha256, upload_as

from app.extensions import db
from app.models import Photo, User
from app.services import labels, zips
from app.services.albums import add_photos, create_album


def originals(app, photo_ids: list[int]) -> dict[int, bytes]:
    with app.app_context():
        root = Path(app.config["DATA_DIR"]) / "photos"
        return {photo.id: (root / photo.original_path).read_bytes()
                for photo in db.session.scalars(select(Photo).where(Photo.id.in_(photo_ids)))}


def read_zip(response) -> zipfile.ZipFile:
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/zip"
    assert "Content-Length" not in response.headers  # streamed: the size is known only at its end
    archive = zipfile.ZipFile(io.BytesIO(response.get_data()))
    for info in archive.infolist():  # every member's CRC matches its bytes, by a CRC-32 other than the writer's
        assert binascii.crc32(archive.read(info)) == info.CRC, info.filename
    return archive


def download_selection(client, ids):
    return client.post("/selection", data={"ids": [str(i) for i in ids], "action": "download"})


def test_a_selection_downloads_as_a_zip_of_its_originals(app, client):
    ids = [upload_as(client, jpeg((10 * i, 0, 0)), name) for i, name in
           enumerate(["beach.jpg", "Beach.JPG", ".passwd.jpg", "notes.php"])]
    response = download_selection(client, ids)
    assert response.headers["Content-Disposition"].startswith('attachment; filename="photos.zip"')
    archive = read_zip(response)
    assert archive.namelist() == ["beach.jpg", "Beach (2).JPG", "passwd.jpg", "notes.jpg"]
    files = originals(app, ids)
    for name, photo_id in zip(archive.namelist(), ids):
        assert archive.read(name) == files[photo_id]
        assert archive.getinfo(name).compress_type == zipfile.ZIP_STORED


def test_a_vanished_file_is_left_out_and_listed(app, client):
    ids = [upload_as(client, jpeg((0, 20 * i, 0)), f"p{i}.jpg") for i in range(3)]
    files = originals(app, ids)
    with app.app_context():
        gone = db.session.get_one(Photo, ids[1])
        (Path(app.config["DATA_DIR"]) / "photos" / gone.original_path).unlink()
    archive = read_zip(download_selection(client, ids))
    assert archive.namelist() == ["p0.jpg", "p2.jpg", "MISSING.txt"]
    assert archive.read("p0.jpg") == files[ids[0]] and archive.read("p2.jpg") == files[ids[2]]
    assert "p1.jpg" in archive.read("MISSING.txt").decode()


def test_another_accounts_photo_refuses_the_whole_download(app, client, bob):
    mine = upload_as(client, jpeg(), "mine.jpg")
    theirs = upload_as(bob, jpeg((1, 2, 3)), "theirs.jpg")
    response = download_selection(client, [mine, theirs])
    assert response.status_code == 404
    assert response.mimetype != "application/zip"


def test_an_album_downloads_with_or_without_its_sub_albums(app, client, user_id, bob):
    ids = [upload_as(client, jpeg((0, 0, 30 * i)), f"a{i}.jpg") for i in range(3)]
    with app.app_context():
        alice = db.session.get_one(User, user_id)
        trip = create_album(alice, "Trip: “Norway” / 2026").id
        day = create_album(alice, "Day one", parent_id=trip).id
        add_photos(user_id, trip, ids[:2])
        add_photos(user_id, day, ids[1:])  # ids[1] is in both: once in the zip
    files = originals(app, ids)

    response = client.get(f"/albums/{trip}/download")
    assert response.headers["Content-Disposition"] == (  # no path, nothing Windows refuses in a name
        "attachment; filename=\"Trip_ _Norway_ - 2026.zip\"; filename*=UTF-8''Trip_%20%E2%80%9CNorway%E2%80%9D%20-%202026.zip")
    archive = read_zip(response)
    assert sorted(archive.namelist()) == ["a0.jpg", "a1.jpg"]

    archive = read_zip(client.get(f"/albums/{trip}/download?sub_albums=1"))
    assert sorted(archive.namelist()) == ["a0.jpg", "a1.jpg", "a2.jpg"]
    for i, photo_id in enumerate(ids):
        assert archive.read(f"a{i}.jpg") == files[photo_id]

    assert bob.get(f"/albums/{trip}/download").status_code == 404


def test_the_album_page_offers_its_downloads(app, client, user_id):
    with app.app_context():
        alice = db.session.get_one(User, user_id)
        album = create_album(alice, "Walks").id
        create_album(alice, "Spring", parent_id=album)
    page = client.get(f"/albums/{album}").get_data(as_text=True)
    assert f"/albums/{album}/download?sub_albums=1" in page


def test_the_stream_starts_before_the_files_are_read():
    """The first bytes leave after the first chunk is read, not after the whole archive is written; a path
    in a name is not kept."""
    opened = []

    def opener(i):
        def open_():
            opened.append(i)
            return io.BytesIO(bytes([i]) * (3 * zips.CHUNK))
        return open_

    stream = zips.zip_stream(zips.ZipEntry(f"../..\\{i}.bin", opener(i)) for i in range(3))
    first = next(stream)
    assert first.startswith(b"PK\x03\x04") and opened == [0]
    archive = zipfile.ZipFile(io.BytesIO(first + b"".join(stream)))
    assert [archive.read(f"{i}.bin") == bytes([i]) * (3 * zips.CHUNK) for i in range(3)] == [True] * 3


def test_files_are_opened_one_ahead_and_a_download_left_early_closes_them():
    """The next file is opened (and read ahead) once the one before it has sent its first chunk; a client
    that leaves closes the stream, and with it every file it opened; an empty file and a vanished one
    between others change nothing in the order."""
    opened: list[io.BytesIO] = []

    def opener(content):
        def open_():
            if content is None:
                raise FileNotFoundError
            opened.append(io.BytesIO(content))
            return opened[-1]
        return open_

    contents = [b"a" * (2 * zips.CHUNK), b"", None, b"c" * 10]
    stream = zips.zip_stream(zips.ZipEntry(f"{i}.bin", opener(c)) for i, c in enumerate(contents))
    next(stream)
    assert len(opened) == 1  # nothing opened ahead before the first chunk left
    next(stream)
    assert len(opened) == 2  # the next file, opened while this one is sent
    stream.close()
    assert all(file.closed for file in opened)

    opened.clear()
    archive = zipfile.ZipFile(io.BytesIO(b"".join(zips.zip_stream(
        zips.ZipEntry(f"{i}.bin", opener(c)) for i, c in enumerate(contents)))))
    assert archive.namelist() == ["0.bin", "1.bin", "3.bin", "MISSING.txt"]
    assert [archive.read(f"{i}.bin") for i in (0, 1, 3)] == [contents[0], b"", contents[3]]
    assert all(file.closed for file in opened)


def test_a_member_of_unknown_size_gets_zip64_fields():
    """A member that could pass 4 GB is written with ZIP64 fields (version 4.5 needed to extract it), and
    reads back; writing 4 GB here would cost the suite a minute."""
    class Unsized(io.BytesIO):
        def fileno(self):
            raise io.UnsupportedOperation
    data = b"".join(zips.zip_stream([zips.ZipEntry("x.bin", lambda: Unsized(b"x"))]))
    assert struct.unpack("<H", data[4:6])[0] == zipfile.ZIP64_VERSION
    assert zipfile.ZipFile(io.BytesIO(data)).read("x.bin") == b"x"


def test_json_client_gets_the_zip_too(app, client):
    photo_id = upload_as(client, jpeg(), "one.jpg")
    response = client.post("/selection", data={"ids": [str(photo_id)], "action": "download"}, headers=JSON)
    assert read_zip(response).namelist() == ["one.jpg"]


AI_FILES = Path(__file__).resolve().parents[1] / "files" / "ai"


def xmp_source_type(content: bytes) -> str | None:
    with Image.open(io.BytesIO(content)) as image:
        xmp = image.getxmp()
    return xmp["xmpmeta"]["RDF"]["Description"]["DigitalSourceType"] if xmp else None


@contextmanager
def counted_statements(app):
    seen: list[str] = []

    def record(connection, cursor, statement, *args):
        seen.append(statement)
    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_generated_members_carry_the_iptc_label_and_uploaded_ones_go_as_stored(app, client, user_id, upload):
    camera = upload_as(client, jpeg((0, 90, 0)), "camera.jpg")
    png, jpg = (upload(AI_FILES / name).get_json()["files"][0]["photo_id"] for name in ("a1111.png", "a1111.jpg"))
    with app.app_context():
        # made by image to image from the camera photo, as gen2's lineage records it
        db.session.execute(update(Photo).where(Photo.id == jpg).values(derived_from_id=camera))
        db.session.commit()
        stored = {p.id: (Path(app.config["DATA_DIR"]) / "photos" / p.original_path, p.sha256)
                  for p in db.session.scalars(select(Photo).where(Photo.id.in_([camera, png, jpg])))}
        album = create_album(db.session.get_one(User, user_id), "Made").id
        add_photos(user_id, album, [camera, png, jpg])

    with counted_statements(app) as one:
        read_zip(download_selection(client, [camera]))
    with counted_statements(app) as three:
        selection = read_zip(download_selection(client, [camera, png, jpg]))
    assert len(three) == len(one)  # the labels' columns come with the rows: no query per photo
    for archive in (selection, read_zip(client.get(f"/albums/{album}/download"))):
        assert sorted(archive.namelist()) == ["a1111.jpg", "a1111.png", "camera.jpg"]
        assert archive.read("camera.jpg") == stored[camera][0].read_bytes()  # byte for byte
        assert xmp_source_type(archive.read("a1111.png")) == labels.TRAINED
        assert xmp_source_type(archive.read("a1111.jpg")) == labels.COMPOSITE
        for name, photo_id in (("a1111.png", png), ("a1111.jpg", jpg)):
            with Image.open(io.BytesIO(archive.read(name))) as member, Image.open(stored[photo_id][0]) as original:
                assert member.tobytes() == original.tobytes()
            assert archive.getinfo(name).extract_version < zipfile.ZIP64_VERSION  # its size was known
    for path, digest in stored.values():
        assert sha256(path) == digest  # the stored originals are as they were
