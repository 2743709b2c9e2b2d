"""Share links: the owner's pages (make a link to a photo, an album or a selection; the list of links with
their views and last use; revoke) and the public pages a link opens to anyone with it (its grid, a photo's
page, thumbnails, originals, the password form). services/shares.py does the work."""
from __future__ import annotations

from flask import (Blueprint, abort, current_app, flash, redirect, render_template, request, send_file,
                   session, url_for)
from markupsafe import Markup
from flask_login import current_user

from ..access import own_album_or_404, own_photo_or_404, own_share_or_404
from ..database import reads_and_writes
from ..errors import RejectedFile
from ..models import MAX_ID, ShareLink
from ..services import cache, names, selection, shares, thumbnails
from ..services import photos as photo_service
from .albums import ALBUM_ID
from .photos import PHOTO_ID, requested_options, send_photo_file

bp = Blueprint("shares", __name__)

SHARE_ID = f"<int(max={MAX_ID}):share_id>"
TOKEN = "<string(maxlength=100):token>"
# The pages and files a link opens, reached with no account (blueprints/auth.py PUBLIC_ENDPOINTS).
PUBLIC = {"shares.public_page", "shares.unlock", "shares.public_photo", "shares.public_thumbnail",
          "shares.public_original"}


@bp.after_app_request
def keep_out_of_search_engines(response):
    if request.endpoint in PUBLIC:
        response.headers["X-Robots-Tag"] = "noindex, nofollow"
        response.headers["Referrer-Policy"] = "no-referrer"  # the URL is the key: never in another site's logs
    return response


# --- the owner's pages -------------------------------------------------------------------------

@bp.get("/shares")
def index():
    return render_template("shares/index.html", rows=shares.shares_of(current_user.id))


@bp.post(f"/photos/{PHOTO_ID}/share")
def share_photo(photo_id: int):
    photo = own_photo_or_404(photo_id)
    link, token = shares.share_photo(current_user, photo.id, shares.options_from(request.form))
    return created(link, token)


@bp.post(f"/albums/{ALBUM_ID}/share")
def share_album(album_id: int):
    """with_sub_albums=1 shares everything under the album too."""
    album = own_album_or_404(album_id)
    link, token = shares.share_album(current_user, album.id, request.form.get("with_sub_albums") in ("1", "on"),
                                     shares.options_from(request.form))
    return created(link, token)


@bp.post("/shares/selection")
def share_selection():
    """ids (repeated): the selection bar's "Share…" button, which first asks for the link's options
    (create absent), then makes the link (create=1)."""
    photo_ids = selection.ids_from(request.form.getlist("ids"))
    if request.form.get("create") != "1":
        return render_template("shares/selection.html", ids=photo_ids, back=request.form.get("next") or "/")
    link, token = shares.share_selection(current_user, photo_ids, shares.options_from(request.form))
    return created(link, token)


def created(link: ShareLink, token: str):
    """The new link's URL, shown this once (only its hash is kept)."""
    url = url_for("shares.public_page", token=token, _external=True)
    return render_template("shares/created.html", link=link, url=url,
                           row=shares.shares_of_one(link)), 201


@bp.post(f"/shares/{SHARE_ID}")
def edit(share_id: int):
    """The share list's "Edit…" form: the link's last day, password and what its files carry."""
    shares.change_share(own_share_or_404(share_id), **shares.changes_from(request.form))
    flash("Saved the link's options.")
    return redirect(url_for("shares.index", _anchor=f"share-{share_id}"), 303)


@bp.post(f"/shares/{SHARE_ID}/revoke")
def revoke(share_id: int):
    if not shares.revoke_share(current_user.id, share_id) and not shares.owns_share(current_user.id, share_id):
        abort(404, "No such share link.")
    flash("Revoked the link: it and every page and file it opened are gone.")
    return redirect(url_for("shares.index"), 303)


# --- the public pages ----------------------------------------------------------------------------

def open_link_or_404(token: str) -> ShareLink:
    """The link, open and unlocked for this browser; 404 for an unknown, revoked or expired one (all
    alike), 403 for a locked one (the files' URLs; the pages show the password form instead)."""
    link = shares.find_open_share(token)
    if link is None:
        abort(404, "This link does not exist, was revoked or has expired.")
    if not shares.is_unlocked(link, session.get(shares.UNLOCKED)):
        abort(403, "This link needs its password.")
    return link


def password_form(token: str, status: int = 200, problem: str | None = None):
    return render_template("shares/password.html", token=token, problem=problem), status


