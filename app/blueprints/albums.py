"""Albums: the owner's top albums and the New album form, an album's page (breadcrumb, sub-albums, its
photos on the grid's sort, filters and paging), its edit page (rename, describe, move, cover), its
delete (asking what becomes of its sub-albums), and a photo's albums on its page (add, remove, use as
cover)."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from ..access import own_album_or_404, own_album_view_or_404, own_photo_or_404
from ..errors import wants_json
from ..models import MAX_ALBUM_DESCRIPTION, MAX_ALBUM_NAME, MAX_ID, is_id
from ..services import albums
from .photos import PHOTO_ID, requested_options, zip_response

bp = Blueprint("albums", __name__)

ALBUM_ID = f"<int(max={MAX_ID}):album_id>"
COVER_CHOICES = 24  # the newest photos the edit page offers as a cover (any other: its own page)


def id_from(text: str | None, what: str = "album") -> int | None:
    """An id as a form's select sends it; "" (none chosen) is None; a 400 in words for anything else."""
    text = (text or "").strip()
    if not text:
        return None
    if not is_id(text):
        abort(400, f"{text[:20]!r} is not an {what} id.")
    return int(text)


def done(message: str, to: str, **answer):
    """JSON for a script, else the message flashed and a redirect to `to`."""
    if wants_json():
        return jsonify(**answer)
    flash(message)
    return redirect(to, 303)


@bp.get("/albums")
def index():
    return render_template("albums/index.html", cards=albums.top_albums(current_user), max_name=MAX_ALBUM_NAME)


@bp.post("/albums")
def create():
    """name, description, parent_id (empty for a top album): the New album forms of /albums and of an
    album's page."""
    parent_id = id_from(request.form.get("parent_id"))
    if parent_id is not None:
        own_album_or_404(parent_id)
    album = albums.create_album(current_user, request.form.get("name", ""), request.form.get("description", ""),
                                parent_id)
    return done(f"Created the album “{album.name}”.", url_for("albums.show", album_id=album.id),
                album={"id": album.id, "name": album.name, "parent_id": album.parent_id})


@bp.get(f"/albums/{ALBUM_ID}")
def show(album_id: int):
    view, options = own_album_view_or_404(album_id), requested_options()
    try:
        page = albums.album_page(current_user, album_id, options, request.args.get("older"),
                                 request.args.get("newer"), current_app.config["PAGE_SIZE"])
    except ValueError:
        abort(400, "That page link is not valid.")
    return render_template("albums/show.html", album=view, page=page, options=options, max_name=MAX_ALBUM_NAME)


@bp.get(f"/albums/{ALBUM_ID}/download")
def download(album_id: int):
    """A zip of the album's originals; sub_albums=1 adds the photos of every album under it."""
    album = own_album_or_404(album_id)
    with_sub_albums = request.args.get("sub_albums") == "1"
    return zip_response(albums.photos_to_download(current_user.id, album.id, with_sub_albums), album.name)


@bp.get(f"/albums/{ALBUM_ID}/edit")
def edit_form(album_id: int):
    album = own_album_or_404(album_id)
    choices = albums.album_choices(current_user.id)
    return render_template("albums/edit.html", album=album, view=albums.album_view(current_user, album_id),
                           parents=[c for c in choices if not albums.is_within(c.path, album.path)],
                           photos=albums.album_page(current_user, album_id, limit=COVER_CHOICES),
                           max_name=MAX_ALBUM_NAME, max_description=MAX_ALBUM_DESCRIPTION)


@bp.post(f"/albums/{ALBUM_ID}/edit")
def edit(album_id: int):
    """name and description."""
    album = own_album_or_404(album_id)
    albums.edit_album(current_user, album, request.form.get("name", ""), request.form.get("description", ""))
    return done("Saved the album.", url_for("albums.show", album_id=album_id), album_id=album_id, saved=True)


@bp.post(f"/albums/{ALBUM_ID}/move")
def move(album_id: int):
    """parent_id: the album to go under, empty for the top. Under itself or its own sub-album is a 400."""
    album, parent_id = own_album_or_404(album_id), id_from(request.form.get("parent_id"))
    if parent_id is not None:
        own_album_or_404(parent_id)
    albums.move_album(current_user, album, parent_id)
    return done("Moved the album.", url_for("albums.show", album_id=album_id), album_id=album_id,
                parent_id=parent_id)


@bp.post(f"/albums/{ALBUM_ID}/cover")
def cover(album_id: int):
    """photo_id: a photo of the album to show on its card; empty for its newest photo."""
    album, photo_id = own_album_or_404(album_id), id_from(request.form.get("photo_id"), "photo")
    if photo_id is not None:
        own_photo_or_404(photo_id)
    albums.set_cover(current_user, album, photo_id)
    back = request.form.get("from") == "photo" and photo_id is not None
    return done("Chose the album’s cover." if photo_id else "The album’s cover is now its newest photo.",
                url_for("photos.detail", photo_id=photo_id) if back else url_for("albums.edit_form", album_id=album_id),
                album_id=album_id, cover_photo_id=photo_id)


@bp.get(f"/albums/{ALBUM_ID}/delete")
def confirm_delete(album_id: int):
    """The question before a delete: what becomes of its sub-albums, if it has any (no JavaScript needed)."""
    return render_template("albums/delete.html", album=own_album_view_or_404(album_id))


@bp.post(f"/albums/{ALBUM_ID}/delete")
def delete(album_id: int):
    """children: "delete" (the sub-albums go too) or "move_up" (they move up to its parent); needed
    only when it has sub-albums, else the question is asked again."""
    album, view = own_album_or_404(album_id), own_album_view_or_404(album_id)
    choice = request.form.get("children")
    if view.children and choice not in albums.KEEP_SUB_ALBUMS:
        if wants_json():
            abort(400, "This album has sub-albums: say children=delete to delete them too, or children=move_up "
                       "to move them up to its parent.")
        return render_template("albums/delete.html", album=view), 400
    name, parent_id = album.name, album.parent_id
    deleted = albums.delete_album(current_user, album, albums.KEEP_SUB_ALBUMS.get(choice, False))
    where = url_for("albums.show", album_id=parent_id) if parent_id else url_for("albums.index")
    more = f" and {deleted - 1} sub-album{'' if deleted == 2 else 's'}" if deleted > 1 else ""
    return done(f"Deleted the album “{name}”{more}; its photos stay in the library.", where,
                album_id=album_id, deleted=deleted)


@bp.post(f"/photos/{PHOTO_ID}/albums")
def add_photo(photo_id: int):
    """album_id: the photo page's "Add to album" select."""
    photo = own_photo_or_404(photo_id)
    album_id = id_from(request.form.get("album_id"))
    if album_id is None:
        abort(400, "Choose an album to add the photo to.")
    album = own_album_or_404(album_id)
    albums.add_photos(current_user.id, album.id, [photo.id])
    return done(f"Added to “{album.name}”.", url_for("photos.detail", photo_id=photo_id),
                photo_id=photo_id, album_id=album_id, added=True)


@bp.post(f"/photos/{PHOTO_ID}/albums/{ALBUM_ID}/remove")
def remove_photo(photo_id: int, album_id: int):
    photo, album = own_photo_or_404(photo_id), own_album_or_404(album_id)
    albums.remove_photos(current_user.id, album.id, [photo.id])
    return done(f"Removed from “{album.name}”; the photo stays in the library.",
                url_for("photos.detail", photo_id=photo_id), photo_id=photo_id, album_id=album_id, removed=True)
