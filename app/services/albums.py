"""Albums: named sets of an account's photos, nested to any depth; a photo can be in many. Create,
rename and describe, move under another album, delete (the photos stay), add and remove photos (one
or a selection of many), choose a cover; an album's page on the grid's own query.

Nesting is kept as a materialised path on each album, the ids from the top down ("/1/7/12/"),
rather than found by a recursive CTE on each read: an album page's breadcrumb, "is X under Y" (a
move's check) and "this album and everything under it" (a delete, a move) are then each one plain
query on a prefix, the same SQL on SQLite and PostgreSQL, and the page's album, breadcrumb and
sub-albums come in one statement. Moves and deletes rewrite the paths of the albums they carry,
which an owner's few hundred albums make cheap.

Every write is set-based SQL in one transaction that starts by bumping the owner's library version
(cache.clear_library): that UPDATE of the owner's row also serialises one library's album writes
(a row lock on PostgreSQL, the write lock on SQLite), so two moves at once cannot make a cycle, and
the paths a write reads are the ones it changes. A refused write (bad name, foreign id, a move under
a descendant) is refused before anything is written and rolled back: nothing changes.

Counts and covers leave out the trash: a trashed photo keeps its memberships and comes back into
its albums when restored.
"""
from __future__ import annotations

import logging
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import TypeVar

from flask import current_app, url_for
from sqlalchemy import case, delete, func, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import aliased

from ..database import run_unit_of_work
from ..errors import GalleryError
from ..extensions import db
from ..models import MAX_ALBUM_DESCRIPTION, MAX_ALBUM_NAME, Album, AlbumPhoto, Photo, User, utcnow
from . import cache, labels, search, shares, thumbnails
from . import photos as photo_service

log = logging.getLogger(__name__)

T = TypeVar("T")
KEEP_SUB_ALBUMS = {"delete": True, "move_up": False}  # a delete's `children` choice -> delete them too


class InvalidAlbum(GalleryError):
    """A name, description, move or cover the gallery will not make, said in words; nothing changed."""


class UnknownAlbum(GalleryError):
    """An album id that is not one of the owner's: as unknown as one that never existed."""

    status = 404


# --- names -----------------------------------------------------------------------------------

def _has_control(text: str, allowed: str = "") -> bool:
    return any(unicodedata.category(char) in ("Cc", "Cf") and char not in allowed for char in text)


def clean_name(name) -> str:
    """The name as kept: trimmed, 1 to MAX_ALBUM_NAME characters, no control or format characters
    (newlines, NULs, bidi overrides, zero-width spaces); InvalidAlbum otherwise."""
    if not isinstance(name, str):
        raise InvalidAlbum("An album's name is text.")
    name = name.strip()
    if not name:
        raise InvalidAlbum("An album needs a name: it cannot be empty.")
    if len(name) > MAX_ALBUM_NAME:
        raise InvalidAlbum(f"An album's name is at most {MAX_ALBUM_NAME} characters; this one has {len(name)}.")
    if _has_control(name):
        raise InvalidAlbum(f"An album's name cannot hold control characters: {name!r}.")
    return name


def clean_description(text) -> str:
    """The description as kept: trimmed, at most MAX_ALBUM_DESCRIPTION characters, line breaks and tabs
    allowed but no other control characters; InvalidAlbum otherwise."""
    text = (text or "").strip().replace("\r\n", "\n")
    if len(text) > MAX_ALBUM_DESCRIPTION:
        raise InvalidAlbum(f"An album's description is at most {MAX_ALBUM_DESCRIPTION} characters; "
                           f"this one has {len(text)}.")
    if _has_control(text, allowed="\n\t"):
        raise InvalidAlbum("An album's description cannot hold control characters other than line breaks.")
    return text


def parent_path(path: str, album_id: int) -> str:
    """The path of the album's parent ("/" at the top): its own path without its last id."""
    return path[: -len(f"{album_id}/")]


def is_within(path: str, ancestor_path: str) -> bool:
    """Whether the album at `path` is the album at `ancestor_path` or under it."""
    return path.startswith(ancestor_path)


# --- writes ----------------------------------------------------------------------------------

def create_album(owner: User, name: str, description: str = "", parent_id: int | None = None) -> Album:
    """A new album of the owner's, at the top or under the owner's album `parent_id`."""
    name, description = clean_name(name), clean_description(description)

    def work() -> int:
        return _new_album(owner.id, name, description, parent_id)

    album_id = _write(owner.id, work)
    log.info("user %s created album %s %r under %s", owner.id, album_id, name, parent_id)
    return db.session.get_one(Album, album_id)


