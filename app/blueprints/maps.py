"""The Map page: the library's geotagged photos as clustered markers, and the JSON list it draws them from."""
from __future__ import annotations

from flask import Blueprint, abort, jsonify, render_template, request
from flask_login import current_user

from ..services import maps, thumbnails

bp = Blueprint("maps", __name__)


@bp.get("/map")
def index():
    return render_template("maps/index.html", tiles=maps.tile_settings(),
                           count=len(maps.geotagged_photos(current_user)))


@bp.get("/map/photos.json")
def photos():
    """[{id, lat, lon, thumbnail, url, name}] of every geotagged photo; 404 while maps are off. The URLs are
    written here rather than by url_for (one per photo, thousands of them), as the grid's are."""
    if maps.tile_settings() is None:
        abort(404, "Maps are switched off.")
    root, tag = request.script_root, thumbnails.current_settings_tag()
    return jsonify(photos=[{"id": photo_id, "lat": lat, "lon": lon, "name": name, "url": f"{root}/photos/{photo_id}",
                            "thumbnail": f"{root}/thumbnails/{photo_id}/grid?v={thumbnails.url_version(sha256, tag)}"}
                           for photo_id, lat, lon, sha256, name in maps.geotagged_photos(current_user)])
