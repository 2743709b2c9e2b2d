"""Photos: ingest an upload, delete, and the grid's queries (which leave out the trash: photos_of)."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import BinaryIO, NamedTuple
from urllib.parse import urlencode

from flask import current_app, request
from sqlalchemy import (
    DateTime, Integer, bindparam, case, cast, func, literal, literal_column, null, or_, select, true, tuple_,
    union_all, update,
)
from sqlalchemy.exc import IntegrityError

from ..database import run_unit_of_work
from ..errors import DuplicatePhoto, NotInTrash, UnknownPhotos
from ..extensions import db
from ..models import MAX_ID, SOURCES, AlbumPhoto, Photo, PhotoTag, User, count_column, is_id, utcnow
from . import cache, library, processing, search, storage, thumbnails, tiles

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
    A file whose metadata (or sidecar) holds a generator's parameters is a generated photo.

    Raises DuplicatePhoto (the owner has these bytes by now) or StorageError; the temp files are
    gone either way.
    """
    source = "generated" if prepared.generated else source
    with storage.placing(photos_root(), "upload", temps=prepared.temp_files) as place:
        photo = new_photo_row(prepared, source)
        photo.owner_id = owner_id
        place.note("place", photo.original_path)  # a crash from here on is undone by `flask gallery check`
        place.files({**thumbnails.destinations(photo.original_path, prepared.thumbnail_ext, prepared.thumbnails),
                     photo.original_path: prepared.original})
        insert_photo(photo, prepared.keywords)
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


def insert_photo(photo: Photo, keywords: tuple[str, ...] = ()) -> None:
    """Insert the row, and the tags of the file's `keywords` (those that make good names) with it, in
    one transaction."""
    from . import tags  # imported here: services/tags reads the grid's queries from this module
    names = tags.usable_names(keywords)

    def work():
        db.session.add(photo)
        db.session.flush()  # the photo's id, for its tags and its search document
        if names:
            tags.add_tags(photo.owner_id, [photo.id], names)
        search.refresh_search_documents([photo.id])
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

    from . import shares  # imported here: services/shares reads the grid's queries from this module

    relatives = [photo.original_path] + [photo.thumbnail_path(size) for size in thumbnails.SIZES]
    refuse_unless_in_trash()
    shared = shares.files_going_with_photo(photo.id, photo.owner_id)  # its links go by ON DELETE CASCADE
    with storage.placing(photos_root(), "delete") as place:
        place.set_aside("delete", photo.original_path, relatives, doing="delete the photo")
        run_unit_of_work(work, current_app.config["DB_RETRY_ATTEMPTS"])
    shares.remove_share_files(shared)
    log.info("deleted photo %s (%s)", photo.id, photo.original_path)


def lock_if_trashed(photo_id: int) -> bool:
    """Whether the photo is in the trash, its row locked until the commit (a no-op UPDATE: a row lock on
    PostgreSQL, the write lock on SQLite) so that no restore comes between this and the caller's write."""
    photos = Photo.__table__
    return db.session.execute(update(photos).where(photos.c.id == photo_id, photos.c.trashed_at.is_not(None))
                              .values(trashed_at=photos.c.trashed_at)).rowcount == 1


# --- reads -------------------------------------------------------------------------------

SORTS = {"taken": Photo.sorted_at, "added": Photo.uploaded_at}  # ?sort=: date taken (else added), date added
ORDERS = ("newest", "oldest")  # ?order=
CURSOR_STAMP = "%Y%m%dT%H%M%S%f"
ALT_LENGTH = 200  # characters of a prompt kept as a grid tile's alt text (prompts run to thousands)


