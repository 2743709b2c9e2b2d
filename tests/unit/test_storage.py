"""storage: paths kept under the photos folder, server-made names, writes that leave nothing half-made."""
from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import time
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


# --- placing --------------------------------------------------------------------------------------

THUMBNAIL = "thumbnails/uploaded/2026-11-21/a.grid.jpg"
ORIGINAL = "uploaded/2026-11-21/a.jpg"


def test_placing_writes_each_file_once_in_tmp_and_renames_it_once_into_place(root, monkeypatch):
    renames = []
    real_replace = os.replace
    monkeypatch.setattr(storage.os, "replace", lambda a, b: (renames.append((Path(a), Path(b))), real_replace(a, b)))
    with storage.placing(root, "upload", "place", ORIGINAL) as place:
        temp = place.write("grid.jpg", lambda path: path.write_bytes(b"thumbnail"))
        assert temp.parent == root / storage.TEMP_DIR and storage.pid_of(temp.name) == os.getpid()
        place.files({THUMBNAIL: temp})
    assert (root / THUMBNAIL).read_bytes() == b"thumbnail"
    assert files_under(root) == [root / THUMBNAIL]  # the note went once the block was done
    # One rename for the thumbnail (the other is the note's own, in .tmp), from the temp file written.
    assert [(a, b) for a, b in renames if b.parent != root / storage.TEMP_DIR] == [(temp, root / THUMBNAIL)]


def test_placing_undoes_every_file_and_the_note_when_its_block_fails(root):
    (root / "uploaded/2026-11-21").mkdir(parents=True)
    with pytest.raises(RuntimeError, match="the commit failed"):
        with storage.placing(root, "upload", "place", ORIGINAL) as place:
            original = place.stream(io.BytesIO(b"photo"), lambda chunk: None)
            thumbnail = place.write("grid.jpg", lambda path: path.write_bytes(b"thumbnail"))
            spare = place.write("preview.jpg", lambda path: path.write_bytes(b"never placed"))
            place.files({THUMBNAIL: thumbnail, ORIGINAL: original})
            assert len([p for p in files_under(root) if p.name.endswith(storage.INTENT_SUFFIX)]) == 1
            raise RuntimeError("the commit failed")
    assert files_under(root) == []  # placed files, temp files and the note: all gone
    assert not spare.exists()


def test_placing_leaves_the_temp_files_it_did_not_place_when_it_succeeds(root):
    with storage.placing(root, "upload") as place:  # a worker: the writer places them later
        temp = place.write("grid.jpg", lambda path: path.write_bytes(b"thumbnail"))
    assert files_under(root) == [temp]


def test_a_write_the_disk_refuses_leaves_no_temp_file_and_keeps_the_old_file(root):
    with storage.placing(root, "remake") as place:
        place.files({THUMBNAIL: place.write("grid.jpg", lambda path: path.write_bytes(b"old"))})

    def full_disk(path: Path):
        path.write_bytes(b"ne")
        raise disk_error(errno.ENOSPC)

    with pytest.raises(StorageError, match="Could not write a thumbnail: the disk is full"):
        with storage.placing(root, "remake") as place:
            place.files({THUMBNAIL: place.write("grid.jpg", full_disk)})
    assert (root / THUMBNAIL).read_bytes() == b"old"
    assert files_under(root) == [root / THUMBNAIL]


def test_placing_moves_files_back_when_its_block_fails(root):
    source, target = root / "generated/sessions/1/a.png", root / "generated/completed/a.png"
    source.parent.mkdir(parents=True)
    source.write_bytes(b"candidate")
    with pytest.raises(RuntimeError):
        with storage.placing(root, "keep", "move", "generated/completed/a.png",
                             source="generated/sessions/1/a.png") as place:
            place.move(source, target)
            assert target.is_file() and not source.exists()
            raise RuntimeError("the commit failed")
    assert files_under(root) == [source]


