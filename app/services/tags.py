"""Tags: free-text names an account puts on its photos (uploaded and kept generations alike), a tag's
page, rename, merge and delete.

Every write is set-based SQL in one transaction with the owner's library version bumped in it
(cache.clear_library), so tagging a thousand photos is a handful of statements and either all of it
happens or none. A name is unique per owner by its case-folded key (models.tag_key_of), held by a
unique index: two requests adding "Beach" and "beach" at once make one tag, never two.
"""
from __future__ import annotations

import logging
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, replace

from flask import current_app
from sqlalchemy import delete, func, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ..database import run_unit_of_work
from ..errors import GalleryError, UnknownPhotos
from ..extensions import db
from ..models import MAX_TAG_LENGTH, Photo, PhotoTag, Tag, User, tag_key_of, utcnow
from . import cache, search
from . import photos as photo_service

log = logging.getLogger(__name__)


class InvalidTag(GalleryError):
    """A tag name the gallery will not keep, said in words; nothing changed."""


class UnknownTag(GalleryError):
    """A tag name the owner has no tag of (another account's tags are unknown too); nothing changed."""

    status = 404


# --- names ---------------------------------------------------------------------------------

def clean_name(name: str) -> str:
    """The name as kept: trimmed, 1 to MAX_TAG_LENGTH characters, no comma (the "Add tags" field
    separates names by commas, so such a name could never be typed again) and no control or format
    characters (Unicode Cc, Cf: newlines, NULs, bidi overrides, zero-width spaces); InvalidTag otherwise."""
    if not isinstance(name, str):
        raise InvalidTag("A tag is a name in words.")
    name = name.strip()
    if not name:
        raise InvalidTag("A tag needs a name: it cannot be empty.")
    if len(name) > MAX_TAG_LENGTH:
        raise InvalidTag(f"A tag's name is at most {MAX_TAG_LENGTH} characters; this one has {len(name)}.")
    if "," in name:
        raise InvalidTag(f"A tag's name cannot hold a comma (commas separate tags): {name!r}.")
    if any(unicodedata.category(char) in ("Cc", "Cf") for char in name):
        raise InvalidTag(f"A tag's name cannot hold control characters: {name!r}.")
    return name


def clean_names(names: Iterable[str]) -> list[str]:
    """Each name cleaned, the first spelling of each key kept; InvalidTag for the first bad one, or for none."""
    kept: dict[str, str] = {}
    for name in names:
        name = clean_name(name)
        kept.setdefault(tag_key_of(name), name)
    if not kept:
        raise InvalidTag("Type at least one tag.")
    return list(kept.values())


def names_from(text: str | None) -> list[str]:
    """The names a person typed in the "Add tags" field, comma-separated (empty pieces skipped)."""
    return [piece for piece in (text or "").split(",") if piece.strip()]


def usable_names(names: Iterable[str]) -> list[str]:
    """Names read from a file (IPTC, XMP): the good ones cleaned, the bad ones left out rather than
    refusing the photo for its metadata."""
    kept: dict[str, str] = {}
    for name in names:
        try:
            name = clean_name(name)
        except InvalidTag:
            continue
        kept.setdefault(tag_key_of(name), name)
    return list(kept.values())


# --- writes ------------------------------------------------------------------------------

def tag_photos(owner: User, photo_ids: Iterable[int], names: Iterable[str]) -> list[Tag]:
    """Put the tags `names` (made when the owner has none of that name) on the owner's photos
    `photo_ids`, in one transaction; the tags. InvalidTag for a bad name, UnknownPhotos when any id
    is not the owner's: then nothing changes."""
    tag_ids, _ = _tag(owner, photo_ids, clean_names(names))
    return list(db.session.scalars(select(Tag).where(Tag.id.in_(tag_ids)).order_by(Tag.name_key)))


