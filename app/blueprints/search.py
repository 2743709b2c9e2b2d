"""The search page: words and typed filters over the grid's own query, tiles, selection and paging."""
from __future__ import annotations

from dataclasses import replace

from flask import Blueprint, abort, current_app, render_template, request
from flask_login import current_user

from ..services import albums, search
from ..services import photos as photo_service
from .photos import requested_options

bp = Blueprint("search", __name__)


@bp.get("/search")
def index():
    options = requested_options()
    try:
        filters = search.SearchFilters.from_args(request.args)
    except search.InvalidSearch as exc:
        abort(400, exc.message)
    choices = albums.album_choices(current_user.id)
    if filters.album is not None and all(choice.id != filters.album for choice in choices):
        abort(404)  # another account's album, or none
    page = None
    if not filters.empty or options.filtered or options.source:
        try:
            page = photo_service.grid_page(current_user, replace(options, search=filters), request.args.get("older"),
                                           request.args.get("newer"), current_app.config["PAGE_SIZE"])
        except ValueError:
            abort(400, "That page link is not valid.")
    return render_template("search/index.html", page=page, options=options, filters=filters, albums=choices)
