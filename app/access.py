"""The one place that turns an id from a URL into the signed-in user's own object.

Another account's id is as unknown as one that never existed: both are a 404 that says nothing of
the other library. Every blueprint takes its objects through these, never from another blueprint.
"""
from __future__ import annotations

from flask import abort
from flask_login import current_user

from .extensions import db
from .models import Album, ApiToken, GenerationImage, GenerationSession, Photo, ShareLink, Tag, User
from .services import albums, generation, photo_page, shares, tags, tokens
from .services import photos as photo_service


def own_photo_or_404(photo_id: int) -> Photo:
    photo = photo_service.find_photo(current_user.id, photo_id)
    if photo is None:
        abort(404, "No such photo.")
    return photo


def own_photo_page_or_404(photo_id: int, options: photo_service.GridOptions) -> photo_page.PhotoPage:
    """The photo and what its page shows, in one statement; the album or tag it was opened from (its
    options' album_id or tag_id, or the search's album) must be the user's too, by the same rule."""
    album_id = options.album_id if options.album_id is not None else options.search.album if options.search else None
    page = photo_page.read_photo_page(current_user, photo_id, album_id, options.tag_id)
    if page is None:
        abort(404, "No such photo.")
    if (album_id is not None or options.tag_id is not None) and page.context_name is None:
        abort(404, "No such album." if album_id is not None else "No such tag.")
    return page


def own_session_or_404(session_id: int) -> GenerationSession:
    session = generation.find_session(current_user.id, session_id)
    if session is None:
        abort(404, "No such generation session.")
    return session


def own_image_or_404(image_id: int) -> GenerationImage:
    image = generation.find_image(current_user.id, image_id)
    if image is None:
        abort(404, "No such generated image.")
    return image


def own_tag_or_404(tag_id: int) -> Tag:
    tag = tags.find_tag(current_user.id, tag_id)
    if tag is None:
        abort(404, "No such tag.")
    return tag


def own_tag_view_or_404(tag_id: int) -> tags.TagView:
    """A tag's page above its photos (cached until the library changes), by the same rule."""
    view = tags.tag_view(current_user, tag_id)
    if view is None:
        abort(404, "No such tag.")
    return view


def own_album_or_404(album_id: int) -> Album:
    album = albums.find_album(current_user.id, album_id)
    if album is None:
        abort(404, "No such album.")
    return album


def own_album_view_or_404(album_id: int) -> albums.AlbumView:
    """An album's page above its photos (cached until the library changes), by the same rule."""
    view = albums.album_view(current_user, album_id)
    if view is None:
        abort(404, "No such album.")
    return view


def account_or_404(account_id: int) -> User:
    """Any account, for an admin; for anyone else every account id is unknown, their own included."""
    account = db.session.get(User, account_id) if current_user.is_admin else None
    if account is None:
        abort(404, "No such account.")
    return account


def own_token_or_404(token_id: int) -> ApiToken:
    token = tokens.find_token(current_user.id, token_id)
    if token is None:
        abort(404, "No such API token.")
    return token


def own_share_or_404(share_id: int) -> ShareLink:
    link = shares.find_share(current_user.id, share_id)
    if link is None:
        abort(404, "No such share link.")
    return link
