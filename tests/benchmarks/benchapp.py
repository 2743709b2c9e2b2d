"""The gallery as gunicorn serves it in the benchmarks, plus what only this instance has:

- every response carries `X-Bench-SQL: N`, the SQL statements the request sent (a
  before_cursor_execute listener on db.engine, counted per thread);
- `/_bench/file/<path under data/photos>`: a bare Flask send_from_directory (send_file after a safe
  join), the baseline of the rendition-serving benchmark, behind the login gate like every route;
  `/_bench/public/<path>` is the same outside the gate.

`gunicorn 'benchapp:create()'`, or `benchapp:create(cache="NullCache")` for a gallery whose cached
reads (grid pages, counts) always miss, so every request pays its SQL. One more option measures a
proposed change without making it in the app:
- `counter=True`: the grid's photo count read from a kept counter instead of COUNT(*) (simulated:
  counted once, then remembered by the process; see create()).
"""
from __future__ import annotations

import threading
from pathlib import Path

from flask import send_from_directory
from sqlalchemy import event

from app import create_app
from app.blueprints import auth
from app.extensions import db

_counter = threading.local()


def create(cache: str | None = None, counter: bool = False):
    app = create_app({"CACHE_TYPE": cache} if cache else None)
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