@dataclass(frozen=True)
class GridOptions:
    """How a grid is sorted and filtered, as its URL says (?sort=added&order=oldest&source=generated
    &favourites=1&rating=3); the defaults (date taken, newest first, everything) say nothing."""

    sort: str = "taken"
    order: str = "newest"
    source: str | None = None
    favourites: bool = False
    rating: int = 0  # at least this many stars; 0 is any
    # Only the photos with this tag (a tag's page, services/tags.py): named by the page's path, not
    # by the query string, so it is not in `args`.
    tag_id: int | None = None
    album_id: int | None = None  # only the photos in this album (an album's page, services/albums.py), likewise
    share_id: int | None = None  # only the photos a share link shows (a shared page, services/shares.py), likewise
    search: search.SearchFilters | None = None  # words and typed filters (the search page, services/search.py)

    @classmethod
    def from_args(cls, args) -> GridOptions:
        """From a query string's mapping; ValueError, in words a person reads, for a value it does not know."""
        sort, order = args.get("sort") or "taken", args.get("order") or "newest"
        if sort not in SORTS:
            raise ValueError("Unknown sort: choose taken or added.")
        if order not in ORDERS:
            raise ValueError("Unknown order: choose newest or oldest.")
        try:
            source = valid_source(args.get("source"))
        except ValueError:
            raise ValueError("Unknown source: choose uploaded or generated.") from None
        favourites = args.get("favourites") or "0"
        if favourites not in ("0", "1"):
            raise ValueError("favourites is 1 (favourites only) or 0.")
        try:
            rating = library.rating_from(args.get("rating") or "0")  # the one reading of a number of stars
        except library.InvalidMark as error:
            raise ValueError(error.message) from None
        return cls(sort, order, source, favourites == "1", rating)

    @cached_property  # asked for by every link of a page; the options never change (frozen)
    def args(self) -> dict[str, str]:
        """The query arguments that say these options (none for the defaults), in a fixed order: for
        url_for(..., **options.args), and what every link of a grid or a photo page carries on."""
        args = {"sort": self.sort if self.sort != "taken" else None,
                "order": self.order if self.order != "newest" else None,
                "source": self.source, "favourites": "1" if self.favourites else None,
                "rating": str(self.rating) if self.rating else None}
        return {name: value for name, value in args.items() if value}

    def in_context(self, args) -> GridOptions:
        """These options narrowed to where a photo's page was opened from, as its URL says: ?album_id=N (an
        album's page), ?tag_id=N (a tag's page) or ?search=1 with the search's own arguments (the search
        page), so that its arrows step through that page's photos and Escape goes back to it. ValueError
        (or search.InvalidSearch) in words for a value it cannot read. Whose album or tag it is, the caller
        checks (access.own_photo_page_or_404)."""
        album_id, tag_id = (_context_id(args, name) for name in ("album_id", "tag_id"))
        found = search.SearchFilters.from_args(args) if args.get("search") == "1" else None
        if sum(value is not None for value in (album_id, tag_id, found)) > 1:
            raise ValueError("A photo is opened from one album, tag or search at a time.")
        return replace(self, album_id=album_id, tag_id=tag_id, search=found)

    @property
    def context_args(self) -> dict[str, str]:
        """The query arguments of in_context(): what a photo's links carry besides `args`."""
        if self.search is not None:
            return {"search": "1", **self.search.args}
        if self.album_id is not None:
            return {"album_id": str(self.album_id)}
        return {"tag_id": str(self.tag_id)} if self.tag_id is not None else {}

    @property
    def viewer_args(self) -> dict[str, str]:
        """`args` and `context_args`: what a photo's page's links carry (its arrows, its marks' forms)."""
        return {**self.args, **self.context_args}

    @property
    def filtered(self) -> bool:
        """Whether only some of the source's photos show (so the owner's counts do not count them)."""
        return self.favourites or self.rating > 0

    @property
    def key(self) -> str:
        return (f"{self.sort}.{self.order}.{self.source or ''}.{int(self.favourites)}.{self.rating}.{self.tag_id or ''}"
                f".{self.album_id or ''}.{self.share_id or ''}.{self.search.key if self.search else ''}")


DEFAULT_OPTIONS = GridOptions()


def _context_id(args, name: str) -> int | None:
    raw = args.get(name) or ""
    if not raw:
        return None
    if not is_id(raw):
        raise ValueError(f"{name} is the number of one of your {name[:-3]}s.")
    return int(raw)


class GridPhoto(NamedTuple):
    """What the grid shows of one photo: plain values, cheap to cache and to share between workers. A named
    tuple: made 60 times a page, it costs a fifth of a frozen dataclass (tests/benchmarks/bench_grid.py)."""

    id: int
    original_name: str
    sha256: str
    favourite: bool = False
    rating: int = 0
    source: str = "uploaded"  # the grid marks generated images
    prompt: str | None = None  # a generated image's prompt, cut to ALT_LENGTH: its tile's alt text
    width: int = 1  # as displayed: a justified grid keeps the tile's aspect
    height: int = 1
    colour: str | None = None  # '#rrggbb' shown until the thumbnail is (Photo.colour)
    day: str = ""  # the sort's date, YYYY-MM-DD: the date headings of a grid sorted by date taken

    @property
    def alt(self) -> str:
        return self.prompt or self.original_name

    @property
    def tile_class(self) -> str:
        """The tile's classes: its aspect (the justified layout's flex-grow) and placeholder colour (tiles.py)."""
        return tiles.tile_class(self.width, self.height, self.colour)


@dataclass
class GridLink:
    photo: GridPhoto
    detail_url: str
    grid_url: str
    favourite_url: str


