"""Personal API tokens: make, list, revoke, and find the account a bearer token opens.

Stored like login sessions (services/users.py): the row holds the token's SHA-256, so reading the
table opens nothing. The token is returned once, by create_token, for the person to copy.
"""
from __future__ import annotations

import logging
import secrets
from datetime import timedelta

from sqlalchemy import bindparam, delete, select

from ..errors import GalleryError
from ..extensions import db
from ..models import MAX_TOKEN_NAME, ApiToken, User, utcnow
from .users import token_hash

log = logging.getLogger(__name__)

PREFIX = "gal_"  # tells a gallery token apart in a config file or a leaked-secret scan
MAX_DAYS = 3650


class InvalidToken(GalleryError):
    """A token name or expiry the gallery refuses, with the reason."""


def clean_name(name: str | None) -> str:
    name = (name or "").strip()
    if not name:
        raise InvalidToken("Give the token a name, so you can tell it apart later.")
    if len(name) > MAX_TOKEN_NAME or any(ch < " " for ch in name):
        raise InvalidToken(f"A token's name is at most {MAX_TOKEN_NAME} characters, on one line.")
    return name


def check_days(days: int | None) -> int | None:
    if days is not None and not 1 <= days <= MAX_DAYS:
        raise InvalidToken(f"A token expires after 1 to {MAX_DAYS} days (or never).")
    return days


def create_token(user: User, name: str, read_only: bool = False, days: int | None = None) -> tuple[ApiToken, str]:
    """A new token of `user`; (its row, the token itself, which nothing keeps)."""
    name, days = clean_name(name), check_days(days)
    secret = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user.id, name=name, token_hash=token_hash(secret), read_only=read_only,
                   expires_at=utcnow() + timedelta(days=days) if days else None)
    db.session.add(row)
    db.session.commit()
    log.info("user %s made %s API token %r", user.username, "a read-only" if read_only else "a read-write", name)
    return row, secret


def tokens_of(user_id: int) -> list[ApiToken]:
    """The user's tokens, newest first."""
    return list(db.session.scalars(select(ApiToken).where(ApiToken.user_id == user_id)
                                   .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())))


def find_token(user_id: int, token_id: int) -> ApiToken | None:
    return db.session.scalar(select(ApiToken).where(ApiToken.user_id == user_id, ApiToken.id == token_id))


def revoke_token(token: ApiToken) -> None:
    """Every copy of the token stops working with its row."""
    db.session.execute(delete(ApiToken).where(ApiToken.id == token.id))
    db.session.commit()
    log.info("user %s revoked API token %r", token.user_id, token.name)


# Built once, as SIGNED_IN_USER: every API request asks it.
BEARER = (select(User, ApiToken).join(ApiToken, ApiToken.user_id == User.id)
          .where(ApiToken.token_hash == bindparam("token_hash")))


def bearer_of(secret: str) -> tuple[User, ApiToken] | None:
    """The account and token a bearer token opens, or None (unknown, revoked or expired, or its account
    disabled by an admin, as its browser sessions are); one statement."""
    row = db.session.execute(BEARER, {"token_hash": token_hash(secret)}).first()
    if row is None or row.ApiToken.expired or row.User.disabled:
        return None
    return row.User, row.ApiToken
