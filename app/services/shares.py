"""Share links: a photo, an album (with its sub-albums or not) or a selection shown to anyone who has
the link, with no account. Create, find by token, check a password, count a view, revoke; the photos a
link shows, its grid page, and the files it serves with what they carry stripped.

The URL carries a random token of 256 bits; the row keeps only its SHA-256 (as login sessions do), so
a copy of the database opens no link. Every URL a link opens (its page, a photo's page, thumbnails,
originals) looks the link up by its token first and answers 404 once it is revoked or past its expiry:
nothing it served stays reachable, and its URLs are sent with no-cache, so a browser asks again.

An original served with stripping, or a generated photo's (which carries its IPTC label, services/labels),
is a copy, made on its first request with services/stripping and labels into data/shares/<link id>/
(placed crash-safely by storage.placing) and kept there like a thumbnail. Its folder is the link's own
(link ids are never reused), so a revoked link's copies are never served by another, and revoking
removes the folder.

A link that goes with what it shows (its photo or album deleted, or its owner: ON DELETE CASCADE in the
database, which tells no one) takes its folder along too: the deletes ask files_going_with_*() for the
folders before their commit and hand them to remove_share_files() after it, as they do with the photos'
own files. A deleted photo's copies in the folders of the links that stay (an album's, a selection's)
go the same way.

Speed: a link's grid page is the owner's grid query (photos.grid_page, GridOptions.share_id) read through
the same cache under the owner's library version, so an album's membership change retires it as it does
the owner's page. Beyond the owner's page it costs the token's lookup (one unique-index read) and the
view count, which is kept in the cache and written to the row at most once a minute a link (count_view):
a page costs no UPDATE and no commit. Its tiles are kept as cached HTML as the owner's are, with a mark
where the token goes (blueprints/shares.shared_tiles): a token is never written to the cache.
tests/benchmarks/bench_shares.py holds it to the owner's album page.

Password attempts are counted by the login throttle (services/users.py), under a name of the link's:
a link's password cannot be guessed faster than an account's.
"""
from __future__ import annotations

import hashlib
import logging
import secrets
import shutil
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path, PurePosixPath

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import func, select, update
from werkzeug.security import check_password_hash, generate_password_hash

from ..errors import GalleryError
from ..extensions import cache, db
from ..models import MAX_ID, Album, AlbumPhoto, Photo, ShareLink, ShareLinkPhoto, User, utcnow
from . import photos as photo_service
from . import imaging, labels, storage, stripping, users

log = logging.getLogger(__name__)

MAX_PASSWORD = 1024
MAX_DAYS = 100 * 365  # a last day further away is a typo (and 9999-12-31 has no next day)
UNLOCKED = "shares_unlocked"  # the session key of the links whose password this browser gave


class InvalidShare(GalleryError):
    """A link the gallery will not make (or change), said in words; nothing changed. `field` names the
    form's or the API body's field at fault, when one is."""

    def __init__(self, message: str, field: str | None = None, status: int = 400):
        super().__init__(message)
        self.field, self.status = field, status


class UnknownShareTarget(GalleryError):
    """A photo, album or selection id that is not the owner's: as unknown as one that never existed."""

    status = 404


class WrongSharePassword(GalleryError):
    status = 401


class TooManyPasswordAttempts(GalleryError):
    status = 429


@dataclass(frozen=True)
class ShareOptions:
    """What the owner chose for a link."""

    expires_at: datetime | None = None  # UTC
    password: str = ""
    allow_originals: bool = False
    strip_gps: bool = True
    strip_exif: bool = False
    strip_generation: bool = False


def options_from(form, today: date | None = None) -> ShareOptions:
    """The share form's fields: expires_on (YYYY-MM-DD, the last day the link works; empty for never),
    password (empty for none) and the checkboxes. InvalidShare in words for a bad value."""
    expires_on = (form.get("expires_on") or "").strip()
    day = None
    if expires_on:
        try:
            day = date.fromisoformat(expires_on)
        except ValueError:
            raise InvalidShare(f"{expires_on[:20]!r} is not a date: give one as YYYY-MM-DD.", "expires_on") from None
    password = form.get("password") or ""
    checked = {name: form.get(name) in ("1", "on", "true") for name in CHOICES}
    return ShareOptions(expiry_of(day, today), checked_password(password), **checked)