def add_tag_to_photos(owner: User, photo_ids: Iterable[int], name: str) -> list[int]:
    """A selection's "Add a tag": the tag `name` (made when the owner has none of that name) on the
    owner's photos `photo_ids`, in one transaction; the photos that did not have it yet (what an Undo
    takes it off again)."""
    return sorted(_tag(owner, photo_ids, [clean_name(name)])[1])


def add_tags(owner_id: int, photo_ids: list[int], names: list[str]) -> list[int]:
    """In the caller's transaction (which commits and bumps the library version): the tags of `names`,
    made when missing, put on `photo_ids` (already checked to be the owner's); their ids. Two
    statements a name at most plus one for the links, whatever the number of photos."""
    return _add_tags(owner_id, photo_ids, names)[0]


def untag_photos(owner: User, photo_ids: Iterable[int], tag_ids: Iterable[int]) -> int:
    """Take the owner's tags `tag_ids` off the owner's photos `photo_ids` in one transaction; how many
    links went. UnknownPhotos when a photo or a tag id is not the owner's: then nothing changes."""
    return len(_untag(owner, photo_ids, tag_ids))


def remove_tag_from_photos(owner: User, photo_ids: Iterable[int], name: str) -> list[int]:
    """A selection's "Remove a tag": the owner's tag `name` off the owner's photos `photo_ids`, in one
    transaction; the photos that had it (what an Undo puts it back on). UnknownTag when the owner has no
    tag of that name."""
    tag = find_tag_named(owner.id, clean_name(name))
    if tag is None:
        raise UnknownTag(f"You have no tag named “{clean_name(name)}”: nothing was changed.")
    return sorted(_untag(owner, photo_ids, [tag.id]))


def rename_tag(owner: User, tag: Tag, new_name: str) -> Tag:
    """Give the owner's `tag` a new name for the whole library. When another of the owner's tags has
    that name already, the two become one (merge_tags): the tag returned is the one that stays."""
    new_name = clean_name(new_name)
    key, tag_id = tag_key_of(new_name), tag.id

    def work():
        other = db.session.scalar(select(Tag.id).where(Tag.owner_id == owner.id, Tag.name_key == key,
                                                       Tag.id != tag_id))
        kept = tag_id if other is None else other
        if other is not None:
            _merge(owner.id, [tag_id], other)
        db.session.execute(update(Tag).where(Tag.id == kept).values(name=new_name, name_key=key))
        search.refresh_search_documents(select(PhotoTag.photo_id).where(PhotoTag.tag_id == kept))
        cache.clear_library(owner.id)
        db.session.commit()
        return kept

    kept = run_unit_of_work(work, _attempts())
    log.info("user %s renamed tag %s to %r (now tag %s)", owner.id, tag_id, new_name, kept)
    return db.session.get_one(Tag, kept, populate_existing=True)


def merge_tags(owner: User, tags: Iterable[Tag], into: Tag) -> Tag:
    """Put every photo of `tags` under `into` (once each) and delete `tags`, in one transaction."""
    sources = [tag.id for tag in tags if tag.id != into.id]
    if any(tag.owner_id != owner.id for tag in [*tags, into]):
        raise UnknownPhotos("That tag is not in your library.")

    def work():
        _merge(owner.id, sources, into.id)
        cache.clear_library(owner.id)
        db.session.commit()

    run_unit_of_work(work, _attempts())
    log.info("user %s merged tags %s into %s", owner.id, sources, into.id)
    return into


def delete_tag(owner: User, tag: Tag) -> None:
    """Delete the tag and its links; the photos stay."""
    tag_id = tag.id

    def work():
        tagged = list(db.session.scalars(select(PhotoTag.photo_id).where(PhotoTag.tag_id == tag_id)))
        db.session.execute(delete(PhotoTag).where(PhotoTag.tag_id == tag_id))
        search.refresh_search_documents(tagged)
        db.session.execute(delete(Tag).where(Tag.id == tag_id, Tag.owner_id == owner.id))
        cache.clear_library(owner.id)
        db.session.commit()

    run_unit_of_work(work, _attempts())
    log.info("user %s deleted tag %s", owner.id, tag_id)


