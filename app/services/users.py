"""Accounts: create, authenticate, change passwords and display names, disable, delete with their photos
(the command line and the admin's page both come here); login sessions."""
from __future__ import annotations

import hashlib
import logging
import re
import secrets
import unicodedata
from dataclasses import dataclass

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import bindparam, delete, exists, false, func, insert, literal, select, text
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from ..errors import GalleryError
from ..extensions import cache, db
from ..models import GRID_LAYOUTS, MAX_DISPLAY_NAME, LoginSession, Photo, User, username_key_of
from . import candidates
from . import photos as photo_service
from .cache import clear_library

log = logging.getLogger(__name__)

USERNAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MIN_PASSWORD = 8
# A hash of a password nobody has, so an unknown user costs the same time as a wrong password.
UNUSABLE_HASH = generate_password_hash("no such user: timing equaliser")


class AccountError(GalleryError):
    """A name, password or account change the gallery refuses, with the reason."""


class WrongPassword(AccountError):
    """The current password a person typed to change it is not theirs."""


class AccountDisabled(GalleryError):
    """The right password of an account an admin disabled."""

    status = 403


class SetupDone(GalleryError):
    """The first-run setup was sent when an account exists already (another browser was first)."""

    status = 409


class TooManyLogins(GalleryError):
    """Past this minute's limit of login attempts for one account from one address."""

    status = 429


def check_username(username: str) -> str:
    username = (username or "").strip()
    if not USERNAME.match(username):
        raise AccountError("A user name is 1 to 64 letters, digits, dots, dashes or underscores.")
    return username


def check_password(password: str) -> str:
    if len(password or "") < MIN_PASSWORD:
        raise AccountError(f"A password has at least {MIN_PASSWORD} characters.")
    if len(password) > 1024:
        raise AccountError("A password has at most 1024 characters.")
    return password


def find_user(username: str) -> User | None:
    return db.session.scalar(select(User).where(User.username_key == username_key_of(username)))


def has_users() -> bool:
    return db.session.scalar(select(User.id).limit(1)) is not None


def create_user(username: str, password: str, is_admin: bool = False) -> User:
    """A new account; AccountError when the name is taken or the name or password is refused.

    The name check and the INSERT are two statements, so two `flask users create` of one name (in any
    case) at the same moment can both pass the check. The unique index on users.username_key stops
    the second, and its IntegrityError is told in the check's own words: the name is taken (looked up
    again after the rollback, so a failure of any other constraint is still raised as the bug it is).
    """
    username = check_username(username)
    if find_user(username) is not None:
        raise AccountError(f"The user name {username} is taken.")
    user = User(username=username, password_hash=generate_password_hash(check_password(password)),
                is_admin=is_admin)
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        if find_user(username) is None:
            raise
        raise AccountError(f"The user name {username} is taken.") from None
    log.info("created %s %s", "admin" if is_admin else "user", username)
    return user


def create_first_admin(username: str, password: str) -> User:
    """The gallery's first account, an admin; SetupDone when any account exists already.

    Two browsers can send the setup form at once, each having seen no account. So "no account
    yet" and the insert are one statement, which SQLite runs under its single write lock; and
    PostgreSQL runs it after locking the table against other writers, since there a statement
    sees only the accounts committed before it began, and both inserts would go through.
    """
    username = check_username(username)
    password_hash = generate_password_hash(check_password(password))  # scrypt is slow on purpose: not under the lock
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text(f"LOCK TABLE {User.__tablename__} IN SHARE ROW EXCLUSIVE MODE"))
    first = select(literal(username), literal(username_key_of(username)), literal(password_hash),
                   literal(True)).where(~exists().select_from(User))
    user_id = db.session.scalar(insert(User).from_select(["username", "username_key", "password_hash", "is_admin"],
                                                         first).returning(User.id))
    db.session.commit()  # ends the transaction either way, and with it the lock
    if user_id is None:
        raise SetupDone("The gallery is already set up: log in with its account.")
    log.info("created admin %s at first-run setup", username)
    return db.session.get(User, user_id)


def authenticate(username: str, password: str) -> User | None:
    """The user whose name and password these are, or None; the same work either way. AccountDisabled
    for the right password of a disabled account (said only to whoever knows the password)."""
    user = find_user(username or "")
    if user is None:
        check_password_hash(UNUSABLE_HASH, password or "")
        return None
    if not check_password_hash(user.password_hash, password or ""):
        return None
    if user.disabled:
        raise AccountDisabled("This account is disabled. Ask the gallery's administrator.")
    return user


