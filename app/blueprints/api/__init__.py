"""The JSON API under /api/v1: one module per resource, its schemas beside it; this module holds the
blueprint, who may call it, its problem-details errors, and `operation`, which makes a view a route
and an entry of the OpenAPI document (openapi.py) at once, so the two cannot drift apart.

A request is signed in by a personal token (`Authorization: Bearer`, services/tokens.py) or by the
browser's session cookie. The cookie may read but never change anything here: with no CSRF token in
an API call, a page of another site could send the cookie along (the pages' forms carry one instead).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import wraps

from flask import Blueprint, g, jsonify, request
from flask_login import current_user
from marshmallow import EXCLUDE, Schema, ValidationError
from werkzeug.exceptions import HTTPException

from ... import access
from ...errors import GalleryError, problem
from ...extensions import csrf, db
from ...services import tokens

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # a write needs a bearer token, which no other site's page can send (see refuse_cookie_writes)

READS = {"GET", "HEAD", "OPTIONS"}
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="gallery"'}


@dataclass
class Operation:
    """One documented route: what the OpenAPI document says of it, and what the wrapper checks."""

    rule: str
    method: str
    endpoint: str
    summary: str
    description: str
    tag: str
    query: Schema | None = None
    body: Schema | None = None
    form: dict | None = None  # a multipart body's schema, as OpenAPI says it (files have no marshmallow field)
    responses: dict[int, Schema | str | None] = field(default_factory=dict)  # a str: the content type of a file


OPERATIONS: list[Operation] = []


# A URL's id -> the signed-in user's own object, or a 404 (app/access.py); the view gets the object,
# under the name without "_id".
OWN = {"photo_id": access.own_photo_or_404, "album_id": access.own_album_or_404, "tag_id": access.own_tag_or_404,
       "session_id": access.own_session_or_404, "image_id": access.own_image_or_404,
       "share_id": access.own_share_or_404}


def operation(rule: str, method: str, tag: str, responses: dict, query: type[Schema] | None = None,
              body: type[Schema] | None = None, form: dict | None = None):
    """Route `rule` to the view and document it. The view gets the objects the URL's ids name (OWN), and
    `args` (the query, loaded by `query`) and `data` (the JSON body, loaded by `body`) when those are
    given; it returns a Response (sent as it is), or a value, or (value, status), dumped by the
    response schema of that status."""
    def register(view):
        summary, _, description = (view.__doc__ or view.__name__).strip().partition("\n")
        op = Operation(rule, method, view.__name__, summary.strip(), description.strip(), tag,
                       query(unknown=EXCLUDE) if query else None, body() if body else None, form,
                       {status: schema() if isinstance(schema, type) else schema
                        for status, schema in responses.items()})

        @wraps(view)
        def answer(**kwargs):
            for name in [name for name in kwargs if name in OWN]:  # before the body: another's id is a 404
                kwargs[name.removesuffix("_id")] = OWN[name](kwargs.pop(name))
            if op.query is not None:
                kwargs["args"] = op.query.load(request.args)
            if op.body is not None:
                kwargs["data"] = op.body.load(json_body())
            result = view(**kwargs)
            if not isinstance(result, tuple):
                result = (result, min(op.responses))
            value, status = result
            if hasattr(value, "status_code"):
                return value
            schema = op.responses.get(status)
            return (jsonify(schema.dump(value)), status) if isinstance(schema, Schema) else ("", status)

        bp.add_url_rule(rule, view.__name__, answer, methods=[method])
        OPERATIONS.append(op)
        return answer
    return register


def json_body():
    if not request.is_json:
        raise ValidationError("Send a JSON object with Content-Type: application/json.", "body")
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ValidationError("The body is not a JSON object.", "body")
    return data


# --- who is asking ---------------------------------------------------------------------------

@bp.before_request
def authenticate():
    """A bearer token signs the request in as its account (the login gate in blueprints/auth.py leaves
    the API to this); without one, the session cookie may read, not write."""
    header = request.headers.get("Authorization")
    if header is None:
        return refuse_cookie_writes()
    scheme, _, secret = header.partition(" ")
    found = tokens.bearer_of(secret.strip()) if scheme.lower() == "bearer" and secret.strip() else None
    if found is None:
        return problem(401, "That API token is unknown, revoked or expired: send a valid one as "
                            "Authorization: Bearer <token> (make one on your account page).", CHALLENGE)
    user, token = found
    g._login_user = user  # what flask_login.current_user returns for this request; no cookie is read or set
    g.api_token = token
    if token.read_only and request.method not in READS:
        return problem(403, f"The token {token.name!r} is read-only: use a read-write token to change anything.")
    return None


def refuse_cookie_writes():
    if not current_user.is_authenticated:
        return problem(401, "Log in first: send a personal API token as Authorization: Bearer <token>.", CHALLENGE)
    if request.method not in READS:
        return problem(403, "A change through the API needs a personal API token (Authorization: Bearer); "
                            "a browser's session cookie alone may only read.")
    return None


# --- errors as problem details (RFC 9457) ------------------------------------------------------

@bp.errorhandler(ValidationError)
def invalid(exc: ValidationError):
    where = exc.field_name if exc.field_name != "_schema" else "body"
    messages = exc.messages if isinstance(exc.messages, dict) else {where: exc.messages}
    detail = "; ".join(f"{name}: {' '.join(map(str, flat(words)))}" for name, words in messages.items())
    return problem(400, detail, errors=messages)


def flat(words):
    if isinstance(words, dict):
        return [f"{key}: {' '.join(map(str, flat(value)))}" for key, value in words.items()]
    return words if isinstance(words, list) else [words]


@bp.errorhandler(GalleryError)
def refused(exc: GalleryError):
    db.session.rollback()
    field_name = getattr(exc, "field", None)  # services/invokeai_models.InvalidParameter names its field
    if field_name:
        return problem(exc.status, f"{field_name}: {exc.message}", errors={field_name: [exc.message]})
    return problem(exc.status, exc.message)


@bp.errorhandler(HTTPException)
def http_error(exc: HTTPException):
    if exc.code is None or exc.code < 400:
        return exc
    return problem(exc.code, exc.description or "")


from . import photos, albums, tags, trash, shares, generation, openapi  # noqa: E402,I001  (importing adds their routes, in this order)

RESOURCES = (photos, albums, tags, trash, shares, generation, openapi)
