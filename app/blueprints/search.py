"""The search page: words and typed filters over the grid's own query, tiles, selection and paging."""
from __future__ import annotations

from dataclasses import replace

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ..services import search
from ..services import photos as photo_service
from .photos import requested_options, zip_response

bp = Blueprint("search", __name__)


def requested_filters(choices) -> search.SearchFilters:
    """The search's words and filters from the query string: a 400 in words for one it cannot read, a
    404 for an album that is not one of `choices` (the account's albums)."""
    try:
        filters = search.SearchFilters.from_args(request.args)
    except search.InvalidSearch as exc:
        abort(400, exc.message)
    if filters.album is not None and all(choice.id != filters.album for choice in choices):
        abort(404)  # another account's album, or none
    return filters


@bp.get("/search")
def index():
    options = requested_options()
    choices = search.album_choices(current_user)
    filters = requested_filters(choices)
    page = None
    if not filters.empty or options.filtered or options.source:
        try:
            page = photo_service.grid_page(current_user, replace(options, search=filters), request.args.get("older"),
                                           request.args.get("newer"), current_app.config["PAGE_SIZE"])
        except ValueError:
            abort(400, "That page link is not valid.")
    return render_template("search/index.html", page=page, options=options, filters=filters, albums=choices)


@bp.get("/search/download")
def download():
    """A zip of every photo the search finds (not only a page), in its order, streamed as it is written."""
    options = requested_options()
    filters = requested_filters(search.album_choices(current_user))
    if filters.empty and not (options.filtered or options.source):
        flash("Search for something first: the zip holds what a search finds.")
        return redirect(url_for("search.index"))
    rows = search.photos_to_download(current_user.id, replace(options, search=filters))
    return zip_response(rows, f"search {filters.q}".strip() if filters.q else "search")