def set_password(user: User, password: str) -> int:
    """A new password, and every session of the account ended with the old one, in one commit; how
    many sessions ended."""
    user.password_hash = generate_password_hash(check_password(password))
    ended = end_every_login_session(user.id)
    db.session.commit()
    log.info("password changed for %s; %d sessions ended", user.username, ended)
    return ended


def change_own_password(user: User, current: str, new: str, address: str) -> None:
    """set_password for a person who proves the current password (counted as a login attempt, so the
    form cannot be used to guess it); AccountError when it is wrong or the new one is refused."""
    count_login_attempt(user.username, address)  # TooManyLogins
    if not check_password_hash(user.password_hash, current or ""):
        record_failed_login(user.username, address)
        raise WrongPassword("That is not your current password.")
    forget_failed_logins(user.username, address)
    set_password(user, new)


def check_display_name(name: str | None) -> str | None:
    """The name as it will show, stripped; None for an empty one (the user name shows instead)."""
    name = " ".join((name or "").split())
    if len(name) > MAX_DISPLAY_NAME:
        raise AccountError(f"A display name has at most {MAX_DISPLAY_NAME} characters.")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp") for ch in name):
        raise AccountError("A display name cannot hold control or invisible formatting characters.")
    return name or None


def set_display_name(user: User, name: str | None) -> None:
    user.display_name = check_display_name(name)
    db.session.commit()
    log.info("display name of %s set to %r", user.username, user.display_name)


@dataclass
class AccountUsage:
    user: User
    photos: int  # every photo the account owns, those in the trash included
    bytes: int  # the originals' sizes added up


def accounts_with_usage() -> list[AccountUsage]:
    """Every account by name, with its photos and the storage its originals use: one grouped query."""
    usage = (select(User, func.count(Photo.id), func.coalesce(func.sum(Photo.file_size), 0))
             .outerjoin(Photo, Photo.owner_id == User.id).group_by(User.id).order_by(User.username_key))
    return [AccountUsage(user, photos, int(size)) for user, photos, size in db.session.execute(usage)]


def photo_count_of(user: User) -> int:
    return db.session.scalar(select(func.count(Photo.id)).where(Photo.owner_id == user.id))


def deletion_question(user: User) -> str:
    """What `flask users delete` and the admin's page ask before an account goes."""
    count = photo_count_of(user)
    return (f"Delete {user.username} and their {count} photo{'' if count == 1 else 's'}, with their files? "
            "This cannot be undone")


def check_admin_may_remove(admin: User | None, user: User, doing: str) -> None:
    """An admin cannot disable or delete their own account, nor anyone the last admin who can log in:
    someone must be left to manage the accounts (`admin` is None on the command line). AccountError
    saying so."""
    if admin is not None and user.id == admin.id:
        raise AccountError(f"You cannot {doing} your own account.")
    if user.is_admin and not user.disabled:
        others = db.session.scalar(select(func.count(User.id)).where(
            User.is_admin, User.disabled == false(), User.id != user.id))
        if not others:
            raise AccountError(f"{user.username} is the last administrator: you cannot {doing} them.")


def disable_user(admin: User, user: User) -> int:
    """Turn the account off: it cannot log in, and every session of it ends, in one commit; how many."""
    check_admin_may_remove(admin, user, "disable")
    user.disabled = True
    ended = end_every_login_session(user.id)
    db.session.commit()
    log.info("%s disabled %s; %d sessions ended", admin.username, user.username, ended)
    return ended


def enable_user(admin: User, user: User) -> None:
    user.disabled = False
    db.session.commit()
    log.info("%s enabled %s", admin.username, user.username)


def delete_user_as_admin(admin: User | None, user: User) -> int:
    """delete_user, refused for the admin's own account and the last admin; the number of photos."""
    check_admin_may_remove(admin, user, "delete")
    return delete_user(user)


def delete_user(user: User) -> int:
    """Delete the account, its generation sessions and every photo it owns (rows, originals,
    thumbnails); returns the number of photos."""
    from . import shares  # imported here: services/shares counts password attempts with this module

    candidates.delete_sessions_of(user.id)
    photos = list(db.session.scalars(select(Photo).where(Photo.owner_id == user.id)))
    for photo in photos:
        photo_service.delete_photo(photo)
    clear_library(user.id)
    shared = shares.files_going_with_owner(user.id)
    db.session.delete(user)  # its login sessions and share links go with it (ON DELETE CASCADE)
    db.session.commit()
    shares.remove_share_files(shared)
    log.info("deleted user %s and %d photos", user.username, len(photos))
    return len(photos)


# --- login throttling, shared between workers through the cache ----------------------------
# An attempt is counted before its password is checked, by the backend's atomic increment
# (Redis INCR; SimpleCache's inc under its lock), so attempts sent at once each get their own
# number and no more than the limit reach the password. The first attempt opens a one-minute
# window (a key that expires); attempts are counted under a key named after that window, so the
# count ends with it whatever the backend does to the counter's own expiry (SimpleCache's inc()
# resets it to the default five minutes). A good login forgets the window.

