"""Zip downloads, written as they are sent: a generator of the archive's bytes from a list of entries
(a name to show and a callable that opens the bytes), so a selection, an album or a share link's
stripped files leave as one file without the archive ever being held in memory or on disk.

Python's own zipfile writes it: to a stream that cannot seek it puts each member's CRC and sizes in a
data descriptor after the bytes, and it adds ZIP64 fields to a member past 4 GB and to an archive past
4 GB or 65535 members. Members are stored, not deflated: photos are compressed already, and deflating
would cost the CPU the throughput needs. No third-party writer is needed for that.

What a stored member costs is reading its bytes, their CRC-32 and sending them. zipfile takes the CRC
from its module's `crc32`, zlib's, whose table code runs at a few GB/s; zlib-ng's, with the CPU's
carry-less multiply, computes the same value several times faster, so zipfile is given that one
(tests/benchmarks/README.md has the figures). It changes nothing else zipfile does, reading included.
"""
from __future__ import annotations

import io
import logging
import os
import re
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath
from typing import BinaryIO

from zlib_ng import zlib_ng

from . import labels, names
from . import photos as photo_service

log = logging.getLogger(__name__)

CHUNK = 256 << 10  # bytes read and sent at a time (larger ones measured slower: tests/benchmarks/README.md)
MISSING_LIST = "MISSING.txt"  # the text file in the archive naming the files that were gone
EARLIEST = (1980, 1, 1, 0, 0, 0)  # a zip's dates start in 1980

zipfile.crc32 = zlib_ng.crc32  # the same CRC-32, computed faster (see the module's docstring)


@dataclass(frozen=True)
class ZipEntry:
    name: str  # as shown: made safe and unique by zip_stream
    open: Callable[[], BinaryIO]  # FileNotFoundError when the file is gone: the entry is skipped and listed
    modified: datetime | None = None


class _Outbox(io.RawIOBase):
    """The stream zipfile writes to: it keeps what was written until the generator takes it. It cannot
    seek, so zipfile writes data descriptors instead of going back to fill in each header."""

    def __init__(self):
        super().__init__()
        self.parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.parts.append(data if isinstance(data, bytes) else bytes(data))  # a chunk read is not copied
        return len(data)

    def take(self) -> bytes:
        data = self.parts[0] if len(self.parts) == 1 else b"".join(self.parts)
        self.parts = []
        return data


def unique_names() -> Callable[[str], str]:
    """A function that returns each name it is given made unique among those it returned before, without
    regard to case (Windows and macOS unpack "a.jpg" and "A.JPG" to one file): "a.jpg", "a (2).jpg"."""
    taken: set[str] = set()

    def unique(name: str) -> str:
        stem, dot, ext = name.rpartition(".")
        if not dot or not stem:
            stem, dot, ext = name, "", ""
        candidate, n = name, 1
        while candidate.casefold() in taken:
            n += 1
            candidate = f"{stem} ({n}){dot}{ext}"
        taken.add(candidate.casefold())
        return candidate
    return unique


def safe_member_name(name: str) -> str:
    """A name with no path in it, no leading dot (no dotfile), no control or format characters."""
    cleaned = "".join(ch for ch in re.split(r"[/\\]", name)[-1] if ch.isprintable())
    return cleaned.strip().lstrip(". ") or "file"


