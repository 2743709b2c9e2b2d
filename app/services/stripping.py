"""What a shared file carries: a copy of an original without its GPS, without any EXIF, XMP or IPTC,
or without a generator's parameters (prompt, seed, model), made without touching its pixels where
the format allows.

JPEG: the segments before the image data are rewritten one by one (APP1 EXIF and XMP, APP13 IPTC,
COM), the entropy-coded data is copied as it is, so nothing is re-encoded. PNG: chunks are filtered
(eXIf, the generators' tEXt/iTXt/zTXt keywords, XMP), the others copied byte for byte. Every other
format is re-encoded by Pillow without the metadata: WebP, GIF and TIFF as themselves, HEIC and AVIF as
JPEG (their encoders take many seconds a photo, too long for a request; browsers show no HEIC anyway).

Pure functions on bytes and files: no app, no database (services/shares.py decides what to strip).
"""
from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

GPS_IFD = 0x8825
EXIF_IFD = 0x8769
USER_COMMENT = 0x9286  # where A1111 and Forge write their parameters in a JPEG or WebP
IMAGE_DESCRIPTION = 0x010E
# PNG text keywords the generators write: InvokeAI, A1111/Forge, ComfyUI, old InvokeAI and Dream.
GENERATION_KEYWORDS = {b"invokeai_metadata", b"invokeai_graph", b"parameters", b"prompt", b"workflow",
                       b"sd-metadata", b"Dream"}
XMP_PNG_KEYWORD = b"XML:com.adobe.xmp"
XMP_JPEG = b"http://ns.adobe.com/xap/1.0/\x00"
EXIF_JPEG = b"Exif\x00\x00"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Formats served as another when stripped: (format, content type, extension).
SERVED_AS = {"HEIF": ("JPEG", "image/jpeg", "jpg"), "AVIF": ("JPEG", "image/jpeg", "jpg")}


@dataclass(frozen=True)
class Stripping:
    """What to take out of a served file."""

    gps: bool = False
    exif: bool = False  # all EXIF, and XMP and IPTC with it (GPS goes too)
    generation: bool = False

    @property
    def anything(self) -> bool:
        return self.gps or self.exif or self.generation

    @property
    def tag(self) -> str:
        """A short name of the choice, for the name of a cached file: g, e, p for each, "" for none."""
        return "".join(letter for letter, on in (("g", self.gps), ("e", self.exif), ("p", self.generation)) if on)


def served_as(image_format: str, mime_type: str, extension: str) -> tuple[str, str, str]:
    """(format, content type, extension) of a stripped copy of a file of this format."""
    return SERVED_AS.get(image_format, (image_format, mime_type, extension))


def strip_file(source: Path, target: Path, stripping: Stripping, image_format: str) -> None:
    """Write `source` without what `stripping` names to `target` (which the caller placed safely), in
    served_as's format."""
    data = source.read_bytes()
    if image_format == "JPEG":
        stripped = strip_jpeg(data, stripping)
    elif image_format == "PNG":
        stripped = strip_png(data, stripping)
    else:
        stripped = reencode(data, stripping, SERVED_AS.get(image_format, (image_format,))[0])
    target.write_bytes(stripped)


# --- JPEG --------------------------------------------------------------------------------------