@dataclass
class GridPage:
    photos: list[GridPhoto]
    newer: str | None  # cursor of the adjoining page of newer photos (by the sort's date), or None
    older: str | None  # cursor of the adjoining page of older photos, or None
    # Names what the page shows (owner and library version, options, cursors, thumbnail settings): the
    # grid template caches its HTML under it, and a write to the owner's library changes it.
    cache_key: str = ""
    options: GridOptions = DEFAULT_OPTIONS
    # This page's own cursor ({"older": ...} or {"newer": ...}, none for the first page): a photo's
    # page carries it, so Escape and its Grid link come back to this page.
    at: dict[str, str] = field(default_factory=dict)

    @property
    def prev_link(self) -> tuple[str, str] | None:
        """(query argument, cursor) of the page before this one in the shown order, or None on the first."""
        return self._link(self.newer, self.older, "newer", "older")

    @property
    def next_link(self) -> tuple[str, str] | None:
        """(query argument, cursor) of the page after this one, or None on the last."""
        return self._link(self.older, self.newer, "older", "newer")

    def _link(self, if_newest, if_oldest, name_newest, name_oldest):
        cursor, name = ((if_newest, name_newest) if self.options.order == "newest" else (if_oldest, name_oldest))
        return (name, cursor) if cursor else None

    def headings(self) -> dict[int, str]:
        """The date headings of a page sorted by date taken: photo id -> the heading shown before it, at
        each change of day, or of month when the page spans more than HEADING_DAYS days. The next page
        repeats the heading of a group that runs on."""
        if self.options.sort != "taken" or not self.photos or not self.photos[0].day:
            return {}  # (no day: rows cached by a version before the headings, during an upgrade)
        by_month = len({photo.day for photo in self.photos}) > HEADING_DAYS
        headings, last = {}, None
        for photo in self.photos:
            group = photo.day[:7] if by_month else photo.day
            if group != last:
                headings[photo.id], last = heading_text(group), group
        return headings

    def links(self) -> list[GridLink]:
        """Each photo with its page's URL (which carries this page's place, so that Escape on a photo
        comes back here, and the album, tag or search it shows, so that its arrows step through them),
        its grid thumbnail's and its favourite route's (photo_links)."""
        return photo_links(self.photos, self.options.args, self.at, self.options.context_args)


HEADING_DAYS = 10  # a page whose photos span more days than this is headed by month


def heading_text(group: str) -> str:
    """'Saturday 5 December 2026' for a day (YYYY-MM-DD), 'December 2026' for a month (YYYY-MM)."""
    if len(group) == 7:
        return datetime.strptime(group, "%Y-%m").strftime("%B %Y")
    day = datetime.strptime(group, "%Y-%m-%d")
    return f"{day:%A} {day.day} {day:%B %Y}"


def photo_links(photos, args: dict[str, str], at: dict[str, str] | None = None,
                context: dict[str, str] | None = None) -> list[GridLink]:
    """Each photo (a GridPhoto, or a row with its id, original_name, sha256 and favourite) with its
    page's URL carrying `args` (a grid's options), `context` (the album, tag or search the page shows,
    GridOptions.context_args: typed words, so quoted) and `at` (the grid page it is on), its grid thumbnail's
    and its favourite route's, written here rather than by url_for, with the prefix and the settings tag
    read once a page: 120 url_for calls were nearly half of a cached page's CPU
    (tests/benchmarks/bench_grid.py). They are the same strings: tests/integration/test_grid_queries.py
    compares them with url_for's."""
    root, tag = request.script_root, thumbnails.current_settings_tag()
    # bare words, digits and cursors (digits, letters, dots): nothing to quote
    query = "?" + "&".join(f"{name}={value}" for name, value in args.items()) if args else ""
    placed = [*(f"{name}={value}" for name, value in args.items()), *([urlencode(context)] if context else []),
              *(f"{name}={value}" for name, value in (at or {}).items())]
    detail_query = "?" + "&".join(placed) if placed else ""
    return [GridLink(photo, f"{root}/photos/{photo.id}{detail_query}",
                     f"{root}/thumbnails/{photo.id}/grid?v={thumbnails.url_version(photo.sha256, tag)}",
                     f"{root}/photos/{photo.id}/favourite{query}")
            for photo in photos]


def encode_cursor(photo, sort: str = "taken") -> str:
    """The keyset position of a Photo (or of a row with the sort's column and id) in the `sort` order;
    it names its sort, so a cursor of another sort is refused rather than misread."""
    return _cursor(sort, getattr(photo, SORTS[sort].key), photo.id)


def _cursor(name: str, at: datetime, photo_id: int) -> str:
    return f"{name}.{at:{CURSOR_STAMP}}.{photo_id}"


def decode_cursor(cursor: str, sort: str = "taken") -> tuple[datetime, int]:
    """ValueError for anything this module did not make for `sort`."""
    parts = cursor.split(".")
    if len(parts) != 3 or parts[0] != sort:
        raise ValueError(f"not a cursor of the {sort} order: {cursor!r}")
    at, photo_id = datetime.strptime(parts[1], CURSOR_STAMP), int(parts[2])
    if not 0 < photo_id <= MAX_ID:
        raise ValueError(f"photo id out of range: {photo_id}")
    return at, photo_id


def photos_of(owner_id: int, source: str | None, first: tuple = ()):
    """SELECT of one owner's library from `source` (None: every source): every query that lists or
    counts photos starts here, so none shows a photo in the trash (services/trash.py lists those).
    The owner and the source are named parameters (grid_parameters); `first`: conditions that come
    first after the owner's (walked_order says why)."""
    query = select(Photo).where(Photo.owner_id == bindparam("grid_owner", owner_id), *first,
                                Photo.trashed_at.is_(None))
    return query.where(Photo.source == bindparam("grid_source", source)) if source else query