CHOICES = ("allow_originals", "strip_gps", "strip_exif", "strip_generation")  # a link's yes-or-no options


def changes_from(form, today: date | None = None) -> dict:
    """The edit form's fields (the share list's "Edit…") as change_share's arguments: the last day and the
    checkboxes as the form shows them, the password only when a new one is typed, or "" when
    remove_password is checked (an empty password field keeps the one the link has). InvalidShare in
    words for a bad value."""
    options = options_from(form, today)
    password = "" if form.get("remove_password") in ("1", "on", "true") else options.password or None
    return {"expires_at": options.expires_at, "password": password,
            **{name: getattr(options, name) for name in CHOICES}}


def expiry_of(last_day: date | None, today: date | None = None) -> datetime | None:
    """When a link whose last day is `last_day` expires (UTC): the start of the next day; None: never."""
    if last_day is None:
        return None
    if last_day < (today or utcnow().date()):
        raise InvalidShare("A link's last day cannot be in the past.", "expires_on")
    if last_day > (today or utcnow().date()) + timedelta(days=MAX_DAYS):
        raise InvalidShare(f"A link's last day is at most {MAX_DAYS // 365} years away: leave it empty for a link "
                           "that works until you revoke it.", "expires_on")
    return datetime.combine(last_day + timedelta(days=1), time())


def checked_password(password: str) -> str:
    if len(password) > MAX_PASSWORD:
        raise InvalidShare(f"A link's password is at most {MAX_PASSWORD} characters.", "password")
    return password


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- writes ------------------------------------------------------------------------------------

def share_photo(owner: User, photo_id: int, options: ShareOptions) -> tuple[ShareLink, str]:
    """A link to one of the owner's photos (not in the trash): (the link, its token)."""
    if db.session.scalar(photo_service.photos_of(owner.id, None).with_only_columns(Photo.id)
                         .where(Photo.id == photo_id)) is None:
        raise UnknownShareTarget("No such photo.")
    return _create(owner, "photo", options, photo_id=photo_id)


def share_album(owner: User, album_id: int, with_sub_albums: bool, options: ShareOptions) -> tuple[ShareLink, str]:
    """A link to one of the owner's albums, and everything under it when `with_sub_albums`."""
    if db.session.scalar(select(Album.id).where(Album.owner_id == owner.id, Album.id == album_id)) is None:
        raise UnknownShareTarget("No such album.")
    return _create(owner, "album", options, album_id=album_id, with_sub_albums=with_sub_albums)


def share_selection(owner: User, photo_ids: list[int], options: ShareOptions) -> tuple[ShareLink, str]:
    """A link to the owner's photos `photo_ids`, all of them or none: a foreign or unknown id (or one in
    the trash) refuses the whole link."""
    photo_ids = list(dict.fromkeys(photo_ids))  # a photo given twice is shown once
    if not photo_ids:
        raise InvalidShare("Select at least one photo to share.")
    owned = db.session.scalar(photo_service.photos_of(owner.id, None).with_only_columns(func.count())
                              .where(Photo.id.in_(photo_ids)))
    if owned != len(photo_ids):
        raise UnknownShareTarget(f"{len(photo_ids) - owned} of the {len(photo_ids)} selected photos are not in "
                                 "your gallery; no link was made.")
    link, token = _create(owner, "selection", options, photo_ids=photo_ids)
    return link, token


def _create(owner: User, kind: str, options: ShareOptions, photo_ids: list[int] = (), **what) -> tuple[ShareLink, str]:
    token = secrets.token_urlsafe(32)
    link = ShareLink(owner_id=owner.id, token_hash=token_hash(token), kind=kind, expires_at=options.expires_at,
                     password_hash=generate_password_hash(options.password) if options.password else None,
                     allow_originals=options.allow_originals, strip_gps=options.strip_gps,
                     strip_exif=options.strip_exif, strip_generation=options.strip_generation, **what)
    db.session.add(link)
    db.session.flush()
    db.session.add_all(ShareLinkPhoto(share_link_id=link.id, photo_id=photo_id) for photo_id in photo_ids)
    db.session.commit()
    log.info("user %s shared %s %s as link %s", owner.id, kind, what or f"{len(photo_ids)} photos", link.id)
    return link, token


