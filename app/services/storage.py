"""The data/photos layout: server-made names, temp-then-rename writes, deletes.

Every path handed to or returned from here is relative to the photos root and
written with forward slashes; `resolve` refuses any that would leave the root.
"""
from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import secrets
import tempfile
from collections.abc import Callable
from datetime import date
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from ..errors import StorageError

log = logging.getLogger(__name__)

# Every temp file lives in photos/.tmp (the same file system, so the final rename is atomic) and
# its name starts with the id of the process writing it: <pid>-<token>.part. A starting worker
# removes those whose process is gone (remove_stale_temp_files) and never a live one's.
TEMP_DIR = ".tmp"
TEMP_SUFFIX = ".part"
# A note of work in flight (files placed, moved or put aside before a commit): <pid>-<token>.intent.
# A crashed process's notes stay for `flask gallery check`, which needs the database to finish them.
INTENT_SUFFIX = ".intent"
CLOCK_SLACK = 2.0  # seconds: /proc gives a process's start to 10 ms, boot time to the second
COPY_CHUNK = 1024 * 1024


def photos_root(data_dir: str | os.PathLike) -> Path:
    return Path(data_dir) / "photos"


def resolve(root: Path, relative: str) -> Path:
    """The absolute path of `relative` under `root`; ValueError if it would leave the root."""
    candidate = (root / relative).resolve()
    if not candidate.is_relative_to(root.resolve()) or candidate == root.resolve():
        raise ValueError(f"path leaves the photos folder: {relative!r}")
    return candidate


def new_original_path(source: str, extension: str, today: date | None = None) -> str:
    """A fresh server-made name such as uploaded/2026-11-21/9f2c4e1ab07d3c55.jpg."""
    day = (today or date.today()).isoformat()
    return str(PurePosixPath(source) / day / f"{secrets.token_hex(8)}.{extension}")


def rendition_path(original_path: str, size: str, ext: str) -> str:
    """thumbnails/ mirroring the original: uploaded/D/x.png -> thumbnails/uploaded/D/x.grid.jpg."""
    original = PurePosixPath(original_path)
    return str(PurePosixPath("thumbnails") / original.parent / f"{original.stem}.{size}.{ext}")


def _file_mode() -> int:
    """0666 less the process umask (read from /proc, since os.umask() cannot be read without a write)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except OSError:
        pass
    return 0o644


FILE_MODE = _file_mode()


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file on disk, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(COPY_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def stream_to_temp(root: Path, stream: BinaryIO, on_chunk: Callable[[bytes], None]) -> Path:
    """Copy `stream` into a new temp file under root/.tmp, fsynced; returns its path."""
    temp_dir = root / TEMP_DIR
    with disk_errors("store the upload"):
        temp_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=temp_dir, prefix=f"{os.getpid()}-", suffix=TEMP_SUFFIX)
        os.fchmod(fd, FILE_MODE)  # mkstemp makes it 0600; a web server's group must read originals too
    path = Path(name)
    try:
        with disk_errors("store the upload"), os.fdopen(fd, "wb") as out:
            while chunk := stream.read(COPY_CHUNK):
                on_chunk(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def new_temp_path(root: Path, suffix: str = TEMP_SUFFIX) -> Path:
    """A fresh name root/.tmp/<pid>-<token><suffix> (the folder is made; the file is not)."""
    temp_dir = root / TEMP_DIR
    temp_dir.mkdir(parents=True, exist_ok=True)
    return temp_dir / f"{os.getpid()}-{secrets.token_hex(8)}{suffix}"


def temp_path_for(destination: Path) -> Path:
    """A fresh temp name for a file meant for root/.tmp/<name>: root/.tmp/<pid>-<token>.<name>.part.

    Temp files live only in .tmp; a destination anywhere else is a programming error.
    """
    if destination.parent.name != TEMP_DIR:
        raise ValueError(f"temp files live in {TEMP_DIR}/, not beside {destination}")
    return destination.parent / f"{os.getpid()}-{secrets.token_hex(8)}.{destination.name}{TEMP_SUFFIX}"


def move_into_place(temp: Path, destination: Path) -> None:
    """Rename a finished temp file to its final name and make the rename durable."""
    with disk_errors("store the photo"):
        destination.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temp, destination)
        fsync_dir(destination.parent)


def write_atomically(destination: Path, write: Callable[[Path], None], root: Path | None = None) -> None:
    """Call write(temp) then rename temp to destination; on any failure nothing is left.

    The temp file is in root/.tmp (give `root` unless destination itself is in .tmp).
    """
    with disk_errors("write a rendition"):
        destination.parent.mkdir(parents=True, exist_ok=True)
        if root is not None:
            (root / TEMP_DIR).mkdir(parents=True, exist_ok=True)
    temp = temp_path_for(root / TEMP_DIR / destination.name if root is not None else destination)
    try:
        with disk_errors("write a rendition"):
            write(temp)
            with open(temp, "rb+") as fh:
                os.fsync(fh.fileno())
        move_into_place(temp, destination)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_files(paths: list[Path]) -> None:
    """Delete files that may or may not exist; empty day folders are removed too.

    Intents go last: a crash half-way leaves the note that names what is still there.
    """
    for path in sorted(paths, key=lambda p: p.name.endswith(INTENT_SUFFIX)):
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            log.error("could not remove %s: %s", path, exc)
            continue
        if path.parent.name == TEMP_DIR:
            continue  # other processes are writing there
        try:
            path.parent.rmdir()
        except OSError:
            pass  # not empty, or already gone


# --- what a crash leaves behind ----------------------------------------------------------------

def record_intent(root: Path, action: str, path: str, **details) -> Path:
    """Write down, durably, that this process is about to `action` ("place", "move" or "delete") the
    file at `path` (photos/-relative) and its renditions before a commit; returns the note's path.

    The caller removes the note once the commit or its own clean-up is done (remove_files takes it
    last). If the process dies first, `flask gallery check` reads the note and, seeing whether the
    commit happened, finishes or undoes the work.
    """
    note = {"action": action, "path": path, **details}
    with disk_errors("write to the data folder"):
        intent = new_temp_path(root, INTENT_SUFFIX)
        temp = intent.with_suffix(TEMP_SUFFIX)
        try:
            with open(temp, "x") as fh:
                json.dump(note, fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(temp, intent)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        fsync_dir(intent.parent)
    return intent


def read_intent(intent: Path) -> dict | None:
    """The note, or None when it cannot be read (it is then left alone)."""
    try:
        note = json.loads(intent.read_text())
    except (OSError, ValueError) as exc:
        log.error("cannot read %s: %s", intent, exc)
        return None
    return note if isinstance(note, dict) and isinstance(note.get("path"), str) else None


def pid_of(name: str) -> int | None:
    """The writer's process id from a temp name <pid>-<token>..., or None when it has none."""
    head, dash, _ = name.partition("-")
    return int(head) if dash and head.isdigit() and 0 < int(head) < 2**31 else None


