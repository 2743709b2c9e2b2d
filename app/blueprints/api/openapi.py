"""The OpenAPI 3.1 document, made by apispec from the marshmallow schemas and the routes `operation`
registered (so it says what the code does), and a page that lists its operations for a person."""
from __future__ import annotations

import re

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import current_app, jsonify, render_template, url_for
from werkzeug.http import HTTP_STATUS_CODES

from . import OPERATIONS, Operation, bp
from .photos import THUMBNAIL_SIZES
from .schemas import Problem

TITLE = "Gallery API"
VERSION = "1.0.0"
PARAMETER = re.compile(r"<(?:(\w+)(?:\(([^)]*)\))?:)?(\w+)>")
PATH_VALUES = {"size": {"type": "string", "enum": list(THUMBNAIL_SIZES)}}
AUTH_PROBLEMS = {401: "No token, or one that is unknown, revoked or expired.",
                 403: "A read-only token, or a session cookie without a token, asked for a change."}


def path_of(rule: str) -> tuple[str, list[dict]]:
    """/api/v1/photos/{photo_id} and its path parameters, from a Flask rule."""
    parameters = []
    for converter, options, name in PARAMETER.findall(rule):
        schema = PATH_VALUES.get(name, {"type": "string"})
        if converter == "int":
            most = re.search(r"max=(\d+)", options)
            schema = {"type": "integer", "minimum": 1, **({"maximum": int(most.group(1))} if most else {})}
        parameters.append({"in": "path", "name": name, "required": True, "schema": schema})
    return bp.url_prefix + PARAMETER.sub(r"{\3}", rule), parameters


def responses_of(op: Operation) -> dict:
    answers = {}
    for status, schema in sorted(op.responses.items()):
        if schema is None:
            answers[str(status)] = {"description": HTTP_STATUS_CODES.get(status, str(status))}
        elif isinstance(schema, str):
            answers[str(status)] = {"description": "The file.",
                                    "content": {schema: {"schema": {"type": "string", "format": "binary"}}}}
        else:
            kind = "application/problem+json" if isinstance(schema, Problem) else "application/json"
            answers[str(status)] = {"description": HTTP_STATUS_CODES.get(status, str(status)),
                                    "content": {kind: {"schema": schema}}}
    if op.query or op.body or op.form:
        answers.setdefault("400", {"description": "A parameter or the body is refused: `errors` names the field.",
                                   "content": {"application/problem+json": {"schema": Problem}}})
    for status, words in AUTH_PROBLEMS.items():
        answers.setdefault(str(status), {"description": words, "content": {"application/problem+json": {"schema": Problem}}})
    return answers


def operation_of(op: Operation, path_parameters: list[dict]) -> dict:
    spec = {"operationId": op.endpoint, "summary": op.summary, "tags": [op.tag], "responses": responses_of(op),
            "parameters": path_parameters + ([{"in": "query", "schema": op.query}] if op.query else [])}
    if op.description:
        spec["description"] = op.description
    if op.body is not None:
        spec["requestBody"] = {"required": True, "content": {"application/json": {"schema": op.body}}}
    if op.form is not None:
        spec["requestBody"] = {"required": True, "content": {"multipart/form-data": {"schema": op.form}}}
    return spec


def build_document() -> dict:
    spec = APISpec(TITLE, VERSION, "3.1.0", plugins=[MarshmallowPlugin()], info={
        "description": "The gallery's JSON API. Send a personal token (made on your account page, or with "
                       "flask tokens create) as the header Authorization: Bearer <token>. Errors are "
                       "application/problem+json (RFC 9457)."})
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    paths: dict[str, dict] = {}
    for op in OPERATIONS:
        path, parameters = path_of(op.rule)
        paths.setdefault(path, {})[op.method.lower()] = operation_of(op, parameters)
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    document = spec.to_dict()
    document["security"] = [{"bearer": []}]
    return document


def document() -> dict:
    """Built once per app: the routes and schemas do not change while it runs."""
    if "openapi" not in current_app.extensions:
        current_app.extensions["openapi"] = build_document()
    return current_app.extensions["openapi"]


@bp.get("/openapi.json")
def openapi_json():
    return jsonify(document())


@bp.get("/docs")
def docs():
    """The document for a person: each operation with its parameters and answers."""
    return render_template("api/docs.html", doc=document(), json_url=url_for("api.openapi_json"))
