"""Headers every response carries, so a browser holds the gallery to its own origin."""
from __future__ import annotations

from functools import lru_cache
from urllib.parse import urlsplit

from flask import Flask, Response, current_app
from werkzeug.exceptions import SecurityError

CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' data:; object-src 'none'; "
                           "frame-ancestors 'self'; base-uri 'none'")
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "SAMEORIGIN",
}


def add_security_headers(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    tiles = current_app.config.get("MAP_TILE_URL")
    if tiles:
        response.headers["Content-Security-Policy"] = policy_with_tiles(response.headers["Content-Security-Policy"], tiles)
    return response


@lru_cache(maxsize=8)
def policy_with_tiles(policy: str, tile_url: str) -> str:
    """The policy with the map tiles' origin among the image sources (a {s} subdomain as a wildcard)."""
    parts = urlsplit(tile_url.replace("{s}.", "x."))
    host = parts.netloc.replace("x.", "*.", 1) if "{s}." in tile_url else parts.netloc
    return policy.replace("img-src 'self' data:", f"img-src 'self' data: {parts.scheme}://{host}", 1)


def untrusted_host(exc: SecurityError) -> Response:
    """400 in plain text: a Host outside TRUSTED_HOSTS leaves Flask no URL adapter, so the
    error page (whose links need url_for) cannot be rendered."""
    return Response(f"400 Bad Request: {exc.description}\n", 400, mimetype="text/plain")


def register_security_headers(app: Flask) -> None:
    app.after_request(add_security_headers)
    app.register_error_handler(SecurityError, untrusted_host)
