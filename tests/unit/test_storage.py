"""storage: paths kept under the photos folder, server-made names, writes that leave nothing half-made."""
from __future__ import annotations

import errno
import hashlib
import io
import os
import re
from datetime import date
from pathlib import Path

import pytest

from app.errors import StorageError
from app.services import storage


@pytest.fixture
def root(tmp_path) -> Path:
    root = storage.photos_root(tmp_path / "data")
    root.mkdir(parents=True)
    return root


def files_under(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if path.is_file())


def disk_error(code: int) -> OSError:
    return OSError(code, os.strerror(code))


# --- resolve ------------------------------------------------------------------------------------

def test_resolve_gives_the_absolute_path_under_the_root(root):
    assert storage.resolve(root, "uploaded/2026-11-21/9f2c4e1ab07d3c55.jpg") == (
        root.resolve() / "uploaded" / "2026-11-21" / "9f2c4e1ab07d3c55.jpg")


@pytest.mark.parametrize("relative", [
    "../x", "../../etc/passwd", "uploaded/../../x", "/etc/passwd", "", ".", "uploaded/..",
])
def test_resolve_refuses_a_path_leaving_the_root(root, relative):
    with pytest.raises(ValueError, match="leaves the photos folder"):
        storage.resolve(root, relative)


def test_resolve_refuses_a_symlink_out_of_the_root(root, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "uploaded").symlink_to(outside)
    with pytest.raises(ValueError, match="leaves the photos folder"):
        storage.resolve(root, "uploaded/secret.jpg")


# --- server-made names --------------------------------------------------------------------------

def test_new_original_path_is_source_day_and_sixteen_hex_digits():
    path = storage.new_original_path("uploaded", "jpg", date(2026, 11, 21))
    assert re.fullmatch(r"uploaded/2026-11-21/[0-9a-f]{16}\.jpg", path)


def test_new_original_path_is_new_each_time_and_dated_today_by_default():
    paths = {storage.new_original_path("generated", "png") for _ in range(50)}
    assert len(paths) == 50
    assert all(path.startswith(f"generated/{date.today().isoformat()}/") for path in paths)


# --- stream_to_temp -----------------------------------------------------------------------------

class FailingStream(io.BytesIO):
    """A stream that hands out `good` bytes and then fails, like a client that goes away."""

    def __init__(self, good: bytes, error: Exception):
        super().__init__(good)
        self.error = error

    def read(self, size=-1):
        chunk = super().read(size)
        if not chunk:
            raise self.error
        return chunk


def test_stream_to_temp_writes_every_byte_and_shows_every_chunk(root):
    content = os.urandom(2 * storage.COPY_CHUNK + 12_345)
    seen = hashlib.sha256()
    temp = storage.stream_to_temp(root, io.BytesIO(content), seen.update)
    assert temp.read_bytes() == content
    assert seen.hexdigest() == hashlib.sha256(content).hexdigest()
    assert temp.parent == root / storage.TEMP_DIR and temp.name.endswith(storage.TEMP_SUFFIX)


def test_stream_to_temp_removes_its_file_when_the_stream_fails_midway(root):
    stream = FailingStream(b"x" * (storage.COPY_CHUNK + 10), ValueError("client went away"))
    with pytest.raises(ValueError, match="client went away"):
        storage.stream_to_temp(root, stream, lambda chunk: None)
    assert files_under(root) == []


def test_stream_to_temp_removes_its_file_when_a_chunk_is_refused(root):
    class TooLarge(Exception):
        pass

    seen = []

    def refuse_second_chunk(chunk):
        seen.append(chunk)
        if len(seen) > 1:
            raise TooLarge

    with pytest.raises(TooLarge):
        storage.stream_to_temp(root, io.BytesIO(b"x" * (storage.COPY_CHUNK * 3)), refuse_second_chunk)
    assert files_under(root) == []


