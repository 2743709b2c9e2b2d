"""Photos: ingest an upload, delete, and the grid's queries."""
from __future__ import annotations

import hashlib
import logging
import os
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from flask import current_app
from sqlalchemy import select, tuple_
from sqlalchemy.exc import IntegrityError

from ..database import run_unit_of_work
from ..errors import DuplicatePhoto, RejectedFile
from ..extensions import cache, db
from ..models import MAX_ID, RENDITION_SIZES, SOURCES, Photo, utcnow
from . import imaging, metadata, storage

log = logging.getLogger(__name__)

MAX_NAME_LENGTH = 255


def photos_root() -> Path:
    return storage.photos_root(current_app.config["DATA_DIR"])


def original_file(photo: Photo) -> Path:
    return storage.resolve(photos_root(), photo.original_path)


def rendition_sizes() -> dict[str, int]:
    config = current_app.config
    return {"preview": config["PREVIEW_SIZE"], "grid": config["GRID_SIZE"]}


def check_file_name(name: str | None) -> str:
    """The client's file name, accepted as display text only when it is plainly a name."""
    if not name or not name.strip():
        raise RejectedFile("the file has no name")
    if len(name) > MAX_NAME_LENGTH:
        raise RejectedFile(f"the file name is longer than {MAX_NAME_LENGTH} characters")
    if any(not ch.isprintable() for ch in name):
        raise RejectedFile("the file name contains control characters")
    if "/" in name or "\\" in name or name.strip() in (".", ".."):
        raise RejectedFile("the file name contains a path")
    return name.strip()


def ingest_photo(stream: BinaryIO, filename: str | None, owner_id: int, source: str = "uploaded") -> Photo:
    """Validate, hash, store, make renditions and insert one photo of `owner_id`; all or nothing.

    Raises RejectedFile, DuplicatePhoto or StorageError; whatever it wrote is removed first.
    """
    name = check_file_name(filename)
    root = photos_root()
    hasher = hashlib.sha256()
    temp = storage.stream_to_temp(root, stream, hasher.update)
    written: list[Path] = [temp]
    try:
        if temp.stat().st_size == 0:
            raise RejectedFile("the file is empty")
        digest = hasher.hexdigest()
        raise_if_duplicate(owner_id, digest)
        decoded = imaging.decode(temp, current_app.config["MAX_IMAGE_PIXELS"], rendition_sizes())
        photo = new_photo_row(decoded, digest, name, source, temp.stat().st_size)
        photo.owner_id = owner_id
        write_renditions(root, photo.original_path, decoded, written)
        original = storage.resolve(root, photo.original_path)
        storage.move_into_place(temp, original)
        written.append(original)
        insert_photo(photo)
    except BaseException:
        storage.remove_files(written)
        raise
    log.info("stored photo %s (%s) from %r", photo.id, photo.original_path, name)
    return photo


def write_renditions(root: Path, original_path: str, decoded: imaging.DecodedImage, written: list[Path]) -> None:
    """Write each rendition of `original_path` to its mirrored path; `written` collects them for clean-up."""
    quality = current_app.config["JPEG_QUALITY"]
    for size, image in decoded.renditions.items():
        destination = storage.resolve(root, storage.rendition_path(original_path, size, decoded.rendition_ext))
        written.append(destination)
        storage.write_atomically(destination, lambda temp, image=image: imaging.save_rendition(
            image, temp, decoded.rendition_ext, quality, decoded.icc_profile))


def raise_if_duplicate(owner_id: int, digest: str) -> None:
    """DuplicatePhoto when this owner already has these bytes (another owner's copy is theirs)."""
    existing = db.session.scalar(select(Photo.id).where(Photo.owner_id == owner_id, Photo.sha256 == digest))
    if existing is not None:
        raise DuplicatePhoto(existing)


def new_photo_row(decoded: imaging.DecodedImage, digest: str, name: str, source: str, size: int) -> Photo:
    columns = metadata.photo_columns(decoded.exif, decoded.text)
    uploaded_at = utcnow()
    return Photo(
        source=source,
        original_path=storage.new_original_path(source, decoded.extension, uploaded_at.date()),
        rendition_ext=decoded.rendition_ext,
        original_name=name,
        sha256=digest,
        format=decoded.format,
        mime_type=decoded.mime_type,
        file_size=size,
        width=decoded.width,
        height=decoded.height,
        uploaded_at=uploaded_at,
        sorted_at=columns.get("taken_at") or uploaded_at,
        **columns,
    )


def insert_photo(photo: Photo) -> None:
    def work():
        db.session.add(photo)
        db.session.commit()

    try:
        run_unit_of_work(work, current_app.config["DB_RETRY_ATTEMPTS"])
    except IntegrityError:
        db.session.rollback()
        raise_if_duplicate(photo.owner_id, photo.sha256)  # the same bytes arrived in another request
        raise
    clear_gallery_cache()


