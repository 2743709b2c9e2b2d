"""Thumbnails: the small images the grid and the photo page show, made from each original.

A photo has one thumbnail of each size, *grid* and *preview* (GRID_SIZE and PREVIEW_SIZE are their
long edges; never larger than the photo), in thumbnails/ mirroring the original's path:
uploaded/D/x.png -> thumbnails/uploaded/D/x.grid.jpg. They are JPEG, or WebP when the photo has
alpha; the row's thumbnail_ext says which. Their URL carries a version (the photo's SHA-256 prefix
and a tag of the settings they were made with), so a browser may keep them for good.

They are made at ingest and when a generated image is downloaded, and made again from the original
on request when one is missing (find_thumbnail, ensure_thumbnail), by `flask thumbnails rebuild`
(batch) and by `flask gallery check --repair` (repair_thumbnail). Every write goes through
storage.placing: written once to a temp file in .tmp, renamed once into place.

The encoding itself is processing.write_thumbnails: import worker processes make thumbnails
without loading the app, and this module needs the app (config, database, cache).
"""
from __future__ import annotations

import functools
import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from flask import current_app
from sqlalchemy import select
from werkzeug.security import safe_join

from ..extensions import db
from ..models import Photo, User
from . import cache, imaging, photos, processing, storage
from .imaging import fitted_size  # noqa: F401  (a thumbnail's size, for Photo.fitted_size)

log = logging.getLogger(__name__)

SIZES = ("grid", "preview")
TYPES = {"jpg": "image/jpeg", "webp": "image/webp"}  # extension -> content type
# Raise when the pixel work of thumbnails changes (resampling, encoder options): their URLs change.
CODE_VERSION = 2


def sizes() -> dict[str, int]:
    """Each size's long edge, as configured."""
    config = current_app.config
    return {"preview": config["PREVIEW_SIZE"], "grid": config["GRID_SIZE"]}


def thumbnail_path(original_path: str, size: str, ext: str) -> str:
    """thumbnails/ mirroring the original: uploaded/D/x.png -> thumbnails/uploaded/D/x.grid.jpg."""
    original = PurePosixPath(original_path)
    return str(PurePosixPath("thumbnails") / original.parent / f"{original.stem}.{size}.{ext}")


def destinations(original_path: str, ext: str, temps: dict[str, Path]) -> dict[str, Path]:
    """Where each thumbnail in `temps` (size -> temp file) goes, for storage.Placing.files."""
    return {thumbnail_path(original_path, size, ext): temp for size, temp in temps.items()}


def url_version(sha256: str, settings_tag: str | None = None) -> str:
    """The image's SHA-256 prefix and a tag of the settings its thumbnails were made with (hex)."""
    return sha256[:12] + (settings_tag or current_settings_tag())


def current_settings_tag() -> str:
    """Six hex digits that change when the thumbnails' size or quality settings do."""
    config = current_app.config
    return _settings_tag(config["GRID_SIZE"], config["PREVIEW_SIZE"], config["JPEG_QUALITY"])


@functools.lru_cache(maxsize=8)
def _settings_tag(grid_size: int, preview_size: int, jpeg_quality: int) -> str:
    """Hashed once per settings, not once per thumbnail URL on every grid page."""
    settings = f"{grid_size}:{preview_size}:{jpeg_quality}:{CODE_VERSION}"
    return hashlib.sha256(settings.encode()).hexdigest()[:6]


# --- making ---------------------------------------------------------------------------------

def make_thumbnails(place: storage.Placing, original_path: str, decoded: imaging.DecodedImage) -> str:
    """Write the thumbnails of a decode and place them for the original at `original_path`, as part
    of `place`; their extension."""
    ext, temps = processing.write_thumbnails(place, decoded, current_app.config["JPEG_QUALITY"])
    place.files(destinations(original_path, ext, temps))
    return ext


def repair_thumbnail(relative: str, decoded: imaging.DecodedImage, size: str, ext: str) -> None:
    """Make the `size` thumbnail at `relative` again from a decode of its original."""
    quality = current_app.config["JPEG_QUALITY"]
    with storage.placing(photos.photos_root(), "repair") as place:
        place.files({relative: place.write(f"{size}.{ext}", lambda temp: processing.encode_thumbnail(
            decoded.thumbnails[size], temp, ext, quality, decoded.thumbnail_profile))})


# --- serving and re-making on request ----------------------------------------------------------

