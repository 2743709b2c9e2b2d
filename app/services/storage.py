"""The data/photos layout: server-made names, and placing files crash-safely (placing()).

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
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from ..errors import StorageError
from ..failpoints import crash_point

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


# --- placing files crash-safely ----------------------------------------------------------------

class Placing:
    """One crash-safe write in progress: what placing() undoes if its block fails.

    Its steps are crash points for tests/integration/test_crash_safety.py: GALLERY_CRASH_AT=
    <label>-<name>-written, <label>-original-written, <label>-files-placed and <label>-committed.
    """

    def __init__(self, root: Path, label: str, temps: Iterable[Path]):
        self.root, self.label = root, label
        self.temps: list[Path] = list(temps)  # temp files of the block: removed if it fails
        self.placed: list[Path] = []  # files moved into place: removed if it fails
        self.moved: list[tuple[Path, Path]] = []  # (from, to): moved back if it fails
        self.aside: list[tuple[Path, Path]] = []  # (path, temp): put back if it fails, removed if not
        self.intent: Path | None = None

    def note(self, action: str, path: str, **details) -> None:
        """Write down what the block is about to do (record_intent) before it touches a final path."""
        self.intent = record_intent(self.root, action, path, **details)

    def stream(self, stream: BinaryIO, on_chunk: Callable[[bytes], None]) -> Path:
        """Copy `stream` into a new temp file of the block (stream_to_temp); its path."""
        temp = stream_to_temp(self.root, stream, on_chunk)
        self.temps.append(temp)
        crash_point(f"{self.label}-original-written")
        return temp

    def temp(self, name: str) -> Path:
        """A fresh temp name of the block in .tmp, <pid>-<token>.<name>.part; the file is not made."""
        with disk_errors("write to the data folder"):
            (self.root / TEMP_DIR).mkdir(parents=True, exist_ok=True)
        temp = temp_path_for(self.root / TEMP_DIR / name)
        self.temps.append(temp)
        return temp

    def write(self, name: str, write: Callable[[Path], None], doing: str = "write a thumbnail") -> Path:
        """write(temp) into a fresh temp file of the block, made durable; its path."""
        temp = self.temp(name)
        with disk_errors(doing):
            write(temp)
            with open(temp, "rb+") as fh:
                os.fsync(fh.fileno())
        crash_point(f"{self.label}-{name.partition('.')[0]}-written")
        return temp

    def files(self, destinations: dict[str, Path]) -> None:
        """Move each finished temp file to its photos/-relative path, durably (over a file there)."""
        for relative, temp in destinations.items():
            destination = resolve(self.root, relative)
            move_into_place(temp, destination)
            self.placed.append(destination)
        crash_point(f"{self.label}-files-placed")

    def move(self, source: Path, target: Path) -> None:
        """Move a placed file to another place, durably; moved back if the block fails."""
        move_into_place(source, target)
        self.moved.append((source, target))

    def set_aside(self, action: str, path: str, relatives: list[str], doing: str) -> None:
        """Move the files at `relatives` (those there) into .tmp under a note naming where each came
        from: put back if the block fails, removed when it succeeds (a delete that can be undone)."""
        with disk_errors(doing):
            staged = {relative: new_temp_path(self.root) for relative in relatives}
        self.note(action, path, staged={relative: temp.name for relative, temp in staged.items()})
        with disk_errors(doing):
            for relative, temp in staged.items():
                source = resolve(self.root, relative)
                if source.exists():
                    os.replace(source, temp)
                    self.aside.append((source, temp))

    def undo(self) -> None:
        """Put everything back as it was; the note stays (for `flask gallery check`) if that fails."""
        settled = True
        for source, target in [*reversed(self.moved), *((path, temp) for path, temp in self.aside)]:
            try:
                move_into_place(target, source)
            except StorageError as exc:
                log.error("could not put %s back to %s: %s", target, source, exc)
                settled = False
        remove_files(self.placed + self.temps + ([self.intent] if self.intent and settled else []))

    def finish(self) -> None:
        """The block succeeded: drop what was set aside (and its emptied folders), then the note."""
        if self.intent is not None:
            crash_point(f"{self.label}-committed")
        remove_files([temp for _, temp in self.aside] + [path for path, _ in self.aside]
                     + ([self.intent] if self.intent else []))


@contextmanager
def placing(root: Path, label: str, action: str | None = None, path: str | None = None,
            temps: Iterable[Path] = (), **details) -> Iterator[Placing]:
    """Place files under `root` all or nothing, with the database commit inside the block:

        with storage.placing(root, "upload", "place", relative, temps=[...]) as place:
            place.files({relative: temp, ...})
            commit()

    With an `action`, a note of it is written first (Placing.note; or call note() in the block once
    the path is known), so that `flask gallery check` can finish or undo what a crash interrupts.
    If the block raises, the files it placed and its temp files (`temps` too) are removed, and what
    it moved or set aside is put back; if it returns, what it set aside and the note are removed,
    and temp files it did not place stay for the caller (a worker hands them to the writer).
    """
    place = Placing(root, label, temps)
    try:
        if action is not None:
            place.note(action, path, **details)
        yield place
    except BaseException:
        place.undo()
        raise
    place.finish()


# --- what a crash leaves behind ----------------------------------------------------------------

def record_intent(root: Path, action: str, path: str, **details) -> Path:
    """Write down, durably, that this process is about to `action` ("place", "move" or "delete") the
    file at `path` (photos/-relative) and its thumbnails before a commit; returns the note's path.

    placing() removes the note once the commit or its own clean-up is done (remove_files takes it
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
