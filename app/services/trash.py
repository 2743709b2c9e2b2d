"""The trash: a deleted photo leaves the library for GALLERY_TRASH_DAYS, restorable, then goes for good.

Moving to the trash and back only sets photos.trashed_at: the files stay where they are, so check
and backup see rows and files as before. The library's queries leave the trash out in one place
(photos.photos_of). Each move is a guarded UPDATE (only rows not yet in the trash are trashed, only
rows in it restored) whose RETURNING says which rows it moved, and the owner's counts and library
version move by exactly that in the same transaction: two tabs trashing one photo move its count once.
Deleting for good goes through photos.delete_photo, the crash-safe delete, a photo at a time, in
batches of BATCH rows, so a trash of any size is emptied in constant memory.
"""
from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select, tuple_, update

from ..database import run_unit_of_work
from ..errors import NotInTrash
from ..extensions import db
from ..models import Photo, User, count_column, utcnow
from . import cache
from . import photos as photo_service

log = logging.getLogger(__name__)

BATCH = 200  # rows loaded at once by an emptying or an expiry: memory stays flat whatever the trash holds


def trash_days() -> int:
    return current_app.config["TRASH_DAYS"]


def removal_date(photo) -> datetime:
    """When a photo (or a row with its trashed_at) in the trash is due to go for good."""
    return photo.trashed_at + timedelta(days=trash_days())


def due_before() -> datetime:
    """Photos trashed before this moment have passed their time."""
    return utcnow() - timedelta(days=trash_days())


# --- moves ------------------------------------------------------------------------------------

def move_to_trash(owner_id: int, photo_ids: Iterable[int]) -> int:
    """Move the owner's photos among `photo_ids` that are in the library to the trash; how many moved
    (a photo already in the trash, or another owner's, is not moved and not counted)."""
    return _move(owner_id, list(photo_ids), to_trash=True)


def restore_from_trash(owner_id: int, photo_ids: Iterable[int]) -> int:
    """Put the owner's photos among `photo_ids` that are in the trash back in the library; how many."""
    return _move(owner_id, list(photo_ids), to_trash=False)


def _move(owner_id: int, photo_ids: list[int], to_trash: bool) -> int:
    photos, users = Photo.__table__, User.__table__

    def work() -> int:
        guard = photos.c.trashed_at.is_(None) if to_trash else photos.c.trashed_at.is_not(None)
        moved = db.session.execute(
            update(photos).where(photos.c.owner_id == owner_id, photos.c.id.in_(photo_ids), guard)
            .values(trashed_at=utcnow() if to_trash else None).returning(photos.c.source)).scalars().all()
        if moved:
            step = -1 if to_trash else 1
            changes = {count_column(source): count_column(source) + step * number
                       for source, number in Counter(moved).items()}
            changes[users.c.trashed_photos] = users.c.trashed_photos - step * len(moved)
            db.session.execute(update(users).where(users.c.id == owner_id).values(changes))
            cache.clear_library(owner_id)
        db.session.commit()
        return len(moved)

    if not photo_ids:
        return 0
    moved = run_unit_of_work(work, current_app.config["DB_RETRY_ATTEMPTS"])
    log.info("%s %d of %d photos of user %s", "trashed" if to_trash else "restored", moved, len(photo_ids),
             owner_id)
    return moved


# --- deleting for good ------------------------------------------------------------------------

def delete_forever(photo: Photo) -> None:
    """Delete a photo in the trash for good: row, original and thumbnails. NotInTrash when it is not in
    the trash (a photo in the library is trashed first, so that every delete can be undone)."""
    if photo.trashed_at is None:
        raise NotInTrash(f"{photo.original_name} is not in the trash: move it to the trash first.")
    photo_service.delete_photo(photo, from_trash=True)


def delete_each_forever(photo_ids: Iterable[int]) -> int:
    """Delete for good each of these photos that is still in the trash, a photo at a time through the
    crash-safe delete; how many. One deleted or restored by another request since its id was read is
    skipped (the delete checks the trash under the row's lock).

    Unlike every other change to many photos, this commits once a photo, on purpose: each delete moves
    the photo's files aside before its commit and removes them after, so one transaction for all would
    hold every file of the selection in limbo, and a crash would leave `flask gallery check` a pile to
    settle instead of one photo. A failure part way (a full disk, a lost database) therefore leaves the
    photos before it deleted and the rest untouched in the trash, never a photo half deleted; the
    request reports the error, and the trash page shows what is left to delete."""
    deleted = 0
    for photo_id in photo_ids:
        photo = db.session.get(Photo, photo_id)
        if photo is None:
            continue
        try:
            photo_service.delete_photo(photo, from_trash=True)
        except NotInTrash:
            continue
        deleted += 1
    return deleted


