"""/api/v1/trash: what is in the trash, most recently trashed first, and emptying it. A photo goes in
and out by POST /api/v1/photos/<id>/trash and /restore."""
from __future__ import annotations

from flask import abort, current_app
from flask_login import current_user
from marshmallow import Schema, fields, validate

from ...database import reads_and_writes
from ...services import trash
from . import operation
from .photos import MAX_PAGE, PhotoSummary
from .schemas import Deleted, Problem, UtcDateTime


class TrashedPhoto(PhotoSummary):
    trashed_at = UtcDateTime(required=True)
    removal_at = fields.Function(lambda photo: UtcDateTime()._serialize(trash.removal_date(photo), None, None),
                                 required=True, metadata={"description": "When the trash deletes it for good."})


class TrashPage(Schema):
    photos = fields.List(fields.Nested(TrashedPhoto), required=True)
    older = fields.String(required=True, allow_none=True,
                          metadata={"description": "Cursor of the next page (trashed earlier)."})
    newer = fields.String(required=True, allow_none=True, metadata={"description": "Cursor of the page before."})


class TrashList(Schema):
    older = fields.String(load_default=None, validate=validate.Length(max=80))
    newer = fields.String(load_default=None, validate=validate.Length(max=80))
    limit = fields.Integer(load_default=None, validate=validate.Range(1, MAX_PAGE))


@operation("/trash", "GET", "trash", {200: TrashPage, 400: Problem}, query=TrashList)
@reads_and_writes
def list_trash(args: dict):
    """The trash, a page at a time
    As the trash page, what has passed its days is deleted for good first."""
    trash.purge_due(current_user.id)
    try:
        page = trash.trash_page(current_user.id, args["older"], args["newer"],
                                args["limit"] or current_app.config["PAGE_SIZE"])
    except ValueError:
        abort(400, "older/newer: that cursor is not one of the trash's pages.")
    return {"photos": page.photos, "older": page.older, "newer": page.newer}


@operation("/trash", "DELETE", "trash", {200: Deleted})
def empty_trash():
    """Empty the trash: its photos are deleted for good"""
    return {"deleted": trash.empty_trash(current_user.id)}
