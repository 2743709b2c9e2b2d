"""Photos: ingest an upload, delete, and the grid's queries."""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from flask import current_app, request
from sqlalchemy import select, tuple_, update
from sqlalchemy.exc import IntegrityError
from werkzeug.security import safe_join

from ..database import run_unit_of_work
from ..errors import DuplicatePhoto
from ..extensions import db
from ..failpoints import crash_point
from ..models import (MAX_ID, RENDITION_SIZES, SOURCES, Photo, User, count_column, rendition_settings_tag,
                      rendition_version, utcnow)
from . import cache, imaging, processing, storage

log = logging.getLogger(__name__)

def photos_root() -> Path:
    return storage.photos_root(current_app.config["DATA_DIR"])


def original_file(photo: Photo) -> Path:
    return storage.resolve(photos_root(), photo.original_path)


def rendition_sizes() -> dict[str, int]:
    config = current_app.config
    return {"preview": config["PREVIEW_SIZE"], "grid": config["GRID_SIZE"]}


def image_settings() -> processing.ImageSettings:
    config = current_app.config
    return processing.ImageSettings(photos_root(), config["MAX_IMAGE_PIXELS"], rendition_sizes(), config["JPEG_QUALITY"])


def ingest_photo(stream: BinaryIO, filename: str | None, owner_id: int, source: str = "uploaded") -> Photo:
    """Validate, hash, store, make renditions and insert one photo of `owner_id`; all or nothing.

    Raises RejectedFile, DuplicatePhoto or StorageError; whatever it wrote is removed first.
    """
    prepared = processing.prepare_photo(stream, filename, image_settings(),
                             lambda digest: raise_if_duplicate(owner_id, digest))
    return store_prepared(prepared, owner_id, source)


def store_prepared(prepared: processing.PreparedPhoto, owner_id: int, source: str = "uploaded") -> Photo:
    """The writer's half of an ingest: move the files into place and insert the row; all or nothing.

    Raises DuplicatePhoto (the owner has these bytes by now) or StorageError; the temp files are
    gone either way.
    """
    root = photos_root()
    written = prepared.temp_files
    try:
        photo = new_photo_row(prepared, source)
        photo.owner_id = owner_id
        intent = storage.record_intent(root, "place", photo.original_path)  # a crash from here on: check undoes it
        written.append(intent)
        place_renditions(root, photo.original_path, prepared.rendition_ext, prepared.renditions, written)
        original = storage.resolve(root, photo.original_path)
        storage.move_into_place(prepared.original, original)
        written.append(original)
        crash_point("upload-files-placed")
        insert_photo(photo)
        crash_point("upload-committed")
    except BaseException:
        storage.remove_files(written)
        raise
    storage.remove_files([intent])
    log.info("stored photo %s (%s) from %r", photo.id, photo.original_path, prepared.name)
    return photo


def write_renditions(root: Path, original_path: str, decoded: imaging.DecodedImage, written: list[Path]) -> None:
    """Write each rendition of `original_path` to its mirrored path; `written` collects them for clean-up."""
    temps = processing.save_renditions_to_temp(root, decoded, current_app.config["JPEG_QUALITY"], written)
    place_renditions(root, original_path, decoded.rendition_ext, temps, written)


def place_renditions(root: Path, original_path: str, rendition_ext: str, temps: dict[str, Path],
                     written: list[Path]) -> None:
    """Move rendition temp files to the paths mirroring `original_path`; `written` collects them."""
    for size, temp in temps.items():
        destination = storage.resolve(root, storage.rendition_path(original_path, size, rendition_ext))
        storage.move_into_place(temp, destination)
        written.append(destination)


def raise_if_duplicate(owner_id: int, digest: str) -> None:
    """DuplicatePhoto when this owner already has these bytes (another owner's copy is theirs)."""
    existing = db.session.scalar(select(Photo.id).where(Photo.owner_id == owner_id, Photo.sha256 == digest))
    if existing is not None:
        raise DuplicatePhoto(existing)