def revoke_share(owner_id: int, share_id: int) -> bool:
    """End the owner's link at once, every URL it opened with it, and remove its copies; False when the
    owner has no such link (or it was revoked before)."""
    revoked = db.session.execute(update(ShareLink).where(
        ShareLink.owner_id == owner_id, ShareLink.id == share_id, ShareLink.revoked_at.is_(None))
        .values(revoked_at=utcnow())).rowcount == 1
    db.session.commit()
    if revoked:
        shutil.rmtree(link_folder(share_id), ignore_errors=True)  # never served again either way
        log.info("user %s revoked share link %s", owner_id, share_id)
    return revoked


def change_share(link: ShareLink, expires_at: datetime | None | object = ..., password: str | None = None,
                 **choices: bool) -> ShareLink:
    """Change an open or expired link's options: its expiry (`...`: as it is; None: never), its password
    (None: as it is; "": none) and any of CHOICES. A new password locks out every browser that gave the
    old one (is_unlocked). A change to what the files carry removes the copies made so far (after the
    commit; they would not be served again anyway, their names carry the choice). InvalidShare (409) for
    a revoked link: it is gone for good."""
    if link.revoked_at is not None:
        raise InvalidShare("This link was revoked: it cannot open again. Make a new one.", status=409)
    before = stripping_of(link)
    if expires_at is not ...:
        link.expires_at = expires_at
    if password is not None:
        link.password_hash = generate_password_hash(checked_password(password)) if password else None
    for name, value in choices.items():
        if name not in CHOICES:
            raise TypeError(name)
        setattr(link, name, value)
    db.session.commit()
    if stripping_of(link) != before:
        shutil.rmtree(link_folder(link.id), ignore_errors=True)
    log.info("user %s changed share link %s (%s)", link.owner_id, link.id,
             ", ".join([*choices, *(["expiry"] if expires_at is not ... else []),
                        *(["password"] if password is not None else [])]) or "nothing")
    return link


# --- counting views ---------------------------------------------------------------------------
# A view is counted in the cache (Redis INCR under share-views:<id>); the first view of a minute
# (share-views-written:<id>, added with a minute's timeout: Redis SET NX) writes what the cache holds
# to the row, and the owner's list adds what is still waiting. So a link's pages cost two cache calls,
# not an UPDATE and a commit (on SQLite a commit is an fsync and the database's one write lock); the
# list's count is exact, and its last use is at most a minute early (the first view of the minute it
# wrote). With the in-process cache (no Redis) each worker counts apart, and a count left waiting
# expires with CACHE_TIMEOUT if the link is not opened again in that time: run Redis to count exactly.
# With the cache unreachable (or NullCache) every view is written at once, as before.

VIEWS_WRITTEN_EVERY = 60  # seconds


def _views_key(share_id: int) -> str:
    return f"share-views:{share_id}"


def count_view(link: ShareLink) -> None:
    """One more view of the link's pages, now: in the cache, written to the row once a minute."""
    try:
        waiting = cache.cache.inc(_views_key(link.id)) or 1
        if not cache.add(f"share-views-written:{link.id}", 1, timeout=VIEWS_WRITTEN_EVERY):
            return
        cache.cache.dec(_views_key(link.id), waiting)  # taken now; views counted meanwhile stay waiting
    except RedisError as exc:
        log.warning("cache unreachable, counting a view of share link %s in the database: %s", link.id, exc)
        waiting = 1
    db.session.execute(update(ShareLink).where(ShareLink.id == link.id)
                       .values(views=ShareLink.views + waiting, last_used_at=utcnow()))
    db.session.commit()


