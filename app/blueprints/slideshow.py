"""The slideshow: a grid's photos (with its sort and filters) or an album's, one at a time, full screen.

A page of the slideshow is a page of the grid (its cached rows): the script shows the page's photos in
turn and then opens the next page's slideshow. Without script, each photo is a page of its own that a
meta refresh moves on."""
from __future__ import annotations

from dataclasses import replace

from flask import Blueprint, abort, current_app, render_template, request, url_for
from flask_login import current_user

from ..access import own_album_or_404
from ..models import MAX_ID
from ..services import photos as photo_service
from ..services import thumbnails
from .photos import requested_options

bp = Blueprint("slideshow", __name__)

INTERVALS = (3, 5, 10, 20, 60)  # seconds a photo shows
DEFAULT_INTERVAL = 5


def whole_number(name: str, default: int, maximum: int) -> int:
    raw = request.args.get(name) or str(default)
    if not raw.isdigit() or int(raw) > maximum:
        abort(400, f"{name} is a whole number from 0 to {maximum}.")
    return int(raw)


@bp.get("/slideshow")
def show():
    """?album_id=N for an album's photos, else the grid's; the grid's sort, filters and cursors (older,
    newer); at=N, the photo of the page to start from; interval=seconds (one of INTERVALS)."""
    options = requested_options()
    album_id = whole_number("album_id", 0, MAX_ID) or None
    album = own_album_or_404(album_id) if album_id else None
    interval = whole_number("interval", DEFAULT_INTERVAL, 3600)
    if interval not in INTERVALS:
        abort(400, f"interval is one of {', '.join(map(str, INTERVALS))} seconds.")
    older, newer = request.args.get("older"), request.args.get("newer")
    try:
        page = photo_service.grid_page(current_user, replace(options, album_id=album_id), older, newer,
                                       current_app.config["PAGE_SIZE"])
    except ValueError:
        abort(400, "That page link is not valid.")
    at = min(whole_number("at", 0, 100_000), max(len(page.photos) - 1, 0))
    scope = dict(options.args, **({"album_id": str(album_id)} if album_id else {}))
    following = page.next_link
    next_page = url_for("slideshow.show", **scope, interval=interval,
                        **({following[0]: following[1]} if following else {}))  # at the end, from the start
    leave = url_for("albums.show", album_id=album_id) if album else url_for("photos.index", **options.args, **page.at)
    root, tag = request.script_root, thumbnails.current_settings_tag()
    slides = [{"photo": photo, "url": f"{root}/photos/{photo.id}",
               "preview": f"{root}/thumbnails/{photo.id}/preview?v={thumbnails.url_version(photo.sha256, tag)}"}
              for photo in page.photos]
    here = dict(scope, interval=interval, **page.at)
    following_slide = url_for("slideshow.show", **here, at=at + 1) if at + 1 < len(slides) else next_page
    return render_template("slideshow/show.html", slides=slides, at=at, interval=interval, intervals=INTERVALS,
                           album=album, leave_url=leave, next_page_url=next_page, next_slide_url=following_slide,
                           here=here)
