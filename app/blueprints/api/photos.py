"""/api/v1/photos: the grid's list (its sort, filters and keyset cursors, read through its cache), a
photo, upload, marks and tags, trash and restore, the original and the thumbnails."""
from __future__ import annotations

from dataclasses import replace

from flask import abort, current_app, jsonify, request
from flask_login import current_user
from marshmallow import Schema, fields, validate

from ...access import own_album_or_404, own_tag_or_404
from ...models import MAX_ID, MAX_RATING, SOURCES
from ...services import library, tags, trash
from ...services import photos as photo_service
from ...services.thumbnails import SIZES
from .. import photos as photo_pages
from .. import thumbnails as thumbnail_routes
from . import operation
from .schemas import ID, Problem, TagRef, UtcDateTime

PHOTO_ID = f"<int(max={MAX_ID}):photo_id>"
MAX_PAGE = 200


def photo_urls(photo_id: int) -> dict[str, str]:
    """Formatted, not url_for'd: a page lists up to MAX_PAGE photos (as GridPage.links does)."""
    base = f"{request.script_root}/api/v1/photos/{photo_id}"
    return {"url": base, "thumbnail_url": f"{base}/thumbnails/grid", "original_url": f"{base}/original"}


class PhotoSummary(Schema):
    """A photo as the grid lists it."""

    id = fields.Integer(required=True)
    name = fields.String(required=True, attribute="original_name", metadata={"description": "The file's name as sent."})
    source = fields.String(required=True, validate=validate.OneOf(SOURCES))
    favourite = fields.Boolean(required=True)
    rating = fields.Integer(required=True, validate=validate.Range(0, MAX_RATING))
    prompt = fields.String(required=True, allow_none=True, metadata={"description": "A generated image's prompt (cut)."})
    url = fields.Function(lambda photo: photo_urls(photo.id)["url"], required=True)
    thumbnail_url = fields.Function(lambda photo: photo_urls(photo.id)["thumbnail_url"], required=True)
    original_url = fields.Function(lambda photo: photo_urls(photo.id)["original_url"], required=True)


class PhotoPage(Schema):
    photos = fields.List(fields.Nested(PhotoSummary), required=True)
    older = fields.String(required=True, allow_none=True,
                          metadata={"description": "Cursor of the next page of older photos (by the sort's date), or null."})
    newer = fields.String(required=True, allow_none=True,
                          metadata={"description": "Cursor of the page of newer photos, or null."})


class PhotoList(Schema):
    sort = fields.String(load_default="taken", validate=validate.OneOf(list(photo_service.SORTS)),
                         metadata={"description": "taken: by date taken (else added); added: by date added."})
    order = fields.String(load_default="newest", validate=validate.OneOf(photo_service.ORDERS))
    source = fields.String(load_default=None, validate=validate.OneOf(SOURCES))
    favourites = fields.Boolean(load_default=False, metadata={"description": "Only favourites."})
    rating = fields.Integer(load_default=0, validate=validate.Range(0, MAX_RATING),
                            metadata={"description": "At least this many stars."})
    tag = fields.Integer(load_default=None, validate=ID, metadata={"description": "Only photos with this tag id."})
    album = fields.Integer(load_default=None, validate=ID, metadata={"description": "Only photos in this album id."})
    older = fields.String(load_default=None, validate=validate.Length(max=80),
                          metadata={"description": "A page's `older` cursor."})
    newer = fields.String(load_default=None, validate=validate.Length(max=80),
                          metadata={"description": "A page's `newer` cursor."})
    limit = fields.Integer(load_default=None, validate=validate.Range(1, MAX_PAGE))


