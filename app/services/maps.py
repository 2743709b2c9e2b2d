"""Maps: where a library's geotagged photos are, for the Map page's markers, and the tile settings."""
from __future__ import annotations

from flask import current_app

from ..extensions import db
from ..models import Photo, User
from . import cache
from . import photos as photo_service


def tile_settings() -> dict[str, str] | None:
    """The tile URL and attribution maps are drawn with, or None when MAP_TILE_URL is off (no map at all)."""
    url = current_app.config["MAP_TILE_URL"]
    return {"url": url, "attribution": current_app.config["MAP_ATTRIBUTION"]} if url else None


def geotagged_photos(owner: User) -> list[tuple]:
    """(id, latitude, longitude, sha256, original_name) of every photo of the owner's library with a place,
    newest taken first: one SELECT, cached until the library changes."""
    def read():
        query = photo_service.photos_of(owner.id, None).with_only_columns(
            Photo.id, Photo.gps_latitude, Photo.gps_longitude, Photo.sha256, Photo.original_name).where(
            Photo.gps_latitude.is_not(None), Photo.gps_longitude.is_not(None)).order_by(
            Photo.sorted_at.desc(), Photo.id.desc())
        return [tuple(row) for row in db.session.execute(query)]
    return cache.read_through(cache.library_key("map", owner), read)
