"""The gallery as gunicorn serves it in the benchmarks, plus what only this instance has:

- every response carries `X-Bench-SQL: N`, the SQL statements the request sent (a
  before_cursor_execute listener on db.engine, counted per thread);
- `/_bench/file/<path under data/photos>`: a bare Flask send_from_directory (send_file after a safe
  join), the baseline of the thumbnail-serving benchmark, behind the login gate like every route;
  `/_bench/public/<path>` is the same outside the gate;
- `/_bench/bytes/<n>`: n bytes of one constant 256 KB block, streamed as a zip download is (chunked,
  256 KB at a time), behind the gate: the zip benchmark's figure of what the server and curl cost
  with no file read and no zip written.

`gunicorn 'benchapp:create()'`, or `benchapp:create(cache="NullCache")` for a gallery whose cached
reads (grid pages) always miss, so every request pays its SQL.
"""
from __future__ import annotations

import threading
from pathlib import Path

from flask import Response, send_from_directory, stream_with_context
from sqlalchemy import event

from app import create_app
from app.blueprints import auth
from app.extensions import db

_counter = threading.local()


def create(cache: str | None = None):
    app = create_app({"CACHE_TYPE": cache} if cache else None)
    root = Path(app.config["DATA_DIR"]) / "photos"

    def bare_file(relative: str):
        return send_from_directory(root, relative, mimetype="image/jpeg")

    def bare_stream(count: int):
        block = bytes(256 << 10)

        def blocks():
            for start in range(0, count, len(block)):
                yield block[:count - start] if count - start < len(block) else block
        return Response(stream_with_context(blocks()), mimetype="application/octet-stream")

    app.add_url_rule("/_bench/file/<path:relative>", "bench_file", bare_file)
    app.add_url_rule("/_bench/bytes/<int:count>", "bench_bytes", bare_stream)
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
