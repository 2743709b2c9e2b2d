"""The work on a photo's bytes that needs no app, database or cache: check the name, hash,
decode, encode the thumbnails into temp files, read the metadata columns; and the worker side of
`batch`, which runs it in processes of their own.

Nothing here imports Flask, SQLAlchemy or Redis (tests/unit/test_processing.py holds it to that),
so a worker process that imports this module carries Pillow and not the web app: a spawned
import worker starts in a fraction of the time and far smaller (tests/benchmarks/README.md). That is why the encoding
of thumbnails lives here and not in services/thumbnails, which owns the rest of them (sizes,
paths, versions, placing, re-making on request) and needs the app for it.
"""
from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from PIL import Image

from ..errors import DuplicatePhoto, GalleryError, RejectedFile
from . import generator_metadata, imaging, metadata, storage

log = logging.getLogger(__name__)

MAX_NAME_LENGTH = 255


def check_file_name(name: str | None) -> str:
    """The client's file name, accepted as display text only when it is plainly a name."""
    if not name or not name.strip():
        raise RejectedFile("the file has no name")
    if len(name) > MAX_NAME_LENGTH:
        raise RejectedFile(f"the file name is longer than {MAX_NAME_LENGTH} characters")
    if any(not ch.isprintable() for ch in name):
        raise RejectedFile("the file name contains control characters")
    if "/" in name or "\\" in name or name.strip() in (".", ".."):
        raise RejectedFile("the file name contains a path")
    return name.strip()


@dataclass(frozen=True)
class ImageSettings:
    """What the pixel work needs from the config, as plain values: a worker process has no app."""

    root: Path  # the photos root; temp files go to its .tmp folder
    max_pixels: int
    sizes: dict[str, int]  # thumbnail size -> long edge, as thumbnails.sizes()
    quality: int


@dataclass
class PreparedPhoto:
    """A checked, hashed and decoded file: the original and its thumbnails in temp files, and the
    values of its row. Plain values only, so a worker process can make it for the writer to store."""

    name: str
    digest: str
    file_size: int
    original: Path  # temp file
    thumbnails: dict[str, Path]  # thumbnail size -> temp file
    thumbnail_ext: str
    format: str
    extension: str
    mime_type: str
    width: int  # as displayed, after orientation
    height: int
    columns: dict  # metadata columns
    keywords: tuple[str, ...] = ()  # the file's IPTC / XMP keywords: tags for the writer to add

    @property
    def temp_files(self) -> list[Path]:
        return [self.original, *self.thumbnails.values()]

    @property
    def generated(self) -> bool:
        """Made by an AI tool, as its metadata or sidecar says (generator_metadata gives it a prompt)."""
        return self.columns.get("prompt") is not None


def prepare_photo(stream: BinaryIO, filename: str | None, settings: ImageSettings,
                  check_digest: Callable[[str], None]) -> PreparedPhoto:
    """An ingest up to the database: check the name, copy the bytes to a temp file while hashing
    them, decode, encode the thumbnails to temp files. Needs no app, so an import worker runs it.

    `check_digest(sha256)` may raise DuplicatePhoto before the decode is paid for. Raises
    RejectedFile, DuplicatePhoto or StorageError; on any failure nothing it wrote is left.
    """
    name = check_file_name(filename)
    hasher = hashlib.sha256()
    with storage.placing(settings.root, "upload") as place:
        temp = place.stream(stream, hasher.update)
        size = temp.stat().st_size
        if size == 0:
            raise RejectedFile("the file is empty")
        digest = hasher.hexdigest()
        check_digest(digest)
        decoded = imaging.decode(temp, settings.max_pixels, settings.sizes)
        ext, thumbnails = write_thumbnails(place, decoded, settings.quality)
        columns = metadata.photo_columns(decoded.exif, decoded.text)
        columns["colour"] = average_colour(decoded.thumbnails[min(decoded.thumbnails, key=settings.sizes.get)])
        if columns["taken_at"] is None and decoded.format == "PNG":
            columns["taken_at"] = metadata.png_time(temp)
    return PreparedPhoto(name, digest, size, temp, thumbnails, ext, decoded.format, decoded.extension,
                         decoded.mime_type, decoded.width, decoded.height, columns, decoded.keywords)


def average_colour(image: Image.Image) -> str:
    """'#rrggbb' of an image's average colour (a grid tile's placeholder): the smallest thumbnail reduced to
    one pixel, a few milliseconds. Transparency counts as the page's dark background behind it."""
    rgb = image.convert("RGB") if image.mode != "RGBA" else Image.alpha_composite(
        Image.new("RGBA", image.size, (17, 17, 17, 255)), image).convert("RGB")
    r, g, b = rgb.resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))
    return f"#{r:02x}{g:02x}{b:02x}"


# --- thumbnails: encoding and writing --------------------------------------------------------

def write_thumbnails(place: storage.Placing, decoded: imaging.DecodedImage,
                     quality: int) -> tuple[str, dict[str, Path]]:
    """Encode each thumbnail of a decode once, into a temp file of `place`: (extension, size -> temp)."""
    ext = "webp" if decoded.has_alpha else "jpg"
    return ext, {size: place.write(f"{size}.{ext}", lambda temp, image=image: encode_thumbnail(
        image, temp, ext, quality, decoded.thumbnail_profile)) for size, image in decoded.thumbnails.items()}


