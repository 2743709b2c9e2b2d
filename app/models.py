"""The gallery's tables (SQLAlchemy 2 typed mappings)."""
from __future__ import annotations

import secrets
from datetime import date, datetime, timedelta, timezone

from flask import url_for
from flask_login import UserMixin
from sqlalchemy import (JSON, BigInteger, Boolean, CheckConstraint, DateTime, Float, ForeignKey, Index, Integer,
                        String, Text, UniqueConstraint, event, false, update)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .extensions import db

SOURCES = ("uploaded", "generated")
# The largest id an Integer primary key holds on every backend (PostgreSQL's int4). SQLite cannot
# even bind an int past 2**63, so an id beyond this, from a URL or a cursor, names no photo.
MAX_ID = 2**31 - 1


def is_id(text: str) -> bool:
    """Whether `text`, from a URL or a form, is an id: ASCII digits naming 1 to MAX_ID."""
    return text.isascii() and text.isdigit() and 0 < int(text) <= MAX_ID


MAX_RATING = 5  # stars a photo can have
MAX_DISPLAY_NAME = 64  # characters of a person's display name
GRID_LAYOUTS = ("square", "justified")  # square tiles, or rows of tiles that keep each photo's aspect
MAX_TOKEN_NAME = 100  # characters of an API token's name


def _thumbnails():
    """services/thumbnails, which owns the thumbnails' paths, sizes and URL versions. Imported on
    first use: models depend on the extensions only (and services import models)."""
    from .services import thumbnails
    return thumbnails


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def username_key_of(username: str) -> str:
    """What makes a user name unique: names are ASCII (services.users.USERNAME), so lower() is enough."""
    return username.strip().lower()


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)  # as the person typed it
    # The name in lower case: "Alice" and "alice" are one account, and two creates of them at the same
    # moment are told apart by this unique index, not by a check before the INSERT (which both can pass).
    # Every INSERT through SQLAlchemy fills it from the name; the server default '' is there because
    # SQLite adds a NOT NULL column to a table other tables refer to only with one.
    username_key: Mapped[str] = mapped_column(String(64), unique=True, index=True, server_default="",
                                              default=lambda context: username_key_of(
                                                  context.get_current_parameters()["username"]))
    password_hash: Mapped[str] = mapped_column(String(255))  # werkzeug scrypt; "!" when unusable
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # What the header shows instead of the user name, when the person chose one (services/users.py).
    display_name: Mapped[str | None] = mapped_column(String(MAX_DISPLAY_NAME))
    # Turned off by an admin: cannot log in, and had every session ended when it was disabled.
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # How many photos the user has from each source, kept by the Photo events at the end of this
    # module in the same transaction as the row: the grid's "N photos" comes with the signed-in
    # user, not from a COUNT(*) over the owner's photos, which grows with the library.
    uploaded_photos: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    generated_photos: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Photos in the trash (of either source), counted apart: the two counts above are the library's,
    # this one is the header's "Trash (N)". services/trash.py moves a photo from one to the other.
    trashed_photos: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Part of the key of every cached read of this user's library (services/cache.py): bumped in the
    # transaction of every write to it, by the Photo events below or by cache.clear_library(), so a
    # write by any process (a worker, the CLI) retires what every process cached. A new account starts
    # at a random number: SQLite can give a deleted account's id to the next one, which must not meet
    # the deleted account's cached reads.
    library_version: Mapped[int] = mapped_column(Integer, default=lambda: secrets.randbelow(2**30),
                                                 server_default="0")
    grid_layout: Mapped[str] = mapped_column(String(16), default="square", server_default="square")  # GRID_LAYOUTS

    def photo_count(self, source: str | None = None) -> int:
        """Photos from `source` (one of SOURCES), or from every source."""
        if source is None:
            return self.uploaded_photos + self.generated_photos
        return getattr(self, f"{source}_photos")

    @property
    def shown_name(self) -> str:
        return self.display_name or self.username

    def __repr__(self) -> str:
        return f"<User {self.id} {self.username}>"