@pytest.mark.parametrize("fails", [False, True], ids=["commit", "failed commit"])
def test_placing_sets_files_aside_under_a_note_and_drops_or_restores_them(root, fails):
    day = root / "uploaded/2026-11-21"
    day.mkdir(parents=True)
    (day / "a.jpg").write_bytes(b"photo")
    seen = {}
    with pytest.raises(RuntimeError) if fails else contextlib.nullcontext():
        with storage.placing(root, "delete") as place:
            place.set_aside("delete", ORIGINAL, [ORIGINAL, THUMBNAIL], doing="delete the photo")
            [intent] = [p for p in files_under(root) if p.name.endswith(storage.INTENT_SUFFIX)]
            seen = storage.read_intent(intent)
            assert not (day / "a.jpg").exists()
            if fails:
                raise RuntimeError("the commit failed")
    assert seen["action"] == "delete" and set(seen["staged"]) == {ORIGINAL, THUMBNAIL}
    assert files_under(root) == ([] if not fails else [day / "a.jpg"])
    assert day.exists() == fails  # the emptied day folder goes with a finished delete


def test_placing_reaches_each_crash_point_in_order(root, monkeypatch):
    reached = []
    monkeypatch.setattr(storage, "crash_point", reached.append)
    with storage.placing(root, "upload") as place:
        original = place.stream(io.BytesIO(b"photo"), lambda chunk: None)
        grid = place.write("grid.jpg", lambda path: path.write_bytes(b"thumbnail"))
    with storage.placing(root, "upload", "place", ORIGINAL, temps=[original, grid]) as place:
        place.files({THUMBNAIL: grid, ORIGINAL: original})
    assert reached == ["upload-original-written", "upload-grid-written", "upload-files-placed", "upload-committed"]


def test_move_into_place_makes_the_folders(root):
    temp = storage.stream_to_temp(root, io.BytesIO(b"original"), lambda chunk: None)
    destination = storage.resolve(root, "uploaded/2026-11-21/0123456789abcdef.jpg")
    storage.move_into_place(temp, destination)
    assert destination.read_bytes() == b"original"
    assert not temp.exists()


# --- disk_errors --------------------------------------------------------------------------------

PERMISSION = "permission denied (the server may not write to its data folder, GALLERY_DATA_DIR)"


@pytest.mark.parametrize("code, reason, status", [
    (errno.ENOSPC, "the disk is full", 507),
    (errno.EDQUOT, "the disk quota is used up", 507),
    (errno.EACCES, PERMISSION, 500),  # the server's set-up, not a full disk: a 500 with the words
    (errno.EPERM, PERMISSION, 500),
    (errno.EROFS, "the disk is read-only", 500),
    (errno.EIO, os.strerror(errno.EIO), 500),
])
def test_disk_errors_says_what_failed_and_why(code, reason, status):
    with pytest.raises(StorageError) as caught:
        with storage.disk_errors("store the photo"):
            raise disk_error(code)
    assert caught.value.message == f"Could not store the photo: {reason}."
    assert caught.value.status == status
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


# --- temp names, intents and what a crash leaves ------------------------------------------------

def temp_file(root: Path, name: str, content: bytes = b"half a photo") -> Path:
    path = root / storage.TEMP_DIR / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


@pytest.fixture
def live_process():
    """Another process that runs until the test ends it: (its pid, a function that ends it)."""
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)

    def end() -> None:
        child.stdin.close()
        child.wait(timeout=10)

    yield child.pid, end
    if child.poll() is None:
        end()


def finished_process_id() -> int:
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                           check=True)
    return int(child.stdout)


def test_every_temp_file_is_in_tmp_and_named_by_its_writer(root):
    with storage.placing(root, "upload") as place:
        written = place.write("grid.jpg", lambda temp: temp.write_bytes(b"r"))
    upload = storage.stream_to_temp(root, io.BytesIO(b"photo"), lambda chunk: None)
    for temp in (written, upload, storage.new_temp_path(root), storage.temp_path_for(root / ".tmp" / "grid.jpg")):
        assert temp.parent == root / storage.TEMP_DIR
        assert storage.pid_of(temp.name) == os.getpid()


def test_a_temp_name_outside_tmp_is_refused(root):
    with pytest.raises(ValueError, match="temp files live in .tmp"):
        storage.temp_path_for(root / "thumbnails" / "a.jpg")


@pytest.mark.parametrize("name, pid", [("123-abc.part", 123), ("7-x-y.grid.jpg.part", 7), ("deleting-abc.part", None),
                                       ("0-abc.part", None), ("abc.part", None), ("-1-abc.part", None),
                                       ("99999999999-abc.part", None)])
