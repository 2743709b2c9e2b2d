"""/api/v1/albums: the top albums, an album with its breadcrumb and sub-albums, create, edit (name,
description, parent, cover), delete, and putting photos in and out. An album's photos are
GET /api/v1/photos?album=<id>."""
from __future__ import annotations

from flask import abort
from flask_login import current_user
from marshmallow import Schema, fields, validate

from ...access import own_album_or_404, own_album_view_or_404, own_photo_or_404
from ...models import MAX_ALBUM_DESCRIPTION, MAX_ALBUM_NAME, MAX_ID
from ...services import albums
from . import operation
from .schemas import ID, Changed, Deleted, PhotoIds, Problem

ALBUM_ID = f"<int(max={MAX_ID}):album_id>"


class AlbumCard(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    photos = fields.Integer(required=True, metadata={"description": "Photos in it (not in the trash)."})
    albums = fields.Integer(required=True, metadata={"description": "Sub-albums directly under it."})
    cover_photo_id = fields.Integer(required=True, allow_none=True, attribute="cover_id",
                                    metadata={"description": "The photo its card shows: the chosen cover, else its newest."})


class Crumb(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)


class Album(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    description = fields.String(required=True)
    parent_id = fields.Integer(required=True, allow_none=True)
    chosen_cover_id = fields.Integer(required=True, allow_none=True, attribute="cover_photo_id")
    photos = fields.Function(lambda view: view.card.photos, required=True)
    breadcrumb = fields.Function(lambda view: [{"id": i, "name": n} for i, n in view.breadcrumb], required=True,
                                 metadata={"description": "Its ancestors, from the top down."})
    children = fields.List(fields.Nested(AlbumCard), required=True)


class NewAlbum(Schema):
    name = fields.String(required=True, validate=validate.Length(max=MAX_ALBUM_NAME))
    description = fields.String(load_default="", validate=validate.Length(max=MAX_ALBUM_DESCRIPTION))
    parent_id = fields.Integer(load_default=None, allow_none=True, validate=ID,
                               metadata={"description": "The album to make it in; null for the top."})


class AlbumChange(Schema):
    name = fields.String(validate=validate.Length(max=MAX_ALBUM_NAME))
    description = fields.String(validate=validate.Length(max=MAX_ALBUM_DESCRIPTION))
    parent_id = fields.Integer(allow_none=True, validate=ID, metadata={"description": "Move under it; null: the top."})
    cover_photo_id = fields.Integer(allow_none=True, validate=ID,
                                    metadata={"description": "A photo of the album for its card; null: its newest."})


class AlbumDelete(Schema):
    children = fields.String(load_default=None, validate=validate.OneOf(list(albums.KEEP_SUB_ALBUMS)),
                             metadata={"description": "For an album with sub-albums: delete them too, or move them up."})


class AlbumList(Schema):
    albums = fields.List(fields.Nested(AlbumCard), required=True)


@operation("/albums", "GET", "albums", {200: AlbumList})
def list_albums():
    """The top albums, by name"""
    return {"albums": albums.top_albums(current_user)}


@operation("/albums", "POST", "albums", {201: Album, 400: Problem, 404: Problem}, body=NewAlbum)
def create_album(data: dict):
    """Make an album, at the top or in another"""
    if data["parent_id"] is not None:
        own_album_or_404(data["parent_id"])
    album = albums.create_album(current_user, data["name"], data["description"], data["parent_id"])
    return own_album_view_or_404(album.id), 201


@operation(f"/albums/{ALBUM_ID}", "GET", "albums", {200: Album, 404: Problem})
def get_album(album):
    """An album with its breadcrumb and sub-albums"""
    return own_album_view_or_404(album.id)


@operation(f"/albums/{ALBUM_ID}", "PATCH", "albums", {200: Album, 400: Problem, 404: Problem}, body=AlbumChange)
def change_album(album, data: dict):
    """Rename, describe, move or choose the cover of an album
    Each given field is changed as the album's edit page changes it; fields left out stay."""
    album_id = album.id
    if "name" in data or "description" in data:
        albums.edit_album(current_user, album, data.get("name", album.name), data.get("description", album.description))
    if "parent_id" in data:
        if data["parent_id"] is not None:
            own_album_or_404(data["parent_id"])
        albums.move_album(current_user, own_album_or_404(album_id), data["parent_id"])
    if "cover_photo_id" in data:
        if data["cover_photo_id"] is not None:
            own_photo_or_404(data["cover_photo_id"])
        albums.set_cover(current_user, own_album_or_404(album_id), data["cover_photo_id"])
    return own_album_view_or_404(album_id)


@operation(f"/albums/{ALBUM_ID}", "DELETE", "albums", {200: Deleted, 400: Problem, 404: Problem}, query=AlbumDelete)
def delete_album(album, args: dict):
    """Delete an album; its photos stay in the library
    An album with sub-albums needs `children`: `delete` (they go too) or `move_up` (to its parent)."""
    view = own_album_view_or_404(album.id)
    if view.children and args["children"] is None:
        abort(400, "children: this album has sub-albums: say children=delete to delete them too, or "
                   "children=move_up to move them up to its parent.")
    return {"deleted": albums.delete_album(current_user, album, albums.KEEP_SUB_ALBUMS.get(args["children"], False))}


@operation(f"/albums/{ALBUM_ID}/photos", "POST", "albums", {200: Changed, 400: Problem, 404: Problem}, body=PhotoIds)
def add_photos(album, data: dict):
    """Put photos in an album
    All or none: an id that is not one of your photos is a 404 and nothing changes."""
    return {"changed": albums.add_photos(current_user.id, album.id, data["photo_ids"])}


@operation(f"/albums/{ALBUM_ID}/photos/remove", "POST", "albums", {200: Changed, 400: Problem, 404: Problem},
           body=PhotoIds)
def remove_photos(album, data: dict):
    """Take photos out of an album; they stay in the library"""
    return {"changed": albums.remove_photos(current_user.id, album.id, data["photo_ids"])}