def edit_album(owner: User, album: Album, name: str, description: str) -> None:
    """Rename and describe the album."""
    name, description = clean_name(name), clean_description(description)
    album_id = album.id

    def work() -> None:
        _update_own(owner.id, album_id, name=name, description=description)
        search.refresh_search_documents(select(AlbumPhoto.photo_id).where(AlbumPhoto.album_id == album_id))

    _write(owner.id, work)
    log.info("user %s renamed album %s to %r", owner.id, album_id, name)


def move_album(owner: User, album: Album, parent_id: int | None) -> None:
    """Put the album (and everything under it) under the owner's album `parent_id`, or at the top for
    None. InvalidAlbum for a move under itself or one of its own sub-albums; nothing changes."""
    album_id = album.id

    def work() -> None:
        old = _own_path(owner.id, album_id)
        if parent_id is None:
            new = f"/{album_id}/"
        else:
            new_parent = _own_path(owner.id, parent_id)
            if is_within(new_parent, old):
                raise InvalidAlbum("An album cannot go under itself or one of its own sub-albums: "
                                   "nothing was moved.")
            new = f"{new_parent}{album_id}/"
        db.session.execute(update(Album).where(Album.owner_id == owner.id, Album.path.startswith(old))
                           .values(path=literal(new) + func.substr(Album.path, len(old) + 1)))
        _update_own(owner.id, album_id, parent_id=parent_id)

    _write(owner.id, work)
    log.info("user %s moved album %s under %s", owner.id, album_id, parent_id)


def delete_album(owner: User, album: Album, with_sub_albums: bool) -> int:
    """Delete the album; its photos stay in the library. Its sub-albums are deleted too when
    `with_sub_albums`, else they move up to its parent (with what is under them). How many albums went."""
    album_id = album.id
    shared: list = []  # the folders of the albums' share links, which go by ON DELETE CASCADE

    def work() -> int:
        path = _own_path(owner.id, album_id)
        under = (Album.owner_id == owner.id, Album.path.startswith(path))  # the album and all below it
        if with_sub_albums:
            going = select(Album.id).where(*under)
        else:
            going = select(literal(album_id))
            db.session.execute(update(Album).where(*under, Album.id != album_id).values(
                path=literal(parent_path(path, album_id)) + func.substr(Album.path, len(path) + 1)))
            db.session.execute(update(Album).where(Album.owner_id == owner.id, Album.parent_id == album_id)
                               .values(parent_id=album_parent_id(path, album_id)))
        shared[:] = shares.files_going_with_albums(owner.id, going)
        held = list(db.session.scalars(select(AlbumPhoto.photo_id).where(AlbumPhoto.album_id.in_(going))))
        db.session.execute(delete(AlbumPhoto).where(AlbumPhoto.album_id.in_(going)))
        search.refresh_search_documents(held)
        return db.session.execute(delete(Album).where(Album.owner_id == owner.id, Album.id.in_(going))).rowcount

    deleted = _write(owner.id, work)
    shares.remove_share_files(shared)
    log.info("user %s deleted album %s (%d albums, sub-albums %s)", owner.id, album_id, deleted,
             "deleted" if with_sub_albums else "moved up")
    return deleted


def album_parent_id(path: str, album_id: int) -> int | None:
    """The album's parent's id as its path says, None at the top."""
    ids = path.strip("/").split("/")
    return int(ids[-2]) if len(ids) > 1 else None


def add_photos(owner_id: int, album_id: int, photo_ids: Iterable[int]) -> int:
    """Put the owner's photos `photo_ids` in the owner's album, in one INSERT ... SELECT; how many were
    not in it yet. UnknownAlbum or UnknownPhotos (nothing changes) for an id not the owner's."""
    photo_ids = photo_service.distinct_ids(photo_ids)

    def work() -> int:
        _own_path(owner_id, album_id)
        photo_service.check_owned(owner_id, photo_ids)
        return _link(owner_id, album_id, photo_ids)

    added = _write(owner_id, work)
    log.info("user %s added %d of %d photos to album %s", owner_id, added, len(photo_ids), album_id)
    return added


def add_photos_to_new_album(owner: User, name: str, photo_ids: Iterable[int]) -> tuple[int, int]:
    """A new top album named `name` holding the owner's photos `photo_ids`, made in one transaction:
    (its id, how many photos)."""
    name, photo_ids = clean_name(name), photo_service.distinct_ids(photo_ids)

    def work() -> tuple[int, int]:
        photo_service.check_owned(owner.id, photo_ids)
        album_id = _new_album(owner.id, name, "", None)
        return album_id, _link(owner.id, album_id, photo_ids)

    album_id, added = _write(owner.id, work)
    log.info("user %s created album %s %r with %d photos", owner.id, album_id, name, added)
    return album_id, added