def test_pid_of_reads_the_writer_from_the_name(name, pid):
    assert storage.pid_of(name) == pid


def test_a_live_process_temp_file_is_kept_until_it_is_gone(root, live_process):
    pid, end = live_process
    theirs = temp_file(root, f"{pid}-a1b2c3d4.part")
    ours = temp_file(root, f"{os.getpid()}-e5f6a7b8.grid.jpg.part")

    assert storage.remove_stale_temp_files(root) == []
    assert theirs.exists() and ours.exists()

    end()
    assert storage.remove_stale_temp_files(root) == [theirs]
    assert not theirs.exists() and ours.exists()


def test_a_dead_process_temp_file_and_a_name_without_a_pid_are_removed(root):
    dead = temp_file(root, f"{finished_process_id()}-a1b2c3d4.part")
    nameless = temp_file(root, "deleting-0123456789abcdef.part")
    folder = root / storage.TEMP_DIR / "a-folder"
    folder.mkdir()

    assert sorted(storage.remove_stale_temp_files(root)) == sorted([dead, nameless])
    assert files_under(root) == [] and folder.is_dir()  # folders are not its business


def test_a_zombie_is_not_a_live_writer(root):
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        for _ in range(500):  # bounded polling until it has exited (and is not reaped yet)
            started = storage.process_start(child.pid)
            if started is None or started[0]:
                break
            time.sleep(0.01)
        assert storage.process_start(child.pid)[0], "the child should be a zombie until it is waited for"
        left = temp_file(root, f"{child.pid}-a1b2c3d4.part")
        assert storage.remove_stale_temp_files(root) == [left]
    finally:
        child.wait(timeout=10)


def test_a_reused_pid_does_not_keep_an_older_file(root):
    """The id is this live process's, but the file was written before it started: a crashed
    process that had the same id (as happens in a container after a restart) left it."""
    older = temp_file(root, f"{os.getpid()}-a1b2c3d4.part")
    an_hour_before_start = storage.process_start(os.getpid())[1] - 3600
    os.utime(older, (an_hour_before_start, an_hour_before_start))
    assert storage.remove_stale_temp_files(root) == [older]


def test_a_dead_process_intent_and_the_files_it_put_aside_stay_for_check(root):
    dead = finished_process_id()
    staged = temp_file(root, f"{dead}-a1b2c3d4.part", b"an original put aside by a delete")
    partial = temp_file(root, f"{dead}-e5f6a7b8.part")
    intent = temp_file(root, f"{dead}-0a0b0c0d{storage.INTENT_SUFFIX}",
                       json.dumps({"action": "delete", "path": "uploaded/2026-11-21/a.jpg",
                                   "staged": {"uploaded/2026-11-21/a.jpg": staged.name}}).encode())

    assert storage.remove_stale_temp_files(root) == [partial]
    assert staged.exists() and intent.exists()


def test_record_intent_writes_a_readable_note_under_this_process(root):
    intent = storage.record_intent(root, "place", "uploaded/2026-11-21/a.jpg")
    assert intent.parent == root / storage.TEMP_DIR and intent.name.endswith(storage.INTENT_SUFFIX)
    assert storage.pid_of(intent.name) == os.getpid()
    assert storage.read_intent(intent) == {"action": "place", "path": "uploaded/2026-11-21/a.jpg"}
    assert files_under(root) == [intent]  # its own temp file was renamed, not left


def test_remove_files_removes_intents_last_and_keeps_the_tmp_folder(root, monkeypatch):
    intent = storage.record_intent(root, "place", "uploaded/2026-11-21/a.jpg")
    thumbnail = root / "thumbnails/uploaded/2026-11-21/a.grid.jpg"
    thumbnail.parent.mkdir(parents=True)
    thumbnail.write_bytes(b"r")
    order = []
    real_unlink = Path.unlink
    monkeypatch.setattr(Path, "unlink", lambda self, missing_ok=False: (order.append(self.name),
                                                                        real_unlink(self, missing_ok=missing_ok)))
    storage.remove_files([intent, thumbnail])
    assert order == [thumbnail.name, intent.name]
    assert (root / storage.TEMP_DIR).is_dir()