WINDOW_SECONDS = 60


def _attempts_key(username: str, address: str) -> str:
    who = hashlib.sha256(f"{username_key_of(username)}\0{address}".encode()).hexdigest()[:32]
    return f"login-failures:{who}"


def _count_attempt(username: str, address: str) -> int:
    """This attempt's number in the current window (opened now if none is)."""
    key = _attempts_key(username, address)
    cache.add(key, secrets.token_hex(8), timeout=WINDOW_SECONDS)
    window = cache.get(key)
    if not window:
        return 0  # the window closed, or a good login forgot it, in the last instant
    counter = f"{key}:{window}"
    cache.add(counter, 0, timeout=WINDOW_SECONDS)
    return cache.cache.inc(counter) or 0  # the backend's inc (Flask-Caching's Cache has none)


def count_login_attempt(username: str, address: str) -> None:
    """Count an attempt before its password is checked; TooManyLogins past the minute's limit.

    With the cache (Redis) unreachable the count is unknown: logins go on, and the log says so.
    """
    try:
        attempts = _count_attempt(username, address)
    except RedisError as exc:
        log.error("login throttling is off while the cache is unreachable: %s", exc)
        return
    if attempts > current_app.config["LOGIN_ATTEMPTS_PER_MINUTE"]:
        raise TooManyLogins("Too many failed logins. Wait a minute, then try again.")


def record_failed_login(username: str, address: str) -> None:
    """Only the log: count_login_attempt counted the attempt before its password was checked."""
    log.warning("failed login for %r from %s", username[:64], address)


def forget_failed_logins(username: str, address: str) -> None:
    try:
        cache.delete(_attempts_key(username, address))
    except RedisError as exc:
        log.error("could not reset failed logins, the cache is unreachable: %s", exc)


# --- login sessions -------------------------------------------------------------------------
# A signed-in browser's session cookie (signed by Flask) carries a random token; the database keeps
# only the token's SHA-256, so its rows open no session for whoever reads them. A request is signed in
# while its token has a row: deleting the row ends the session for every copy of the cookie.

def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_login_session(user: User, user_agent: str, address: str, replaces: str | None = None) -> str:
    """A new session of `user`, committed with the end of the session it `replaces` (the browser's
    previous token, if it had one); the token for the session cookie."""
    if replaces:
        db.session.execute(delete(LoginSession).where(LoginSession.token_hash == token_hash(replaces)))
    token = secrets.token_urlsafe(32)
    db.session.add(LoginSession(user_id=user.id, token_hash=token_hash(token), user_agent=user_agent[:255],
                                address=address[:64]))
    db.session.commit()
    return token


# Built once: every request asks it, and building the SELECT cost more than running it.
SIGNED_IN_USER = (select(User).join(LoginSession, LoginSession.user_id == User.id)
                  .where(User.id == bindparam("user_id"), LoginSession.token_hash == bindparam("token_hash"),
                         User.disabled == false()))


def signed_in_user(user_id: int, token: str) -> User | None:
    """The user whose session this token is, or None once the session was ended; one statement."""
    return db.session.scalar(SIGNED_IN_USER, {"user_id": user_id, "token_hash": token_hash(token)})


def login_sessions_of(user_id: int) -> list[LoginSession]:
    """The user's sessions, newest first."""
    return list(db.session.scalars(select(LoginSession).where(LoginSession.user_id == user_id)
                                   .order_by(LoginSession.created_at.desc(), LoginSession.id.desc())))


def end_login_session(token: str | None) -> None:
    """Log out: the session's row goes, so no copy of its cookie is signed in any more."""
    if token:
        db.session.execute(delete(LoginSession).where(LoginSession.token_hash == token_hash(token)))
        db.session.commit()


def end_every_login_session(user_id: int) -> int:
    """Delete every session of the user (not committed: the caller's write commits it); how many."""
    return db.session.execute(delete(LoginSession).where(LoginSession.user_id == user_id)).rowcount


def log_out_everywhere(user: User) -> int:
    ended = end_every_login_session(user.id)
    db.session.commit()
    log.info("%s logged out everywhere: %d sessions ended", user.username, ended)
    return ended


def set_grid_layout(user: User, layout: str) -> None:
    """Square tiles or the justified layout (GRID_LAYOUTS), for every grid the account opens; ValueError
    in words for another value."""
    if layout not in GRID_LAYOUTS:
        raise ValueError("Unknown layout: choose square or justified.")
    user.grid_layout = layout
    db.session.commit()