def remove_photos(owner_id: int, album_id: int, photo_ids: Iterable[int]) -> int:
    """Take the owner's photos `photo_ids` out of the owner's album (they stay in the library); how
    many were in it. A chosen cover among them is unchosen."""
    photo_ids = photo_service.distinct_ids(photo_ids)

    def work() -> int:
        _own_path(owner_id, album_id)
        photo_service.check_owned(owner_id, photo_ids)
        removed = db.session.execute(delete(AlbumPhoto).where(AlbumPhoto.album_id == album_id,
                                                              AlbumPhoto.photo_id.in_(photo_ids))).rowcount
        search.refresh_search_documents(photo_ids)
        db.session.execute(update(Album).where(Album.id == album_id, Album.cover_photo_id.in_(photo_ids))
                           .values(cover_photo_id=None))
        return removed

    removed = _write(owner_id, work)
    log.info("user %s removed %d photos from album %s", owner_id, removed, album_id)
    return removed


def set_cover(owner: User, album: Album, photo_id: int | None) -> None:
    """Show the album's photo `photo_id` on its card; None shows its newest photo. InvalidAlbum when
    the photo is not in the album."""
    album_id = album.id

    def work() -> None:
        _own_path(owner.id, album_id)
        if photo_id is not None and db.session.scalar(
                select(func.count()).select_from(AlbumPhoto).join(Photo, Photo.id == AlbumPhoto.photo_id)
                .where(AlbumPhoto.album_id == album_id, AlbumPhoto.photo_id == photo_id,
                       Photo.owner_id == owner.id)) != 1:
            raise InvalidAlbum("Only a photo in the album can be its cover: add it to the album first.")
        _update_own(owner.id, album_id, cover_photo_id=photo_id)

    _write(owner.id, work)
    log.info("user %s set the cover of album %s to %s", owner.id, album_id, photo_id)


# --- reads -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class AlbumCard:
    """What a card shows of an album: plain values, cheap to cache."""

    id: int
    name: str
    photos: int  # in the library, not in the trash
    albums: int  # sub-albums, directly under it
    cover_id: int | None = None
    cover_sha256: str | None = None

    def cover_url(self) -> str | None:
        if self.cover_id is None:
            return None
        return url_for("thumbnails.photo", photo_id=self.cover_id, size="grid",
                       v=thumbnails.url_version(self.cover_sha256))


@dataclass(frozen=True)
class AlbumView:
    """An album's page above its photos: the album, its ancestors from the top down, its sub-albums."""

    card: AlbumCard
    description: str
    parent_id: int | None
    cover_photo_id: int | None
    breadcrumb: list[tuple[int, str]] = field(default_factory=list)  # (id, name) from the top down
    children: list[AlbumCard] = field(default_factory=list)

    @property
    def id(self) -> int:
        return self.card.id

    @property
    def name(self) -> str:
        return self.card.name


@dataclass(frozen=True)
class AlbumChoice:
    """An album in a select of the owner's albums, in tree order, with its depth for the indent."""

    id: int
    name: str
    depth: int
    path: str
    cover_photo_id: int | None = None  # the chosen cover, if any

    @property
    def label(self) -> str:
        return "\u2003" * self.depth + self.name  # em spaces: a select shows no other indent


def find_album(owner_id: int, album_id: int) -> Album | None:
    """The album with this id when `owner_id` owns it; None otherwise, whoever else owns it."""
    return db.session.scalar(select(Album).where(Album.owner_id == owner_id, Album.id == album_id))


def top_albums(owner: User) -> list[AlbumCard]:
    """The owner's top albums, by name, with their counts and covers: one query, cached until the
    library changes."""
    def read() -> list[AlbumCard]:
        return sorted(_cards(owner.id, Album.parent_id.is_(None)), key=_by_name)

    return cache.read_through(cache.library_key("albums", owner), read)


def album_view(owner: User, album_id: int) -> AlbumView | None:
    """The album, its breadcrumb and its sub-albums in one statement, cached until the library changes;
    None when the owner has no such album."""
    return cache.read_through(cache.library_key("album", owner, album_id), lambda: _album_view(owner.id, album_id))


