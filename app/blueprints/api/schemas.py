"""What the API's resources share: the problem details, a UTC time, a tag's reference, ids in a body."""
from __future__ import annotations

from datetime import timezone

from marshmallow import Schema, fields, validate

from ...models import MAX_ID

ID = validate.Range(min=1, max=MAX_ID)


class UtcDateTime(fields.DateTime):
    """The database keeps UTC without a zone; the API says so (RFC 3339 needs the offset)."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return super()._serialize(value, attr, obj, **kwargs)


class Problem(Schema):
    """RFC 9457 problem details: every error of the API, as application/problem+json."""

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True, metadata={"description": "What went wrong, in words."})
    errors = fields.Dict(keys=fields.String(), metadata={"description": "A refused field's name -> its messages."})


class TagRef(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)


class PhotoIds(Schema):
    photo_ids = fields.List(fields.Integer(validate=ID), required=True, validate=validate.Length(min=1, max=1000))


class Deleted(Schema):
    deleted = fields.Integer(required=True, metadata={"description": "How many were deleted."})


class Changed(Schema):
    changed = fields.Integer(required=True, metadata={"description": "How many photos changed."})
