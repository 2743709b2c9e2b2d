"""The slideshow: a grid's photos (with its sort and filters), an album's, a tag's or a search's, one at a
time, full screen.

A page of the slideshow is a page of the grid (its cached rows): the script shows the page's photos in
turn and then opens the next page's slideshow. Without script, each photo is a page of its own that a
meta refresh moves on."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template, request, url_for
from flask_login import current_user

from ..access import own_album_or_404, own_tag_view_or_404
from ..services import photos as photo_service
from ..services import thumbnails
from .photos import viewer_options

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
    """The grid's photos with its sort, filters and cursors (older, newer), or those of an album
    (?album_id=N), a tag (?tag_id=N) or a search (?search=1 and the search's arguments), as a photo's page
    takes them (GridOptions.in_context); at=N, the photo of the page to start from; interval=seconds
    (one of INTERVALS)."""
    options, scope = slideshow_scope()
    interval = whole_number("interval", DEFAULT_INTERVAL, 3600)
    if interval not in INTERVALS:
        abort(400, f"interval is one of {', '.join(map(str, INTERVALS))} seconds.")
    try:
        page = photo_service.grid_page(current_user, options, request.args.get("older"), request.args.get("newer"),
                                       current_app.config["PAGE_SIZE"])
    except ValueError:
        abort(400, "That page link is not valid.")
    at = min(whole_number("at", 0, 100_000), max(len(page.photos) - 1, 0))
    following = page.next_link
    next_page = url_for("slideshow.show", **options.viewer_args, interval=interval,
                        **({following[0]: following[1]} if following else {}))  # at the end, from the start
    root, tag = request.script_root, thumbnails.current_settings_tag()
    slides = [{"photo": link.photo, "url": link.detail_url,  # its page steps through the same photos
               "preview": f"{root}/thumbnails/{link.photo.id}/preview?v={thumbnails.url_version(link.photo.sha256, tag)}"}
              for link in page.links()]
    here = dict(options.viewer_args, interval=interval, **page.at)
    following_slide = url_for("slideshow.show", **here, at=at + 1) if at + 1 < len(slides) else next_page
    return render_template("slideshow/show.html", slides=slides, at=at, interval=interval, intervals=INTERVALS,
                           title=scope[0], leave_url=scope[1](page.at), next_page_url=next_page,
                           next_slide_url=following_slide, here=here)


def slideshow_scope():
    """(the options, (what the slideshow is of, for its title, or None for the grid; the URL of the
    page it leaves to, given a grid page's cursor)); another account's album or tag is a 404."""
    options = viewer_options()
    args = options.args
    if options.album_id is not None:
        album = own_album_or_404(options.album_id)
        return options, (album.name, lambda at: url_for("albums.show", album_id=album.id, **args, **at))
    if options.tag_id is not None:
        tag = own_tag_view_or_404(options.tag_id)
        return options, (tag.name, lambda at: url_for("tags.show", tag_id=tag.id, **args, **at))
    if options.search is not None:
        if options.search.album is not None:
            own_album_or_404(options.search.album)
        return options, ("Search", lambda at: url_for("search.index", **args, **options.search.args, **at))
    return options, (None, lambda at: url_for("photos.index", **args, **at))