def grid_parameters(owner_id: int, options: GridOptions) -> dict:
    """The values grid_photos puts in its statement, by the name of its parameter (each one set, and only
    those): a statement built once for a shape of options runs again with another's (page_statement)."""
    values = {"grid_owner": owner_id}
    if options.source:
        values["grid_source"] = options.source
    if options.rating:
        values["grid_rating"] = options.rating
    if options.tag_id is not None:
        values["grid_tag"] = options.tag_id
    if options.album_id is not None:
        values["grid_album"] = options.album_id
    if options.search is not None:
        values |= options.search.parameters()
    return values


def grid_photos(owner_id: int, options: GridOptions, first: tuple = ()):
    """SELECT of the owner's photos that `options` show (in no order yet), every value a named parameter
    (grid_parameters), but a share link's photos; `first` as photos_of."""
    values = grid_parameters(owner_id, options)
    query = photos_of(owner_id, options.source, first)
    if options.favourites:
        query = query.where(Photo.favourite == true())
    if "grid_rating" in values:
        query = query.where(Photo.rating >= bindparam("grid_rating", values["grid_rating"]))
    if "grid_tag" in values:
        query = query.where(Photo.id.in_(select(PhotoTag.photo_id)
                                         .where(PhotoTag.tag_id == _tag_parameter(options.tag_id))))
    if "grid_album" in values:
        query = query.where(Photo.id.in_(select(AlbumPhoto.photo_id)
                                         .where(AlbumPhoto.album_id == _album_parameter(options.album_id))))
    if options.share_id is not None:
        from . import shares  # imported here: services/shares reads the grid's queries from this module
        query = query.where(Photo.id.in_(shares.shown_photo_ids(options.share_id)))
    return options.search.narrow(query) if options.search is not None else query


def _tag_parameter(tag_id: int):
    return bindparam("grid_tag", tag_id)


def _album_parameter(album_id: int):
    return bindparam("grid_album", album_id)


def distinct_ids(ids) -> list[int]:
    """Photo ids, each once, in order of id; UnknownPhotos when there are none."""
    ids = sorted({int(i) for i in ids})
    if not ids:
        raise UnknownPhotos("Choose at least one photo.")
    return ids


def check_owned(owner_id: int, photo_ids: list[int]) -> None:
    """UnknownPhotos, saying how many, unless every one of `photo_ids` (each once) is the owner's: what a
    write to many photos checks before it writes anything (one query)."""
    found = db.session.scalar(select(func.count(Photo.id)).where(Photo.owner_id == owner_id,
                                                                 Photo.id.in_(photo_ids)))
    if found != len(photo_ids):
        missing = len(photo_ids) - found
        raise UnknownPhotos(f"{missing} of the {len(photo_ids)} photos {'is' if missing == 1 else 'are'} not in "
                            "your gallery; nothing was changed.")


def find_photo(owner_id: int, photo_id: int) -> Photo | None:
    """The photo with this id when `owner_id` owns it, in the trash or not (its page says which and
    offers a restore); None otherwise, whoever else owns it."""
    return db.session.scalar(select(Photo).where(Photo.owner_id == owner_id, Photo.id == photo_id))


def grid_page(owner: User, options: GridOptions = DEFAULT_OPTIONS, older_than: str | None = None,
              newer_than: str | None = None, limit: int = 60, cached_only: bool = False) -> GridPage | None:
    """One page of an owner's grid as `options` sort and filter it, by keyset on (the sort's date, id):
    no OFFSET, whatever the sort.

    Cached until the owner's library changes; ValueError for a cursor this module did not make for
    the options' sort. With `cached_only`, the page only if the cache holds it, else None.
    """
    older_than, newer_than = older_than or None, newer_than or None
    key = cache.grid_key(owner, options.key, older_than, newer_than, limit)
    page = cache.read_through(key, (lambda: None) if cached_only else  # cached_only: None, not a statement
                              lambda: _grid_rows(owner.id, options, older_than, newer_than, limit))
    if page is None:
        return None
    return GridPage([GridPhoto(*row) for row in page["photos"]], page["newer"], page["older"],
                    f"{key}:{thumbnails.current_settings_tag()}", options, page_at(options, older_than, newer_than))


def page_at(options: GridOptions, older_than: str | None, newer_than: str | None) -> dict[str, str]:
    """The cursor that names a grid page in a link back to it ({} for the first page, and on a tag's
    page, whose links carry no cursor)."""
    return {} if options.tag_id is not None else {"older": older_than} if older_than else \
        {"newer": newer_than} if newer_than else {}


@dataclass
class ViewerPlace:
    """Where a photo's page stands in its grid (the grid's, an album's, a tag's or a search's): its
    neighbours in that order (each with an id, or None) and the grid page's cursor that Escape goes
    back to ({"older": ...}, {"newer": ...} or {} for the first page)."""

    newer: object | None
    older: object | None
    grid_at: dict[str, str]