def waiting_views(share_ids: list[int]) -> dict[int, int]:
    """Views counted in the cache and not yet written to their rows, by link id."""
    if not share_ids:
        return {}
    try:
        counts = cache.get_many(*[_views_key(share_id) for share_id in share_ids])
    except RedisError as exc:
        log.warning("cache unreachable, showing share links' views as written: %s", exc)
        return {}
    return {share_id: int(count) for share_id, count in zip(share_ids, counts) if count}


# --- finding a link and getting in --------------------------------------------------------------

def find_open_share(token: str) -> ShareLink | None:
    """The link whose token this is while it is neither revoked nor expired; None otherwise."""
    if not token or len(token) > 100:
        return None
    link = db.session.scalar(select(ShareLink).where(ShareLink.token_hash == token_hash(token)))
    return link if link is not None and link.is_open() else None


def unlock_mark(link: ShareLink) -> str:
    """What a browser's session keeps of a link whose password it gave: the link's id and the end of the
    password's salted hash, so a new password locks out the browsers that knew the old one."""
    return f"{link.id}:{(link.password_hash or '')[-16:]}"


def is_unlocked(link: ShareLink, unlocked: list | None) -> bool:
    """Whether this browser may see the link: it has no password, or its session holds the link's mark."""
    return link.password_hash is None or unlock_mark(link) in (unlocked or [])


def check_password(link: ShareLink, password: str, address: str) -> None:
    """WrongSharePassword, or TooManyPasswordAttempts past the login throttle's limit (per link and address)."""
    name = f"share-link-{link.id}"
    try:
        users.count_login_attempt(name, address)
    except users.TooManyLogins:
        raise TooManyPasswordAttempts("Too many wrong passwords for this link. Wait a minute, then try again.") from None
    if not check_password_hash(link.password_hash or users.UNUSABLE_HASH, password or ""):
        log.warning("wrong password for share link %s from %s", link.id, address)
        raise WrongSharePassword("That is not the link's password.")
    users.forget_failed_logins(name, address)


# --- what a link shows ----------------------------------------------------------------------------

def shown_photo_ids(share_id: int):
    """SELECT of the ids of the photos link `share_id` shows (the trash left out by the grid's query):
    the one photo, the album's (with every album under it by the albums' materialised path), or the
    selection's."""
    link = db.session.get_one(ShareLink, share_id)
    if link.kind == "photo":
        return select(Photo.id).where(Photo.id == link.photo_id)
    if link.kind == "selection":
        return select(ShareLinkPhoto.photo_id).where(ShareLinkPhoto.share_link_id == link.id)
    if not link.with_sub_albums:
        return select(AlbumPhoto.photo_id).where(AlbumPhoto.album_id == link.album_id)
    top = select(Album.path).where(Album.id == link.album_id).scalar_subquery()
    under = select(Album.id).where(Album.owner_id == link.owner_id, Album.path.startswith(top))
    return select(AlbumPhoto.photo_id).where(AlbumPhoto.album_id.in_(under))


def grid_options(link: ShareLink, options: photo_service.GridOptions = photo_service.DEFAULT_OPTIONS):
    """The grid's options narrowed to the link's photos (the visitor chooses sort and order only)."""
    return photo_service.GridOptions(sort=options.sort, order=options.order, share_id=link.id)


def share_page(link: ShareLink, options: photo_service.GridOptions, older_than: str | None,
               newer_than: str | None, limit: int) -> tuple[photo_service.GridPage, str | None]:
    """One page of the link's photos, by the grid's own keyset query and cache (ValueError for a bad
    cursor), and the shared album's name (album_name). The owner (for the cache's library version) and
    the name are read in one statement."""
    owner, title = db.session.execute(select(User, Album.name).select_from(User)
                                      .outerjoin(Album, Album.id == link.album_id)
                                      .where(User.id == link.owner_id)).one()
    return photo_service.grid_page(owner, grid_options(link, options), older_than, newer_than, limit), title