def delete_photo(photo: Photo) -> None:
    """Remove the row, the original and its renditions together.

    The files are first moved aside; if the commit fails they are put back.
    """
    root = photos_root()
    paths = [storage.resolve(root, photo.original_path)]
    paths += [storage.resolve(root, photo.rendition_path(size)) for size in RENDITION_SIZES]
    aside = root / storage.TEMP_DIR
    aside.mkdir(parents=True, exist_ok=True)
    moved: list[tuple[Path, Path]] = []
    with storage.disk_errors("delete the photo"):
        for path in paths:
            if path.exists():
                staged = aside / f"deleting-{secrets.token_hex(8)}{storage.TEMP_SUFFIX}"
                os.replace(path, staged)
                moved.append((path, staged))

    def work():
        db.session.delete(photo)
        db.session.commit()

    try:
        run_unit_of_work(work, current_app.config["DB_RETRY_ATTEMPTS"])
    except BaseException:
        for path, staged in moved:
            os.replace(staged, path)
        raise
    storage.remove_files([staged for _, staged in moved] + [path for path, _ in moved])
    clear_gallery_cache()
    log.info("deleted photo %s (%s)", photo.id, photo.original_path)


# --- reads -------------------------------------------------------------------------------

@dataclass
class GridPage:
    photos: list[Photo]
    newer: str | None  # cursor of the page before this one, or None on the first
    older: str | None  # cursor of the page after this one, or None on the last


def encode_cursor(photo: Photo) -> str:
    return f"{photo.sorted_at:%Y%m%dT%H%M%S%f}.{photo.id}"


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """ValueError for anything this module did not make."""
    stamp, _, number = cursor.partition(".")
    sorted_at, photo_id = datetime.strptime(stamp, "%Y%m%dT%H%M%S%f"), int(number)
    if not 0 < photo_id <= MAX_ID:
        raise ValueError(f"photo id out of range: {photo_id}")
    return sorted_at, photo_id


def photos_of(owner_id: int, source: str | None):
    """SELECT of one owner's photos from `source` (None: every source)."""
    query = select(Photo).where(Photo.owner_id == owner_id)
    return query.where(Photo.source == source) if source else query


def find_photo(owner_id: int, photo_id: int) -> Photo | None:
    """The photo with this id when `owner_id` owns it; None otherwise, whoever else owns it."""
    return db.session.scalar(photos_of(owner_id, None).where(Photo.id == photo_id))


def grid_page(owner_id: int, source: str | None, older_than: str | None = None, newer_than: str | None = None,
              limit: int = 60) -> GridPage:
    """One page of an owner's grid, newest first, by keyset on (sorted_at, id): no OFFSET."""
    key = tuple_(Photo.sorted_at, Photo.id)
    query = photos_of(owner_id, source)
    if newer_than:
        query = query.where(key > tuple_(*decode_cursor(newer_than)))
        query = query.order_by(Photo.sorted_at.asc(), Photo.id.asc())
    else:
        if older_than:
            query = query.where(key < tuple_(*decode_cursor(older_than)))
        query = query.order_by(Photo.sorted_at.desc(), Photo.id.desc())
    rows = list(db.session.scalars(query.limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    if newer_than:
        rows.reverse()
        has_newer, has_older = more, True
    else:
        has_newer, has_older = older_than is not None, more
    return GridPage(
        photos=rows,
        newer=encode_cursor(rows[0]) if rows and has_newer else None,
        older=encode_cursor(rows[-1]) if rows and has_older else None,
    )


def neighbours(photo: Photo, source: str | None) -> tuple[Photo | None, Photo | None]:
    """The photos just newer and just older than `photo` in the grid's order."""
    key = tuple_(Photo.sorted_at, Photo.id)
    here = tuple_(photo.sorted_at, photo.id)
    base = photos_of(photo.owner_id, source)
    newer = db.session.scalar(base.where(key > here).order_by(Photo.sorted_at.asc(), Photo.id.asc()).limit(1))
    older = db.session.scalar(base.where(key < here).order_by(Photo.sorted_at.desc(), Photo.id.desc()).limit(1))
    return newer, older


@cache.memoize()
def count_photos(owner_id: int, source: str | None) -> int:
    return db.session.scalar(photos_of(owner_id, source).with_only_columns(db.func.count(Photo.id)))


def clear_gallery_cache() -> None:
    """Called by every write path, so cached reads never show a stale gallery."""
    cache.delete_memoized(count_photos)


def ensure_rendition(photo: Photo, size: str) -> Path:
    """The rendition's path, re-made from the original when it is missing."""
    root = photos_root()
    path = storage.resolve(root, photo.rendition_path(size))
    if path.exists():
        return path
    original = storage.resolve(root, photo.original_path)
    if not original.exists():
        raise FileNotFoundError(f"original of photo {photo.id} is missing: {original}")
    decoded = imaging.decode(original, current_app.config["MAX_IMAGE_PIXELS"], rendition_sizes())
    write_renditions(root, photo.original_path, decoded, [])
    log.info("re-made missing renditions of photo %s", photo.id)
    return path


def valid_source(source: str | None) -> str | None:
    if source in (None, ""):
        return None
    if source not in SOURCES:
        raise ValueError(source)
    return source