def viewer_place(owner: User, photo: Photo, options: GridOptions, at: dict[str, str | None],
                 limit: int) -> ViewerPlace:
    """The photo's neighbours and the grid page to go back to from its page: `at` (the page it was
    opened from, the first page when none) while that page shows it; else the page that starts with it.

    Opened from a grid page the cache holds, the page's own tiles are the neighbours (no statement, but
    at the page's ends); else one statement reads both neighbours and whether `at` still shows the photo
    (neighbours). A photo in the trash is in no order: no neighbours, and the first page.
    """
    if photo.trashed_at is not None:
        return ViewerPlace(None, None, {})
    older_than, newer_than = at.get("older") or None, at.get("newer") or None
    try:
        page = grid_page(owner, options, older_than, newer_than, limit, cached_only=True)
    except ValueError:  # a cursor this module did not make: the page that starts with the photo
        page, older_than, newer_than = None, None, None
    shown = [tile.id for tile in page.photos] if page is not None else []
    if photo.id in shown:
        newer, older = _tiles_beside(page, shown.index(photo.id))
        if newer is not False and older is not False:
            return ViewerPlace(newer, older, page.at)
    newer, older, on_page = _neighbours_and_place(photo, options, older_than, newer_than, limit)
    if on_page:
        return ViewerPlace(newer, older, page_at(options, older_than, newer_than))
    if options.order == "newest":
        return ViewerPlace(newer, older, {"older": encode_cursor(newer, options.sort)} if newer else {})
    return ViewerPlace(newer, older, {"newer": encode_cursor(older, options.sort)} if older else {})


def _tiles_beside(page: GridPage, index: int) -> tuple:
    """(newer, older) of the tile at `index` of a page: the tiles beside it, None past an end of the
    whole order, False past the page's end where another page goes on (not known here)."""
    before = page.photos[index - 1] if index > 0 else None
    after = page.photos[index + 1] if index + 1 < len(page.photos) else None
    if page.options.order == "newest":
        return (before or (False if page.newer else None)), (after or (False if page.older else None))
    return (after or (False if page.newer else None)), (before or (False if page.older else None))


def walked_order(owner_id: int, options: GridOptions, bounds=None) -> tuple:
    """(the sort's date column, the id column, the SELECT of the photos `options` show) that a grid page
    and a photo's neighbours walk in keyset order.

    An album or a tag by date taken walks its own index, (album_id or tag_id, sorted_at, photo_id), each
    photo then found by its id: a page costs the same for an album or tag of 100 photos or 70,000.
    Narrowing the library's date order to it instead scans the library until a page of its photos turns
    up (all of it, for a small one), or reads all of its ids for each walk (a large one: 39 ms CPU for a
    photo's page against the grid's 13 at 100k photos, tests/benchmarks/bench_photo_page.py). A search's
    words on PostgreSQL walk their documents' copy of the order likewise (search.walk_documents).

    `bounds`: a function of (the date column, the id column) to the walk's conditions on them (a keyset
    cursor's), which come first in the WHERE clause: SQLite walks the index from the first bound of the
    date it reads there, and a search's taken-to date before a deep page's cursor made the page walk
    down from that date (46 ms against 1 at 100,000 photos, bench_search.py's fresh searches)."""
    column, id_column = walked_columns(options)
    first = tuple(bounds(column, id_column)) if bounds else ()
    if column is AlbumPhoto.sorted_at:
        return column, id_column, (
            grid_photos(owner_id, replace(options, album_id=None), first)
            .join(AlbumPhoto, AlbumPhoto.photo_id == Photo.id)
            .where(AlbumPhoto.album_id == _album_parameter(options.album_id)))
    if column is PhotoTag.sorted_at:
        return column, id_column, (
            grid_photos(owner_id, replace(options, tag_id=None), first)
            .join(PhotoTag, PhotoTag.photo_id == Photo.id).where(PhotoTag.tag_id == _tag_parameter(options.tag_id)))
    if search.walks_documents(options):
        return search.walk_documents(owner_id, grid_photos(owner_id, replace(options, search=None), first),
                                     options.search)
    return column, id_column, grid_photos(owner_id, options, first)


def walked_columns(options: GridOptions) -> tuple:
    """(the date column, the id column) walked_order walks for `options`."""
    if options.sort == "taken" and options.album_id is not None:
        return AlbumPhoto.sorted_at, AlbumPhoto.photo_id
    if options.sort == "taken" and options.tag_id is not None:
        return PhotoTag.sorted_at, PhotoTag.photo_id
    if search.walks_documents(options):
        return search.walked_document_columns()
    return SORTS[options.sort], Photo.id