def process_start(pid: int) -> tuple[bool, float] | None:
    """(is a zombie, start time as a Unix time) from Linux's /proc; None where that cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        boot = next(line for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime "))
        return fields[0] == "Z", int(boot.split()[1]) + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, StopIteration, IndexError, ValueError):
        return None


def writer_is_alive(pid: int, written_at: float) -> bool:
    """True while process `pid` runs and already ran when the file was last written (so a reused
    id, common in containers after a restart, does not keep a crashed worker's files forever)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: it exists
    started = process_start(pid)
    if started is None:
        return True
    zombie, start_time = started
    return not zombie and start_time <= written_at + CLOCK_SLACK


def temp_entries(root: Path) -> list[tuple[Path, bool]]:
    """(path, written by a live process) of every file in root/.tmp."""
    try:
        entries = [entry for entry in os.scandir(root / TEMP_DIR) if not entry.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return []
    found = []
    for entry in entries:
        pid = pid_of(entry.name)
        try:
            alive = pid is not None and writer_is_alive(pid, entry.stat(follow_symlinks=False).st_mtime)
        except FileNotFoundError:
            continue  # its writer just finished with it
        found.append((Path(entry.path), alive))
    return found


def remove_stale_temp_files(root: Path) -> list[Path]:
    """Delete the temp files under root/.tmp that no live process is writing; their list.

    A file is stale when its name carries no process id, or that process is gone (or started after
    the file was last written). A crashed process's intents, and the files they put aside, are kept
    for `flask gallery check`, which can tell from the database whether to finish or undo them.
    """
    entries = temp_entries(root)
    kept = set()
    for path, alive in entries:
        if path.name.endswith(INTENT_SUFFIX) and not alive:
            note = read_intent(path) or {}
            kept.update(str(name) for name in (note.get("staged") or {}).values())
    removed = []
    for path, alive in entries:
        if alive or path.name.endswith(INTENT_SUFFIX) or path.name in kept:
            continue
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            log.error("could not remove stale temp file %s: %s", path, exc)
            continue
        removed.append(path)
    if removed:
        log.info("removed %d temp files left by processes that are gone", len(removed))
    return removed


class disk_errors:
    """Turn an OSError from the disk into a StorageError that says what failed."""

    def __init__(self, doing: str):
        self.doing = doing

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if isinstance(exc, OSError) and not isinstance(exc, StorageError):
            reason = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up",
                      errno.EACCES: PERMISSION_WORDS, errno.EROFS: "the disk is read-only",
                      errno.EPERM: PERMISSION_WORDS}.get(exc.errno, exc.strerror or str(exc))
            status = 507 if exc.errno in NO_SPACE else 500
            log.error("could not %s: %s", self.doing, exc)
            raise StorageError(f"Could not {self.doing}: {reason}.", status) from exc
        return False


NO_SPACE = (errno.ENOSPC, errno.EDQUOT)  # 507 Insufficient Storage; every other disk error is a 500
PERMISSION_WORDS = "permission denied (the server may not write to its data folder, GALLERY_DATA_DIR)"
