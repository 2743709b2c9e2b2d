"""Photos: ingest an upload, delete, and the grid's queries (which leave out the trash: photos_of)."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from flask import current_app, request
from sqlalchemy import select, tuple_, update
from sqlalchemy.exc import IntegrityError

from ..database import run_unit_of_work
from ..errors import DuplicatePhoto, NotInTrash
from ..extensions import db
from ..models import MAX_ID, SOURCES, Photo, User, count_column, utcnow
from . import cache, processing, storage, thumbnails

log = logging.getLogger(__name__)

def photos_root() -> Path:
    return storage.photos_root(current_app.config["DATA_DIR"])


def original_file(photo: Photo) -> Path:
    return storage.resolve(photos_root(), photo.original_path)


def image_settings() -> processing.ImageSettings:
    config = current_app.config
    return processing.ImageSettings(photos_root(), config["MAX_IMAGE_PIXELS"], thumbnails.sizes(),
                                    config["JPEG_QUALITY"])


def ingest_photo(stream: BinaryIO, filename: str | None, owner_id: int, source: str = "uploaded") -> Photo:
    """Validate, hash, store, make thumbnails and insert one photo of `owner_id`; all or nothing.

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
    with storage.placing(photos_root(), "upload", temps=prepared.temp_files) as place:
        photo = new_photo_row(prepared, source)
        photo.owner_id = owner_id
        place.note("place", photo.original_path)  # a crash from here on is undone by `flask gallery check`
        place.files({**thumbnails.destinations(photo.original_path, prepared.thumbnail_ext, prepared.thumbnails),
                     photo.original_path: prepared.original})
        insert_photo(photo)
    log.info("stored photo %s (%s) from %r", photo.id, photo.original_path, prepared.name)
    return photo


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
        thumbnail_ext=prepared.thumbnail_ext,
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


def delete_photo(photo: Photo, from_trash: bool = False) -> None:
    """Remove the row, the original and its thumbnails together.

    The files are first set aside into .tmp under a note of where they came from; if the commit
    fails they are put back, and if the process dies `flask gallery check` puts them back or
    finishes the delete, as the database says. With `from_trash`, the row goes only while it is
    still in the trash, checked under its lock, taken before any file moves: a restore or a delete
    for good in another tab that came first wins (NotInTrash, and no file of the photo is touched).
    """
    name = photo.original_name  # read now: a rollback expires the object, whose row may be gone

    def refuse_unless_in_trash():
        if from_trash and not lock_if_trashed(photo.id):
            db.session.rollback()
            raise NotInTrash(f"{name} is no longer in the trash: nothing was deleted.")

    def work():
        refuse_unless_in_trash()  # again, should a transient error have rolled the lock back
        db.session.delete(photo)
        db.session.commit()

    relatives = [photo.original_path] + [photo.thumbnail_path(size) for size in thumbnails.SIZES]
    refuse_unless_in_trash()
    with storage.placing(photos_root(), "delete") as place:
        place.set_aside("delete", photo.original_path, relatives, doing="delete the photo")
        run_unit_of_work(work, current_app.config["DB_RETRY_ATTEMPTS"])
    log.info("deleted photo %s (%s)", photo.id, photo.original_path)


def lock_if_trashed(photo_id: int) -> bool:
    """Whether the photo is in the trash, its row locked until the commit (a no-op UPDATE: a row lock on
    PostgreSQL, the write lock on SQLite) so that no restore comes between this and the caller's write."""
    photos = Photo.__table__
    return db.session.execute(update(photos).where(photos.c.id == photo_id, photos.c.trashed_at.is_not(None))
                              .values(trashed_at=photos.c.trashed_at)).rowcount == 1


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
        """Each photo with its page's URL and its grid thumbnail's, written here rather than by
        url_for, with the prefix and the settings tag read once a page: 120 url_for calls were
        nearly half of a cached page's CPU (tests/benchmarks/bench_grid.py). They are the same
        strings: tests/integration/test_grid_queries.py compares them with url_for's."""
        root, tag = request.script_root, thumbnails.current_settings_tag()
        query = f"?source={source}" if source else ""  # a valid_source(): a bare word
        return [GridLink(photo, f"{root}/photos/{photo.id}{query}",
                         f"{root}/thumbnails/{photo.id}/grid?v={thumbnails.url_version(photo.sha256, tag)}")
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
    """SELECT of one owner's library from `source` (None: every source): every query that lists or
    counts photos starts here, so none shows a photo in the trash (services/trash.py lists those)."""
    query = select(Photo).where(Photo.owner_id == owner_id, Photo.trashed_at.is_(None))
    return query.where(Photo.source == source) if source else query


def find_photo(owner_id: int, photo_id: int) -> Photo | None:
    """The photo with this id when `owner_id` owns it, in the trash or not (its page says which and
    offers a restore); None otherwise, whoever else owns it."""
    return db.session.scalar(select(Photo).where(Photo.owner_id == owner_id, Photo.id == photo_id))


def grid_page(owner: User, source: str | None, older_than: str | None = None, newer_than: str | None = None,
              limit: int = 60) -> GridPage:
    """One page of an owner's grid, newest first, by keyset on (sorted_at, id): no OFFSET.

    Cached until the owner's library changes; ValueError for a cursor this module did not make.
    """
    older_than, newer_than = older_than or None, newer_than or None
    key = cache.grid_key(owner, source, older_than, newer_than, limit)
    page = cache.read_through(key, lambda: _grid_rows(owner.id, source, older_than, newer_than, limit))
    return GridPage([GridPhoto(*row) for row in page["photos"]], page["newer"], page["older"],
                    f"{key}:{thumbnails.current_settings_tag()}")


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
    """The photos just newer and just older than `photo` in the grid's order (none for a photo in the
    trash, which is in no order of the library)."""
    if photo.trashed_at is not None:
        return None, None
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
    library = Photo.trashed_at.is_(None)
    counted = [(count_column(source), (Photo.source == source) & library) for source in SOURCES]
    for column, which in counted + [(users.c.trashed_photos, ~library)]:
        rows = select(db.func.count(Photo.id)).where(Photo.owner_id == users.c.id, which).scalar_subquery()
        changed += db.session.execute(update(users).where(column != rows).values(
            {column: rows, users.c.library_version: users.c.library_version + 1})).rowcount  # retires the cache
    db.session.commit()
    if changed:
        log.info("recounted photos: %d counts corrected", changed)
    return changed




def valid_source(source: str | None) -> str | None:
    if source in (None, ""):
        return None
    if source not in SOURCES:
        raise ValueError(source)
    return source