class LoginSession(db.Model):
    """One signed-in browser. Its signed session cookie carries a random token, and this row the token's
    SHA-256: deleting the row (logout, "log out everywhere", a password change, the account's delete)
    makes every copy of that cookie useless."""

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # What the account page shows of each session, so a person can tell their browsers apart.
    user_agent: Mapped[str] = mapped_column(String(255), default="")
    address: Mapped[str] = mapped_column(String(64), default="")  # the client's address at login

    def __repr__(self) -> str:
        return f"<LoginSession {self.id} of user {self.user_id}>"


# SQLite gives a table without AUTOINCREMENT the newest deleted row's id again: a URL kept in a stale tab
# would then name another photo or candidate. (PostgreSQL's sequences never go back.)
NEVER_REUSED_IDS = {"sqlite_autoincrement": True}


class Photo(db.Model):
    __tablename__ = "photos"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    source: Mapped[str] = mapped_column(String(16), default="uploaded")
    # Paths are relative to DATA_DIR/photos, POSIX style; made by the server.
    original_path: Mapped[str] = mapped_column(String(255), unique=True)
    thumbnail_ext: Mapped[str] = mapped_column(String(8))  # "jpg", or "webp" for images with alpha
    original_name: Mapped[str] = mapped_column(String(255))  # the client's file name: display text only
    sha256: Mapped[str] = mapped_column(String(64))  # unique per owner
    format: Mapped[str] = mapped_column(String(16))
    mime_type: Mapped[str] = mapped_column(String(32))
    file_size: Mapped[int] = mapped_column(BigInteger)
    width: Mapped[int] = mapped_column(Integer)  # as displayed, after orientation
    height: Mapped[int] = mapped_column(Integer)
    uploaded_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    taken_at: Mapped[datetime | None] = mapped_column(DateTime)
    # taken_at, else uploaded_at: the grid's order, paged by keyset on (sorted_at, id).
    sorted_at: Mapped[datetime] = mapped_column(DateTime)
    # The owner's marks (services/library.py); the grid can show only favourites, or a rating and up.
    favourite: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    rating: Mapped[int] = mapped_column(Integer, CheckConstraint(f"rating BETWEEN 0 AND {MAX_RATING}",
                                                                 name="rating_range"),
                                        default=0, server_default="0")  # stars; 0 is unrated
    # When it was moved to the trash (services/trash.py); None while it is in the library. A trashed
    # photo keeps its files where they are, and its row, until it is deleted for good.
    trashed_at: Mapped[datetime | None] = mapped_column(DateTime)
    # The grid thumbnail's average colour, '#rrggbb': the tile's background until the thumbnail shows.
    # None for photos stored before it was kept (`flask thumbnails colours` fills them).
    colour: Mapped[str | None] = mapped_column(String(7))

    camera_make: Mapped[str | None] = mapped_column(String(128))
    camera_model: Mapped[str | None] = mapped_column(String(128))
    lens: Mapped[str | None] = mapped_column(String(128))
    focal_length: Mapped[float | None] = mapped_column(Float)  # mm
    aperture: Mapped[float | None] = mapped_column(Float)  # f-number
    exposure_time: Mapped[float | None] = mapped_column(Float)  # seconds
    iso: Mapped[int | None] = mapped_column(Integer)
    gps_latitude: Mapped[float | None] = mapped_column(Float)
    gps_longitude: Mapped[float | None] = mapped_column(Float)
    gps_altitude: Mapped[float | None] = mapped_column(Float)  # metres
    exif: Mapped[dict | None] = mapped_column(JSON)  # every readable tag, by name

    # Generation parameters: from a kept generation, or read from an AI tool's file (services/generator_metadata).
    # A file that carries them is a generated photo.
    prompt: Mapped[str | None] = mapped_column(Text)
    negative_prompt: Mapped[str | None] = mapped_column(Text)
    seed: Mapped[int | None] = mapped_column(BigInteger)
    model_name: Mapped[str | None] = mapped_column(String(255))
    model_key: Mapped[str | None] = mapped_column(String(255))
    model_base: Mapped[str | None] = mapped_column(String(32))  # InvokeAI's base: sd-1, sdxl, flux, ...
    steps: Mapped[int | None] = mapped_column(Integer)
    cfg_scale: Mapped[float | None] = mapped_column(Float)
    guidance: Mapped[float | None] = mapped_column(Float)
    scheduler: Mapped[str | None] = mapped_column(String(64))
    generation_width: Mapped[int | None] = mapped_column(Integer)
    generation_height: Mapped[int | None] = mapped_column(Integer)
    # The photo this one was made from by image to image (services/lineage.py); NULL once that is deleted.
    derived_from_id: Mapped[int | None] = mapped_column(ForeignKey("photos.id", ondelete="SET NULL"), index=True)

    __table_args__ = (
        UniqueConstraint("owner_id", "sha256", name="uq_photos_owner_id_sha256"),
        # The grid pages one owner's photos by keyset on (sorted_at, id), with or without a source.
        Index("ix_photos_owner_id_sorted_at_id", "owner_id", "sorted_at", "id"),
        Index("ix_photos_owner_id_source_sorted_at_id", "owner_id", "source", "sorted_at", "id"),
        # ... or by (uploaded_at, id) when sorted by the date added, and favourites alone by either.
        Index("ix_photos_owner_id_uploaded_at_id", "owner_id", "uploaded_at", "id"),
        Index("ix_photos_owner_id_source_uploaded_at_id", "owner_id", "source", "uploaded_at", "id"),
        Index("ix_photos_owner_id_favourite_sorted_at_id", "owner_id", "favourite", "sorted_at", "id"),
        Index("ix_photos_owner_id_favourite_uploaded_at_id", "owner_id", "favourite", "uploaded_at", "id"),
        # The trash page pages one owner's trash by keyset on (trashed_at, id), and the expiry finds
        # what is due by a range on trashed_at: one index for both.
        Index("ix_photos_owner_id_trashed_at_id", "owner_id", "trashed_at", "id"),
        NEVER_REUSED_IDS,
    )

    def thumbnail_path(self, size: str) -> str:
        """Where the `size` thumbnail lives under photos/: thumbnails/ mirroring the original."""
        return _thumbnails().thumbnail_path(self.original_path, size, self.thumbnail_ext)

    def thumbnail_url(self, size: str) -> str:
        # The version changes with the image and with the thumbnail settings, so the URL can be
        # cached as immutable.
        return url_for("thumbnails.photo", photo_id=self.id, size=size, v=_thumbnails().url_version(self.sha256))

    def fitted_size(self, edge: int) -> tuple[int, int]:
        """The displayed size of a thumbnail whose long edge is at most `edge`."""
        return _thumbnails().fitted_size((self.width, self.height), edge)

    @property
    def has_generation(self) -> bool:
        return self.prompt is not None

    @property
    def megapixels(self) -> float:
        return self.width * self.height / 1_000_000

    def __repr__(self) -> str:
        return f"<Photo {self.id} {self.original_path}>"


