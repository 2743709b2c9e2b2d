"""The gallery as gunicorn serves it in the benchmarks, plus what only this instance has:

- every response carries `X-Bench-SQL: N`, the SQL statements the request sent (a
  before_cursor_execute listener on db.engine, counted per thread);
- `/_bench/file/<path under data/photos>`: a bare Flask send_from_directory (send_file after a safe
  join), the baseline of the rendition-serving benchmark, behind the login gate like every route;
  `/_bench/public/<path>` is the same outside the gate;
- `/_bench/lean/<id>/<size>` and `/_bench/lean-remembered/<id>/<size>`: the thumbnail route made
  leaner as proposed (lean_rendition_view), to measure the proposal beside the real route.

`gunicorn 'benchapp:create()'`, or `benchapp:create(cache="NullCache")` for a gallery whose cached
reads (grid pages, counts) always miss, so every request pays its SQL. Two more options measure
proposed changes without making them in the app:
- `fast_grid=True`: the grid template with its two per-photo url_for calls (the detail link and
  Photo.rendition_url) replaced by the same URLs written as strings; the benchmark checks that the
  pages are byte-identical (CSRF tokens aside);
- `counter=True`: the grid's photo count read from a kept counter instead of COUNT(*) (simulated:
  counted once, then remembered by the process; see create()).
"""
from __future__ import annotations

import threading
from pathlib import Path

from flask import send_file, send_from_directory
from jinja2 import ChoiceLoader, DictLoader
from sqlalchemy import event

from app import create_app
from app.blueprints import auth
from app.extensions import db

_counter = threading.local()


# (what the app's grid template says, what the fast variant says instead)
FAST_GRID = [
    ("{{ url_for('photos.detail', photo_id=photo.id, source=source) }}",
     "{{ request.script_root }}/photos/{{ photo.id }}{% if source %}?source={{ source }}{% endif %}"),
    ("{{ photo.rendition_url('grid') }}",
     "{{ request.script_root }}/thumbnails/{{ photo.id }}/grid?v={{ photo.sha256[:12] }}"),
]


def fast_grid_template(app) -> str:
    source = app.jinja_loader.get_source(app.jinja_env, "photos/index.html")[0]
    for old, new in FAST_GRID:
        if old not in source:
            raise RuntimeError(f"the grid template no longer says {old}: update FAST_GRID in benchapp.py")
        source = source.replace(old, new)
    return source


def lean_rendition_view(app, remember: bool):
    """The thumbnail route as proposed: two columns by a Core select instead of the whole Photo
    entity, the path joined by werkzeug's safe_join (string checks, no Path.resolve() syscalls), and
    no exists() before send_file: a missing file falls back to the app's own view, which re-makes
    it (or answers 404). With `remember`, also an in-process map photo id -> (owner, path, type),
    used only when the owner matches and the file is there (anything else asks the database)."""
    from flask import abort
    from flask_login import current_user
    from sqlalchemy import select
    from werkzeug.exceptions import NotFound
    from werkzeug.security import safe_join

    from app.blueprints.thumbnails import ONE_YEAR
    from app.models import RENDITION_SIZES, Photo
    from app.services import storage
    from app.services.imaging import RENDITION_TYPES

    original_view = app.view_functions["thumbnails.rendition"]
    root = str(Path(app.config["DATA_DIR"]) / "photos")
    known: dict = {}

    def rendition(photo_id: int, size: str):
        if size not in RENDITION_SIZES:
            abort(404, "No such rendition size.")
        entry = known.get((photo_id, size)) if remember else None
        if entry is None or entry[0] != current_user.id:
            row = db.session.execute(select(Photo.original_path, Photo.rendition_ext).where(
                Photo.owner_id == current_user.id, Photo.id == photo_id)).first()
            if row is None:
                abort(404, "No such photo.")
            path = safe_join(root, storage.rendition_path(row.original_path, size, row.rendition_ext))
            if path is None:  # the row names a path outside the photos folder
                abort(404, "No such photo.")
            entry = (current_user.id, path, RENDITION_TYPES[row.rendition_ext])
            if remember:
                known[photo_id, size] = entry
        try:
            response = send_file(entry[1], mimetype=entry[2], conditional=True, etag=True, max_age=ONE_YEAR)
        except (FileNotFoundError, NotFound):
            known.pop((photo_id, size), None)
            return original_view(photo_id=photo_id, size=size)
        response.cache_control.immutable = True
        response.cache_control.private = True
        response.cache_control.public = False
        return response

    return rendition


def create(cache: str | None = None, fast_grid: bool = False, counter: bool = False):
    app = create_app({"CACHE_TYPE": cache} if cache else None)
    app.add_url_rule("/_bench/lean/<int:photo_id>/<size>", "bench_lean", lean_rendition_view(app, False))
    app.add_url_rule("/_bench/lean-remembered/<int:photo_id>/<size>", "bench_lean_remembered",
                     lean_rendition_view(app, True))
    if counter:
        # Stands in for a photo count the gallery keeps (a column on users, or a table by owner and
        # source, changed in the same transaction as each insert and delete) and reads with the user:
        # the first count per owner and source is made by the app's code, then never again.
        from app.services import photos as photo_service

        counts: dict = {}
        real_count = photo_service.count_photos

        def kept_count(owner_id, source):
            if (owner_id, source) not in counts:
                counts[owner_id, source] = real_count(owner_id, source)
            return counts[owner_id, source]

        photo_service.count_photos = kept_count
    if fast_grid:
        app.jinja_loader = ChoiceLoader([DictLoader({"photos/index.html": fast_grid_template(app)}),
                                         app.jinja_loader])
    root = Path(app.config["DATA_DIR"]) / "photos"

    def bare_file(relative: str):
        return send_from_directory(root, relative, mimetype="image/jpeg")

    app.add_url_rule("/_bench/file/<path:relative>", "bench_file", bare_file)
    app.add_url_rule("/_bench/public/<path:relative>", "bench_public_file", bare_file)
    auth.PUBLIC_ENDPOINTS.add("bench_public_file")  # this process only: the gate lets it through

    with app.app_context():
        engine = db.engine

    @event.listens_for(engine, "before_cursor_execute")
    def count(connection, cursor, statement, parameters, context, executemany):
        _counter.n = getattr(_counter, "n", 0) + 1

    inner = app.wsgi_app

    def counting_wsgi_app(environ, start_response):
        _counter.n = 0

        def start(status, headers, exc_info=None):
            headers.append(("X-Bench-SQL", str(_counter.n)))
            return start_response(status, headers, exc_info)

        return inner(environ, start)

    app.wsgi_app = counting_wsgi_app
    return app