def test_stream_to_temp_on_a_full_disk_says_so_and_leaves_nothing(root, monkeypatch):
    def full_disk(fd):
        raise disk_error(errno.ENOSPC)

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(StorageError, match="Could not store the upload: the disk is full"):
        storage.stream_to_temp(root, io.BytesIO(b"photo"), lambda chunk: None)
    assert files_under(root) == []


# --- write_atomically and move_into_place ----------------------------------------------------------

def test_write_atomically_puts_the_file_in_place_and_nothing_else(root):
    destination = root / "thumbnails/uploaded/2026-11-21/a.jpg"
    storage.write_atomically(destination, lambda temp: temp.write_bytes(b"rendition"))
    assert destination.read_bytes() == b"rendition"
    assert files_under(root) == [destination]


def test_write_atomically_leaves_nothing_when_the_writer_fails(root):
    destination = root / "thumbnails/uploaded/2026-11-21/a.jpg"

    def half_a_write(temp: Path):
        temp.write_bytes(b"half a rend")
        raise ValueError("encoder failed")

    with pytest.raises(ValueError, match="encoder failed"):
        storage.write_atomically(destination, half_a_write)
    assert files_under(root) == []


def test_write_atomically_keeps_the_old_file_when_the_new_one_fails(root):
    destination = root / "thumbnails/uploaded/2026-11-21/a.jpg"
    storage.write_atomically(destination, lambda temp: temp.write_bytes(b"old"))

    def full_disk(temp: Path):
        temp.write_bytes(b"ne")
        raise disk_error(errno.ENOSPC)

    with pytest.raises(StorageError, match="Could not write a rendition: the disk is full"):
        storage.write_atomically(destination, full_disk)
    assert destination.read_bytes() == b"old"
    assert files_under(root) == [destination]


def test_move_into_place_makes_the_folders(root):
    temp = storage.stream_to_temp(root, io.BytesIO(b"original"), lambda chunk: None)
    destination = storage.resolve(root, "uploaded/2026-11-21/0123456789abcdef.jpg")
    storage.move_into_place(temp, destination)
    assert destination.read_bytes() == b"original"
    assert not temp.exists()


# --- disk_errors --------------------------------------------------------------------------------

@pytest.mark.parametrize("code, reason", [
    (errno.ENOSPC, "the disk is full"),
    (errno.EDQUOT, "the disk quota is used up"),
    (errno.EACCES, "permission denied"),
    (errno.EPERM, "permission denied"),
    (errno.EROFS, "the disk is read-only"),
    (errno.EIO, os.strerror(errno.EIO)),
])
def test_disk_errors_says_what_failed_and_why(code, reason):
    with pytest.raises(StorageError) as caught:
        with storage.disk_errors("store the photo"):
            raise disk_error(code)
    assert caught.value.message == f"Could not store the photo: {reason}."
    assert caught.value.status == 507
    assert caught.value.__cause__.errno == code


def test_disk_errors_lets_other_errors_through():
    with pytest.raises(KeyError):
        with storage.disk_errors("store the photo"):
            raise KeyError("not a disk problem")


# --- remove_files -------------------------------------------------------------------------------

def test_remove_files_removes_the_files_and_a_day_folder_left_empty(root):
    day = root / "uploaded/2026-11-21"
    day.mkdir(parents=True)
    first, second = day / "a.jpg", day / "b.jpg"
    first.write_bytes(b"a")
    second.write_bytes(b"b")

    storage.remove_files([first])
    assert files_under(root) == [second]

    storage.remove_files([second, day / "never-written.jpg"])
    assert not day.exists()
    assert (root / "uploaded").is_dir()  # only the day folder goes


def test_remove_files_goes_on_after_a_file_it_cannot_remove(root):
    day = root / "uploaded/2026-11-21"
    (day / "a-folder.jpg").mkdir(parents=True)  # unlink() fails on a folder
    (day / "b.jpg").write_bytes(b"b")
    storage.remove_files([day / "a-folder.jpg", day / "b.jpg"])
    assert files_under(root) == []
    assert (day / "a-folder.jpg").is_dir()