MAX_TAG_LENGTH = 100  # characters of a tag's name, as typed


def tag_key_of(name: str) -> str:
    """What makes a tag's name unique in one library: "Beach" and "beach" are one tag. casefold(), not
    lower(): names are free Unicode text ("Straße" and "STRASSE" are one word)."""
    return name.strip().casefold()


class Tag(db.Model):
    """A free-text tag of one account's, on any of its photos (services/tags.py)."""

    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(MAX_TAG_LENGTH))  # as the person typed it, trimmed
    # The name as compared: unique per owner, so two requests adding "Beach" and "beach" at the same
    # moment make one tag (the index tells them apart, not a check before the INSERT).
    name_key: Mapped[str] = mapped_column(String(4 * MAX_TAG_LENGTH))  # casefold() can lengthen a name
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("owner_id", "name_key", name="uq_tags_owner_id_name_key"),
                      NEVER_REUSED_IDS)

    def __repr__(self) -> str:
        return f"<Tag {self.id} {self.name}>"


class PhotoTag(db.Model):
    """One photo carries one tag."""

    __tablename__ = "photo_tags"

    photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id", ondelete="CASCADE"), primary_key=True)
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True)
    # The photo's sorted_at, copied when the link is made (it never changes), as album_photos keeps it: a
    # photo's page opened from a tag walks (tag_id, sorted_at, photo_id) to its neighbours
    # (services/photos._neighbours_and_place) without reading the ids of a large tag.
    sorted_at: Mapped[datetime] = mapped_column(DateTime)

    # The primary key finds a photo's tags; a tag page finds its photos by the first index.
    __table_args__ = (Index("ix_photo_tags_tag_id_photo_id", "tag_id", "photo_id"),
                      Index("ix_photo_tags_tag_id_sorted_at_photo_id", "tag_id", "sorted_at", "photo_id"))