def _grid_rows(owner_id: int, options: GridOptions, older_than: str | None, newer_than: str | None,
               limit: int) -> dict:
    """The page as plain values (no ORM objects in the cache): (id, name, sha256, favourite, rating, source, prompt,
    width, height, colour, day of the sort's date) rows, GridPhoto's fields, and the cursors of the newer and the
    older page. Its statement is page_statement's, built once for each shape of options."""
    downwards, values = _keyset_values(options.sort, options.order == "newest", older_than, newer_than, limit)
    values |= grid_parameters(owner_id, options)
    statement = page_statement(owner_id, options, downwards, values)
    rows = db.session.connection().execute(statement, values).all()  # plain rows: no ORM result to set up
    rows, newer, older = _keyset_result(rows, options.sort, options.order == "newest", downwards,
                                        older_than or newer_than, limit)
    # by position (the columns above, in GridPhoto's order): a Row's attributes cost more, 60 times a page
    return {"photos": [(*row[:10], row[10].date().isoformat()) for row in rows],
            "newer": newer, "older": older}


# The constant a page's statement may hold as an unnamed parameter (SQLite's OFFSET 0, which its dialect
# adds): any other value in it must be a named parameter, or one page's value would be another's. (No id is
# 0, so no owner's or photo's id can pass for it.)
STATEMENT_CONSTANTS = frozenset({0})
_PAGE_STATEMENTS: dict[tuple, object] = {}
MAX_PAGE_STATEMENTS = 512  # shapes kept in a process; a few dozen are what people use


def page_statement(owner_id: int, options: GridOptions, downwards: bool, values: dict):
    """The SELECT of a grid page's rows (walked_order's, the cursor's condition, the order and LIMIT), built
    once for each shape of options (sort, direction, favourites, the search's GPS condition, which
    parameters are set, the database) and run with each page's `values`: building a statement and its
    cache key each time cost about a third of an uncached search page's SQL time, and more than the
    SQL of a page with one filter (tests/benchmarks/bench_search.py). A share link's page is built each
    time (what it shows depends on the link's kind). ValueError if a value is not one of `values` by now."""
    if options.share_id is not None:
        return _build_page_statement(owner_id, options, downwards, values)
    shape = (db.session.get_bind().dialect.name, options.sort, downwards, options.favourites,
             options.search.shape if options.search is not None else None, tuple(sorted(values)))
    statement = _PAGE_STATEMENTS.get(shape)
    if statement is None:
        statement = _build_page_statement(owner_id, options, downwards, values)
        _check_parameters(statement, values)
        if len(_PAGE_STATEMENTS) >= MAX_PAGE_STATEMENTS:
            _PAGE_STATEMENTS.clear()
        _PAGE_STATEMENTS[shape] = statement
    return statement


def _build_page_statement(owner_id: int, options: GridOptions, downwards: bool, values: dict):
    column, id_column, query = walked_order(
        owner_id, options, lambda column, id_column: _keyset_bounds(column, id_column, downwards, values))
    query = query.with_only_columns(
        Photo.id, Photo.original_name, Photo.sha256, Photo.favourite, Photo.rating, Photo.source,
        func.substr(Photo.prompt, literal_column("1"), literal_column(str(ALT_LENGTH))).label("prompt"),
        Photo.width, Photo.height, Photo.colour, column)
    return _keyset_order(query, column, id_column, downwards, values)


def _check_parameters(statement, values: dict) -> None:
    """ValueError unless every value of `statement` is one of `values` (by name) or a STATEMENT_CONSTANT,
    and every one of `values` is in it: what makes running it again with other values safe."""
    binds = statement.compile(dialect=db.session.get_bind().dialect).binds
    named = {bind.key for bind in binds.values() if bind.key in values}
    unnamed = [bind for bind in binds.values() if bind.key not in values]
    if named != set(values) or any(bind.value not in STATEMENT_CONSTANTS for bind in unnamed):
        raise ValueError(f"a page's statement holds values that are not its parameters: named {sorted(named)} "
                         f"of {sorted(values)}; unnamed {[(bind.key, bind.value) for bind in unnamed]}")


def _keyset_values(name: str, newest_first: bool, older_than: str | None, newer_than: str | None,
                   limit: int) -> tuple[bool, dict]:
    """(whether the page is read walking down the dates, the keyset's parameters: the cursor's date and id
    when there is a cursor, and the LIMIT, one more than a page to tell whether there are more);
    ValueError for a cursor not made for `name`."""
    values = {"page_limit": limit + 1}
    if older_than or newer_than:
        values["page_at"], values["page_id"] = decode_cursor(older_than or newer_than, name)
    return older_than is not None or (newer_than is None and newest_first), values


def _keyset_bounds(column, id_column, downwards: bool, values: dict) -> list:
    """The condition of a walk from the cursor in `values`, if any, on the side `downwards` says."""
    if "page_at" not in values:
        return []
    key = tuple_(column, id_column)
    cursor = tuple_(bindparam("page_at", values["page_at"], type_=DateTime),
                    bindparam("page_id", values["page_id"], type_=Integer))
    return [key < cursor if downwards else key > cursor]