@bp.get(f"/s/{TOKEN}")
@reads_and_writes
def public_page(token: str):
    link = shares.find_open_share(token)
    if link is None:
        abort(404, "This link does not exist, was revoked or has expired.")
    if not shares.is_unlocked(link, session.get(shares.UNLOCKED)):
        return password_form(token)
    if link.kind == "photo":
        return public_photo(token, link.photo_id)
    options = requested_options()
    try:
        page, title = shares.share_page(link, options, request.args.get("older"), request.args.get("newer"),
                                        current_app.config["PAGE_SIZE"])
    except ValueError:
        abort(400, "That page link is not valid.")
    html = render_template("shares/public_grid.html", link=link, token=token, page=page, options=page.options,
                           title=title, tiles=shared_tiles(page, token))
    shares.count_view(link)  # after: its commit (once a minute) would have the page read the link again
    return html


TOKEN_MARK = "<share-token>"  # raw in the tiles' URLs; a photo's name carries it escaped, never raw


def shared_tiles(page: photo_service.GridPage, token: str) -> Markup:
    """The page's tiles, kept in the cache under the grid page's own key (so a write to the owner's
    library retires them with it) with TOKEN_MARK where the token goes: no token is written to the cache,
    and a page served again costs a string replace instead of 60 tiles' rendering."""
    html = cache.read_through(f"shared-tiles:{page.cache_key}:{request.script_root}",
                              lambda: render_template("shares/_tiles.html", page=page, options=page.options,
                                                      token=TOKEN_MARK))
    return Markup(html.replace(TOKEN_MARK, token))


@bp.post(f"/s/{TOKEN}")
def unlock(token: str):
    link = shares.find_open_share(token)
    if link is None:
        abort(404, "This link does not exist, was revoked or has expired.")
    try:
        shares.check_password(link, request.form.get("password", ""), request.remote_addr or "unknown")
    except shares.WrongSharePassword as exc:
        return password_form(token, exc.status, exc.message)
    session[shares.UNLOCKED] = [*session.get(shares.UNLOCKED, [])[-49:], shares.unlock_mark(link)]
    return redirect(url_for("shares.public_page", token=token), 303)


@bp.get(f"/s/{TOKEN}/photos/{PHOTO_ID}")
@reads_and_writes
def public_photo(token: str, photo_id: int):
    link = shares.find_open_share(token)
    if link is not None and not shares.is_unlocked(link, session.get(shares.UNLOCKED)):
        return password_form(token)
    link = open_link_or_404(token)
    photo = shares.shown_photo(link, photo_id)
    if photo is None:
        abort(404, "This link shows no such photo.")
    options = shares.grid_options(link, requested_options())
    newer, older = photo_service.neighbours(photo, options) if link.kind != "photo" else (None, None)
    html = render_template("shares/public_photo.html", link=link, token=token, photo=photo, options=options,
                           newer=newer, older=older, title=shares.album_name(link),
                           stripping=shares.stripping_of(link))
    shares.count_view(link)
    return html


@bp.get(f"/s/{TOKEN}/thumbnails/{PHOTO_ID}/<size>")
@reads_and_writes
def public_thumbnail(token: str, photo_id: int, size: str):
    """The photo's own thumbnail (metadata-free already: processing.encode_thumbnail writes no EXIF),
    revalidated on every use, so a revoked link's thumbnails end with it."""
    if size not in thumbnails.SIZES:
        abort(404, "No such thumbnail size.")
    photo = shares.shown_photo(open_link_or_404(token), photo_id)
    if photo is None:
        abort(404, "This link shows no such photo.")
    try:
        path = thumbnails.ensure_thumbnail(photo, size)
    except (FileNotFoundError, RejectedFile):
        abort(404, "The original of this photo is missing or unreadable, so its thumbnail cannot be made.")
    return revalidated(send_photo_file(path, photo.thumbnail_path(size), mimetype=thumbnails.TYPES[photo.thumbnail_ext],
                                       etag=True))


@bp.get(f"/s/{TOKEN}/original/{PHOTO_ID}")
def public_original(token: str, photo_id: int):
    link = open_link_or_404(token)
    photo = shares.shown_photo(link, photo_id)
    if photo is None or not link.allow_originals:
        abort(404, "This link shows no such original.")
    try:
        served = shares.shared_original(link, photo)
    except FileNotFoundError:
        abort(404, "The original file of this photo is missing.")
    options = {"mimetype": served.mime_type, "as_attachment": True, "etag": True,
               "download_name": names.download_name(photo.original_name, served.extension)}
    if served.stored:  # nothing stripped: the stored file, as the owner gets it
        return revalidated(send_photo_file(served.path, photo.original_path, **options))
    return revalidated(send_file(served.path, conditional=True, **options))


def revalidated(response):
    """Asked again on every use (a 304 while the link is open): a revoked link's files leave the browser too."""
    response.cache_control.no_cache = True
    response.cache_control.private = True
    response.cache_control.public = False
    response.cache_control.max_age = 0
    return response
