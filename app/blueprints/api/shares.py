"""/api/v1/shares: the account's share links with their views and last use, a new link to a photo, an album
(with its sub-albums or not) or a selection with every option of the share forms, a link's options
changed, and revoke. services/shares.py does the work, as for the pages (blueprints/shares.py).

A link's token is in the answer that made it and nowhere else: only its hash is kept, so no later
answer can say it again."""
from __future__ import annotations

from flask import url_for
from flask_login import current_user
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from ...access import own_album_or_404, own_photo_or_404
from ...models import MAX_ID
from ...services import shares
from . import operation
from .schemas import ID, Problem, UtcDateTime

SHARE_ID = f"<int(max={MAX_ID}):share_id>"
TARGETS = ("photo_id", "album_id", "photo_ids")  # what a new link shows: exactly one of them


class ShareLink(Schema):
    """A share link as the owner's list shows it (services/shares.ShareRow)."""

    id = fields.Integer(required=True, attribute="link.id")
    kind = fields.String(required=True, attribute="link.kind", validate=validate.OneOf(["photo", "album", "selection"]))
    what = fields.String(required=True, metadata={"description": "What it shows, in words."})
    photo_id = fields.Integer(required=True, allow_none=True, attribute="link.photo_id",
                              metadata={"description": "The photo a photo's link shows."})
    album_id = fields.Integer(required=True, allow_none=True, attribute="link.album_id",
                              metadata={"description": "The album an album's link shows."})
    with_sub_albums = fields.Boolean(required=True, attribute="link.with_sub_albums")
    photo_ids = fields.List(fields.Integer(), required=True, allow_none=True,
                            metadata={"description": "A selection's photos (those still in the library); null otherwise."})
    photos = fields.Integer(required=True, metadata={"description": "Photos it shows now (not in the trash)."})
    state = fields.String(required=True, validate=validate.OneOf(["open", "expired", "revoked"]))
    expires_on = fields.Date(required=True, allow_none=True, attribute="link.last_day",
                             metadata={"description": "The last day (UTC) it works; null: until revoked."})
    has_password = fields.Function(lambda row: row.link.password_hash is not None, required=True,
                                   metadata={"type": "boolean"})
    allow_originals = fields.Boolean(required=True, attribute="link.allow_originals")
    strip_gps = fields.Boolean(required=True, attribute="link.strip_gps")
    strip_exif = fields.Boolean(required=True, attribute="link.strip_exif")
    strip_generation = fields.Boolean(required=True, attribute="link.strip_generation")
    views = fields.Integer(required=True, metadata={"description": "Pages of it opened."})
    last_used_at = UtcDateTime(required=True, allow_none=True,
                               metadata={"description": "When it was last opened (to the minute); null: never."})
    created_at = UtcDateTime(required=True, attribute="link.created_at")
    revoked_at = UtcDateTime(required=True, allow_none=True, attribute="link.revoked_at")


class NewShareLink(ShareLink):
    token = fields.String(required=True, metadata={"description": "The link's secret, shown this once."})
    url = fields.String(required=True, metadata={"description": "The link to send, shown this once."})


class ShareLinkList(Schema):
    shares = fields.List(fields.Nested(ShareLink), required=True)


class Choices(Schema):
    """The share forms' options; each left out of a change stays as it is."""

    expires_on = fields.Date(allow_none=True, metadata={"description": "The last day (UTC) it works; null: until revoked."})
    password = fields.String(allow_none=True, validate=validate.Length(max=shares.MAX_PASSWORD),
                             metadata={"description": "Asked of every visitor; empty or null: none."})
    allow_originals = fields.Boolean(metadata={"description": "Visitors may download the originals."})
    strip_gps = fields.Boolean(metadata={"description": "Served files carry no location."})
    strip_exif = fields.Boolean(metadata={"description": "Served files carry no camera data (EXIF, XMP, IPTC)."})
    strip_generation = fields.Boolean(metadata={"description": "Served files carry no prompt, seed or model."})


