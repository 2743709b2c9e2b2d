"""The trash page, restore, delete for good and empty the trash. (Moving to the trash is the photo's
delete route, in photos.py.)"""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from ..access import own_photo_or_404
from ..database import reads_and_writes
from ..errors import wants_json
from ..services import trash
from .photos import PHOTO_ID

bp = Blueprint("trash", __name__)


@bp.get("/trash")
@reads_and_writes
def index():
    """The trash, most recently trashed first; what has passed its days is deleted for good first."""
    trash.purge_due(current_user.id)
    try:
        page = trash.trash_page(current_user.id, request.args.get("older"), request.args.get("newer"),
                                current_app.config["PAGE_SIZE"])
    except ValueError:
        abort(400, "That page link is not valid.")
    return render_template("trash/index.html", page=page, removal_date=trash.removal_date,
                           days=trash.trash_days())


@bp.post(f"/photos/{PHOTO_ID}/restore")
def restore(photo_id: int):
    photo = own_photo_or_404(photo_id)
    name = photo.original_name
    restored = trash.restore_from_trash(current_user.id, [photo.id]) == 1
    if wants_json():
        return jsonify(photo_id=photo_id, in_trash=False, restored=restored,
                       url=url_for("photos.detail", photo_id=photo_id))
    flash(f"Restored {name}." if restored else f"{name} is not in the trash.")
    if request.form.get("back") == "trash":
        return redirect(url_for("trash.index"))
    return redirect(url_for("photos.detail", photo_id=photo_id))


@bp.get(f"/photos/{PHOTO_ID}/purge")
def confirm_purge(photo_id: int):
    photo = own_photo_or_404(photo_id)
    if photo.trashed_at is None:
        flash(f"{photo.original_name} is not in the trash: move it to the trash first.")
        return redirect(url_for("photos.detail", photo_id=photo_id))
    return render_template("trash/purge.html", photo=photo)


@bp.post(f"/photos/{PHOTO_ID}/purge")
def purge(photo_id: int):
    """Delete for good a photo in the trash (409 for one in the library)."""
    photo = own_photo_or_404(photo_id)
    name = photo.original_name
    trash.delete_forever(photo)
    if wants_json():
        return jsonify(photo_id=photo_id, deleted=True)
    flash(f"Deleted {name} for good.")
    return redirect(url_for("trash.index"))


@bp.get("/trash/empty")
def confirm_empty():
    return render_template("trash/empty.html")


@bp.post("/trash/empty")
def empty():
    deleted = trash.empty_trash(current_user.id)
    if wants_json():
        return jsonify(deleted=deleted)
    flash(f"Emptied the trash: {deleted} photo{'' if deleted == 1 else 's'} deleted for good.")
    return redirect(url_for("trash.index"))
