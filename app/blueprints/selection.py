"""An action on a selection of photos: the grid's and the trash page's checkboxes and action menu
post here (services/selection.py does the action), and the answer goes back to the page they came from."""
from __future__ import annotations

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from markupsafe import Markup

from ..errors import wants_json
from ..models import MAX_ALBUM_NAME, MAX_TAG_LENGTH
from ..services import albums, comparison, library, selection, tags
from .auth import safe_next
from .photos import zip_response

bp = Blueprint("selection", __name__)

# The most ids an Undo in a flash message carries: the message lives in the session cookie, which a
# browser keeps to 4 KB. A larger trashing says where to restore it instead.
UNDO_LIMIT = 200


def photos(n: int) -> str:
    return f"{n} photo{'' if n == 1 else 's'}"


@bp.post("/selection")
def act():
    """ids (repeated), action, rating (for "rate"), tag (a tag's name, for "tag" and "untag"), next (the
    page to go back to), confirm (for "delete"), album_id (for "add_to_album": an album's id, or "new"
    with album_name; none asks which) and from_album (for "remove_from_album"); or, for a tag page's
    "Remove from <tag>" button, untag (that tag's name) in place of action and tag."""
    back = safe_next(request.form.get("next")) or url_for("photos.index")
    action, tag = request.form.get("action", ""), request.form.get("tag")
    if "untag" in request.form:
        action, tag = "untag", request.form["untag"]
    photo_ids = selection.ids_from(request.form.getlist("ids"))
    if action == "download":
        return zip_response(selection.photos_to_download(current_user.id, photo_ids), "photos")
    if action == "compare":  # a page to read, not a change: its own GET checks the ids
        if not comparison.FEWEST <= len(photo_ids) <= comparison.MOST and not wants_json():
            flash(f"Select {comparison.FEWEST} to {comparison.MOST} photos to compare; you selected {len(photo_ids)}.")
            return redirect(back, 303)
        return redirect(url_for("compare.show", ids=photo_ids), 303)
    rating = library.rating_from(request.form.get("rating")) if action == "rate" else None
    if action == "delete" and request.form.get("confirm") != "1" and not wants_json():
        return render_template("trash/purge_selection.html", ids=photo_ids, back=back)
    # The album to add to is chosen (album_id); the one to remove from is the page's own (from_album).
    album_id = request.form.get("from_album" if action == "remove_from_album" else "album_id", "").strip()
    if action == "add_to_album" and not album_id and not wants_json():  # the grid's menu names no album
        return render_template("albums/choose.html", ids=photo_ids, back=back,
                               choices=albums.album_choices(current_user.id), max_name=MAX_ALBUM_NAME)
    if action == "add_to_album" and album_id == "new":
        return added_to_new_album(photo_ids, request.form.get("album_name", ""), back)
    outcome = selection.act_on_selection(current_user.id, photo_ids, action, rating, tag,
                                         selection.album_id_from(album_id))
    if wants_json():
        return jsonify(action=action, selected=len(photo_ids), changed=outcome.changed, next=back)
    flash(message(outcome, rating, tag, back))
    return redirect(back, 303)


def added_to_new_album(photo_ids: list[int], name: str, back: str):
    album_id, added = albums.add_photos_to_new_album(current_user, name, photo_ids)
    if wants_json():
        return jsonify(action="add_to_album", selected=len(photo_ids), changed=added, album_id=album_id, next=back)
    flash(Markup(render_template("albums/_added.html", count=len(photo_ids), album_id=album_id,
                                 name=albums.clean_name(name))))
    return redirect(back, 303)


def message(outcome: selection.Outcome, rating: int | None, tag: str | None, back: str):
    selected, changed = len(outcome.selected), outcome.changed
    if outcome.action in selection.NAMES_A_TAG:
        return tag_message(outcome, tags.clean_name(tag), back)
    if outcome.action == "favourite":
        return f"Added {photos(selected)} to your favourites."
    if outcome.action == "unfavourite":
        return f"Removed {photos(selected)} from your favourites."
    if outcome.action == "rate":
        return f"Rated {photos(selected)} {'★' * rating}." if rating else f"Cleared the rating of {photos(selected)}."
    if outcome.action == "trash":
        return Markup(render_template("trash/_undo_selection.html", ids=outcome.selected, count=changed,
                                      back=back, undo=selected <= UNDO_LIMIT))
    if outcome.action == "restore":
        return f"Restored {photos(changed)}."
    if outcome.action == "add_to_album":
        album = albums.find_album(current_user.id, outcome.album_id)
        return Markup(render_template("albums/_added.html", count=selected, album_id=album.id, album=album.name))
    if outcome.action == "remove_from_album":
        return f"Removed {photos(changed)} from this album; they stay in the library."
    return f"Deleted {photos(changed)} for good."


def tag_message(outcome: selection.Outcome, name: str, back: str) -> Markup:
    """Says what a tag action did, with a link to the tag's page (while it has one) and an Undo that
    does the opposite to exactly the photos it changed."""
    selected, changed = len(outcome.selected), outcome.changed
    found = tags.find_tag_named(current_user.id, name)
    label = (Markup("“<a href=\"{}\">{}</a>”").format(url_for("tags.show", tag_id=found.id), found.name)
             if found else f"“{name}”")
    if outcome.action == "tag":
        had = selected - changed
        note = f" {had} of them had it already." if had else ""
        said = Markup("Tagged {} {}.{}").format(photos(selected), label, note)
    else:
        missing = selected - changed
        note = "" if not missing else " The other one did not have it." if missing == 1 else \
            f" The other {missing} did not have it."
        said = Markup("Removed the tag {} from {}.{}").format(label, photos(changed), note)
    return Markup(render_template("tags/_undo_tagging.html", message=said, ids=outcome.changed_ids,
                                  undo_action="untag" if outcome.action == "tag" else "tag",
                                  tag=found.name if found else name, back=back,
                                  undo=0 < changed <= UNDO_LIMIT))


@bp.app_context_processor
def selection_actions() -> dict:
    """What the action menus of the grid and the trash page offer (photos/_selection_bar.html)."""
    return {"action_labels": selection.ACTIONS, "library_actions": selection.IN_LIBRARY,
            "trash_actions": selection.IN_TRASH, "album_actions": selection.IN_ALBUM,
            "tag_max_length": MAX_TAG_LENGTH}