def jpeg_segments(data: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """The marker segments before the image data, as (marker, payload), and the rest from SOS on.
    ValueError for bytes that are not a JPEG this can walk."""
    if data[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG")
    segments, at = [], 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            raise ValueError(f"no JPEG marker at {at}")
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker == 0xDA:  # start of scan: the rest is image data, copied as it is
            return segments, data[at:]
        length = struct.unpack(">H", data[at + 2:at + 4])[0]
        segments.append((marker, data[at + 4:at + 2 + length]))
        at += 2 + length
    raise ValueError("a JPEG without image data")


def strip_jpeg(data: bytes, stripping: Stripping) -> bytes:
    segments, scan = jpeg_segments(data)
    out = [b"\xff\xd8"]
    for marker, payload in segments:
        payload = jpeg_segment_kept(marker, payload, stripping)
        if payload is not None:
            out.append(bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload)
    out.append(scan)
    return b"".join(out)


def jpeg_segment_kept(marker: int, payload: bytes, stripping: Stripping) -> bytes | None:
    """The segment's payload as served (rewritten when only part of it goes), None to drop it."""
    if marker == 0xE1 and payload.startswith(EXIF_JPEG):
        if stripping.exif:
            return None
        return EXIF_JPEG + exif_without(payload[len(EXIF_JPEG):], stripping)
    if marker == 0xE1 and payload.startswith(XMP_JPEG):
        drop = stripping.exif or (stripping.gps and b"GPS" in payload) or stripping.generation
        return None if drop else payload
    if marker == 0xED:  # APP13: Photoshop IRB with IPTC
        return None if stripping.exif else payload
    if marker == 0xFE:  # COM: where some tools write their parameters
        return None if stripping.generation or stripping.exif else payload
    return payload


def exif_without(tiff: bytes, stripping: Stripping) -> bytes:
    """An EXIF block (TIFF header on) without its GPS IFD and/or the generators' UserComment."""
    if not (stripping.gps or stripping.generation):
        return tiff
    exif = Image.Exif()
    exif.load(tiff)
    if stripping.gps:
        exif.pop(GPS_IFD, None)
    if stripping.generation:
        exif.pop(IMAGE_DESCRIPTION, None)
        sub = exif.get_ifd(EXIF_IFD)
        sub.pop(USER_COMMENT, None)
    written = exif.tobytes()
    return written[len(EXIF_JPEG):] if written.startswith(EXIF_JPEG) else written


# --- PNG ---------------------------------------------------------------------------------------

def png_chunks(data: bytes) -> list[tuple[bytes, bytes, bytes]]:
    """(type, body, the chunk's whole bytes) of each chunk; ValueError for bytes that are not a PNG."""
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG")
    chunks, at = [], len(PNG_SIGNATURE)
    while at + 12 <= len(data):
        length = struct.unpack(">I", data[at:at + 4])[0]
        kind = data[at + 4:at + 8]
        end = at + 12 + length
        chunks.append((kind, data[at + 8:at + 8 + length], data[at:end]))
        at = end
        if kind == b"IEND":
            break
    return chunks


def strip_png(data: bytes, stripping: Stripping) -> bytes:
    kept = [whole for kind, body, whole in png_chunks(data) if png_chunk_kept(kind, body, stripping)]
    return PNG_SIGNATURE + b"".join(kept)


def png_chunk_kept(kind: bytes, body: bytes, stripping: Stripping) -> bool:
    if kind == b"eXIf":
        return not stripping.exif and not _exif_has_what_goes(body, stripping)
    if kind in (b"tEXt", b"iTXt", b"zTXt"):
        keyword = body.split(b"\x00", 1)[0]
        if keyword == XMP_PNG_KEYWORD:
            return not (stripping.exif or stripping.generation or (stripping.gps and b"GPS" in _text_of(kind, body)))
        return not (stripping.generation and keyword in GENERATION_KEYWORDS)
    return True


def _exif_has_what_goes(body: bytes, stripping: Stripping) -> bool:
    """Whether an eXIf chunk holds GPS (or a UserComment) that must go: the chunk then goes whole,
    since rewriting it would need a new CRC for no gain (PNG viewers read little of it)."""
    if not (stripping.gps or stripping.generation):
        return False
    try:
        exif = Image.Exif()
        exif.load(body)
    except Exception:  # Pillow's many errors for a broken IFD: drop what cannot be read
        return True
    return (stripping.gps and GPS_IFD in exif) or (stripping.generation and USER_COMMENT in exif.get_ifd(EXIF_IFD))


def _text_of(kind: bytes, body: bytes) -> bytes:
    if kind == b"zTXt":
        try:
            return zlib.decompress(body.split(b"\x00", 1)[1][1:])
        except zlib.error:
            return b"GPS"  # unreadable: treat as holding it
    return body


# --- every other format ------------------------------------------------------------------------

def reencode(data: bytes, stripping: Stripping, image_format: str) -> bytes:
    """Pillow's copy of the image without EXIF, XMP or text (kept: ICC profile, animation frames).
    Only the EXIF that stripping allows is written back."""
    with Image.open(io.BytesIO(data)) as image:
        exif = image.getexif()
        if stripping.exif:
            exif = Image.Exif()
        else:
            if stripping.gps:
                exif.pop(GPS_IFD, None)
            if stripping.generation:
                exif.pop(IMAGE_DESCRIPTION, None)
                exif.get_ifd(EXIF_IFD).pop(USER_COMMENT, None)
        if image_format == "JPEG" and image.mode not in ("RGB", "L", "CMYK"):
            image = image.convert("RGB")
        options = {"format": image_format}
        if image.info.get("icc_profile"):
            options["icc_profile"] = image.info["icc_profile"]
        if len(exif):
            options["exif"] = exif.tobytes()
        if getattr(image, "n_frames", 1) > 1 and image_format in ("WEBP", "GIF", "PNG"):
            options.update(save_all=True, duration=image.info.get("duration", 100), loop=image.info.get("loop", 0))
        if image_format in ("WEBP", "JPEG", "AVIF"):
            options["quality"] = 95
        out = io.BytesIO()
        image.save(out, **options)
    return out.getvalue()
