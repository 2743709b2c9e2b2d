"""/api/v1/tags: the owner's tags with their counts, rename (a merge when the name is taken), delete.
A tag's photos are GET /api/v1/photos?tag=<id>; a photo's tags change by PATCH /api/v1/photos/<id>."""
from __future__ import annotations

from flask_login import current_user
from marshmallow import Schema, fields, validate

from ...models import MAX_ID, MAX_TAG_LENGTH
from ...services import tags
from . import operation
from .schemas import Problem

TAG_ID = f"<int(max={MAX_ID}):tag_id>"


class TagCount(Schema):
    id = fields.Function(lambda count: count.tag.id, required=True)
    name = fields.Function(lambda count: count.tag.name, required=True)
    photos = fields.Integer(required=True, metadata={"description": "Its photos in the library (not in the trash)."})


class TagList(Schema):
    tags = fields.List(fields.Nested(TagCount), required=True)


class Rename(Schema):
    name = fields.String(required=True, validate=validate.Length(max=MAX_TAG_LENGTH))


class Renamed(Schema):
    id = fields.Integer(required=True, metadata={"description": "The tag that stays (another one's after a merge)."})
    name = fields.String(required=True)
    merged = fields.Boolean(required=True, metadata={"description": "Whether it became one with a tag of that name."})


@operation("/tags", "GET", "tags", {200: TagList})
def list_tags():
    """Your tags, by name, with their photo counts"""
    return {"tags": tags.tags_of_owner(current_user)}


@operation(f"/tags/{TAG_ID}", "PATCH", "tags", {200: Renamed, 400: Problem, 404: Problem}, body=Rename)
def rename_tag(tag, data: dict):
    """Rename a tag for the whole library
    Onto the name of another of your tags, the two become one."""
    tag_id = tag.id
    kept = tags.rename_tag(current_user, tag, data["name"])
    return {"id": kept.id, "name": kept.name, "merged": kept.id != tag_id}


@operation(f"/tags/{TAG_ID}", "DELETE", "tags", {204: None, 404: Problem})
def delete_tag(tag):
    """Delete a tag; its photos stay in the library"""
    tags.delete_tag(current_user, tag)
    return None, 204