MAX_ALBUM_NAME = 200  # characters of an album's name, as typed
MAX_ALBUM_DESCRIPTION = 2000


class Album(db.Model):
    """A named set of one account's photos, nested under another album or at the top (services/albums.py)."""

    __tablename__ = "albums"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("albums.id", ondelete="CASCADE"), index=True)
    # The ids from the top album down to this one, "/1/7/12/": the breadcrumb, "is X under Y" and "this
    # album and everything under it" are each one query on it (a prefix), with no recursion.
    path: Mapped[str] = mapped_column(Text, default="")
    name: Mapped[str] = mapped_column(String(MAX_ALBUM_NAME))
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    # Chosen by the owner; None (or a photo in the trash) shows the album's newest photo instead.
    cover_photo_id: Mapped[int | None] = mapped_column(ForeignKey("photos.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    __table_args__ = (NEVER_REUSED_IDS,)

    def __repr__(self) -> str:
        return f"<Album {self.id} {self.name}>"


class AlbumPhoto(db.Model):
    """One photo is in one album (a photo can be in many)."""

    __tablename__ = "album_photos"

    album_id: Mapped[int] = mapped_column(ForeignKey("albums.id", ondelete="CASCADE"), primary_key=True)
    photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id", ondelete="CASCADE"), primary_key=True,
                                          index=True)  # a photo's albums; the key finds an album's photos
    # The photo's sorted_at, copied when it is added (a photo's sorted_at is set at its insert and never
    # changes): an album's count and its newest photo, its cover, are read from this table's own index
    # without visiting the photos of a large album one by one (services/albums._cards_query).
    sorted_at: Mapped[datetime] = mapped_column(DateTime)

    __table_args__ = (Index("ix_album_photos_album_id_sorted_at_photo_id", "album_id", "sorted_at", "photo_id"),)


class GenerationSession(db.Model):
    """One submitted batch: the parameters a person typed, and one image per seed."""

    __tablename__ = "generation_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    batch_id: Mapped[str] = mapped_column(String(64), unique=True)  # chosen by the gallery
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    prompt: Mapped[str] = mapped_column(Text)
    negative_prompt: Mapped[str] = mapped_column(Text, default="")
    model_key: Mapped[str] = mapped_column(String(255))
    model_name: Mapped[str] = mapped_column(String(255))
    model_hash: Mapped[str] = mapped_column(String(255))
    model_base: Mapped[str] = mapped_column(String(32))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    steps: Mapped[int] = mapped_column(Integer)
    cfg_scale: Mapped[float | None] = mapped_column(Float)  # None: the base takes no CFG (FLUX)
    guidance: Mapped[float | None] = mapped_column(Float)  # FLUX.1's distilled guidance; None elsewhere
    scheduler: Mapped[str] = mapped_column(String(64))
    item_ids: Mapped[list | None] = mapped_column(JSON)  # InvokeAI's queue items, in no useful order
    canceled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Image to image: the photo whose original was the starting image, and how far from it to go (0-1).
    source_photo_id: Mapped[int | None] = mapped_column(ForeignKey("photos.id", ondelete="SET NULL"), index=True)
    strength: Mapped[float | None] = mapped_column(Float)
    # "sent" once InvokeAI took the batch (or the session was settled without it); "pending": saved while
    # InvokeAI could not be reached, sent by a later request that finds it up; "sending": claimed by the
    # request sending it now, since send_claimed_at (services/generation.send_pending_sessions).
    send_state: Mapped[str] = mapped_column(String(16), CheckConstraint("send_state IN ('pending', 'sending', 'sent')",
                                                                        name="send_state"),
                                            default="sent", server_default="sent")
    send_claimed_at: Mapped[datetime | None] = mapped_column(DateTime)

    # The sessions list pages one owner's sessions by keyset on (created_at, id); the requests that reach
    # InvokeAI look up an owner's unsent sessions, a handful at most among thousands.
    __table_args__ = (Index("ix_generation_sessions_owner_id_created_at_id", "owner_id", "created_at", "id"),
                      Index("ix_generation_sessions_send_state_owner_id", "send_state", "owner_id"),
                      NEVER_REUSED_IDS)

    images: Mapped[list[GenerationImage]] = relationship(
        back_populates="session", order_by="GenerationImage.seed_index", cascade="all, delete-orphan")

    @property
    def model(self) -> dict:
        """The model identifier InvokeAI's nodes take."""
        return {"key": self.model_key, "hash": self.model_hash, "name": self.model_name,
                "base": self.model_base, "type": "main"}

    @property
    def finished(self) -> bool:
        return all(image.finished for image in self.images)

    def __repr__(self) -> str:
        return f"<GenerationSession {self.id} {self.batch_id}>"


IMAGE_STATES = ("queued", "in_progress", "downloading", "done", "failed", "canceled")
FINISHED_STATES = ("done", "failed", "canceled")
DECISIONS = ("undecided", "kept", "rejected")


class GenerationImage(db.Model):
    """One candidate: a seed's queue item, and once done, its file and thumbnails."""

    __tablename__ = "generation_images"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("generation_sessions.id", ondelete="CASCADE"), index=True)
    seed_index: Mapped[int] = mapped_column(Integer)  # order in the session: 0, 1, ...
    seed: Mapped[int] = mapped_column(BigInteger)
    item_id: Mapped[int | None] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default="queued")
    decision: Mapped[str] = mapped_column(String(16), default="undecided")
    error_message: Mapped[str | None] = mapped_column(Text)
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime)  # when a request began downloading it
    image_name: Mapped[str | None] = mapped_column(String(255))  # InvokeAI's name for it
    file_path: Mapped[str | None] = mapped_column(String(255))  # under photos/, made by the server
    thumbnail_ext: Mapped[str | None] = mapped_column(String(8))
    sha256: Mapped[str | None] = mapped_column(String(64))
    format: Mapped[str | None] = mapped_column(String(16))
    file_size: Mapped[int | None] = mapped_column(BigInteger)
    image_width: Mapped[int | None] = mapped_column(Integer)
    image_height: Mapped[int | None] = mapped_column(Integer)
    photo_id: Mapped[int | None] = mapped_column(ForeignKey("photos.id", ondelete="SET NULL"))
    download_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # broken off so far
    # InvokeAI's session of the queue item: how its image is found once InvokeAI forgot the item.
    invokeai_session_id: Mapped[str | None] = mapped_column(String(64))

    session: Mapped[GenerationSession] = relationship(back_populates="images")

    __table_args__ = (UniqueConstraint("session_id", "seed", name="uq_generation_images_session_id_seed"),
                      NEVER_REUSED_IDS)

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_STATES

    def thumbnail_path(self, size: str) -> str:
        return _thumbnails().thumbnail_path(self.file_path, size, self.thumbnail_ext)

    def thumbnail_url(self, size: str) -> str:
        return url_for("thumbnails.candidate", image_id=self.id, size=size,
                       v=_thumbnails().url_version(self.sha256 or ""))

    def __repr__(self) -> str:
        return f"<GenerationImage {self.id} seed={self.seed} {self.state}>"