def shown_photo(link: ShareLink, photo_id: int) -> Photo | None:
    """The photo when the link shows it (and it is not in the trash); None otherwise."""
    if not 0 < photo_id <= MAX_ID:
        return None
    return db.session.scalar(photo_service.grid_photos(link.owner_id, grid_options(link))
                             .where(Photo.id == photo_id))


def album_name(link: ShareLink) -> str | None:
    """The shared album's name (only the shared album's: never its parents' or sub-albums')."""
    if link.album_id is None:
        return None
    return db.session.scalar(select(Album.name).where(Album.id == link.album_id))


def stripping_of(link: ShareLink) -> stripping.Stripping:
    return stripping.Stripping(gps=link.strip_gps, exif=link.strip_exif, generation=link.strip_generation)


# --- the owner's list ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ShareRow:
    """A line of the owner's list of links."""

    link: ShareLink
    what: str  # "Photo beach.jpg", "Album Summer (with its sub-albums)", "12 selected photos"
    photo_id: int | None  # a photo to show as the link's picture
    photos: int
    views: int  # the row's and those still waiting in the cache (count_view)

    @property
    def last_used_at(self) -> datetime | None:
        return self.link.last_used_at

    @property
    def photo_ids(self) -> list[int] | None:
        """A selection's photos (the ones still in the library), else None."""
        if self.link.kind != "selection":
            return None
        return list(db.session.scalars(select(ShareLinkPhoto.photo_id).where(ShareLinkPhoto.share_link_id == self.link.id)
                                       .order_by(ShareLinkPhoto.photo_id)))

    @property
    def state(self) -> str:
        if self.link.revoked_at is not None:
            return "revoked"
        return "open" if self.link.is_open() else "expired"


def shares_of(owner_id: int) -> list[ShareRow]:
    """The owner's links, newest first, with what each shows."""
    links = list(db.session.scalars(select(ShareLink).where(ShareLink.owner_id == owner_id)
                                    .order_by(ShareLink.created_at.desc(), ShareLink.id.desc())))
    waiting = waiting_views([link.id for link in links])
    return [_row(link, waiting.get(link.id, 0)) for link in links]


def find_share(owner_id: int, share_id: int) -> ShareLink | None:
    """The owner's link (open, expired or revoked); None for another account's or an unknown id."""
    return db.session.scalar(select(ShareLink).where(ShareLink.owner_id == owner_id, ShareLink.id == share_id))


def _row(link: ShareLink, waiting: int = 0) -> ShareRow:
    ids = photo_service.grid_photos(link.owner_id, grid_options(link)).with_only_columns(Photo.id)
    count = db.session.scalar(select(func.count()).select_from(ids.subquery()))
    first = db.session.scalar(ids.order_by(Photo.sorted_at.desc(), Photo.id.desc()).limit(1))
    if link.kind == "photo":
        name = db.session.scalar(select(Photo.original_name).where(Photo.id == link.photo_id))
        what = f"Photo {name}"
    elif link.kind == "album":
        what = f"Album {album_name(link)}" + (" with its sub-albums" if link.with_sub_albums else "")
    else:
        what = f"{count} selected photo{'' if count == 1 else 's'}"
    return ShareRow(link, what, first, count, link.views + waiting)


# --- the files a link serves --------------------------------------------------------------------

def shares_root() -> Path:
    return Path(current_app.config["DATA_DIR"]) / "shares"


def link_folder(share_id: int) -> Path:
    return shares_root() / str(share_id)


@dataclass(frozen=True)
class SharedFile:
    path: Path
    mime_type: str
    extension: str
    stored: bool  # the stored original itself (nothing stripped)


