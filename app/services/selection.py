"""An action on a selection of many photos (the checkboxes of the grid, an album's page, a tag's page and
the trash page): favourite, unfavourite, rate, add or remove a tag, add to an album or remove from one,
move to the trash, restore, delete for good.

Every id must be one of the owner's photos, checked by one query before anything is written: an
unknown or foreign id refuses the whole action, so nothing is ever half done. Each action is then one
set-based statement in one transaction with one library version bump (services/library.py,
services/tags.py, services/trash.py), except deleting for good, which goes a photo at a time through
the crash-safe delete and commits each (trash.delete_each_forever says why) because it removes files
as well as rows: checked whole before it starts like the others, but a failure part way through leaves
the photos before it deleted.

To add an action (an album's "add"), give ACTIONS a line, IN_LIBRARY (or IN_TRASH) its place, and
act_on_selection a branch that calls the action's own service.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import func, select

from ..errors import GalleryError, UnknownPhotos
from ..extensions import db
from ..models import Photo, User, is_id
from . import albums, labels, library, tags, trash

log = logging.getLogger(__name__)

# action -> what the action menu calls it. Where it is offered: IN_LIBRARY on the grid, IN_TRASH on the
# trash page.
ACTIONS = {
    "favourite": "Add to favourites",
    "unfavourite": "Remove from favourites",
    "rate": "Rate",
    "tag": "Add a tag",
    "untag": "Remove a tag",
    "add_to_album": "Add to an album",
    "remove_from_album": "Remove from this album",
    "trash": "Move to trash",
    "restore": "Restore",
    "delete": "Delete forever",
    "download": "Download as zip",
    "compare": "Compare (2 to 4)",
}
IN_LIBRARY = ["favourite", "unfavourite", "rate", "tag", "untag", "add_to_album", "trash", "download", "compare"]
NAMES_A_TAG = ("tag", "untag")  # the actions that read the menu's tag field
IN_TRASH = ["restore", "delete", "compare"]  # compare: which of two near-twins to delete for good
IN_ALBUM = ["remove_from_album", *IN_LIBRARY]  # on an album's page, whose album the form names


class BadSelection(GalleryError):
    """A selection or an action the gallery will not carry out, said in words; nothing changed."""


class SelectionTooLarge(BadSelection):
    status = 413


@dataclass
class Outcome:
    action: str
    selected: list[int]  # the ids named, each once, in the order sent
    changed: int  # photos the action changed (a favourite already a favourite is not counted)
    changed_ids: list[int] | None = None  # which, where an Undo needs them (a tag's actions)
    album_id: int | None = None  # the album photos were added to or removed from


def ids_from(values: list[str]) -> list[int]:
    """Photo ids as a form sends them (repeated `ids`, or comma-separated as an Undo sends them), each
    once, in order; BadSelection for an empty selection, a value that is not an id, or more than
    GALLERY_MAX_SELECTION."""
    values = [part for value in values for part in value.split(",")]
    if not values:
        raise BadSelection("Select at least one photo first.")
    limit = current_app.config["MAX_SELECTION"]
    if len(values) > limit:
        raise SelectionTooLarge(f"At most {limit} photos can be changed at once; {len(values)} were selected.")
    return ids_in(values)


def ids_in(values: list[str], what: str = "photo") -> list[int]:
    """The ids `values` write, each once, in order; BadSelection naming the first value that is not one."""
    ids: dict[int, None] = {}
    for value in values:
        if not is_id(value):
            raise BadSelection(f"{value[:20]!r} is not a {what} id.")
        ids[int(value)] = None
    return list(ids)


def album_id_from(value: str | None) -> int | None:
    """The album a form names ("" for none); BadSelection for a value that is not an id."""
    if not value:
        return None
    if not is_id(value):
        raise BadSelection(f"{value[:20]!r} is not an album id.")
    return int(value)


def act_on_selection(owner_id: int, photo_ids: list[int], action: str, rating: int | None = None,
                     tag: str | None = None, album_id: int | None = None) -> Outcome:
    """Carry out `action` on the owner's photos `photo_ids`, all or none of them; `rating` is the stars
    of "rate", `tag` the tag's name of "tag" and "untag", `album_id` the album of "add_to_album" and
    "remove_from_album"."""
    if action == "download":
        raise BadSelection("A download changes nothing: ask for photos_to_download instead.")
    if action == "compare":
        raise BadSelection("A comparison changes nothing: open the compare page instead.")
    if action not in ACTIONS:
        raise BadSelection(f"{action[:40]!r} is not something a selection can do; choose one of: "
                           f"{', '.join(ACTIONS)}.")
    if action == "rate" and rating is None:
        raise BadSelection("Choose how many stars to give.")
    if action in ("add_to_album", "remove_from_album") and album_id is None:
        raise BadSelection("Choose an album first.")
    if action in NAMES_A_TAG:
        tag = tags.clean_name(tag or "")  # InvalidTag, in words, before anything is read
    if not photo_ids:
        raise BadSelection("Select at least one photo first.")
    owned, in_trash = _count_owned(owner_id, photo_ids)
    if owned != len(photo_ids):
        missing = len(photo_ids) - owned
        raise UnknownPhotos(f"{missing} of the {len(photo_ids)} selected photos {'is' if missing == 1 else 'are'} "
                            "not in your gallery; nothing was changed.")
    if action == "delete" and in_trash != owned:
        raise BadSelection("Only photos in the trash can be deleted for good: move them to the trash first; "
                           "nothing was changed.")
    changed_ids = None
    if action in ("favourite", "unfavourite"):
        changed = library.favourite_photos(owner_id, photo_ids, action == "favourite")
    elif action == "rate":
        changed = library.rate_photos(owner_id, photo_ids, rating)
    elif action in NAMES_A_TAG:
        change = tags.add_tag_to_photos if action == "tag" else tags.remove_tag_from_photos
        changed_ids = change(db.session.get_one(User, owner_id), photo_ids, tag)
        changed = len(changed_ids)
    elif action == "trash":
        changed = trash.move_to_trash(owner_id, photo_ids)
    elif action == "restore":
        changed = trash.restore_from_trash(owner_id, photo_ids)
    elif action == "add_to_album":
        changed = albums.add_photos(owner_id, album_id, photo_ids)
    elif action == "remove_from_album":
        changed = albums.remove_photos(owner_id, album_id, photo_ids)
    else:
        changed = trash.delete_each_forever(photo_ids)
    log.info("user %s: %s on %d selected photos changed %d", owner_id, action, len(photo_ids), changed)
    return Outcome(action, photo_ids, changed, changed_ids, album_id)


def _count_owned(owner_id: int, photo_ids: list[int]) -> tuple[int, int]:
    """How many of `photo_ids` are the owner's, and how many of those are in the trash: one query (one
    IN list, within every database's bound-parameter limit: config.py caps GALLERY_MAX_SELECTION)."""
    row = db.session.execute(
        select(func.count(), func.count(Photo.trashed_at))
        .where(Photo.owner_id == owner_id, Photo.id.in_(photo_ids))).one()
    return row[0], row[1]


def photos_to_download(owner_id: int, photo_ids: list[int]) -> list:
    """The selected photos, in the order selected, as rows of original_path, original_name, taken_at and
    what a label needs (all a zip needs); UnknownPhotos when any id is not one of the owner's."""
    rows = {row.id: row for row in db.session.execute(labels.with_label_columns(
        select(Photo.id, Photo.original_path, Photo.original_name, Photo.taken_at)
        .where(Photo.owner_id == owner_id, Photo.id.in_(photo_ids))))}
    if len(rows) != len(photo_ids):
        missing = len(photo_ids) - len(rows)
        raise UnknownPhotos(f"{missing} of the {len(photo_ids)} selected photos {'is' if missing == 1 else 'are'} "
                            "not in your gallery; nothing was downloaded.")
    return [rows[photo_id] for photo_id in photo_ids]