def zip_stream(entries: Iterable[ZipEntry]) -> Iterator[bytes]:
    """The bytes of a zip of `entries`, as they are written. An entry whose file is gone is left out and
    named in MISSING.txt at the end of the archive.

    Each file is opened once the one before it has sent its first chunk, and the kernel is asked to read
    it ahead (POSIX_FADV_WILLNEED): a file not in the page cache comes off the disk while the one before
    it is sent, rather than each read waiting for the disk in turn."""
    outbox, unique, missing = _Outbox(), unique_names(), []
    entries = iter(entries)
    upcoming = None
    try:
        with zipfile.ZipFile(outbox, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
            upcoming = _open_next(entries, missing)
            while upcoming is not None:
                (name, modified, source), upcoming = upcoming, None
                next_opened = False
                with source:
                    for chunk in _write_member(archive, outbox, unique(name), source, modified):
                        yield chunk
                        if not next_opened:
                            upcoming, next_opened = _open_next(entries, missing), True
                if not next_opened:  # an empty file sends no chunk of its own
                    upcoming = _open_next(entries, missing)
            if missing:
                listing = "These files were gone when the zip was made, so it does not hold them:\n\n"
                archive.writestr(_member(unique(MISSING_LIST), None, 0), listing + "\n".join(missing) + "\n")
                log.warning("zip made without %d vanished files", len(missing))
        yield outbox.take()
    finally:
        if upcoming:  # the download ended early (the client left): the file opened ahead is closed
            upcoming[2].close()


def _open_next(entries: Iterator[ZipEntry], missing: list[str]) -> tuple[str, datetime | None, BinaryIO] | None:
    """(safe name, date, open file) of the next entry whose file is there, read ahead; None at the end.
    The names of those gone go to `missing`."""
    for entry in entries:
        name = safe_member_name(entry.name)
        try:
            source = entry.open()
        except FileNotFoundError:
            missing.append(name)
            continue
        try:
            os.posix_fadvise(source.fileno(), 0, 0, os.POSIX_FADV_WILLNEED)
        except (AttributeError, OSError, io.UnsupportedOperation):
            pass  # no file number (a labelled original's head is in memory) or no fadvise: read as it comes
        return name, entry.modified, source
    return None


def _write_member(archive: zipfile.ZipFile, outbox: _Outbox, name: str, source: BinaryIO,
                  modified: datetime | None) -> Iterator[bytes]:
    size = _size_of(source)
    with archive.open(_member(name, modified, size), "w", force_zip64=size is None) as member:
        while chunk := source.read(CHUNK):
            member.write(chunk)
            yield outbox.take()


def _size_of(source: BinaryIO) -> int | None:
    """The file's size, which decides whether its member needs ZIP64 fields; None when unknown."""
    if isinstance(getattr(source, "size", None), int):  # a labelled original (labels.SizedReader)
        return source.size
    try:
        return os.fstat(source.fileno()).st_size
    except (AttributeError, OSError, io.UnsupportedOperation):
        return None


def _member(name: str, modified: datetime | None, size: int | None) -> zipfile.ZipInfo:
    when = modified.timetuple()[:6] if modified else time.localtime()[:6]
    info = zipfile.ZipInfo(name, date_time=max(when, EARLIEST))
    info.compress_type = zipfile.ZIP_STORED
    info.file_size = size or 0
    info.external_attr = 0o644 << 16  # unpacked as an ordinary readable file
    return info


def photo_entries(photos: Iterable) -> list[ZipEntry]:
    """Entries for rows of original_path, original_name, taken_at and labels.with_label_columns' columns:
    the original files, named as their downloads are, a generated photo's with its IPTC label (as its
    own download carries it), every other byte for byte."""
    def opener(path, image_format, source_type):
        return lambda: labels.open_labelled(path, image_format, source_type)
    # The paths are resolved now, in the request: the files are read later, as the response is sent.
    return [ZipEntry(names.download_name(photo.original_name, PurePosixPath(photo.original_path).suffix[1:]),
                     opener(photo_service.original_file(photo), photo.format, labels.source_type_of_row(photo)),
                     photo.taken_at) for photo in photos]


def archive_name(title: str) -> str:
    """The zip's own file name from a title (an album's name): safe, never empty, ending in .zip."""
    stem = re.sub(r'[/\\:*?"<>|]', lambda m: "-" if m.group() in "/\\" else "_", title or "")
    return f"{safe_member_name(names.display_name(stem))}.zip"
