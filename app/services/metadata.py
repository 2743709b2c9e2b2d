"""EXIF and generator metadata -> plain dicts of Photo columns.

Camera metadata is untrusted: zero dates, x/0 rationals, bad UTF-8 and huge blocks
must never break an upload, so every field is read on its own and a field that
cannot be read is left out.
"""
from __future__ import annotations

import logging
import math
import numbers
import re
import struct
from datetime import datetime
from email.utils import parsedate_to_datetime

from PIL import ExifTags, Image, TiffImagePlugin

from . import generator_metadata

log = logging.getLogger(__name__)

MAX_TEXT = 256  # longest EXIF text kept in the readable set
MAX_TAGS = 400
SKIPPED_TAGS = {"MakerNote", "PrintImageMatching", "ExifOffset", "GPSInfo", "InteropOffset",
                "JPEGInterchangeFormat", "JPEGInterchangeFormatLength", "StripOffsets",
                "StripByteCounts", "TileOffsets", "TileByteCounts", "XMLPacket", "ImageResources",
                "IPTCNAA", "InterColorProfile"}


def photo_columns(exif: Image.Exif, text: dict[str, str]) -> dict:
    """Every metadata column of a Photo that this file can fill; with a generator's parameters
    (generator_metadata), a prompt, which makes it a generated photo."""
    columns = camera_columns(exif)
    columns.update(gps_columns(exif))
    columns["exif"] = readable_exif(exif) or None
    columns.update(generator_metadata.generation_columns(text, exif))
    if columns["taken_at"] is None:
        columns["taken_at"] = text_date(text)
    return columns


def text_date(text: dict[str, str]) -> datetime | None:
    """When a PNG says it was made: its "Creation Time" text, else the XMP packet's CreateDate (or
    DateCreated, DateTimeOriginal); None when it says nothing readable."""
    return parse_any_datetime(text.get("Creation Time")) or xmp_date(text.get(XMP_KEY))


XMP_KEY = "XML:com.adobe.xmp"  # the PNG iTXt keyword of an XMP packet
XMP_DATES = ("DateTimeOriginal", "CreateDate", "DateCreated")


def xmp_date(packet: str | None) -> datetime | None:
    """The first date XMP_DATES name, as an attribute (xmp:CreateDate="...") or an element."""
    if not packet or len(packet) > MAX_XMP:
        return None
    for name in XMP_DATES:
        found = re.search(rf':{name}\s*=\s*"([^"]{{1,64}})"|:{name}>([^<]{{1,64}})<', packet)
        if found and (moment := parse_any_datetime(found.group(1) or found.group(2))):
            return moment
    return None


def parse_any_datetime(value) -> datetime | None:
    """EXIF's layout, ISO 8601 (its time zone dropped: the wall-clock time, like EXIF's) or RFC 1123
    ("Sat, 05 Dec 2026 09:47:00 GMT", what PNG's Creation Time suggests); None otherwise."""
    text = _text(value, 64)
    if not text:
        return None
    found = parse_exif_datetime(text)
    if found is None:
        try:
            found = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            try:
                found = parsedate_to_datetime(text)
            except (TypeError, ValueError, IndexError):
                return None
    return found.replace(tzinfo=None) if 1800 <= found.year <= 9999 else None


def png_time(path) -> datetime | None:
    """The PNG tIME chunk (when the image was last changed, UTC), walking the chunks by their lengths
    without reading the pixel data; None for another format or no readable tIME."""
    with open(path, "rb") as file:
        if file.read(8) != b"\x89PNG\r\n\x1a\n":
            return None
        for _ in range(10_000):  # a file of endless tiny chunks is not walked for ever
            head = file.read(8)
            if len(head) < 8:
                return None
            length, kind = struct.unpack(">I4s", head)
            if kind == b"tIME" and length == 7:
                year, month, day, hour, minute, second = struct.unpack(">HBBBBB", file.read(7))
                try:
                    return datetime(year, month, day, hour, minute, min(second, 59)) if year >= 1800 else None
                except ValueError:
                    return None
            if kind == b"IEND":
                return None
            file.seek(length + 4, 1)  # the data and its CRC
    return None