class Photo(Schema):
    """A photo with everything its page shows."""

    id = fields.Integer(required=True)
    name = fields.String(required=True, attribute="original_name")
    source = fields.String(required=True, validate=validate.OneOf(SOURCES))
    favourite = fields.Boolean(required=True)
    rating = fields.Integer(required=True, validate=validate.Range(0, MAX_RATING))
    tags = fields.List(fields.Nested(TagRef), required=True)
    format = fields.String(required=True)
    mime_type = fields.String(required=True)
    file_size = fields.Integer(required=True)
    width = fields.Integer(required=True)
    height = fields.Integer(required=True)
    uploaded_at = UtcDateTime(required=True)
    taken_at = UtcDateTime(required=True, allow_none=True)
    in_trash = fields.Boolean(required=True)
    removal_at = UtcDateTime(required=True, allow_none=True, metadata={"description": "When the trash deletes it for good."})
    camera_make = fields.String(allow_none=True)
    camera_model = fields.String(allow_none=True)
    lens = fields.String(allow_none=True)
    focal_length = fields.Float(allow_none=True)
    aperture = fields.Float(allow_none=True)
    exposure_time = fields.Float(allow_none=True)
    iso = fields.Integer(allow_none=True)
    gps_latitude = fields.Float(allow_none=True)
    gps_longitude = fields.Float(allow_none=True)
    prompt = fields.String(allow_none=True)
    negative_prompt = fields.String(allow_none=True)
    seed = fields.Integer(allow_none=True)
    model_name = fields.String(allow_none=True)
    model_base = fields.String(allow_none=True)
    steps = fields.Integer(allow_none=True)
    cfg_scale = fields.Float(allow_none=True)
    scheduler = fields.String(allow_none=True)
    url = fields.Function(lambda shown: photo_urls(shown.id)["url"], required=True)
    thumbnail_url = fields.Function(lambda shown: photo_urls(shown.id)["thumbnail_url"], required=True)
    original_url = fields.Function(lambda shown: photo_urls(shown.id)["original_url"], required=True)


class ShownPhoto:
    """A Photo row with what its page shows beside it (its tags, its trash state)."""

    def __init__(self, photo):
        self.photo, self.tags = photo, tags.tags_of(photo)
        self.in_trash = photo.trashed_at is not None
        self.removal_at = trash.removal_date(photo) if self.in_trash else None

    def __getattr__(self, name):
        return getattr(self.photo, name)


class PhotoChange(Schema):
    favourite = fields.Boolean()
    rating = fields.Integer(validate=validate.Range(0, MAX_RATING))
    add_tags = fields.List(fields.String(), validate=validate.Length(min=1, max=100),
                           metadata={"description": "Tag names to put on the photo (made when new)."})
    remove_tags = fields.List(fields.Integer(validate=ID), validate=validate.Length(min=1, max=100),
                              metadata={"description": "Ids of tags to take off the photo."})


class UploadOutcome(Schema):
    name = fields.String(required=True)
    result = fields.String(required=True, validate=validate.OneOf(["stored", "duplicate", "rejected"]))
    message = fields.String(required=True)
    photo_id = fields.Integer(required=True, allow_none=True)


class Uploaded(Schema):
    files = fields.List(fields.Nested(UploadOutcome), required=True)


UPLOAD_FORM = {"type": "object", "required": ["photos"],
               "properties": {"photos": {"type": "array", "items": {"type": "string", "format": "binary"},
                                         "description": "One or more image files."}}}
IMAGE = "image/*"


@operation("/photos", "GET", "photos", {200: PhotoPage, 400: Problem, 404: Problem}, query=PhotoList)
def list_photos(args: dict):
    """List photos, a page at a time
    The grid's own query and cache: sorted and filtered as the grid's URL would say, paged by keyset
    cursors (`older`, `newer` from the previous answer)."""
    options = photo_service.GridOptions(args["sort"], args["order"], args["source"], args["favourites"], args["rating"])
    if args["tag"] is not None:
        options = replace(options, tag_id=own_tag_or_404(args["tag"]).id)
    if args["album"] is not None:
        options = replace(options, album_id=own_album_or_404(args["album"]).id)
    try:
        page = photo_service.grid_page(current_user, options, args["older"], args["newer"],
                                       args["limit"] or current_app.config["PAGE_SIZE"])
    except ValueError:
        abort(400, "older/newer: that cursor is not one of this sort's pages.")
    return jsonify({"photos": summaries(page.photos), "older": page.older, "newer": page.newer})