def album_page(owner: User, album_id: int, options: photo_service.GridOptions = photo_service.DEFAULT_OPTIONS,
               older_than: str | None = None, newer_than: str | None = None,
               limit: int = 60) -> photo_service.GridPage:
    """One page of the album's photos: the grid's own query, sort, filters and keyset paging, narrowed to
    the album (ValueError for a cursor it did not make)."""
    return photo_service.grid_page(owner, replace(options, album_id=album_id), older_than, newer_than, limit)


def photos_to_download(owner_id: int, album_id: int, with_sub_albums: bool) -> list:
    """The album's photos (and those of the albums under it, each photo once), not in the trash, newest
    first: rows of original_path, original_name, taken_at and what a label needs, which is all a zip
    needs of them."""
    path = _own_path(owner_id, album_id)
    album_ids = (select(Album.id).where(Album.owner_id == owner_id, Album.path.startswith(path))
                 if with_sub_albums else select(literal(album_id)))
    in_albums = select(AlbumPhoto.photo_id).where(AlbumPhoto.album_id.in_(album_ids))
    return list(db.session.execute(labels.with_label_columns(
        select(Photo.original_path, Photo.original_name, Photo.taken_at)
        .where(Photo.owner_id == owner_id, Photo.trashed_at.is_(None), Photo.id.in_(in_albums))
        .order_by(Photo.sorted_at.desc(), Photo.id.desc()))))


def album_choices(owner_id: int) -> list[AlbumChoice]:
    """Every album of the owner's in tree order (each level by name), for a select: one query."""
    rows = db.session.execute(select(Album.id, Album.name, Album.path).where(Album.owner_id == owner_id))
    return tree_order([AlbumChoice(row.id, row.name, row.path.count("/") - 2, row.path) for row in rows])


def albums_of_photo(owner_id: int, photo_id: int) -> tuple[list[AlbumChoice], list[AlbumChoice]]:
    """(the albums the photo is in, the others) of the owner's, each in tree order: one query."""
    member = AlbumPhoto.photo_id.is_not(None)
    rows = db.session.execute(
        select(Album.id, Album.name, Album.path, Album.cover_photo_id, member.label("member"))
        .outerjoin(AlbumPhoto, (AlbumPhoto.album_id == Album.id) & (AlbumPhoto.photo_id == photo_id))
        .where(Album.owner_id == owner_id)).all()
    ordered = tree_order([AlbumChoice(row.id, row.name, row.path.count("/") - 2, row.path, row.cover_photo_id)
                          for row in rows])
    members = {row.id for row in rows if row.member}
    return [c for c in ordered if c.id in members], [c for c in ordered if c.id not in members]


def tree_order(choices: list[AlbumChoice]) -> list[AlbumChoice]:
    """Albums as a tree reads top down: each album followed by its sub-albums, each level by name. An
    album whose parent is not in `choices` is left out (it cannot be placed)."""
    children: dict[str, list[AlbumChoice]] = {}
    for choice in choices:
        children.setdefault(choice.path[: choice.path.rstrip("/").rfind("/") + 1], []).append(choice)
    ordered: list[AlbumChoice] = []

    def walk(prefix: str) -> None:
        for choice in sorted(children.get(prefix, []), key=_by_name):
            ordered.append(choice)
            walk(choice.path)

    walk("/")
    return ordered


# --- helpers ---------------------------------------------------------------------------------

def _by_name(album) -> tuple[str, int]:
    return album.name.casefold(), album.id


def _attempts() -> int:
    return current_app.config["DB_RETRY_ATTEMPTS"]


def _write(owner_id: int, work: Callable[[], T]) -> T:
    """Run `work` in one transaction that first bumps the owner's library version (which also makes the
    owner's album writes wait for each other), then commits; a refusal rolls everything back."""
    def unit() -> T:
        cache.clear_library(owner_id)
        try:
            result = work()
        except GalleryError:
            db.session.rollback()
            raise
        db.session.commit()
        return result

    return run_unit_of_work(unit, _attempts())


def _own_path(owner_id: int, album_id: int) -> str:
    path = db.session.scalar(select(Album.path).where(Album.owner_id == owner_id, Album.id == album_id))
    if path is None:
        raise UnknownAlbum("No such album.")
    return path


def _update_own(owner_id: int, album_id: int, **values) -> None:
    db.session.execute(update(Album).where(Album.owner_id == owner_id, Album.id == album_id).values(**values))


def _new_album(owner_id: int, name: str, description: str, parent_id: int | None) -> int:
    prefix = "/" if parent_id is None else _own_path(owner_id, parent_id)
    album = Album(owner_id=owner_id, parent_id=parent_id, name=name, description=description, path="",
                  created_at=utcnow())
    db.session.add(album)
    db.session.flush()  # its id, for its path
    album.path = f"{prefix}{album.id}/"
    db.session.flush()
    return album.id


