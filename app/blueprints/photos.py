"""The gallery grid (sorted and filtered as its URL says), upload, a photo's page with its favourite and
rating, its original, and delete (which moves to the trash)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import quote

from flask import (Blueprint, Response, abort, current_app, flash, jsonify, redirect, render_template, request,
                   send_file, stream_with_context, url_for)

from flask_login import current_user
from markupsafe import Markup

from ..access import own_photo_or_404, own_photo_page_or_404
from ..errors import DuplicatePhoto, GalleryError, wants_json
from ..models import MAX_ID
from ..services import exif_text, labels, library, maps, names, users
from ..services import photos as photo_service
from ..services import tiles, trash, zips

bp = Blueprint("photos", __name__)
bp.add_app_template_global(tiles.tiles_html, "grid_tiles")  # photos/_tiles.html's tiles, on every page that shows some

PHOTO_ID = f"<int(max={MAX_ID}):photo_id>"  # a larger id is a 404, never a database error


def requested_options() -> photo_service.GridOptions:
    """The grid's sort and filters from the query string; a 400 that names the value it does not know."""
    try:
        return photo_service.GridOptions.from_args(request.args)
    except ValueError as exc:
        abort(400, str(exc))


@bp.get("/")
def index():
    options = requested_options()
    try:
        page = photo_service.grid_page(current_user, options, request.args.get("older"),
                                       request.args.get("newer"), current_app.config["PAGE_SIZE"])
    except ValueError:
        abort(400, "That page link is not valid.")
    return render_template("photos/index.html", page=page, options=options,
                           total=current_user.photo_count(options.source))


@bp.post("/grid-layout")
def grid_layout():
    """layout=square or justified: the account's grid from now on; back to the grid in its options."""
    options = requested_options()
    try:
        users.set_grid_layout(current_user, request.form.get("layout", ""))
    except ValueError as exc:
        abort(400, str(exc))
    return redirect(url_for("photos.index", **options.args), 303)


@bp.get("/upload")
def upload_form():
    return render_template("photos/upload.html")


@dataclass
class Outcome:
    """What happened to one uploaded file, as the person who sent it sees it."""

    name: str
    result: str  # stored, duplicate or rejected
    status: int
    message: str = ""
    photo_id: int | None = None

    def as_dict(self) -> dict:
        url = url_for("photos.detail", photo_id=self.photo_id) if self.photo_id else None
        return {"name": self.name, "result": self.result, "message": self.message,
                "photo_id": self.photo_id, "url": url}


def ingest_outcome(upload) -> Outcome:
    name = names.display_name(upload.filename)  # as sent it may hold a path, bidi overrides, 300 characters
    try:
        photo = photo_service.ingest_photo(upload.stream, upload.filename, current_user.id)
    except DuplicatePhoto as exc:
        return Outcome(name, "duplicate", 200, "already in the gallery", exc.existing_id)
    except GalleryError as exc:
        return Outcome(name, "rejected", exc.status, exc.message)
    return Outcome(name, "stored", 201, "stored", photo.id)


@bp.post("/upload")
def upload():
    files = [f for f in request.files.getlist("photos") if f.filename or f.content_length]
    if not files:
        abort(400, "Choose at least one photo to upload.")
    limit = current_app.config["MAX_FILES_PER_UPLOAD"]
    if len(files) > limit:
        abort(413, f"At most {limit} files can be uploaded at once; {len(files)} were sent.")
    outcomes = [ingest_outcome(upload) for upload in files]
    kept = [o for o in outcomes if o.result != "rejected"]
    status = min(o.status for o in kept) if kept else outcomes[0].status
    if wants_json():
        return jsonify(files=[o.as_dict() for o in outcomes]), status
    return render_template("photos/upload_result.html", outcomes=outcomes), status


@bp.get(f"/photos/{PHOTO_ID}")
def detail(photo_id: int):
    """In the order of the grid, album, tag or search it was opened from (viewer_options): its arrows
    step through those photos and Escape goes back to that page. Three statements at most, the user's
    included (tests/integration/test_grid_queries.py)."""
    options = viewer_options()
    page = own_photo_page_or_404(photo_id, options)
    photo = page.photo
    place = photo_service.viewer_place(current_user, photo, options, request.args, current_app.config["PAGE_SIZE"])
    return render_template("photos/detail.html", photo=photo, newer=place.newer, older=place.older, options=options,
                           viewer_args=options.viewer_args, grid_at=place.grid_at, context_name=page.context_name,
                           removal_at=trash.removal_date(photo) if photo.trashed_at else None,
                           tags=page.tags, facts=exif_text, photo_albums=page.albums, lineage=page.lineage,
                           map_tiles=maps.tile_settings())