def _keyset_order(query, column, id_column, downwards: bool, values: dict):
    """`query` in the keyset order (down or up the dates), LIMIT values["page_limit"]."""
    query = query.order_by(*((column.desc(), id_column.desc()) if downwards else (column.asc(), id_column.asc())))
    return query.limit(bindparam("page_limit", values["page_limit"], type_=Integer))


def _keyset_result(rows: list, name: str, newest_first: bool, downwards: bool, started_from: str | None,
                   limit: int, date_key: str | int = -1) -> tuple[list, str | None, str | None]:
    """A keyset walk's rows (read one more than `limit`) as keyset_page answers them; a row's date is
    its `date_key` (a column's name, or a position: the last)."""
    more, rows = len(rows) > limit, rows[:limit]
    if not rows:
        return [], None, None
    has_newer, has_older = (started_from is not None, more) if downwards else (more, started_from is not None)
    newest, oldest = (rows[0], rows[-1]) if downwards else (rows[-1], rows[0])
    if downwards != newest_first:
        rows.reverse()

    def date_of(row):
        return row[date_key] if isinstance(date_key, int) else getattr(row, date_key)
    return (rows, _cursor(name, date_of(newest), newest.id) if has_newer else None,
            _cursor(name, date_of(oldest), oldest.id) if has_older else None)


def keyset_page(query, column, name: str, newest_first: bool, older_than: str | None, newer_than: str | None,
                limit: int, id_column=Photo.id) -> tuple[list, str | None, str | None]:
    """One page of `query`'s rows (it selects `column`, a date, and Photo.id) by keyset on (column,
    id_column: the photo's id, or a copy of it beside a copy of the date),
    no OFFSET: the grid's pages and the trash's. The rows in the order shown, the cursor (named `name`)
    of the adjoining page of newer rows and of older rows, or None where there is none; ValueError for a
    cursor not made for `name`.

    The rows are read walking away from the cursor (down the dates for `older_than`, up for
    `newer_than`, from the start of the order for neither), one more than a page to tell whether
    there are more, then put in the order shown.
    """
    downwards, values = _keyset_values(name, newest_first, older_than, newer_than, limit)
    query = query.where(*_keyset_bounds(column, id_column, downwards, values))
    rows = list(db.session.execute(_keyset_order(query, column, id_column, downwards, values)))
    return _keyset_result(rows, name, newest_first, downwards, older_than or newer_than, limit, column.key)


def neighbours(photo: Photo, options: GridOptions = DEFAULT_OPTIONS) -> tuple:
    """The photos just newer and just older than `photo` by the options' sort, among those they show
    (none for a photo in the trash, which is in no order of the library), each as a row of its id and its
    dates (what a link to it and a cursor need), or None."""
    if photo.trashed_at is not None:
        return None, None
    newer, older, _ = _neighbours_and_place(photo, options, None, None, 0)
    return newer, older


def _neighbours_and_place(photo: Photo, options: GridOptions, older_than: str | None, newer_than: str | None,
                          limit: int) -> tuple:
    """(newer, older, whether the grid page at `older_than`/`newer_than` (of `limit` photos) shows the
    photo) in one statement: a UNION ALL of the two one-row index walks and, when the photo is past the
    page's cursor, a count of the photos between the cursor and it (at most `limit`: an index walk as
    long as a page), each in a subquery of its own (SQLite takes no ORDER BY or LIMIT on a compound's
    members), told apart by `side`. Plain columns, not Photo entities: an entity aliased to the union
    cost more to build than both queries take to run. An album's or a tag's copy of sorted_at (AlbumPhoto,
    PhotoTag: walked_order) is the photo's own value, so `here` is the same point in either order."""
    here = (getattr(photo, SORTS[options.sort].key), photo.id)
    column, id_column = walked_columns(options)
    key = tuple_(column, id_column)

    base = _within_bounds(options, lambda first: walked_order(photo.owner_id, options, lambda *_: first)[2]
                          .with_only_columns(Photo.id, Photo.sorted_at, Photo.uploaded_at))
    between = _between_cursor_and(key, here, options, older_than, newer_than) if limit else None
    if options.search is not None and options.search.terms and db.session.get_bind().dialect.name == "sqlite":
        members = _probed_search_members(photo.owner_id, options, base, key, here, between, limit)
    else:
        members = [("newer", base(key > tuple_(*here)).order_by(column.asc(), id_column.asc()).limit(1)),
                   ("older", base(key < tuple_(*here)).order_by(column.desc(), id_column.desc()).limit(1))]
        if between is not None:
            walked = base(*between).with_only_columns(Photo.id).limit(limit).subquery()
            members.append(("place", select(func.count().label("id"), cast(null(), DateTime).label("sorted_at"),
                                            cast(null(), DateTime).label("uploaded_at")).select_from(walked)))
    found = {row.side: row for row in db.session.execute(union_all(
        *(select(query.add_columns(literal(side).label("side")).subquery()) for side, query in members)))}
    on_page = between is not None and found["place"].id < limit
    return found.get("newer"), found.get("older"), on_page