# --- reads -------------------------------------------------------------------------------

@dataclass(frozen=True)
class TagCount:
    tag: Tag
    photos: int  # in the library, not in the trash


def find_tag(owner_id: int, tag_id: int) -> Tag | None:
    """The tag with this id when `owner_id` owns it; None otherwise, whoever else owns it."""
    return db.session.scalar(select(Tag).where(Tag.owner_id == owner_id, Tag.id == tag_id))


def find_tag_named(owner_id: int, name: str) -> Tag | None:
    """The owner's tag of this name, however it is cased (its key); None when the owner has none."""
    return db.session.scalar(select(Tag).where(Tag.owner_id == owner_id, Tag.name_key == tag_key_of(name)))


def tags_of(photo: Photo) -> list[Tag]:
    """The photo's tags, by name."""
    return list(db.session.scalars(select(Tag).join(PhotoTag, PhotoTag.tag_id == Tag.id)
                                   .where(PhotoTag.photo_id == photo.id).order_by(Tag.name_key)))


def tags_of_owner(owner: User) -> list[TagCount]:
    """Every tag of the owner's, by name, with how many of its photos are in the library (one query)."""
    library = photo_service.photos_of(owner.id, None).with_only_columns(Photo.id).subquery()
    query = (select(Tag, func.count(library.c.id))
             .outerjoin(PhotoTag, PhotoTag.tag_id == Tag.id)
             .outerjoin(library, library.c.id == PhotoTag.photo_id)
             .where(Tag.owner_id == owner.id).group_by(Tag.id).order_by(Tag.name_key))
    return [TagCount(tag, count) for tag, count in db.session.execute(query)]


@dataclass(frozen=True)
class TagView:
    """What a tag's page shows above its photos: plain values, cheap to cache."""

    id: int
    name: str
    photos: int  # its photos in the library (not in the trash)


def tag_view(owner: User, tag_id: int) -> TagView | None:
    """The tag and how many of its photos are in the library, in one statement, cached until the library
    changes; None when the owner has no such tag.

    The count is the tag's links (its own index) less those of its photos in the trash (the owner's
    trash, each looked up in the links by its key): a few ms for a tag of 60,000 photos at 100k, and
    next to nothing for a small one, where counting the library's photos that carry the tag scans the
    library on SQLite whatever the tag's size (tens of ms)."""
    def read():
        links = select(func.count()).select_from(PhotoTag).where(PhotoTag.tag_id == tag_id).scalar_subquery()
        trashed = (select(func.count(Photo.id))
                   .where(Photo.owner_id == owner.id, Photo.trashed_at.is_not(None),
                          select(PhotoTag.photo_id).where(PhotoTag.photo_id == Photo.id, PhotoTag.tag_id == tag_id)
                          .exists())
                   .scalar_subquery())
        row = db.session.execute(select(Tag.id, Tag.name, links - trashed)
                                 .where(Tag.owner_id == owner.id, Tag.id == tag_id)).first()
        return None if row is None else TagView(*row)
    return cache.read_through(cache.library_key("tag", owner, tag_id), read)


def tag_page(owner: User, tag: Tag | TagView, options: photo_service.GridOptions = photo_service.DEFAULT_OPTIONS,
             older_than: str | None = None, newer_than: str | None = None,
             limit: int = 60) -> photo_service.GridPage:
    """One page of the tag's photos: the grid's own query, sort, filters and keyset paging, narrowed to
    the tag (ValueError for a cursor it did not make)."""
    return photo_service.grid_page(owner, replace(options, tag_id=tag.id), older_than, newer_than, limit)


# --- helpers -------------------------------------------------------------------------------

def _attempts() -> int:
    return current_app.config["DB_RETRY_ATTEMPTS"]


