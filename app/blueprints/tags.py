"""Tags: a photo's tags (add, remove), the owner's tags with their counts, a tag's page (the grid's
sort, filters and paging), rename (a merge when the name is taken) and delete."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from ..access import own_photo_or_404, own_tag_or_404, own_tag_view_or_404
from ..errors import wants_json
from ..models import MAX_ID, MAX_TAG_LENGTH
from ..services import tags
from .photos import PHOTO_ID, requested_options

bp = Blueprint("tags", __name__)

TAG_ID = f"<int(max={MAX_ID}):tag_id>"


@bp.get("/tags")
def index():
    """The owner's tags with their counts; as JSON for the selection menu's list of names (gallery.js)."""
    counts = tags.tags_of_owner(current_user)
    if wants_json():
        return jsonify(tags=[{"id": count.tag.id, "name": count.tag.name, "photos": count.photos} for count in counts])
    return render_template("tags/index.html", counts=counts, max_length=MAX_TAG_LENGTH)


@bp.get(f"/tags/{TAG_ID}")
def show(tag_id: int):
    tag, options = own_tag_view_or_404(tag_id), requested_options()
    try:
        page = tags.tag_page(current_user, tag, options, request.args.get("older"), request.args.get("newer"),
                             current_app.config["PAGE_SIZE"])
    except ValueError:
        abort(400, "That page link is not valid.")
    return render_template("tags/show.html", tag=tag, page=page, options=options,
                           total=tag.photos, max_length=MAX_TAG_LENGTH)


@bp.post(f"/tags/{TAG_ID}/rename")
def rename(tag_id: int):
    """Rename for the whole library; onto another tag's name, the two become one."""
    tag = own_tag_or_404(tag_id)
    old_name = tag.name
    kept = tags.rename_tag(current_user, tag, request.form.get("name", ""))
    if wants_json():
        return jsonify(tag={"id": kept.id, "name": kept.name}, merged=kept.id != tag_id)
    flash(f"Merged “{old_name}” into “{kept.name}”." if kept.id != tag_id else f"Renamed “{old_name}” to “{kept.name}”.")
    return redirect(url_for("tags.show", tag_id=kept.id), 303)


@bp.post(f"/tags/{TAG_ID}/delete")
def delete(tag_id: int):
    """Delete the tag; its photos stay in the library."""
    tag = own_tag_or_404(tag_id)
    name = tag.name
    tags.delete_tag(current_user, tag)
    if wants_json():
        return jsonify(tag_id=tag_id, deleted=True)
    flash(f"Deleted the tag “{name}”; its photos stay in the library.")
    return redirect(url_for("tags.index"), 303)


@bp.post(f"/photos/{PHOTO_ID}/tags")
def add(photo_id: int):
    """The photo page's "Add tags" field: comma-separated names."""
    photo = own_photo_or_404(photo_id)
    added = tags.tag_photos(current_user, [photo.id], tags.names_from(request.form.get("names")))
    if wants_json():
        return jsonify(photo_id=photo_id, tags=[{"id": tag.id, "name": tag.name} for tag in added])
    return redirect(url_for("photos.detail", photo_id=photo_id), 303)


@bp.post(f"/photos/{PHOTO_ID}/tags/{TAG_ID}/remove")
def remove(photo_id: int, tag_id: int):
    photo, tag = own_photo_or_404(photo_id), own_tag_or_404(tag_id)
    tags.untag_photos(current_user, [photo.id], [tag.id])
    if wants_json():
        return jsonify(photo_id=photo_id, tag_id=tag_id, removed=True)
    return redirect(url_for("photos.detail", photo_id=photo_id), 303)
