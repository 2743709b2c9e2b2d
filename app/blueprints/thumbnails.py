"""Serves renditions, re-made when missing, with validators and long-lived cache headers."""
from __future__ import annotations

from flask import Blueprint, abort
from flask_login import current_user

from ..access import own_image_or_404, own_photo_or_404
from ..errors import RejectedFile
from ..models import MAX_ID, RENDITION_SIZES
from ..services import photos as photo_service
from ..services.imaging import RENDITION_TYPES
from .photos import send_photo_file

bp = Blueprint("thumbnails", __name__, url_prefix="/thumbnails")

ONE_YEAR = 365 * 24 * 3600


@bp.get(f"/<int(max={MAX_ID}):photo_id>/<size>")
def rendition(photo_id: int, size: str):
    if size not in RENDITION_SIZES:
        abort(404, "No such rendition size.")
    found = photo_service.find_rendition(current_user, photo_id, size)
    if found is None:
        abort(404, "No such photo.")
    try:
        return immutable_file(found.path, found.relative_path, found.rendition_ext)
    except FileNotFoundError:
        pass  # deleted by hand, or the rendition settings changed: make it again
    photo = own_photo_or_404(photo_id)
    try:
        path = photo_service.ensure_rendition(photo, size)
    except (FileNotFoundError, RejectedFile):
        abort(404, "The original of this photo is missing or unreadable, so its rendition cannot be made.")
    return immutable_file(path, photo.rendition_path(size), photo.rendition_ext)


@bp.get(f"/candidates/<int(max={MAX_ID}):image_id>/<size>")
def candidate(image_id: int, size: str):
    """A generation candidate's rendition (made when it was downloaded)."""
    if size not in RENDITION_SIZES:
        abort(404, "No such rendition size.")
    image = own_image_or_404(image_id)
    if image.state != "done" or not image.file_path:
        abort(404, "This image is not downloaded yet.")
    path = photo_service.storage.resolve(photo_service.photos_root(), image.rendition_path(size))
    if not path.is_file():
        abort(404, "This image's rendition is missing.")
    return immutable_file(path, image.rendition_path(size), image.rendition_ext)


def immutable_file(path, relative_path: str, rendition_ext: str):
    response = send_photo_file(path, relative_path, mimetype=RENDITION_TYPES[rendition_ext], etag=True,
                               max_age=ONE_YEAR)
    # The URL carries the image's version, so the browser may keep it for good; never a shared cache.
    response.cache_control.immutable = True
    response.cache_control.private = True
    response.cache_control.public = False
    return response