def camera_columns(exif: Image.Exif) -> dict:
    ifd0 = exif
    sub = _ifd(exif, ExifTags.IFD.Exif)
    return {
        "camera_make": _text(ifd0.get(ExifTags.Base.Make), 128),
        "camera_model": _text(ifd0.get(ExifTags.Base.Model), 128),
        "lens": _text(sub.get(ExifTags.Base.LensModel), 128),
        "focal_length": _positive(sub.get(ExifTags.Base.FocalLength)),
        "aperture": _positive(sub.get(ExifTags.Base.FNumber)),
        "exposure_time": _positive(sub.get(ExifTags.Base.ExposureTime)),
        "iso": _iso(sub.get(ExifTags.Base.ISOSpeedRatings)),
        "taken_at": parse_exif_datetime(sub.get(ExifTags.Base.DateTimeOriginal)
                                        or sub.get(ExifTags.Base.DateTimeDigitized)),
    }


def gps_columns(exif: Image.Exif) -> dict:
    gps = _ifd(exif, ExifTags.IFD.GPSInfo)
    latitude = _coordinate(gps.get(ExifTags.GPS.GPSLatitude), gps.get(ExifTags.GPS.GPSLatitudeRef), "S", 90)
    longitude = _coordinate(gps.get(ExifTags.GPS.GPSLongitude), gps.get(ExifTags.GPS.GPSLongitudeRef), "W", 180)
    if latitude is None or longitude is None:
        return {"gps_latitude": None, "gps_longitude": None, "gps_altitude": None}
    altitude = _number(gps.get(ExifTags.GPS.GPSAltitude))
    if altitude is not None and gps.get(ExifTags.GPS.GPSAltitudeRef) in (1, b"\x01"):
        altitude = -altitude
    return {"gps_latitude": latitude, "gps_longitude": longitude, "gps_altitude": altitude}


def parse_exif_datetime(value) -> datetime | None:
    """'YYYY:MM:DD HH:MM:SS' -> datetime; zero, blank or impossible dates -> None."""
    text = _text(value, 64)
    if not text:
        return None
    for layout in ("%Y:%m:%d %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y:%m:%d %H:%M"):
        try:
            parsed = datetime.strptime(text[:19], layout)
        except ValueError:
            continue
        return parsed if parsed.year >= 1800 else None
    return None


def readable_exif(exif: Image.Exif) -> dict:
    """Every tag that reads as text or numbers, by name, small enough to show."""
    readable = {}
    groups = [(exif, ExifTags.TAGS), (_ifd(exif, ExifTags.IFD.Exif), ExifTags.TAGS),
              (_ifd(exif, ExifTags.IFD.GPSInfo), ExifTags.GPSTAGS)]
    for tags, names in groups:
        for tag, value in list(tags.items())[:MAX_TAGS]:
            name = names.get(tag)
            if name is None or name in SKIPPED_TAGS:
                continue
            shown = _json_value(value)
            if shown is not None:
                readable[name] = shown
    return readable


def _ifd(exif: Image.Exif, which) -> dict:
    try:
        return exif.get_ifd(which)
    except (OSError, ValueError, KeyError, TypeError, SyntaxError, struct.error, UserWarning) as exc:
        # UserWarning: Pillow's "Corrupt EXIF data" when warnings are errors (as in the tests)
        log.info("unreadable EXIF IFD %s: %s", which, exc)
        return {}


def _text(value, limit: int) -> str | None:
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            return None
    if not isinstance(value, str):
        return None
    value = "".join(ch if ch.isprintable() else " " if ch.isspace() else "" for ch in value).strip()
    return value[:limit] or None


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _positive(value) -> float | None:
    number = _number(value)
    return number if number is not None and number > 0 else None


def _int(value, low: int, high: int) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, int) and low <= value <= high else None


def _iso(value) -> int | None:
    if isinstance(value, (tuple, list)):
        value = value[0] if value else None
    return _int(value, 1, 10_000_000)


