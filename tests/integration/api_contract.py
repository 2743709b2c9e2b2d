"""Every answer the API gives in the suite, held against the app's own OpenAPI document.

`watch(app)` adds an after_request hook that checks each /api/v1 answer: its status is one the
document lists for that operation, its content type is the documented one, and a JSON body is valid
against the documented schema (JSON Schema 2020-12, as OpenAPI 3.1 says, by jsonschema-rs). What does
not fit is collected, not raised (raising in after_request would turn the answer into a 500), and the
`app` fixture fails the test with the list at its end.
"""
from __future__ import annotations

import re
import jsonschema_rs
from flask import Flask, request

from app.blueprints.api.openapi import document

API = "/api/v1/"
UNDOCUMENTED = {"/api/v1/openapi.json", "/api/v1/docs"}  # the document itself and its page


def watch(app: Flask) -> list[str]:
    """The list the hook appends to: one line per answer that breaks the contract."""
    violations: list[str] = []

    @app.after_request
    def check(response):
        if request.path.startswith(API) and request.path not in UNDOCUMENTED:
            problem = violation(request.method, request.path, response)
            if problem:
                violations.append(f"{request.method} {request.path} -> {response.status_code}: {problem}")
        return response

    return violations


def violation(method: str, path: str, response) -> str | None:
    doc = document()
    operation = find_operation(doc, "get" if method == "HEAD" else method.lower(), path)  # HEAD answers as GET
    if operation is None:
        return None if response.status_code in (404, 405) else "no such operation in the document"
    answer = operation["responses"].get(str(response.status_code))
    if answer is None:
        return f"status not in the document (it lists {sorted(operation['responses'])})"
    content = answer.get("content")
    if not content:
        return "a body where the document says none" if response.get_data() else None
    kind = next((k for k in content if k == response.mimetype or (k.endswith("/*") and
                                                                  response.mimetype.startswith(k[:-1]))), None)
    if kind is None:
        return f"content type {response.mimetype}, not one of {sorted(content)}"
    if not kind.endswith("json"):
        return None
    body_schema = validator(doc, kind, operation["operationId"], str(response.status_code))
    errors = [f"{e.instance_path}: {e.message}" for e in body_schema.iter_errors(response.get_json())]
    return "; ".join(errors[:5]) or None


def find_operation(doc: dict, method: str, path: str) -> dict | None:
    for template, operations in doc["paths"].items():
        if re.fullmatch(re.sub(r"\{\w+\}", r"[^/]+", template), path) and method in operations:
            return operations[method]
    return None


VALIDATORS: dict[tuple[str, str, str], jsonschema_rs.Draft202012Validator] = {}


def validator(doc: dict, kind: str, operation_id: str, status: str):
    """Made once a run: every app of the suite has the same document (it is the code's)."""
    key = (kind, operation_id, status)
    if key not in VALIDATORS:
        VALIDATORS[key] = make_validator(doc, *key)
    return VALIDATORS[key]


def make_validator(doc: dict, kind: str, operation_id: str, status: str):
    operation = next(op for ops in doc["paths"].values() for op in ops.values() if op["operationId"] == operation_id)
    schema = operation["responses"][status]["content"][kind]["schema"]
    return jsonschema_rs.Draft202012Validator({**schema, "components": doc["components"]})
