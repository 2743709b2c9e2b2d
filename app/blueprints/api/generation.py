"""/api/v1/generation: InvokeAI's models, start a session, its status (refreshed from InvokeAI or as
stored), keep or reject a candidate, discard a session's undecided and rejected candidates."""
from __future__ import annotations

from flask import current_app
from flask_login import current_user
from marshmallow import Schema, ValidationError, fields, validate

from ...models import MAX_ID
from ...services import candidates, generation
from . import operation
from .schemas import Problem, UtcDateTime

SESSION_ID = f"<int(max={MAX_ID}):session_id>"
IMAGE_ID = f"<int(max={MAX_ID}):image_id>"


class Model(Schema):
    key = fields.String(required=True)
    name = fields.String(required=True)
    base = fields.String(required=True)
    label = fields.String(required=True, metadata={"description": "The base's name, as the form groups them."})
    problem = fields.String(required=True, allow_none=True, metadata={"description": "Why it cannot be used, or null."})
    fields_ = fields.List(fields.String(), required=True, data_key="fields", attribute="fields",
                          metadata={"description": "The parameters its base takes."})
    defaults = fields.Dict(keys=fields.String(), required=True)


class ModelList(Schema):
    models = fields.List(fields.Nested(Model), required=True)


class NewSession(Schema):
    """The generate form's fields; left out, a size, steps, CFG scale, guidance or scheduler is the model's default."""

    prompt = fields.String(required=True, validate=validate.Length(min=1, max=10_000))
    negative_prompt = fields.String(load_default="", validate=validate.Length(max=10_000))
    model_key = fields.String(required=True, validate=validate.Length(min=1, max=255))
    width = fields.Integer(load_default=None, validate=validate.Range(64, 2048))
    height = fields.Integer(load_default=None, validate=validate.Range(64, 2048))
    steps = fields.Integer(load_default=None, validate=validate.Range(1, 150))
    cfg_scale = fields.Float(load_default=None, validate=validate.Range(1, 30))
    guidance = fields.Float(load_default=None, validate=validate.Range(0, 20))
    scheduler = fields.String(load_default=None, validate=validate.OneOf(generation.SCHEDULERS))
    seed = fields.Integer(load_default=None, validate=validate.Range(0, generation.MAX_SEED),
                          metadata={"description": "Null for a random seed; each further image takes the next."})
    count = fields.Integer(load_default=1, validate=validate.Range(min=1))


class Candidate(Schema):
    id = fields.Integer(required=True)
    seed = fields.Integer(required=True)
    state = fields.String(required=True, metadata={"description": "queued, in_progress, done, failed or canceled."})
    decision = fields.String(required=True, metadata={"description": "undecided, kept or rejected."})
    error = fields.String(required=True, allow_none=True, attribute="error_message")
    image_name = fields.Function(lambda image: image.image_name if image.state == "done" else "", required=True,
                                 metadata={"description": "What keep and reject send back, to name the image seen."})
    thumbnail_url = fields.Function(lambda image: image.thumbnail_url("grid") if image.state == "done" else None,
                                    required=True, allow_none=True)
    photo_id = fields.Integer(required=True, allow_none=True, metadata={"description": "The photo it became when kept."})


class Session(Schema):
    id = fields.Integer(required=True)
    created_at = UtcDateTime(required=True)
    prompt = fields.String(required=True)
    negative_prompt = fields.String(required=True)
    model_key = fields.String(required=True)
    model_name = fields.String(required=True)
    model_base = fields.String(required=True)
    width = fields.Integer(required=True)
    height = fields.Integer(required=True)
    steps = fields.Integer(required=True)
    cfg_scale = fields.Float(required=True, allow_none=True)
    guidance = fields.Float(required=True, allow_none=True)
    scheduler = fields.String(required=True)
    finished = fields.Boolean(required=True)
    canceled = fields.Boolean(required=True)
    images = fields.List(fields.Nested(Candidate), required=True)


class Shown(Schema):
    image_name = fields.String(load_default="", validate=validate.Length(max=255),
                               metadata={"description": "The candidate's `image_name` as last seen ('' before it was done)."})


class Discarded(Schema):
    discarded = fields.Integer(required=True)


@operation("/generation/models", "GET", "generation", {200: ModelList, 502: Problem, 503: Problem, 504: Problem})
def list_models():
    """InvokeAI's installed models, with why any cannot be used"""
    return {"models": generation.installed_models()}


@operation("/generation/sessions", "POST", "generation",
           {201: Session, 400: Problem, 409: Problem, 502: Problem, 503: Problem, 504: Problem}, body=NewSession)
def start_session(data: dict):
    """Start a generation session: one image per seed
    The images arrive as InvokeAI makes them: poll POST /generation/sessions/{id}/status."""
    most = current_app.config["INVOKEAI_MAX_IMAGES"]
    if data["count"] > most:
        raise ValidationError(f"Between 1 and {most} images.", "count")
    for name in ("width", "height"):
        if data[name] is not None and data[name] % 8:
            raise ValidationError("Must be a multiple of 8.", name)
    return generation.start_session(current_user.id, generation.Parameters(**data)), 201


@operation(f"/generation/sessions/{SESSION_ID}", "GET", "generation", {200: Session, 404: Problem})
def get_session(session):
    """A session and its images as last seen (nothing is asked of InvokeAI)"""
    return session


@operation(f"/generation/sessions/{SESSION_ID}/status", "POST", "generation",
           {200: Session, 404: Problem, 502: Problem, 503: Problem, 504: Problem})
def refresh_session(session):
    """Refresh a session from InvokeAI: the status its page polls
    Finished images are downloaded and thumbnailed."""
    generation.refresh_session(session)
    return session


@operation(f"/generation/sessions/{SESSION_ID}/discard", "POST", "generation", {200: Discarded, 404: Problem})
def discard_session(session):
    """Discard a session's undecided and rejected images; kept ones stay in the gallery"""
    return {"discarded": candidates.discard_session(session)}


@operation(f"/generation/images/{IMAGE_ID}/keep", "POST", "generation", {200: Candidate, 404: Problem, 409: Problem},
           body=Shown)
def keep_image(image, data: dict):
    """Keep a candidate: it becomes a photo"""
    candidates.keep_image(image, shown=data["image_name"])
    return image


@operation(f"/generation/images/{IMAGE_ID}/reject", "POST", "generation", {200: Candidate, 404: Problem, 409: Problem},
           body=Shown)
def reject_image(image, data: dict):
    """Reject a candidate: a discard deletes it"""
    candidates.reject_image(image, shown=data["image_name"])
    return image
