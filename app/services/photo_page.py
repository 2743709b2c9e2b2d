"""A photo's page in one statement: the photo row with, beside it, its tags, the owner's albums (which
it is in, and the others for the add-to-album picker), its lineage both ways, and the name of the album
or tag its page was opened from (None when that is not the owner's: the caller's 404).

Each of those is a scalar subquery that aggregates its rows into a JSON array (SQLite's
json_group_array, PostgreSQL's json_agg), read back as plain values: one round trip where five
queries were (tests/integration/test_grid_queries.py counts them). The order inside an array is not
the database's to keep: each list is put in order here, as the queries it replaces ordered it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from flask import url_for
from markupsafe import Markup, escape
from redis.exceptions import RedisError
from sqlalchemy import func, literal, select
from sqlalchemy.orm import aliased

from ..extensions import cache as flask_cache
from ..extensions import db
from ..models import Album, AlbumPhoto, Photo, PhotoTag, Tag, User
from . import albums, cache, thumbnails
from .lineage import MAX_DEPTH, MAX_DESCENDANTS, Lineage


# The photos table under the names the lineage walks give it, made once: an alias made per request
# costs more to build (SQLAlchemy adapts each of its columns on first use) than the query takes to run.
_PARENT, _CHILD, _STEP, _FOUND = (aliased(Photo, name=name) for name in ("parent", "child", "step", "found"))


@dataclass(frozen=True)
class TagChip:
    """A tag as the photo's page shows it (tags/_photo_tags.html): its link and its remove button."""

    id: int
    name: str


@dataclass(frozen=True)
class LineagePhoto:
    """A photo of a lineage strip (photos/_lineage.html): its link, name and grid thumbnail."""

    id: int
    original_name: str
    sha256: str

    def thumbnail_url(self, size: str) -> str:
        return url_for("thumbnails.photo", photo_id=self.id, size=size, v=thumbnails.url_version(self.sha256))


@dataclass
class PhotoPage:
    photo: Photo
    tags: list[TagChip]
    # (the albums it is in, tree order; the add-to-album select's options: the others, "" for none)
    albums: tuple[list[albums.AlbumChoice], Markup]
    lineage: Lineage
    context_name: str | None  # the name of the album or tag asked for, when the owner's


def read_photo_page(owner: User, photo_id: int, album_id: int | None = None,
                    tag_id: int | None = None) -> PhotoPage | None:
    """The owner's photo (in the trash or not) and what its page shows; None when the owner has no such
    photo. `album_id` or `tag_id`: the album or tag the page was opened from, whose name comes back when
    it is the owner's.

    The owner's albums in tree order, each with its <option>, are cached until the library changes
    (album_tree): with them cached the statement asks only which albums hold the photo. Every album of
    a library of 1,000 read as JSON, put in tree order and written out as options was about a third of
    the page's CPU (tests/benchmarks/bench_photo_page.py)."""
    key = cache.library_key("album_tree", owner)
    tree = _cached(key)
    album_column = _albums(owner.id, photo_id) if tree is None else _album_ids(photo_id)
    row = db.session.execute(
        select(Photo, _tags(photo_id), album_column, _ancestors(owner.id, photo_id),
               _descendants(owner.id, photo_id), _context_name(owner.id, album_id, tag_id))
        .where(Photo.owner_id == owner.id, Photo.id == photo_id)).first()
    if row is None:
        return None
    photo, tag_rows, album_rows, ancestor_rows, descendant_rows, context_name = row
    tags = [TagChip(t["id"], t["name"]) for t in sorted(_loaded(tag_rows), key=lambda t: (t["key"], t["id"]))]
    if tree is None:
        tree = album_tree(_loaded(album_rows))
        _keep(key, tree)
        members = {a["id"] for a in _loaded(album_rows) if a["member"]}
    else:
        members = {a["id"] for a in _loaded(album_rows)}
    ancestors = [_lineage_photo(p) for p in sorted(_loaded(ancestor_rows), key=lambda p: p["depth"])]
    descendants = [(_lineage_photo(p), p["depth"])
                   for p in sorted(_loaded(descendant_rows), key=lambda p: (p["depth"], p["id"]))]
    return PhotoPage(photo, tags, (
        [albums.AlbumChoice(*album[:5]) for album in tree if album[0] in members],
        Markup("".join(album[5] for album in tree if album[0] not in members))),
        Lineage(ancestors, descendants), context_name)


def album_tree(rows: list[dict]) -> list[tuple]:
    """The owner's albums (rows of _albums) in tree order as plain values, each (id, name, depth, path,
    cover, its <option> of the add-to-album select, escaped as Jinja would)."""
    choices = albums.tree_order([albums.AlbumChoice(a["id"], a["name"], a["path"].count("/") - 2, a["path"],
                                                    a["cover"]) for a in rows])
    return [(c.id, c.name, c.depth, c.path, c.cover_photo_id, f'<option value="{c.id}">{escape(c.label)}</option>')
            for c in choices]


