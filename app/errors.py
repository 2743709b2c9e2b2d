"""The gallery's own errors. Services raise these; views turn them into pages.

Flask is imported inside the functions that answer a request, not at the top: the pixel work
(services/processing) raises these classes in worker processes that never load Flask.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

log = logging.getLogger(__name__)


class GalleryError(Exception):
    """Base of every error the gallery reports to a person in words."""

    status = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class RejectedFile(GalleryError):
    """An uploaded file the gallery will not store, with the reason."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


class DuplicatePhoto(GalleryError):
    """The same bytes are already in the gallery."""

    status = 409

    def __init__(self, existing_id: int):
        super().__init__("already in the gallery")
        self.existing_id = existing_id


class UnknownPhotos(GalleryError):
    """Photo (or tag) ids of which some are not the owner's, or none at all: the whole action is refused,
    nothing changed. A 404, as another account's id is everywhere (access.py)."""

    status = 404


class NotInTrash(GalleryError):
    """A delete for good (or a restore) of a photo that is not in the trash."""

    status = 409


class StorageError(GalleryError):
    """The disk refused a write: 507 when it is full, 500 when it is read-only or denies permission
    (the server's set-up is wrong, not the request), with the reason in words either way."""

    def __init__(self, message: str, status: int = 507):
        super().__init__(message)
        self.status = status


PAGE_TITLES = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found", 405: "Method not allowed",
               409: "Conflict", 413: "Too large", 415: "Unsupported file", 429: "Too many requests",
               500: "Something went wrong", 503: "Database needs an upgrade", 507: "Storage full"}


def wants_json() -> bool:
    from flask import request

    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


API_PREFIX = "/api/"
PROBLEM_TYPE = "application/problem+json"


def is_api_request() -> bool:
    """A request to the JSON API (/api/v1), whose errors are problem details whatever it accepts."""
    from flask import request

    return request.path.startswith(API_PREFIX)


def problem(status: int, detail: str, headers: dict | None = None, **extensions):
    """An RFC 9457 problem details answer: its status, a title for the status, the detail in words."""
    from flask import jsonify
    from werkzeug.http import HTTP_STATUS_CODES

    title = HTTP_STATUS_CODES.get(status, "Error")  # about:blank: the status's own phrase (RFC 9457 §4.2.1)
    response = jsonify({"type": "about:blank", "title": title, "status": status, "detail": detail, **extensions})
    response.status_code = status
    response.mimetype = PROBLEM_TYPE
    response.headers.extend(headers or {})
    return response


def error_response(status: int, message: str):
    from flask import jsonify, render_template

    if is_api_request():
        return problem(status, message)
    if wants_json():
        return jsonify(error=message, status=status), status
    title = PAGE_TITLES.get(status, "Error")
    return render_template("errors/error.html", status=status, title=title, message=message), status


UPGRADE_COMMAND = "flask --app app db upgrade"


def upgrade_needed_response():
    """503: the database's schema is older than the code. The page stands alone and is rendered without
    the context processors: those ask the database for the signed-in account, whose row may be the very
    thing the old schema cannot read."""
    from flask import current_app, jsonify

    message = f"The gallery's database needs an upgrade: run `{UPGRADE_COMMAND}`, then reload this page."
    if is_api_request():
        return problem(503, message)
    if wants_json():
        return jsonify(error=message, status=503), 503
    page = current_app.jinja_env.get_template("errors/upgrade.html").render(command=UPGRADE_COMMAND)
    return page, 503


def register_error_pages(app: Flask) -> None:
    """One handler for every HTTP error and every GalleryError: the gallery's error page."""
    from werkzeug.exceptions import HTTPException

    from .database import schema_is_behind
    from .extensions import db

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if exc.code is None or exc.code < 400:
            return exc
        return error_response(exc.code, exc.description or "")

    @app.errorhandler(GalleryError)
    def gallery_error(exc: GalleryError):
        db.session.rollback()
        return error_response(exc.status, exc.message)

    @app.errorhandler(500)
    def server_error(exc):
        db.session.rollback()
        if schema_is_behind(getattr(exc, "original_exception", None)):
            return upgrade_needed_response()
        return error_response(500, "The gallery hit an unexpected error. It has been logged.")