def encode_thumbnail(image: Image.Image, path: Path, ext: str, quality: int, icc: bytes | None) -> None:
    """Baseline JPEG, or WebP at low effort for images with alpha; no EXIF (the pixels are upright)."""
    options = {"icc_profile": icc} if icc else {}
    if ext == "webp":
        image.save(path, "WEBP", quality=quality, method=2, **options)
    else:
        image.save(path, "JPEG", quality=quality, **options)


def render_original(original_path: str, settings: ImageSettings) -> tuple[str, dict[str, Path]]:
    """Decode a stored original and encode its thumbnails to temp files: (extension, size -> temp).

    Needs no app, so a worker process runs it. FileNotFoundError when the original is gone,
    RejectedFile when it no longer decodes; nothing is left behind either way.
    """
    original = storage.resolve(settings.root, original_path)
    if not original.is_file():
        raise FileNotFoundError(f"the original is missing: {original_path}")
    decoded = imaging.decode(original, settings.max_pixels, settings.sizes)
    with storage.placing(settings.root, "remake") as place:
        return write_thumbnails(place, decoded, settings.quality)


# --- the worker side of batch: what runs in each worker process ----------------------------

_worker_settings: ImageSettings | None = None
_worker_known: dict[str, int] = {}


def start_worker(settings: ImageSettings, known: dict[str, int]) -> None:
    """Runs once in each worker process."""
    global _worker_settings, _worker_known
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the writer decides
    imaging.tune_process_for_ingest()
    _worker_settings, _worker_known = settings, known
    threading.Thread(target=_exit_with_the_writer, daemon=True).start()


def _exit_with_the_writer() -> None:
    """In a worker: end when the writer is gone, however it died (the pool never tells its workers).
    What the worker was writing stays in .tmp under its process id, for the next clean-up to remove."""
    multiprocessing.parent_process().join()
    os._exit(1)


@dataclass
class Prepared:
    """What a worker made of one file: a PreparedPhoto, or why there is none."""

    outcome: str  # prepared, duplicate, rejected or failed
    photo: PreparedPhoto | None = None
    reason: str = ""


def prepare_file(path: Path) -> Prepared:
    """In a worker: everything of an ingest up to the database."""
    def check_digest(digest: str) -> None:
        if digest in _worker_known:
            raise DuplicatePhoto(_worker_known[digest])

    try:
        with open(path, "rb") as stream:
            photo = prepare_photo(stream, path.name, _worker_settings, check_digest)
        if not photo.generated:
            photo.columns.update(sidecar_columns(path))
        return Prepared("prepared", photo)
    except DuplicatePhoto:
        return Prepared("duplicate")
    except RejectedFile as exc:
        return Prepared("rejected", reason=exc.message)
    except GalleryError as exc:
        return Prepared("failed", reason=exc.message)
    except OSError as exc:
        return Prepared("failed", reason=f"cannot read it: {exc.strerror or exc}")
    except Exception as exc:  # one odd file must not end the import; it is reported and logged
        log.exception("unexpected error preparing %s", path)
        return Prepared("failed", reason=f"unexpected error: {exc!r}")


SIDECAR_SUFFIXES = (".json", ".txt")
MAX_SIDECAR = 4 * 1024 * 1024  # bytes; a larger file beside an image is no sidecar of a generator's


def sidecars_of(path: Path) -> list[Path]:
    """The files that may hold `path`'s parameters: image.json and image.txt (A1111's), then
    image.png.json and image.png.txt."""
    return [path.with_suffix(suffix) for suffix in SIDECAR_SUFFIXES] + \
        [path.with_name(path.name + suffix) for suffix in SIDECAR_SUFFIXES]


def sidecar_columns(path: Path) -> dict:
    """The generation columns of the first sidecar of `path` that holds any, or {}. A sidecar must be a
    regular file in the image's own folder (a symbolic link out of it is not read); its bytes are
    read as UTF-8, what is not UTF-8 replaced."""
    folder = path.parent.resolve()
    for sidecar in sidecars_of(path):
        try:
            if not sidecar.is_file() or sidecar.resolve().parent != folder or sidecar.stat().st_size > MAX_SIDECAR:
                continue
            raw = sidecar.read_bytes().decode("utf-8", errors="replace")
        except OSError as exc:
            log.info("sidecar %s left unread: %s", sidecar, exc)
            continue
        columns = generator_metadata.sidecar_columns(raw, sidecar.suffix.lower())
        if columns:
            return columns
    return {}


@dataclass(frozen=True)
class Remake:
    """One photo whose thumbnails are to be made again, and which of them to put in place."""

    photo_id: int
    original_path: str
    sizes: tuple[str, ...]


@dataclass
class Rendered:
    """What a worker made of one photo's original: new thumbnails in temp files, or why not."""

    thumbnail_ext: str = ""
    temps: dict[str, Path] = field(default_factory=dict)
    problem: str = ""


def render_photo(remake: Remake) -> Rendered:
    """In a worker: decode one original and encode its thumbnails to temp files."""
    try:
        return Rendered(*render_original(remake.original_path, _worker_settings))
    except FileNotFoundError:
        return Rendered(problem="the original is missing")
    except GalleryError as exc:
        return Rendered(problem=f"the original cannot be used: {exc.message}")
    except OSError as exc:
        return Rendered(problem=f"cannot read the original: {exc.strerror or exc}")
    except Exception as exc:  # as in prepare_file: reported and logged, the rest goes on
        log.exception("unexpected error re-making the thumbnails of photo %s", remake.photo_id)
        return Rendered(problem=f"unexpected error: {exc!r}")