def viewer_options() -> photo_service.GridOptions:
    """requested_options() and the album, tag or search a photo's page was opened from (GridOptions.in_context)."""
    try:
        return requested_options().in_context(request.args)
    except (ValueError, GalleryError) as exc:
        abort(400, getattr(exc, "message", None) or str(exc))


@bp.post(f"/photos/{PHOTO_ID}/favourite")
def favourite(photo_id: int):
    """favourite=1 marks the photo a favourite, favourite=0 unmarks it (what the heart's button sends)."""
    photo, options = own_photo_or_404(photo_id), viewer_options()
    library.set_favourite(photo, library.favourite_from(request.form.get("favourite")))
    return marked(photo, options)


@bp.post(f"/photos/{PHOTO_ID}/rating")
def rating(photo_id: int):
    """rating=0 to 5: the stars' buttons."""
    photo, options = own_photo_or_404(photo_id), viewer_options()
    library.set_rating(photo, library.rating_from(request.form.get("rating")))
    return marked(photo, options)


def marked(photo, options: photo_service.GridOptions):
    """The photo's marks as JSON for the page's script, else back to the photo's page, in the grid's
    sort and filters, the album, tag or search and the grid page the form's URL carried."""
    if wants_json():
        return jsonify(photo={"id": photo.id, "favourite": photo.favourite, "rating": photo.rating})
    at = {name: request.args[name] for name in ("older", "newer") if request.args.get(name)}
    return redirect(url_for("photos.detail", photo_id=photo.id, **options.viewer_args, **at), 303)


@bp.get(f"/photos/{PHOTO_ID}/original")
def original(photo_id: int):
    photo = own_photo_or_404(photo_id)
    path = photo_service.original_file(photo)
    if not path.is_file():
        abort(404, "The original file of this photo is missing.")
    download_name = names.download_name(photo.original_name, PurePosixPath(photo.original_path).suffix[1:])
    if labels.is_labelled(photo):  # a generated photo leaves with its IPTC label (the stored file unchanged)
        stream, size, labelled = labels.open_original(photo)
        response = send_file(stream, mimetype=photo.mime_type, as_attachment=True, download_name=download_name,
                             etag=f"{photo.sha256}-{'iptc' if labelled else 'as-is'}", max_age=3600, conditional=True)
        if response.status_code == 200:
            response.content_length = size
        response.cache_control.public, response.cache_control.private = False, True
        return response
    response = send_photo_file(path, photo.original_path, mimetype=photo.mime_type, as_attachment=True,
                               download_name=download_name, etag=photo.sha256, max_age=3600)
    response.cache_control.public = False  # a person's photo: never kept by a shared cache
    response.cache_control.private = True
    return response


def send_photo_file(path, relative_path: str, **options):
    """send_file of a file under data/photos, or, when ACCEL_REDIRECT_PREFIX is set, the same headers
    with an empty body and X-Accel-Redirect naming the file, for nginx to send (ranges and conditional
    requests included). Call it only after the access checks: the internal location has none.
    """
    prefix = current_app.config["ACCEL_REDIRECT_PREFIX"]
    if not prefix:
        return send_file(path, conditional=True, **options)
    response = send_file(path, conditional=False, **options)
    response.close()  # only its headers are wanted; nginx reads the file
    response.direct_passthrough = False
    response.set_data(b"")
    response.headers["X-Accel-Redirect"] = f"{prefix}/{quote(relative_path)}"
    return response


def zip_response(photos: list, title: str):
    """A zip of the photos' originals, streamed as it is written (services/zips.py): no Content-Length,
    since the size is known only at the end, and memory stays at one chunk whatever the size."""
    response = Response(stream_with_context(zips.zip_stream(zips.photo_entries(photos))), mimetype="application/zip")
    response.headers["Content-Disposition"] = content_disposition(zips.archive_name(title))
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.cache_control.private = True
    response.cache_control.no_store = True
    return response


def content_disposition(filename: str) -> str:
    """attachment; with an ASCII fallback name and the UTF-8 name (RFC 6266), as send_file makes it."""
    ascii_name = filename.encode("ascii", "replace").decode().replace("?", "_").replace('"', "'")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


@bp.post(f"/photos/{PHOTO_ID}/delete")
def delete(photo_id: int):
    """Move to the trash (the URL is the old delete's, so its links and forms keep working): undoable
    from the flash message, the photo's page and the trash page until the trash's days pass."""
    photo = own_photo_or_404(photo_id)
    name = photo.original_name
    trash.move_to_trash(current_user.id, [photo.id])
    if wants_json():
        return jsonify(photo_id=photo_id, in_trash=True, removal_at=trash.removal_date(photo).isoformat(),
                       restore_url=url_for("trash.restore", photo_id=photo_id))
    flash(Markup(render_template("trash/_undo.html", photo_id=photo_id, name=name)))
    return redirect(url_for("photos.index"))