def empty_trash(owner_id: int) -> int:
    """Delete every photo in the owner's trash for good; how many."""
    return _delete_in_batches(owner_id, None)


def purge_expired(owner_id: int | None = None, limit: int | None = None) -> int:
    """Delete for good the photos (of one owner, or everyone's) whose time in the trash has passed, at
    most `limit` of them (None: all); how many. When nothing is due it costs one indexed query per owner
    (every account is asked, not only those whose trash count says so: a wrong count hides nothing)."""
    owners = [owner_id] if owner_id is not None else list(db.session.scalars(select(User.id).order_by(User.id)))
    deleted = 0
    for owner in owners:
        deleted += _delete_in_batches(owner, due_before(), None if limit is None else limit - deleted)
        if limit is not None and deleted >= limit:
            break
    if deleted:
        log.info("purged %d photos past their %d days in the trash", deleted, trash_days())
    return deleted


def _delete_in_batches(owner_id: int, trashed_before: datetime | None, limit: int | None = None) -> int:
    """Delete the owner's trashed photos (those trashed before `trashed_before`, if given) oldest first,
    their ids read a BATCH at a time by keyset on the trash index, each photo through the crash-safe
    delete; a photo restored meanwhile is skipped, not deleted."""
    condition = [Photo.owner_id == owner_id, Photo.trashed_at.is_not(None)]
    if trashed_before is not None:
        condition.append(Photo.trashed_at < trashed_before)
    key = tuple_(Photo.trashed_at, Photo.id)
    deleted, after = 0, None
    while limit is None or deleted < limit:
        size = BATCH if limit is None else min(BATCH, limit - deleted)
        query = select(Photo.trashed_at, Photo.id).where(*condition)
        if after is not None:
            query = query.where(key > tuple_(*after))
        batch = db.session.execute(query.order_by(Photo.trashed_at, Photo.id).limit(size)).all()
        if not batch:
            break
        deleted += delete_each_forever(photo_id for _, photo_id in batch)
        if len(batch) < size:
            break  # the last batch: no need to ask for another
        after = tuple(batch[-1])  # a deleted photo leaves the session; the identity map holds no other
    db.session.commit()  # ends the read of an empty batch
    return deleted


# --- the trash page ---------------------------------------------------------------------------

@dataclass
class TrashPage:
    photos: list  # rows of id, original_name, sha256, favourite, rating, source, prompt (its start), trashed_at
    newer: str | None  # cursor of the page before this one (more recently trashed), or None on the first
    older: str | None  # cursor of the page after this one, or None on the last

    def links(self) -> list[photo_service.GridLink]:
        """The grid's links of each photo (photo_service.photo_links: no url_for a tile)."""
        return photo_service.photo_links(self.photos, {})


def trash_page(owner_id: int, older_than: str | None = None, newer_than: str | None = None,
               limit: int = 60) -> TrashPage:
    """One page of the owner's trash, most recently trashed first, by the grid's keyset paging on
    (trashed_at, id), its cursors named "trashed". ValueError for a cursor not made for the trash."""
    query = select(Photo.id, Photo.original_name, Photo.sha256, Photo.favourite, Photo.rating, Photo.source,
                   func.substr(Photo.prompt, 1, photo_service.ALT_LENGTH).label("prompt"), Photo.trashed_at).where(
        Photo.owner_id == owner_id, Photo.trashed_at.is_not(None))
    return TrashPage(*photo_service.keyset_page(query, Photo.trashed_at, "trashed", True, older_than, newer_than,
                                                limit))


def purge_due(owner_id: int) -> int:
    """What a visit to the trash page does first: delete for good what is due, one BATCH at most, so a
    visit stays quick after a long absence (`gallery purge-trash` or the next visits take the rest)."""
    return purge_expired(owner_id, limit=BATCH)