def _cached(key: str):
    try:
        return flask_cache.get(key)
    except RedisError:  # the cache is a help, never a need (services/cache.py): the statement reads them
        return None


def _keep(key: str, value) -> None:
    try:
        flask_cache.set(key, value)
    except RedisError:
        pass


def _tags(photo_id: int):
    """The photo's tags: [{id, name, key}]."""
    return _json_rows(select(Tag.id, Tag.name, Tag.name_key.label("key"))
                      .join(PhotoTag, PhotoTag.tag_id == Tag.id).where(PhotoTag.photo_id == photo_id))


def _albums(owner_id: int, photo_id: int):
    """Every album of the owner's, each saying whether the photo is in it: [{id, name, path, cover, member}]."""
    return _json_rows(select(Album.id, Album.name, Album.path, Album.cover_photo_id.label("cover"),
                             func.count(AlbumPhoto.photo_id).label("member"))
                      .outerjoin(AlbumPhoto, (AlbumPhoto.album_id == Album.id) & (AlbumPhoto.photo_id == photo_id))
                      .where(Album.owner_id == owner_id).group_by(Album.id))


def _album_ids(photo_id: int):
    """The albums the photo is in: [{id}] (the owner's: only the owner's photo is read)."""
    return _json_rows(select(AlbumPhoto.album_id.label("id")).where(AlbumPhoto.photo_id == photo_id))


def _ancestors(owner_id: int, photo_id: int):
    """The chain the photo was made from, the owner's only, as services/lineage.ancestors_of walks it:
    [{id, name, sha256, depth}]."""
    parent, child, step, found = _PARENT, _CHILD, _STEP, _FOUND
    chain = (select(parent.id, parent.derived_from_id, literal(1).label("depth"))
             .join(child, child.derived_from_id == parent.id).where(child.id == photo_id)
             .cte("chain", recursive=True))
    chain = chain.union_all(select(step.id, step.derived_from_id, (chain.c.depth + 1).label("depth"))
                            .join(chain, step.id == chain.c.derived_from_id).where(chain.c.depth < MAX_DEPTH))
    return _json_rows(select(found.id, found.original_name.label("name"), found.sha256, chain.c.depth)
                      .join(chain, found.id == chain.c.id).where(found.owner_id == owner_id))


def _descendants(owner_id: int, photo_id: int):
    """The photos made from this one, and from those, nearest first, the owner's only, at most
    MAX_DESCENDANTS, as services/lineage.descendants_of walks them: [{id, name, sha256, depth}]."""
    start, step, found = _CHILD, _STEP, _FOUND
    tree = (select(start.id, literal(1).label("depth")).where(start.derived_from_id == photo_id)
            .cte("tree", recursive=True))
    tree = tree.union_all(select(step.id, (tree.c.depth + 1).label("depth"))
                          .join(tree, step.derived_from_id == tree.c.id).where(tree.c.depth < MAX_DEPTH))
    nearest = (select(found.id, found.original_name.label("name"), found.sha256, tree.c.depth)
               .join(tree, found.id == tree.c.id).where(found.owner_id == owner_id)
               .order_by(tree.c.depth, found.id).limit(MAX_DESCENDANTS).subquery())
    return _json_rows(select(*nearest.c))


def _context_name(owner_id: int, album_id: int | None, tag_id: int | None):
    """The name of the album (else the tag) asked for when it is the owner's, else NULL."""
    if album_id is not None:
        return select(Album.name).where(Album.id == album_id, Album.owner_id == owner_id).scalar_subquery()
    if tag_id is not None:
        return select(Tag.name).where(Tag.id == tag_id, Tag.owner_id == owner_id).scalar_subquery()
    return literal(None)


def _json_rows(query):
    """A scalar subquery of `query`'s rows as one JSON array of objects keyed by its column names."""
    rows = query.subquery()
    pairs = [part for column in rows.c for part in (literal(column.key), column)]
    if db.session.get_bind().dialect.name == "postgresql":
        aggregate = func.json_agg(func.json_build_object(*pairs))
    else:
        aggregate = func.json_group_array(func.json_object(*pairs))
    return select(aggregate).select_from(rows).correlate(None).scalar_subquery()


def _loaded(value) -> list[dict]:
    """A JSON array as the driver hands it back: text (SQLite), parsed already (psycopg), NULL for none
    (PostgreSQL's json_agg over no rows)."""
    if value is None:
        return []
    return json.loads(value) if isinstance(value, str) else value


def _lineage_photo(row: dict) -> LineagePhoto:
    return LineagePhoto(row["id"], row["name"], row["sha256"])