def _insert(model):
    """INSERT that can skip rows the primary key already holds (ON CONFLICT DO NOTHING)."""
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(model)


def _link(owner_id: int, album_id: int, photo_ids: list[int]) -> int:
    rows = select(literal(album_id), Photo.id, Photo.sorted_at).where(Photo.owner_id == owner_id,
                                                                       Photo.id.in_(photo_ids))
    # Counted by RETURNING: psycopg reports no rowcount (-1) for this INSERT ... SELECT ... ON CONFLICT.
    linked = len(db.session.execute(_insert(AlbumPhoto).from_select(["album_id", "photo_id", "sorted_at"], rows)
                                    .on_conflict_do_nothing().returning(AlbumPhoto.photo_id)).all())
    search.refresh_search_documents(photo_ids)
    return linked


def _cards_query(owner_id: int, album, shown=None):
    """SELECT of the owner's albums (`album`, the Album entity or an alias of it) with their cards'
    columns: photos in the library, sub-albums, and the cover's id (the chosen cover unless it is in the
    trash, else the newest photo by date taken). With `shown`, a condition, the counts and the cover are
    worked out only for the rows it holds (NULL for the others).

    Each is read from album_photos alone, on its (album_id, sorted_at, photo_id) index: the trash is left
    out by one uncorrelated NOT IN of the owner's trashed ids (few, and hashed once per query), so
    neither a count nor the newest photo visits the photos of a large album one by one."""
    trashed = select(Photo.id).where(Photo.owner_id == owner_id, Photo.trashed_at.is_not(None))
    members = select(AlbumPhoto.photo_id).where(AlbumPhoto.album_id == album.id, AlbumPhoto.photo_id.not_in(trashed))
    child = aliased(Album)
    columns = {
        "photos": members.with_only_columns(func.count()).scalar_subquery(),
        "albums": select(func.count()).select_from(child).where(child.parent_id == album.id).scalar_subquery(),
        "cover_id": func.coalesce(
            select(Photo.id).where(Photo.id == album.cover_photo_id, Photo.trashed_at.is_(None)).scalar_subquery(),
            members.order_by(AlbumPhoto.sorted_at.desc(), AlbumPhoto.photo_id.desc()).limit(1).scalar_subquery()),
    }
    if shown is not None:
        columns = {name: case((shown, column), else_=None) for name, column in columns.items()}
    inner = (select(album.id, album.name, album.path, album.parent_id, album.description, album.cover_photo_id,
                    *(column.label(name) for name, column in columns.items()))
             .where(album.owner_id == owner_id))
    return inner


def _with_cover(inner):
    """The cards with their cover's sha256 (its thumbnail URL's version). The cards are a MATERIALIZED
    CTE so that each cover is worked out once: joined on as an expression, PostgreSQL would work it out
    again for the join and hash every photo of the library to find a hundred."""
    cards = inner.cte("cards").prefix_with("MATERIALIZED")
    sha256 = select(Photo.sha256).where(Photo.id == cards.c.cover_id).scalar_subquery()
    return select(cards, sha256.label("sha256"))


def _card(row) -> AlbumCard:
    return AlbumCard(row.id, row.name, row.photos, row.albums, row.cover_id, row.sha256)


def _cards(owner_id: int, which) -> list[AlbumCard]:
    rows = db.session.execute(_with_cover(_cards_query(owner_id, Album).where(which)))
    return [_card(row) for row in rows]


def _album_view(owner_id: int, album_id: int) -> AlbumView | None:
    """One statement: the album, its ancestors (whose paths begin its own) and its sub-albums."""
    album, target = aliased(Album, name="album"), aliased(Album, name="target")
    shown = (album.id == target.id) | (album.parent_id == target.id)
    query = (_cards_query(owner_id, album, shown)
             .join(target, (target.owner_id == owner_id) & (target.id == album_id))
             .where((album.parent_id == target.id) | target.path.startswith(album.path)))
    rows = db.session.execute(_with_cover(query)).all()
    this = next((row for row in rows if row.id == album_id), None)
    if this is None:
        return None
    ancestors = sorted((row for row in rows if row.id != album_id and row.parent_id != album_id),
                       key=lambda row: len(row.path))
    children = sorted((_card(row) for row in rows if row.parent_id == album_id), key=_by_name)
    return AlbumView(_card(this), this.description, this.parent_id, this.cover_photo_id,
                     [(row.id, row.name) for row in ancestors], children)
