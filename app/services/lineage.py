"""Which photo a photo was made from by image to image, and what was made from it, across generations.

A kept image carries the photo its session started from (photos.derived_from_id, set NULL when that photo
is deleted for good). Both walks are one recursive query each, bounded in depth, so a long chain costs one
round trip and a cycle (which the gallery never makes) cannot run away.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import literal, select

from ..extensions import db
from ..models import Photo

MAX_DEPTH = 12  # generations shown each way
MAX_DESCENDANTS = 48  # photos listed under "Made from this"


@dataclass
class Lineage:
    ancestors: list[Photo]  # the photo it was made from first, then that one's, and so on
    descendants: list[tuple[Photo, int]]  # (photo, generation: 1 for made from this one directly)


def lineage_of(photo: Photo) -> Lineage:
    return Lineage(ancestors_of(photo), descendants_of(photo))


def ancestors_of(photo: Photo) -> list[Photo]:
    """The chain of photos this one was made from, nearest first, the owner's only."""
    if photo.derived_from_id is None:
        return []
    chain = (select(Photo.id, Photo.derived_from_id, literal(1).label("depth"))
             .where(Photo.id == photo.derived_from_id).cte("chain", recursive=True))
    chain = chain.union_all(select(Photo.id, Photo.derived_from_id, (chain.c.depth + 1).label("depth"))
                            .join(chain, Photo.id == chain.c.derived_from_id).where(chain.c.depth < MAX_DEPTH))
    return list(db.session.scalars(select(Photo).join(chain, Photo.id == chain.c.id)
                                   .where(Photo.owner_id == photo.owner_id).order_by(chain.c.depth)))


def descendants_of(photo: Photo) -> list[tuple[Photo, int]]:
    """The photos made from this one, then those made from them, nearest generation first, the owner's only."""
    tree = (select(Photo.id, literal(1).label("depth")).where(Photo.derived_from_id == photo.id)
            .cte("tree", recursive=True))
    tree = tree.union_all(select(Photo.id, (tree.c.depth + 1).label("depth"))
                          .join(tree, Photo.derived_from_id == tree.c.id).where(tree.c.depth < MAX_DEPTH))
    rows = db.session.execute(select(Photo, tree.c.depth).join(tree, Photo.id == tree.c.id)
                              .where(Photo.owner_id == photo.owner_id)
                              .order_by(tree.c.depth, Photo.id).limit(MAX_DESCENDANTS))
    return [(found, depth) for found, depth in rows]