def _tag(owner: User, photo_ids: Iterable[int], names: list[str]) -> tuple[list[int], list[int]]:
    """The tags of (cleaned) `names` on the owner's photos in one transaction: their ids, and the photo
    of each new link."""
    photo_ids = photo_service.distinct_ids(photo_ids)

    def work():
        photo_service.check_owned(owner.id, photo_ids)
        tagged = _add_tags(owner.id, photo_ids, names)
        cache.clear_library(owner.id)
        db.session.commit()
        return tagged

    tag_ids, linked = run_unit_of_work(work, _attempts())
    log.info("user %s tagged %d photos with %s (%d new links)", owner.id, len(photo_ids), names, len(linked))
    return tag_ids, linked


def _add_tags(owner_id: int, photo_ids: list[int], names: list[str]) -> tuple[list[int], list[int]]:
    tag_ids = [_tag_id(owner_id, name) for name in names]
    if not (photo_ids and tag_ids):
        return tag_ids, []
    pairs = (select(Photo.id, Tag.id, Photo.sorted_at).join_from(Photo, Tag, Tag.owner_id == Photo.owner_id)
             .where(Photo.id.in_(photo_ids), Photo.owner_id == owner_id, Tag.id.in_(tag_ids)))
    linked = db.session.scalars(_insert(PhotoTag).from_select(["photo_id", "tag_id", "sorted_at"], pairs)
                                .on_conflict_do_nothing().returning(PhotoTag.photo_id)).all()
    search.refresh_search_documents(linked)
    return tag_ids, list(linked)  # the new links' photos: RETURNING leaves out the conflicts


def _untag(owner: User, photo_ids: Iterable[int], tag_ids: Iterable[int]) -> list[int]:
    """The owner's tags `tag_ids` off the owner's photos in one transaction; the photo of each link that
    went."""
    photo_ids, tag_ids = photo_service.distinct_ids(photo_ids), photo_service.distinct_ids(tag_ids)

    def work():
        photo_service.check_owned(owner.id, photo_ids)
        found = db.session.scalar(select(func.count(Tag.id)).where(Tag.owner_id == owner.id, Tag.id.in_(tag_ids)))
        if found != len(tag_ids):
            raise UnknownPhotos("Some of these tags are not in your library: nothing was changed.")
        removed = db.session.scalars(delete(PhotoTag).where(PhotoTag.photo_id.in_(photo_ids),
                                                            PhotoTag.tag_id.in_(tag_ids))
                                     .returning(PhotoTag.photo_id)).all()
        search.refresh_search_documents(removed)
        cache.clear_library(owner.id)
        db.session.commit()
        return list(removed)

    removed = run_unit_of_work(work, _attempts())
    log.info("user %s untagged %d links", owner.id, len(removed))
    return removed


def _insert(model):
    """INSERT that can skip rows the unique indexes already hold (ON CONFLICT DO NOTHING)."""
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(model)


def _tag_id(owner_id: int, name: str) -> int:
    """The id of the owner's tag of this name, made when missing (a concurrent make of the same key
    meets the unique index and reads the other's row)."""
    key = tag_key_of(name)
    db.session.execute(_insert(Tag).values(owner_id=owner_id, name=name, name_key=key, created_at=utcnow())
                       .on_conflict_do_nothing())
    return db.session.scalar(select(Tag.id).where(Tag.owner_id == owner_id, Tag.name_key == key))


def _merge(owner_id: int, source_ids: list[int], target_id: int) -> None:
    if not source_ids:
        return
    moved = select(PhotoTag.photo_id, literal(target_id), PhotoTag.sorted_at).where(PhotoTag.tag_id.in_(source_ids))
    db.session.execute(_insert(PhotoTag).from_select(["photo_id", "tag_id", "sorted_at"], moved)
                       .on_conflict_do_nothing())
    db.session.execute(delete(PhotoTag).where(PhotoTag.tag_id.in_(source_ids)))
    db.session.execute(delete(Tag).where(Tag.id.in_(source_ids), Tag.owner_id == owner_id))
    search.refresh_search_documents(select(PhotoTag.photo_id).where(PhotoTag.tag_id == target_id))
