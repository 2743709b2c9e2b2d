"""Links to the gallery's own pages that take no arguments (the header's sections, the stylesheets and
scripts), made by url_for once for each script root (the prefix the gallery is mounted at) and kept:
the header's 17 url_for calls were a sixth of an uncached search page's template time
(tests/benchmarks/bench_search.py). And such a link with a query string (query_url)."""
from __future__ import annotations

from urllib.parse import urlencode

from flask import request, url_for

MAX_KEPT = 1000  # links of a few script roots; more says something odd sets SCRIPT_NAME: start again
_kept: dict[tuple[str, str, str | None], str] = {}


def fixed_url(endpoint: str, filename: str | None = None) -> str:
    """url_for(endpoint) (or url_for("static", filename=...)), the same string, made once."""
    key = (request.script_root, endpoint, filename)
    url = _kept.get(key)
    if url is None:
        if len(_kept) >= MAX_KEPT:
            _kept.clear()
        url = _kept[key] = url_for(endpoint, filename=filename) if filename else url_for(endpoint)
    return url


def query_url(path: str, args: dict[str, str | None]) -> str:
    """`path` with `args` as its query string (those not None), the string url_for(endpoint, **args) makes
    for a path that takes none of them (werkzeug's own encoding): a link of a search page or a pager from
    a path made once (fixed_url), where url_for with arguments took 18 µs a link."""
    query = urlencode([(name, value) for name, value in args.items() if value is not None], safe="!$'()*,/:;?@")
    return f"{path}?{query}" if query else path