class ApiToken(db.Model):
    """A personal token for the JSON API (/api/v1), sent as `Authorization: Bearer <token>`. Like a login
    session, the row holds only the token's SHA-256: the token itself is shown once, when it is made.
    Revoking deletes the row, so every copy of the token stops working at once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(MAX_TOKEN_NAME))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    read_only: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime)  # None: until revoked

    __table_args__ = (NEVER_REUSED_IDS,)

    @property
    def expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= utcnow()

    def __repr__(self) -> str:
        return f"<ApiToken {self.id} {self.name!r} of user {self.user_id}>"


# --- the users' photo counts and library versions ---------------------------------------------
# Every insert and delete of a Photo through the ORM (an upload, an import, a kept generation, a
# delete, an account's removal) moves its owner's count and bumps the owner's library version in the
# same flush, so no write path can forget either. A photo in the trash counts in trashed_photos, not
# in its source's count; services/trash.py moves it between the two by guarded UPDATEs. A bulk insert
# or delete that bypasses the ORM must recount (services.photos.recount_photos); `flask gallery check`
# compares the counts with the rows and --repair recounts.

def count_column(source: str):
    return User.__table__.c[f"{source}_photos"]


@event.listens_for(Photo, "after_insert")
def _count_new_photo(mapper, connection, photo: Photo) -> None:
    _move_count(connection, photo.owner_id, photo.source, photo.trashed_at is not None, 1)


@event.listens_for(Photo, "before_delete")
def _read_trash_state_of_deleted_photo(mapper, connection, photo: Photo) -> None:
    """Whether the row is in the trash as the database has it now, not as this object was loaded: a
    restore or trash in another request may have come between. The no-op UPDATE locks the row (and
    on SQLite takes the write lock) until the commit, so nothing moves it before the DELETE."""
    photos = Photo.__table__
    found = connection.execute(update(photos).where(photos.c.id == photo.id)
                               .values(trashed_at=photos.c.trashed_at).returning(photos.c.trashed_at)).first()
    photo._deleted_from = None if found is None else ("trash" if found.trashed_at else "library")


@event.listens_for(Photo, "after_delete")
def _count_deleted_photo(mapper, connection, photo: Photo) -> None:
    deleted_from = getattr(photo, "_deleted_from", "library")
    if deleted_from is not None:  # None: another request deleted the row first, and counted it
        _move_count(connection, photo.owner_id, photo.source, deleted_from == "trash", -1)


def _move_count(connection, owner_id: int, source: str, trashed: bool, step: int) -> None:
    users = User.__table__
    column = users.c.trashed_photos if trashed else count_column(source)
    connection.execute(update(users).where(users.c.id == owner_id).values(
        {column: column + step, users.c.library_version: users.c.library_version + 1}))


SHARE_KINDS = ("photo", "album", "selection")


class ShareLink(db.Model):
    """A link that shows some of one account's photos to anyone who has it, with no account
    (services/shares.py). The URL carries a random token; this row keeps only its SHA-256, so the rows
    open no link for whoever reads them."""

    __tablename__ = "share_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16), CheckConstraint("kind IN ('photo', 'album', 'selection')",
                                                                  name="kind_known"))
    # What the link shows: one photo, an album (and everything under it, with_sub_albums), or the
    # photos in share_link_photos. A deleted album or photo takes its links along.
    photo_id: Mapped[int | None] = mapped_column(ForeignKey("photos.id", ondelete="CASCADE"))
    album_id: Mapped[int | None] = mapped_column(ForeignKey("albums.id", ondelete="CASCADE"))
    with_sub_albums: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    expires_at: Mapped[datetime | None] = mapped_column(DateTime)  # UTC; None: until revoked
    password_hash: Mapped[str | None] = mapped_column(String(255))  # werkzeug scrypt; None: no password
    allow_originals: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # What the served files carry: stripped from originals served through the link.
    strip_gps: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    strip_exif: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    strip_generation: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    views: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    __table_args__ = (NEVER_REUSED_IDS,)

    def is_open(self, now: datetime | None = None) -> bool:
        """Neither revoked nor past its expiry."""
        now = now or utcnow()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    @property
    def last_day(self) -> date | None:
        """The last day the link works (it expires at the start of the next, UTC)."""
        return (self.expires_at - timedelta(days=1)).date() if self.expires_at else None

    def __repr__(self) -> str:
        return f"<ShareLink {self.id} {self.kind} of user {self.owner_id}>"


class ShareLinkPhoto(db.Model):
    """One photo of a selection's share link."""

    __tablename__ = "share_link_photos"

    share_link_id: Mapped[int] = mapped_column(ForeignKey("share_links.id", ondelete="CASCADE"), primary_key=True)
    photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id", ondelete="CASCADE"), primary_key=True, index=True)
