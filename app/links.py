"""Links to the gallery's own pages that take no arguments (the header's sections, the stylesheets and
scripts), made by url_for once for each script root (the prefix the gallery is mounted at) and kept:
the header's 17 url_for calls were a sixth of an uncached search page's template time
(tests/benchmarks/bench_search.py)."""
from __future__ import annotations

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