class NewShare(Choices):
    """Give exactly one of photo_id, album_id and photo_ids. Options left out are the share form's
    defaults: no expiry, no password, no originals, the location stripped."""

    photo_id = fields.Integer(validate=ID, metadata={"description": "Share this photo."})
    album_id = fields.Integer(validate=ID, metadata={"description": "Share this album."})
    with_sub_albums = fields.Boolean(load_default=False, metadata={"description": "An album's link shows its sub-albums' photos too."})
    photo_ids = fields.List(fields.Integer(validate=ID), validate=validate.Length(min=1, max=1000),
                            metadata={"description": "Share these photos as a selection."})

    @validates_schema
    def one_target(self, data: dict, **kwargs):
        given = [name for name in TARGETS if name in data]
        if len(given) != 1:
            raise ValidationError("Give exactly one of photo_id, album_id or photo_ids: what the link shows.",
                                  given[1] if len(given) > 1 else "photo_id")
        if data["with_sub_albums"] and "album_id" not in data:
            raise ValidationError("Only an album's link has sub-albums.", "with_sub_albums")


class NewLink:
    """A new link's row with its token and URL, which only this answer carries."""

    def __init__(self, row: shares.ShareRow, token: str):
        self.row, self.token = row, token
        self.url = url_for("shares.public_page", token=token, _external=True)

    def __getattr__(self, name):
        return getattr(self.row, name)


@operation("/shares", "GET", "shares", {200: ShareLinkList})
def list_shares():
    """Your share links, newest first, with their views and last use"""
    return {"shares": shares.shares_of(current_user.id)}


@operation("/shares", "POST", "shares", {201: NewShareLink, 400: Problem, 404: Problem}, body=NewShare)
def create_share(data: dict):
    """Make a share link to a photo, an album or a selection
    The answer carries the link's token and URL this once (only the token's hash is kept). A photo, album
    or photo id that is not yours (or a photo in the trash) is a 404 and no link is made."""
    options = shares.ShareOptions(shares.expiry_of(data.get("expires_on")), shares.checked_password(data.get("password") or ""),
                                  **{name: data.get(name, name == "strip_gps") for name in shares.CHOICES})
    if "photo_id" in data:
        link, token = shares.share_photo(current_user, own_photo_or_404(data["photo_id"]).id, options)
    elif "album_id" in data:
        link, token = shares.share_album(current_user, own_album_or_404(data["album_id"]).id, data["with_sub_albums"],
                                         options)
    else:
        link, token = shares.share_selection(current_user, data["photo_ids"], options)
    return NewLink(shares.shares_of_one(link), token), 201


@operation(f"/shares/{SHARE_ID}", "GET", "shares", {200: ShareLink, 404: Problem})
def get_share(share):
    """A share link with its options, views and last use"""
    return shares.shares_of_one(share)


@operation(f"/shares/{SHARE_ID}", "PATCH", "shares", {200: ShareLink, 400: Problem, 404: Problem, 409: Problem},
           body=Choices)
def change_share(share, data: dict):
    """Change a link's expiry, password or what its files carry
    Fields left out stay. A new password locks out visitors who gave the old one; a revoked link is a 409."""
    changes = {name: data[name] for name in shares.CHOICES if name in data}
    if "expires_on" in data:
        changes["expires_at"] = shares.expiry_of(data["expires_on"])
    if "password" in data:
        changes["password"] = data["password"] or ""
    return shares.shares_of_one(shares.change_share(share, **changes))


@operation(f"/shares/{SHARE_ID}", "DELETE", "shares", {200: ShareLink, 404: Problem})
def revoke_share(share):
    """Revoke a link: every page and file it opened ends at once
    A link revoked before stays as it is."""
    shares.revoke_share(current_user.id, share.id)
    return shares.shares_of_one(share)  # read again: the commit expired it
