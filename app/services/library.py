"""A library's marks on its photos: favourites and star ratings (photos and kept generations alike).

Each write retires the owner's cached reads in its own transaction (cache.clear_library), since the
grid's cached rows carry the marks and its favourites and rating filters select by them.
"""
from __future__ import annotations

import logging

from flask import current_app
from sqlalchemy import or_, update

from ..database import run_unit_of_work
from ..errors import GalleryError
from ..extensions import db
from ..models import MAX_RATING, Photo
from . import cache

log = logging.getLogger(__name__)

RATINGS = range(MAX_RATING + 1)  # 0 is unrated


class InvalidMark(GalleryError):
    """A favourite or a rating the gallery does not know: said in words, nothing changed."""


def set_favourite(photo: Photo, favourite: bool) -> None:
    """Mark `photo` as a favourite of its owner's, or unmark it."""
    favourite_photos(photo.owner_id, [photo.id], favourite)


def set_rating(photo: Photo, rating: int) -> None:
    """Give `photo` 0 (unrated) to MAX_RATING stars."""
    rate_photos(photo.owner_id, [photo.id], rating)


def rating_from(text: str | None) -> int:
    """A rating as a form sends it ("0" to "5"); InvalidMark for anything else ("7", "x", "", " 3")."""
    if text is None or text not in {str(n) for n in RATINGS}:
        raise InvalidMark(f"A rating is a whole number of stars from 0 to {MAX_RATING}.")
    return int(text)


def favourite_from(text: str | None) -> bool:
    """A favourite as a form sends it: "1" (a favourite) or "0"; InvalidMark for anything else."""
    if text not in ("0", "1"):
        raise InvalidMark("Say favourite=1 to mark a favourite, favourite=0 to unmark it.")
    return text == "1"


# --- one photo (its page) or many at once (a selection in the grid: services/selection.py) -----

def favourite_photos(owner_id: int, photo_ids: list[int], favourite: bool) -> int:
    """Mark (or unmark) the owner's photos among `photo_ids` as favourites in one UPDATE; how many changed."""
    if not isinstance(favourite, bool):
        raise InvalidMark("A favourite is yes or no.")
    return _set_many(owner_id, photo_ids, favourite=favourite)


def rate_photos(owner_id: int, photo_ids: list[int], rating: int) -> int:
    """Give the owner's photos among `photo_ids` `rating` stars in one UPDATE; how many changed."""
    if isinstance(rating, bool) or not isinstance(rating, int) or rating not in RATINGS:
        raise InvalidMark(f"A rating is a whole number of stars from 0 to {MAX_RATING}, not {rating!r}.")
    return _set_many(owner_id, photo_ids, rating=rating)


def _set_many(owner_id: int, photo_ids: list[int], **values) -> int:
    """One set-based UPDATE of the rows that differ and one library version bump, committed together.
    The marks are no counts, so a photo in the trash may be marked too (it keeps them when restored)."""
    photos = Photo.__table__
    differs = [photos.c[name] != value for name, value in values.items()]

    def work() -> int:
        changed = db.session.execute(
            update(photos).where(photos.c.owner_id == owner_id, photos.c.id.in_(photo_ids), or_(*differs))
            .values(**values)).rowcount
        if changed:
            cache.clear_library(owner_id)
        db.session.commit()
        return changed

    if not photo_ids:
        return 0
    changed = run_unit_of_work(work, current_app.config["DB_RETRY_ATTEMPTS"])
    log.info("user %s: %d of %d photos %s", owner_id, changed, len(photo_ids),
             ", ".join(f"{name}={value}" for name, value in values.items()))
    return changed
