"""File names from outside (an upload's, an imported file's): which look like images, and what the
gallery shows and offers for download in their place. Pure functions of strings.

Names are never used on disk (storage makes those); these are for people to read.
"""
from __future__ import annotations

import re
import unicodedata

# The stored original's extension (imaging.FORMATS) -> the extensions files of that format usually have.
USUAL_EXTENSIONS = {
    "jpg": {"jpg", "jpeg", "jpe", "jfif", "mpo"},
    "png": {"png"},
    "webp": {"webp"},
    "gif": {"gif"},
    "tif": {"tif", "tiff"},
    "heic": {"heic", "heif", "hif"},
    "avif": {"avif"},
}
IMAGE_EXTENSIONS = frozenset().union(*USUAL_EXTENSIONS.values())
DISPLAY_LENGTH = 80  # characters shown of a name; longer ones lose their middle
# Controls, format characters (bidi overrides, zero-width marks), surrogates, line and paragraph separators.
UNSHOWN = {"Cc", "Cf", "Cs", "Zl", "Zp"}
EXTENSION = re.compile(r"[A-Za-z][A-Za-z0-9]{0,4}")  # what reads as an extension: "php", "mp4"; not "2024", " Smith"


def extension(name: str) -> str:
    """The lower-case text after the name's last dot when it reads as an extension, else ""."""
    stem, dot, ext = name.rpartition(".")
    return ext.lower() if dot and stem and EXTENSION.fullmatch(ext) else ""


def looks_like_image(name: str) -> bool:
    """Whether the name ends in an extension that one of the gallery's formats usually has."""
    return extension(name) in IMAGE_EXTENSIONS


def display_name(name: str | None) -> str:
    """The client's name as text to show back: its last path part, without control and format characters
    (a bidi override could make `gpj.exe` read as `exe.jpg`), at most DISPLAY_LENGTH characters with an
    ellipsis where the middle was, so that the start and the extension still show."""
    text = _cleaned(name)
    if len(text) > DISPLAY_LENGTH:
        tail = 20
        text = text[: DISPLAY_LENGTH - tail - 1].rstrip() + "…" + text[-tail:].lstrip()
    return text or "(no name)"


def download_name(name: str | None, stored_extension: str) -> str:
    """The name an original downloads as: cleaned as the display name but not shortened (a person's own
    long name comes back whole; uploads already refuse names over 255 characters), never a dotfile,
    ending in the stored format's extension. An extension usual for that format stays (`IMG_1.JPEG`); another one is replaced
    (`x.jpg.php` -> `x.jpg`, `page.html` -> `page.jpg`); a name without one gets it (`.htaccess` ->
    `htaccess.jpg`). Replaced rather than appended to: `x.jpg.php.jpg` would still carry `.php`, which a
    server mapping every extension of a name (Apache's AddHandler) runs, and the file is a JPEG whatever
    the sender called it.
    """
    text = _cleaned(name).strip(". ")  # no leading dot (a dotfile), no trailing one (Windows drops it)
    ext = extension(text)
    usual = USUAL_EXTENSIONS.get(stored_extension, {stored_extension})
    if ext in usual:
        return text
    if ext:
        text = text[: -len(ext) - 1].rstrip(". ")
        if extension(text) in usual:  # x.jpg.php: what is left already ends as it should
            return text
    return f"{text or 'photo'}.{stored_extension}"


def _cleaned(name: str | None) -> str:
    """The last path part, without the characters in UNSHOWN, stripped."""
    base = re.split(r"[/\\]", name or "")[-1]
    return "".join(ch for ch in base if unicodedata.category(ch) not in UNSHOWN).strip()
