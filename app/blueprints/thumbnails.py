"""Serves thumbnails, re-made when missing, with validators and long-lived cache headers."""
from __future__ import annotations

from flask import Blueprint, abort
from flask_login import current_user

from ..access import own_image_or_404, own_photo_or_404
from ..database import reads_and_writes
from ..errors import RejectedFile
from ..models import MAX_ID
from ..services import photos as photo_service
from ..services import thumbnails
from .photos import send_photo_file

bp = Blueprint("thumbnails", __name__, url_prefix="/thumbnails")

ONE_YEAR = 365 * 24 * 3600


@bp.get(f"/<int(max={MAX_ID}):photo_id>/<size>")
@reads_and_writes
def photo(photo_id: int, size: str):
    if size not in thumbnails.SIZES:
        abort(404, "No such thumbnail size.")
    found = thumbnails.find_thumbnail(current_user, photo_id, size)
    if found is None:
        abort(404, "No such photo.")
    try:
        return immutable_file(found.path, found.relative_path, found.thumbnail_ext)
    except FileNotFoundError:
        pass  # deleted by hand, or the thumbnail settings changed: make it again
    row = own_photo_or_404(photo_id)
    try:
        path = thumbnails.ensure_thumbnail(row, size)
    except (FileNotFoundError, RejectedFile):
        abort(404, "The original of this photo is missing or unreadable, so its thumbnail cannot be made.")
    return immutable_file(path, row.thumbnail_path(size), row.thumbnail_ext)


@bp.get(f"/candidates/<int(max={MAX_ID}):image_id>/<size>")
def candidate(image_id: int, size: str):
    """A generation candidate's thumbnail (made when it was downloaded)."""
    if size not in thumbnails.SIZES:
        abort(404, "No such thumbnail size.")
    image = own_image_or_404(image_id)
    if image.state != "done" or not image.file_path:
        abort(404, "This image is not downloaded yet.")
    path = photo_service.storage.resolve(photo_service.photos_root(), image.thumbnail_path(size))
    if not path.is_file():
        abort(404, "This image's thumbnail is missing.")
    return immutable_file(path, image.thumbnail_path(size), image.thumbnail_ext)


def immutable_file(path, relative_path: str, thumbnail_ext: str):
    response = send_photo_file(path, relative_path, mimetype=thumbnails.TYPES[thumbnail_ext], etag=True,
                               max_age=ONE_YEAR)
    # The URL carries the image's version, so the browser may keep it for good; never a shared cache.
    response.cache_control.immutable = True
    response.cache_control.private = True
    response.cache_control.public = False
    return response