def _coordinate(value, ref, negative_ref: str, limit: float) -> float | None:
    if not isinstance(value, (tuple, list)) or len(value) != 3:
        return None
    parts = [_number(part) for part in value]
    if any(part is None for part in parts):
        return None
    degrees = parts[0] + parts[1] / 60 + parts[2] / 3600
    if isinstance(ref, bytes):
        ref = ref.decode("ascii", errors="replace")
    if isinstance(ref, str) and ref.strip().upper().startswith(negative_ref):
        degrees = -degrees
    if not -limit <= degrees <= limit or (degrees == 0 and not any(parts)):
        return None
    return round(degrees, 7)


def _json_value(value):
    """A JSON-safe, short form of an EXIF value, or None when it is binary or too long."""
    if isinstance(value, TiffImagePlugin.IFDRational):
        return _number(value) if value.denominator else None
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return value if math.isfinite(value) else None
    if isinstance(value, bytes):
        if len(value) > MAX_TEXT or not all(32 <= b < 127 for b in value.rstrip(b"\x00")):
            return None
        value = value.decode("ascii")
    if isinstance(value, str):
        value = value.replace("\x00", "").strip()
        if not value or len(value) > MAX_TEXT:
            return None
        return value.encode("utf-8", errors="replace").decode("utf-8")
    if isinstance(value, tuple) and 0 < len(value) <= 16:
        items = [_json_value(item) for item in value]
        return None if any(item is None for item in items) else items
    return None


# --- keywords: the tags a file carries ---------------------------------------------------------

IPTC_KEYWORDS = (2, 25)  # IPTC-IIM record 2, dataset 25: Keywords, one dataset per keyword
XMP_NAMESPACES = {"dc": "http://purl.org/dc/elements/1.1/", "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#"}
MAX_XMP = 256 * 1024  # bytes of an XMP packet parsed; a larger one is left unread
MAX_KEYWORDS = 50  # keywords taken from one file


def keywords(image: Image.Image) -> list[str]:
    """The file's keywords, IPTC Keywords then XMP dc:subject, as plain strings (not yet checked as tag
    names: services/tags.usable_names does that), at most MAX_KEYWORDS; [] when it carries none or
    they cannot be read."""
    found = _iptc_keywords(image) + _xmp_subjects(image)
    return list(dict.fromkeys(word.strip() for word in found if word.strip()))[:MAX_KEYWORDS]


def _iptc_keywords(image: Image.Image) -> list[str]:
    from PIL import IptcImagePlugin

    try:
        info = IptcImagePlugin.getiptcinfo(image) or {}
    except Exception as exc:  # a damaged IPTC block must not refuse the photo
        log.info("unreadable IPTC block: %s", exc)
        return []
    values = info.get(IPTC_KEYWORDS) or []
    if isinstance(values, bytes):
        values = [values]
    return [_iptc_text(value) for value in values[:MAX_KEYWORDS] if isinstance(value, bytes)]


def _iptc_text(value: bytes) -> str:
    """IPTC text is UTF-8 in files of this century (CodedCharacterSet ESC % G), Latin-1 in older ones."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


def _xmp_subjects(image: Image.Image) -> list[str]:
    """dc:subject's rdf:li values. Parsed with the standard library's ElementTree rather than Pillow's
    getxmp() (which needs defusedxml, not installed): it resolves no external entity, its expat refuses
    entity-expansion bombs, and the packet is bounded by MAX_XMP."""
    import xml.etree.ElementTree as ElementTree

    packet = image.info.get("xmp") or getattr(image, "text", {}).get(XMP_KEY) or b""
    if isinstance(packet, str):
        packet = packet.encode("utf-8")
    if not packet or len(packet) > MAX_XMP:
        return []
    start, end = packet.find(b"<x:xmpmeta"), packet.rfind(b"</x:xmpmeta>")
    if start >= 0 and end > start:  # the packet's <?xpacket?> wrapper and padding left out
        packet = packet[start:end + len(b"</x:xmpmeta>")]
    try:
        root = ElementTree.fromstring(packet)
    except ElementTree.ParseError as exc:
        log.info("unreadable XMP packet: %s", exc)
        return []
    return [item.text or "" for subject in root.iter(f"{{{XMP_NAMESPACES['dc']}}}subject")
            for item in subject.iter(f"{{{XMP_NAMESPACES['rdf']}}}li")]