def shared_original(link: ShareLink, photo: Photo) -> SharedFile:
    """The file a link serves as the photo's original: the stored file when nothing is stripped and it
    carries no label, else a copy in the link's own folder (stripped, labelled or both), made on its
    first request (all or nothing). FileNotFoundError when the stored original is gone."""
    source = photo_service.original_file(photo)
    choice = stripping_of(link)
    extension = PurePosixPath(photo.original_path).suffix[1:]
    served_format, mime_type, copy_extension = (stripping.served_as(photo.format, photo.mime_type, extension)
                                                if choice.anything else (photo.format, photo.mime_type, extension))
    source_type = labels.source_type_of(photo) if served_format in labels.HEADS else None
    if not choice.anything and source_type is None:
        if not source.is_file():
            raise FileNotFoundError(source)
        return SharedFile(source, photo.mime_type, extension, True)
    extension = copy_extension
    suffix = f".{extension}"
    # The label's letter is in the name, so a copy made before labels were given is never served.
    label = {labels.TRAINED: "t", labels.COMPOSITE: "c"}.get(source_type, "")
    relative = f"{link.id}/{photo.id}.{photo.sha256[:16]}.{choice.tag}{label}{suffix}"
    root = shares_root()
    target = storage.resolve(root, relative)
    if target.is_file():
        return SharedFile(target, mime_type, extension, False)
    if not source.is_file():
        raise FileNotFoundError(source)
    target.parent.mkdir(parents=True, exist_ok=True)
    if photo.format == "HEIF":
        imaging.register_heif()  # Pillow re-encodes it (stripping.reencode) through pillow-heif
    with storage.placing(root, "share") as place:
        temp = place.write(f"share{suffix}", lambda path: write_copy(source, path, choice, photo.format,
                                                                     served_format, source_type),
                           doing="make a shared copy")
        place.files({relative: temp})
    log.info("made the copy %s of photo %s for link %s", relative, photo.id, link.id)
    return SharedFile(target, mime_type, extension, False)


def write_copy(source: Path, target: Path, choice: stripping.Stripping, image_format: str, served_format: str,
               source_type: str | None) -> None:
    """Strip first, then label. The label is not a generation parameter (no prompt, seed or model: only
    that the picture was made by AI) nor something the owner's choice withholds, so it is written after
    stripping, into a copy stripped of its XMP too: a link that hides how an image was made still says
    that it was made by AI."""
    if choice.anything:
        stripping.strip_file(source, target, choice, image_format)
    else:
        shutil.copyfile(source, target)
    if source_type is not None:
        labels.label_copy(target, served_format, source_type)


def shares_of_one(link: ShareLink) -> ShareRow:
    return _row(link, waiting_views([link.id]).get(link.id, 0))


def owns_share(owner_id: int, share_id: int) -> bool:
    return db.session.scalar(select(ShareLink.id).where(ShareLink.owner_id == owner_id,
                                                        ShareLink.id == share_id)) is not None


# --- a link's files when it goes with what it shows -------------------------------------------

def files_going_with_photo(photo_id: int, owner_id: int) -> list[Path]:
    """Before a photo's delete: the folders of its links (the cascade takes them) and its copies in the
    folders of the owner's other links (an album's, a selection's), which stay."""
    going = _folders(select(ShareLink.id).where(ShareLink.owner_id == owner_id, ShareLink.photo_id == photo_id))
    kept = _folders(select(ShareLink.id).where(ShareLink.owner_id == owner_id, ShareLink.kind != "photo"))
    return going + [copy for folder in kept for copy in folder.glob(f"{photo_id}.*")]


def files_going_with_albums(owner_id: int, album_ids) -> list[Path]:
    """Before albums' delete: the folders of their links. `album_ids` is a list or a SELECT of ids."""
    return _folders(select(ShareLink.id).where(ShareLink.owner_id == owner_id, ShareLink.album_id.in_(album_ids)))


def files_going_with_owner(owner_id: int) -> list[Path]:
    """Before an account's delete: the folders of all its links."""
    return _folders(select(ShareLink.id).where(ShareLink.owner_id == owner_id))


def _folders(link_ids) -> list[Path]:
    """The folders of those links that have one (most have none: a folder is made by a copy's first request)."""
    root = shares_root()
    if not root.is_dir():
        return []
    return [folder for folder in map(link_folder, db.session.scalars(link_ids)) if folder.is_dir()]


def remove_share_files(paths: list[Path]) -> None:
    """After the commit that took their links or photos: the folders and copies files_going_with_*() named."""
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            storage.remove_files([path])
    if paths:
        log.info("removed %d share link folders and copies", len(paths))