def summaries(photos) -> list[dict]:
    """PhotoSummary's dump of a page's photos, written out: marshmallow's dump of 60 photos was half of a
    cached page's CPU (tests/benchmarks/bench_api.py). test_api.py holds the two to the same answer."""
    base = f"{request.script_root}/api/v1/photos/"
    return [{"id": photo.id, "name": photo.original_name, "source": photo.source, "favourite": photo.favourite,
             "rating": photo.rating, "prompt": photo.prompt, "url": f"{base}{photo.id}",
             "thumbnail_url": f"{base}{photo.id}/thumbnails/grid", "original_url": f"{base}{photo.id}/original"}
            for photo in photos]


@operation("/photos", "POST", "photos", {201: Uploaded, 200: Uploaded, 400: Problem, 413: Problem, 415: Problem},
           form=UPLOAD_FORM)
def upload():
    """Upload photos (multipart, field `photos`)
    201 when at least one was stored, 200 when all were already in the gallery; each file's outcome is
    listed. When none could be stored, a problem with the first file's reason and every outcome."""
    files = [f for f in request.files.getlist("photos") if f.filename or f.content_length]
    if not files:
        abort(400, "photos: choose at least one photo to upload (multipart field `photos`).")
    limit = current_app.config["MAX_FILES_PER_UPLOAD"]
    if len(files) > limit:
        abort(413, f"photos: at most {limit} files can be uploaded at once; {len(files)} were sent.")
    outcomes = [photo_pages.ingest_outcome(upload) for upload in files]
    kept = [o for o in outcomes if o.result != "rejected"]
    if not kept:
        abort(outcomes[0].status, f"{outcomes[0].name}: {outcomes[0].message}")
    return {"files": outcomes}, min(o.status for o in kept)


@operation(f"/photos/{PHOTO_ID}", "GET", "photos", {200: Photo, 404: Problem})
def get_photo(photo):
    """A photo with its tags and metadata"""
    return ShownPhoto(photo)


@operation(f"/photos/{PHOTO_ID}", "PATCH", "photos", {200: Photo, 400: Problem, 404: Problem}, body=PhotoChange)
def change_photo(photo, data: dict):
    """Mark as favourite, rate, add or remove tags
    Each given field is changed as the photo's page changes it; fields left out stay."""
    if "favourite" in data:
        library.set_favourite(photo, data["favourite"])
    if "rating" in data:
        library.set_rating(photo, data["rating"])
    if data.get("add_tags"):
        tags.tag_photos(current_user, [photo.id], data["add_tags"])
    if data.get("remove_tags"):
        tags.untag_photos(current_user, [photo.id], data["remove_tags"])
    return ShownPhoto(photo)


@operation(f"/photos/{PHOTO_ID}/trash", "POST", "photos", {200: Photo, 404: Problem})
def trash_photo(photo):
    """Move to the trash
    Restorable until the trash's days pass."""
    trash.move_to_trash(current_user.id, [photo.id])
    return ShownPhoto(photo)


@operation(f"/photos/{PHOTO_ID}/restore", "POST", "photos", {200: Photo, 404: Problem})
def restore_photo(photo):
    """Restore from the trash
    A photo that is not in the trash stays as it is."""
    trash.restore_from_trash(current_user.id, [photo.id])
    return ShownPhoto(photo)


@operation(f"/photos/{PHOTO_ID}/original", "GET", "photos", {200: IMAGE, 404: Problem})
def original(photo):
    """The original file, as uploaded"""
    return photo_pages.original(photo.id)


@operation(f"/photos/{PHOTO_ID}/thumbnails/<size>", "GET", "photos", {200: IMAGE, 404: Problem})
def thumbnail(photo, size: str):
    """A thumbnail: `grid` (small) or `preview` (large)"""
    return thumbnail_routes.photo(photo.id, size)


THUMBNAIL_SIZES = SIZES  # the `size` path parameter's values, for openapi.py
