"""The compare page: two to four images side by side with their parameters, the differing ones marked,
and for two an A/B slider (services/comparison.py reads and lines them up). The selection menu's
"Compare" and a generation session's "Compare selected" come here."""
from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_login import current_user

from ..services import comparison

bp = Blueprint("compare", __name__)


@bp.get("/compare")
def show():
    """ids: the owner's photos; candidates: a generation session's downloaded candidates not kept yet
    (each repeated, or comma-separated); two to four in all, shown in the order given. Neither: a page
    that says where to choose them."""
    photo_ids = comparison.ids_to_compare(request.args.getlist("ids"))
    candidate_ids = comparison.ids_to_compare(request.args.getlist("candidates"), "generated image")
    if "ids" not in request.args and "candidates" not in request.args:  # the bare URL: how to choose
        return render_template("compare/show.html", comparison=None)
    compared = comparison.compare_photos(current_user.id, photo_ids, candidate_ids)
    return render_template("compare/show.html", comparison=compared)
