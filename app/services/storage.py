"""The data/photos layout: server-made names, temp-then-rename writes, deletes.

Every path handed to or returned from here is relative to the photos root and
written with forward slashes; `resolve` refuses any that would leave the root.
"""
from __future__ import annotations

import errno
import logging
import os
import secrets
import tempfile
from datetime import date
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Callable

from ..errors import StorageError

log = logging.getLogger(__name__)

TEMP_DIR = ".tmp"
TEMP_SUFFIX = ".part"
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


def stream_to_temp(root: Path, stream: BinaryIO, on_chunk: Callable[[bytes], None]) -> Path:
    """Copy `stream` into a new temp file under root/.tmp, fsynced; returns its path."""
    temp_dir = root / TEMP_DIR
    with disk_errors("store the upload"):
        temp_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=temp_dir, suffix=TEMP_SUFFIX)
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


def temp_path_for(destination: Path) -> Path:
    """A temp name beside `destination`, so the final rename stays on one file system."""
    return destination.with_name(f".{destination.name}.{secrets.token_hex(4)}{TEMP_SUFFIX}")


def move_into_place(temp: Path, destination: Path) -> None:
    """Rename a finished temp file to its final name and make the rename durable."""
    with disk_errors("store the photo"):
        destination.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temp, destination)
        fsync_dir(destination.parent)


def write_atomically(destination: Path, write: Callable[[Path], None]) -> None:
    """Call write(temp) then rename temp to destination; on any failure nothing is left."""
    with disk_errors("write a rendition"):
        destination.parent.mkdir(parents=True, exist_ok=True)
    temp = temp_path_for(destination)
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
    """Delete files that may or may not exist; empty day folders are removed too."""
    for path in paths:
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            log.error("could not remove %s: %s", path, exc)
            continue
        try:
            path.parent.rmdir()
        except OSError:
            pass  # not empty, or already gone


class disk_errors:
    """Turn an OSError from the disk into a StorageError that says what failed."""

    def __init__(self, doing: str):
        self.doing = doing

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if isinstance(exc, OSError) and not isinstance(exc, StorageError):
            reason = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up",
                      errno.EACCES: "permission denied", errno.EROFS: "the disk is read-only",
                      errno.EPERM: "permission denied"}.get(exc.errno, exc.strerror or str(exc))
            log.error("could not %s: %s", self.doing, exc)
            raise StorageError(f"Could not {self.doing}: {reason}.") from exc
        return False