def new_photo_row(prepared: processing.PreparedPhoto, source: str) -> Photo:
    columns = prepared.columns
    uploaded_at = utcnow()
    return Photo(
        source=source,
        original_path=storage.new_original_path(source, prepared.extension, uploaded_at.date()),
        rendition_ext=prepared.rendition_ext,
        original_name=prepared.name,
        sha256=prepared.digest,
        format=prepared.format,
        mime_type=prepared.mime_type,
        file_size=prepared.file_size,
        width=prepared.width,
        height=prepared.height,
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


def delete_photo(photo: Photo) -> None:
    """Remove the row, the original and its renditions together.

    The files are first moved aside into .tmp under a note of where they came from; if the commit
    fails they are put back, and if the process dies `flask gallery check` puts them back or
    finishes the delete, as the database says.
    """
    root = photos_root()
    relatives = [photo.original_path] + [photo.rendition_path(size) for size in RENDITION_SIZES]
    with storage.disk_errors("delete the photo"):
        aside = {relative: storage.new_temp_path(root) for relative in relatives}
    intent = storage.record_intent(root, "delete", photo.original_path,
                                   staged={relative: staged.name for relative, staged in aside.items()})
    moved: list[tuple[Path, Path]] = []

    def work():
        db.session.delete(photo)
        db.session.commit()

    try:
        with storage.disk_errors("delete the photo"):
            for relative, staged in aside.items():
                path = storage.resolve(root, relative)
                if path.exists():
                    os.replace(path, staged)
                    moved.append((path, staged))
        run_unit_of_work(work, current_app.config["DB_RETRY_ATTEMPTS"])
    except BaseException:
        for path, staged in moved:
            os.replace(staged, path)
        storage.remove_files([intent])
        raise
    storage.remove_files([staged for _, staged in moved] + [path for path, _ in moved] + [intent])
    log.info("deleted photo %s (%s)", photo.id, photo.original_path)


# --- reads -------------------------------------------------------------------------------

@dataclass(frozen=True)
class GridPhoto:
    """What the grid shows of one photo: plain values, cheap to cache and to share between workers."""

    id: int
    original_name: str
    sha256: str


@dataclass
class GridLink:
    photo: GridPhoto
    detail_url: str
    grid_url: str


@dataclass
class GridPage:
    photos: list[GridPhoto]
    newer: str | None  # cursor of the page before this one, or None on the first
    older: str | None  # cursor of the page after this one, or None on the last
    # Names what the page shows (owner and library version, filter, cursors, thumbnail settings): the
    # grid template caches its HTML under it, and a write to the owner's library changes it.
    cache_key: str = ""

    def links(self, source: str | None) -> list[GridLink]:
        """Each photo with its page's URL and its grid rendition's, written here rather than by
        url_for, with the prefix and the settings tag read once a page: 120 url_for calls were
        nearly half of a cached page's CPU (tests/benchmarks/bench_grid.py). They are the same
        strings: tests/integration/test_grid_queries.py compares them with url_for's."""
        root, tag = request.script_root, rendition_settings_tag()
        query = f"?source={source}" if source else ""  # a valid_source(): a bare word
        return [GridLink(photo, f"{root}/photos/{photo.id}{query}",
                         f"{root}/thumbnails/{photo.id}/grid?v={rendition_version(photo.sha256, tag)}")
                for photo in self.photos]


def encode_cursor(photo) -> str:
    """The keyset position of a Photo or of a row with its sorted_at and id."""
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


def grid_page(owner: User, source: str | None, older_than: str | None = None, newer_than: str | None = None,
              limit: int = 60) -> GridPage:
    """One page of an owner's grid, newest first, by keyset on (sorted_at, id): no OFFSET.

    Cached until the owner's library changes; ValueError for a cursor this module did not make.
    """
    older_than, newer_than = older_than or None, newer_than or None
    key = cache.grid_key(owner, source, older_than, newer_than, limit)
    page = cache.read_through(key, lambda: _grid_rows(owner.id, source, older_than, newer_than, limit))
    return GridPage([GridPhoto(*row) for row in page["photos"]], page["newer"], page["older"],
                    f"{key}:{rendition_settings_tag()}")


def _grid_rows(owner_id: int, source: str | None, older_than: str | None, newer_than: str | None,
               limit: int) -> dict:
    """The page as plain values (no ORM objects in the cache): (id, name, sha256) rows and the cursors."""
    key = tuple_(Photo.sorted_at, Photo.id)
    query = photos_of(owner_id, source).with_only_columns(Photo.id, Photo.original_name, Photo.sha256,
                                                          Photo.sorted_at)
    if newer_than:
        query = query.where(key > tuple_(*decode_cursor(newer_than)))
        query = query.order_by(Photo.sorted_at.asc(), Photo.id.asc())
    else:
        if older_than:
            query = query.where(key < tuple_(*decode_cursor(older_than)))
        query = query.order_by(Photo.sorted_at.desc(), Photo.id.desc())
    rows = list(db.session.execute(query.limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    if newer_than:
        rows.reverse()
        has_newer, has_older = more, True
    else:
        has_newer, has_older = older_than is not None, more
    return {
        "photos": [(row.id, row.original_name, row.sha256) for row in rows],
        "newer": encode_cursor(rows[0]) if rows and has_newer else None,
        "older": encode_cursor(rows[-1]) if rows and has_older else None,
    }


def neighbours(photo: Photo, source: str | None) -> tuple[Photo | None, Photo | None]:
    """The photos just newer and just older than `photo` in the grid's order."""
    key = tuple_(Photo.sorted_at, Photo.id)
    here = tuple_(photo.sorted_at, photo.id)
    base = photos_of(photo.owner_id, source)
    newer = db.session.scalar(base.where(key > here).order_by(Photo.sorted_at.asc(), Photo.id.asc()).limit(1))
    older = db.session.scalar(base.where(key < here).order_by(Photo.sorted_at.desc(), Photo.id.desc()).limit(1))
    return newer, older


def recount_photos() -> int:
    """Set every user's photo counts from the rows (after a bulk change that bypassed the ORM, or
    when `flask gallery check` finds them off); returns how many users' counts changed."""
    users = User.__table__
    changed = 0
    for source in SOURCES:
        column = count_column(source)
        rows = (select(db.func.count(Photo.id)).where(Photo.owner_id == users.c.id, Photo.source == source)
                .scalar_subquery())
        changed += db.session.execute(update(users).where(column != rows).values(
            {column: rows, users.c.library_version: users.c.library_version + 1})).rowcount  # retires the cache
    db.session.commit()
    if changed:
        log.info("recounted photos: %d counts corrected", changed)
    return changed


@dataclass
class RenditionFile:
    path: str  # absolute
    relative_path: str  # under photos/
    rendition_ext: str


def find_rendition(owner: User, photo_id: int, size: str) -> RenditionFile | None:
    """Where the owner's photo keeps its `size` rendition; None when the owner has no such photo.

    The hot path of every grid (60 requests a page): the row's two columns are kept in the cache,
    and the path is joined by safe_join (string checks, no resolve() syscalls). A kept entry can
    only name this photo's own files (the key has the owner; a path is never reused), and the
    caller sends the file, falling back to ensure_rendition when it is not there: a photo deleted
    or re-made since is a missing file, never another photo's.
    """
    row = cache.read_through(cache.thumbnail_key(owner, photo_id), lambda: _rendition_columns(owner.id, photo_id))
    if row is None:
        return None
    original_path, rendition_ext = row
    relative = storage.rendition_path(original_path, size, rendition_ext)
    path = safe_join(str(photos_root()), relative)
    if path is None:
        raise ValueError(f"path leaves the photos folder: {relative!r}")
    return RenditionFile(path, relative, rendition_ext)


def _rendition_columns(owner_id: int, photo_id: int) -> tuple[str, str] | None:
    row = db.session.connection().execute(select(Photo.original_path, Photo.rendition_ext).where(
        Photo.owner_id == owner_id, Photo.id == photo_id)).first()
    return (row.original_path, row.rendition_ext) if row else None


def ensure_rendition(photo: Photo, size: str) -> Path:
    """The rendition's path, re-made from the original when it is missing."""
    path = storage.resolve(photos_root(), photo.rendition_path(size))
    if path.exists():
        return path
    replace_renditions(photo, *processing.render_original(photo.original_path, image_settings()))
    log.info("re-made missing renditions of photo %s", photo.id)
    return storage.resolve(photos_root(), photo.rendition_path(size))


def replace_renditions(photo: Photo, rendition_ext: str, temps: dict[str, Path]) -> None:
    """The writer's half of a re-make: move the new renditions over the old ones."""
    root = photos_root()
    try:
        place_renditions(root, photo.original_path, rendition_ext, temps, [])
    except BaseException:
        storage.remove_files(list(temps.values()))
        raise
    if rendition_ext != photo.rendition_ext:  # the decoder now judges the alpha otherwise
        old = [storage.resolve(root, photo.rendition_path(size)) for size in temps]
        photo.rendition_ext = rendition_ext
        cache.clear_library(photo.owner_id)
        db.session.commit()
        storage.remove_files(old)


def valid_source(source: str | None) -> str | None:
    if source in (None, ""):
        return None
    if source not in SOURCES:
        raise ValueError(source)
    return source