@dataclass
class ThumbnailFile:
    path: str  # absolute
    relative_path: str  # under photos/
    thumbnail_ext: str


def find_thumbnail(owner: User, photo_id: int, size: str) -> ThumbnailFile | None:
    """Where the owner's photo keeps its `size` thumbnail; None when the owner has no such photo.

    The hot path of every grid (60 requests a page): the row's two columns are kept in the cache,
    and the path is joined by safe_join (string checks, no resolve() syscalls). A kept entry can
    only name this photo's own files (the key has the owner; a path is never reused), and the
    caller sends the file, falling back to ensure_thumbnail when it is not there: a photo deleted
    or re-made since is a missing file, never another photo's. The key carries the owner's library
    version, so a change of thumbnail type is never served from an old entry.
    """
    row = cache.read_through(cache.thumbnail_key(owner, photo_id), lambda: _thumbnail_columns(owner.id, photo_id))
    if row is None:
        return None
    original_path, ext = row
    relative = thumbnail_path(original_path, size, ext)
    path = safe_join(str(photos.photos_root()), relative)
    if path is None:
        raise ValueError(f"path leaves the photos folder: {relative!r}")
    return ThumbnailFile(path, relative, ext)


def _thumbnail_columns(owner_id: int, photo_id: int) -> tuple[str, str] | None:
    row = db.session.connection().execute(select(Photo.original_path, Photo.thumbnail_ext).where(
        Photo.owner_id == owner_id, Photo.id == photo_id)).first()
    return (row.original_path, row.thumbnail_ext) if row else None


def ensure_thumbnail(photo: Photo, size: str) -> Path:
    """The thumbnail's path, both sizes made again from the original when it is missing.

    FileNotFoundError when the original is gone, RejectedFile when it no longer decodes.
    """
    path = storage.resolve(photos.photos_root(), photo.thumbnail_path(size))
    if path.exists():
        return path
    replace_thumbnails(photo, *processing.render_original(photo.original_path, photos.image_settings()))
    log.info("re-made missing thumbnails of photo %s", photo.id)
    return storage.resolve(photos.photos_root(), photo.thumbnail_path(size))


def replace_thumbnails(photo: Photo, ext: str, temps: dict[str, Path]) -> None:
    """Put new thumbnails (size -> temp file) over the photo's old ones; all or nothing."""
    root = photos.photos_root()
    old = []
    with storage.placing(root, "remake", temps=temps.values()) as place:
        place.files(destinations(photo.original_path, ext, temps))
        if ext != photo.thumbnail_ext:  # the decoder now judges the alpha otherwise
            old = [storage.resolve(root, photo.thumbnail_path(size)) for size in temps]
            photo.thumbnail_ext = ext
            cache.clear_library(photo.owner_id)
            db.session.commit()
    storage.remove_files(old)


@dataclass
class ColourReport:
    coloured: int = 0
    problems: list[tuple[int, str]] = field(default_factory=list)  # (photo id, why) of grid thumbnails that could not be read


def fill_missing_colours(batch: int = 500, on_photo=None) -> ColourReport:
    """Give every photo without a placeholder colour (stored before colours were kept) the average colour
    of its grid thumbnail, a batch of rows a transaction, retiring the owners' cached grids with it. Reads
    the small thumbnails, not the originals: a few milliseconds a photo."""
    from PIL import Image  # only this command reads thumbnails' pixels in the app's process
    report, after = ColourReport(), 0
    root = photos.photos_root()
    table = Photo.__table__
    while True:
        rows = db.session.execute(select(Photo.id, Photo.owner_id, Photo.original_path, Photo.thumbnail_ext)
                                  .where(Photo.colour.is_(None), Photo.id > after).order_by(Photo.id).limit(batch)).all()
        if not rows:
            return report
        owners = set()
        for photo_id, owner_id, original_path, ext in rows:
            try:
                with Image.open(storage.resolve(root, thumbnail_path(original_path, "grid", ext))) as image:
                    colour = processing.average_colour(image)
            except (OSError, ValueError) as exc:
                report.problems.append((photo_id, str(exc)))
                continue
            db.session.execute(table.update().where(table.c.id == photo_id).values(colour=colour))
            owners.add(owner_id)
            report.coloured += 1
            if on_photo:
                on_photo()
        for owner_id in owners:
            cache.clear_library(owner_id)
        db.session.commit()
        after = rows[-1][0]