# Photos of a search's order (its words left out) that a photo's page tests one by one against the words
# before it reads every match: the first match each way is found among PROBED_PHOTOS when the words are
# on more than a few photos of the library, and the matches between the page's cursor and the photo (a
# page of them decides it) among PROBED_PAGES pages of photos.
PROBED_PHOTOS, PROBED_PAGES = 8, 2


def _probed_search_members(owner_id: int, options: GridOptions, base, key, here: tuple, between, limit: int) -> list:
    """The members of _neighbours_and_place's union for a search with words on SQLite, each trying the
    cheap way first. SQLite tests `id IN (the matches)` by reading every match into a temporary index, once
    for each of the three members: for a word on 70,000 photos three times as much CPU as the grid's
    page (tests/benchmarks/bench_photo_page.py). Each member instead walks the first PROBED_PHOTOS of the
    order without the words, asking the full-text index about each photo alone (an EXISTS on its rowid),
    and falls back to reading the matches (COALESCE evaluates its second argument only when the first is
    NULL) when those photos do not settle it; the way back walks two pages so only when half of the first
    photos of its range match. A probe costs 50-90 µs, so a rare word pays about two ms for them: figures
    in tests/benchmarks/README.md."""
    column, id_column = key.clauses
    without_words = replace(options, search=replace(options.search, terms=()))
    # the order without the words
    near = _within_bounds(options, lambda first: grid_photos(owner_id, without_words, first)
                          .with_only_columns(Photo.id, column))
    matches = search.matching_ids(list(options.search.terms))

    def matching(photo_id):
        return matches.where(matches.selected_columns[0] == photo_id).exists()

    def first(condition, ascending: bool):
        order = (column.asc(), id_column.asc()) if ascending else (column.desc(), id_column.desc())
        walked = near(condition).order_by(*order).limit(PROBED_PHOTOS).subquery()
        walked_order = [c.asc() if ascending else c.desc() for c in (walked.c[column.key], walked.c.id)]
        probed = select(walked.c.id).where(matching(walked.c.id)).order_by(*walked_order).limit(1)
        full = base(condition).with_only_columns(Photo.id).order_by(*order).limit(1)
        found = func.coalesce(probed.scalar_subquery(), full.scalar_subquery().correlate(None))
        return select(Photo.id, Photo.sorted_at, Photo.uploaded_at).where(Photo.id == found)

    members = [("newer", first(key > tuple_(*here), True)), ("older", first(key < tuple_(*here), False))]
    if between is not None:
        # Worth walking pages of the range only when at least half of its first PROBED_PHOTOS match.
        sample = near(*between).with_only_columns(Photo.id).limit(PROBED_PHOTOS).subquery()
        dense = (select(func.count(case((matching(sample.c.id), 1))) * 2 >= func.count())
                 .select_from(sample).scalar_subquery())
        probed = PROBED_PAGES * limit
        walked = near(*between).with_only_columns(Photo.id).limit(probed).subquery()
        matched = func.count(case((matching(walked.c.id), 1)))
        # Settled by the walk when it saw the whole range, or a page of matches in it (not on the page).
        settled = case((dense, select(case((or_(func.count() < probed, matched >= limit), matched), else_=null()))
                        .select_from(walked).scalar_subquery()), else_=null())
        counted = select(func.count()).select_from(
            base(*between).with_only_columns(Photo.id).limit(limit).subquery()).scalar_subquery()
        members.append(("place", select(func.coalesce(settled, counted).label("id"),
                                        cast(null(), DateTime).label("sorted_at"),
                                        cast(null(), DateTime).label("uploaded_at"))))
    return members


def _within_bounds(options: GridOptions, build):
    """A function of bounds to the walk `build(first)` (a SELECT with the conditions `first` written first)
    within them, for a photo's neighbours. When a search's own dates bound the walk too, the bounds must
    come before them (walked_order says why), so each member's walk is built with its own (a third more
    CPU for the photo's page); else the walk is built once and each member adds its bounds to it."""
    if options.search is not None and (options.search.taken_from is not None or options.search.taken_to is not None):
        return lambda *bounds: build(bounds)
    walk = build(())
    return lambda *bounds: walk.where(*bounds)


def _between_cursor_and(key, here: tuple, options: GridOptions, older_than: str | None, newer_than: str | None):
    """The conditions on `key` (the sort's date and the photo's id) of the photos that a grid page read
    from its cursor (older_than, newer_than, or the start of the order for neither) walks past before the
    photo at `here`; None when the page cannot show that photo at all (it is on the cursor's other side,
    or the cursor is not one of this sort's)."""
    at = tuple_(*here)
    try:
        cursor = decode_cursor(older_than or newer_than, options.sort) if older_than or newer_than else None
    except ValueError:
        return None
    if older_than:
        return (key < tuple_(*cursor), key > at) if here < cursor else None
    if newer_than:
        return (key > tuple_(*cursor), key < at) if here > cursor else None
    return (key > at,) if options.order == "newest" else (key < at,)


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
