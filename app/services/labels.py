"""Honest labels: a generated photo leaves the gallery saying it was made by AI.

Its original goes out with the IPTC digital source type in an XMP packet (trainedAlgorithmicMedia, or
compositeWithTrainedAlgorithmicMedia when image to image started from a camera photo); the stored file
stays byte for byte as it is. Only the file's head is rewritten, in memory (JPEG: an APP1 XMP segment
after SOI and APP0/Exif, or the existing one's value replaced; PNG: an iTXt "XML:com.adobe.xmp" chunk
before the first IDAT; WebP: the XMP chunk of an extended (VP8X) container), and the rest is read from
the stored file as it is sent. Other formats (GIF, TIFF, AVIF, HEIC) cannot take a packet without a
rewrite of the file, so they go out as they are.

open_original(photo) -> (file object, size, labelled) serves the download route; zips label their rows
(with_label_columns, open_labelled: no query per photo), and share links keep a labelled copy (label_copy).
"""
from __future__ import annotations

import io
import os
import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from xml.sax.saxutils import escape

from sqlalchemy import select
from sqlalchemy.orm import aliased

from ..extensions import db
from ..models import Photo
from . import photos

TYPES = "http://cv.iptc.org/newscodes/digitalsourcetype/"
TRAINED = TYPES + "trainedAlgorithmicMedia"
COMPOSITE = TYPES + "compositeWithTrainedAlgorithmicMedia"
IPTC_EXT = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
JPEG_XMP = b"http://ns.adobe.com/xap/1.0/\x00"
PNG_XMP = b"XML:com.adobe.xmp"
MAX_HEAD = 4 << 20  # bytes of leading segments or chunks read before giving up on labelling
DIGITAL_SOURCE_TYPE = re.compile(rb'(DigitalSourceType\s*=\s*")[^"]*(")|(<Iptc4xmpExt:DigitalSourceType>)[^<]*'
                                 rb'(</Iptc4xmpExt:DigitalSourceType>)')


class Unlabellable(ValueError):
    """The file's head is not what its format says: it goes out as it is."""


@dataclass
class Head:
    """The labelled file's first bytes, and where in the stored file the rest begins."""

    data: bytes
    rest_from: int


def source_type_from(source: str, parent_source: str | None) -> str | None:
    """The IPTC digital source type of a photo from `source` made from a photo from `parent_source`
    (None when it was made from none, or that photo is gone), or None for a camera or scanned photo."""
    if source != "generated":
        return None
    return COMPOSITE if parent_source == "uploaded" else TRAINED


def source_type_of(photo: Photo) -> str | None:
    """The IPTC digital source type a download of the photo carries, or None (a camera or scanned photo)."""
    if photo.source != "generated":
        return None
    parent = None
    if photo.derived_from_id is not None:
        parent = db.session.scalar(select(Photo.source).where(Photo.id == photo.derived_from_id))
    return source_type_from(photo.source, parent)


def with_label_columns(statement):
    """`statement`, a SELECT from photos, with the columns a download's label needs in the same query:
    format, source and parent_source (the source of the photo it was made from, by an outer join)."""
    parent = aliased(Photo)
    return (statement.add_columns(Photo.format, Photo.source, parent.source.label("parent_source"))
            .outerjoin(parent, parent.id == Photo.derived_from_id))


def source_type_of_row(row) -> str | None:
    """source_type_of for a row of with_label_columns; None also when its format takes no label."""
    return source_type_from(row.source, row.parent_source) if row.format in HEADS else None


def open_labelled(path: Path, image_format: str, source_type: str | None) -> BinaryIO:
    """The file at `path` as it leaves the gallery: with the label when there is one to give (and the
    file takes it), else as it is. FileNotFoundError when it is gone. The caller closes it."""
    if source_type is None or image_format not in HEADS:
        return open(path, "rb")
    return labelled_file(path, image_format, source_type)[0]


def label_copy(path: Path, image_format: str, source_type: str) -> bool:
    """Label, in place, a copy the gallery made (never a stored original); False when it takes no label."""
    if image_format not in HEADS:
        return False
    try:
        labelled = labelled_bytes(path.read_bytes(), image_format, source_type)
    except Unlabellable:
        return False
    path.write_bytes(labelled)
    return True


def is_labelled(photo: Photo) -> bool:
    """Whether the photo's original leaves the gallery with a label (else it goes out byte for byte)."""
    return photo.format in HEADS and source_type_of(photo) is not None


def open_original(photo: Photo) -> tuple[BinaryIO, int, bool]:
    """The photo's original as it leaves the gallery: (file object, size, labelled). The caller closes it."""
    path = photos.original_file(photo)
    if is_labelled(photo):
        return labelled_file(path, photo.format, source_type_of(photo))
    return open(path, "rb"), path.stat().st_size, False


def labelled_file(path: Path, image_format: str, source_type: str) -> tuple[BinaryIO, int, bool]:
    """The file with its label, the head in memory and the rest streamed; as it is when it cannot be labelled."""
    stored = open(path, "rb")
    try:
        head = HEADS[image_format](stored, source_type)
    except Unlabellable:
        stored.seek(0)
        return stored, os.fstat(stored.fileno()).st_size, False
    except BaseException:
        stored.close()
        raise
    size = len(head.data) + os.fstat(stored.fileno()).st_size - head.rest_from
    stored.seek(head.rest_from)
    return SizedReader(HeadThenRest(head.data, stored), size), size, True


def labelled_bytes(content: bytes, image_format: str, source_type: str) -> bytes:
    """The whole labelled file from bytes in memory (tests, and small files)."""
    stream = io.BytesIO(content)
    head = HEADS[image_format](stream, source_type)
    return head.data + content[head.rest_from:]


class SizedReader(io.BufferedReader):
    """A reader that knows how many bytes it gives (no file number tells it): a zip writes it in the
    member's header, so a labelled member needs no ZIP64 fields."""

    def __init__(self, raw: io.RawIOBase, size: int):
        super().__init__(raw)
        self.size = size


class HeadThenRest(io.RawIOBase):
    """Reads `head`, then the rest of `stored` from where it stands; closing it closes the stored file."""

    def __init__(self, head: bytes, stored: BinaryIO):
        self.head = memoryview(head)
        self.stored = stored

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.head:
            count = min(len(buffer), len(self.head))
            buffer[:count] = self.head[:count]
            self.head = self.head[count:]
            return count
        return self.stored.readinto(buffer)

    def close(self) -> None:
        self.stored.close()
        super().close()


# --- the packet ---------------------------------------------------------------------------

def packet(source_type: str) -> bytes:
    return ('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
            '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            f'{description(source_type)}</rdf:RDF></x:xmpmeta><?xpacket end="w"?>').encode()


def description(source_type: str) -> str:
    return (f'<rdf:Description rdf:about="" xmlns:Iptc4xmpExt="{IPTC_EXT}" '
            f'Iptc4xmpExt:DigitalSourceType="{escape(source_type)}"/>')


def relabelled(existing: bytes, source_type: str) -> bytes:
    """An existing packet with its DigitalSourceType set to `source_type`, or one more rdf:Description
    saying it; a packet without rdf:RDF is replaced by the gallery's own."""
    value = source_type.encode()
    changed, count = DIGITAL_SOURCE_TYPE.subn(
        lambda m: (m.group(1) + value + m.group(2)) if m.group(1) else (m.group(3) + value + m.group(4)), existing)
    if count:
        return changed
    if b"</rdf:RDF>" not in existing:
        return packet(source_type)
    return existing.replace(b"</rdf:RDF>", description(source_type).encode() + b"</rdf:RDF>", 1)


def read_exactly(stream: BinaryIO, count: int) -> bytes:
    data = stream.read(count)
    if len(data) != count:
        raise Unlabellable("the file ends inside its head")
    return data


# --- JPEG ---------------------------------------------------------------------------------

def jpeg_head(stream: BinaryIO, source_type: str) -> Head:
    """SOI and the APPn/COM segments before the image data, with the XMP segment replaced or added
    (after APP0 JFIF and APP1 Exif, which readers expect first)."""
    if stream.read(2) != b"\xff\xd8":
        raise Unlabellable("no JPEG start of image")
    segments: list[bytes] = []
    xmp_at = None
    while True:
        marker = read_exactly(stream, 2)
        if marker[0] != 0xFF or not (0xE0 <= marker[1] <= 0xEF or marker[1] == 0xFE):
            rest_from = stream.tell() - 2
            break
        length = struct.unpack(">H", read_exactly(stream, 2))[0]
        body = read_exactly(stream, length - 2)
        if marker[1] == 0xE1 and body.startswith(JPEG_XMP) and xmp_at is None:
            xmp_at = len(segments)
        segments.append(marker + struct.pack(">H", length) + body)
        if stream.tell() > MAX_HEAD:
            raise Unlabellable("too many leading segments")
    if xmp_at is not None:
        old = segments[xmp_at][4 + len(JPEG_XMP):]
        segments[xmp_at] = app1(relabelled(old, source_type))
    else:
        place = 0
        while place < len(segments) and (segments[place][1] == 0xE0 or segments[place][4:10] == b"Exif\x00\x00"):
            place += 1
        segments.insert(place, app1(packet(source_type)))
    return Head(b"\xff\xd8" + b"".join(segments), rest_from)


def app1(xmp: bytes) -> bytes:
    body = JPEG_XMP + xmp
    if len(body) + 2 > 0xFFFF:
        raise Unlabellable("the XMP packet is too large for one segment")
    return b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body


# --- PNG ----------------------------------------------------------------------------------

def png_head(stream: BinaryIO, source_type: str) -> Head:
    """The signature and chunks before the first IDAT, with an XMP iTXt chunk replaced or added before it."""
    signature = stream.read(8)
    if signature != b"\x89PNG\r\n\x1a\n":
        raise Unlabellable("no PNG signature")
    chunks: list[bytes] = []
    xmp = None
    while True:
        length, kind = struct.unpack(">I4s", read_exactly(stream, 8))
        if kind == b"IDAT" or kind == b"IEND":
            rest_from = stream.tell() - 8
            break
        data = read_exactly(stream, length)
        crc = read_exactly(stream, 4)
        if kind == b"iTXt" and data.startswith(PNG_XMP + b"\x00") and xmp is None:
            xmp = png_text(data)
            continue  # written again, labelled, just before IDAT
        chunks.append(struct.pack(">I4s", length, kind) + data + crc)
        if stream.tell() > MAX_HEAD:
            raise Unlabellable("too many leading chunks")
    labelled = relabelled(xmp, source_type) if xmp is not None else packet(source_type)
    return Head(signature + b"".join(chunks) + itxt(labelled), rest_from)


def png_text(data: bytes) -> bytes:
    """The text of an iTXt chunk's data (keyword, flags, language and translated keyword skipped)."""
    keyword_end = data.index(b"\x00")
    compressed = data[keyword_end + 1]
    language_end = data.index(b"\x00", keyword_end + 3)
    text_from = data.index(b"\x00", language_end + 1) + 1
    text = data[text_from:]
    try:
        return zlib.decompress(text) if compressed else text
    except zlib.error:
        raise Unlabellable("a damaged compressed XMP chunk") from None


def itxt(xmp: bytes) -> bytes:
    data = PNG_XMP + b"\x00\x00\x00\x00\x00" + xmp  # uncompressed, no language, no translated keyword
    return struct.pack(">I", len(data)) + b"iTXt" + data + struct.pack(">I", zlib.crc32(b"iTXt" + data))


# --- WebP ---------------------------------------------------------------------------------

def webp_head(stream: BinaryIO, source_type: str) -> Head:
    """WebP keeps XMP in a chunk at the end of an extended (VP8X) container, and the RIFF size at its
    start: a whole file is rewritten in memory, so only files up to MAX_HEAD are labelled."""
    content = stream.read(MAX_HEAD + 1)
    if len(content) > MAX_HEAD or content[:4] != b"RIFF" or content[8:12] != b"WEBP":
        raise Unlabellable("not a WebP container the gallery labels")
    chunks, at = [], 12
    while at + 8 <= len(content):
        kind, length = content[at:at + 4], struct.unpack("<I", content[at + 4:at + 8])[0]
        chunks.append([kind, content[at + 8:at + 8 + length]])
        at += 8 + length + (length & 1)
    kinds = [kind for kind, _ in chunks]
    if b"VP8X" not in kinds:
        if kinds[:1] not in ([b"VP8 "], [b"VP8L"]):
            raise Unlabellable("a WebP without an image chunk first")
        chunks.insert(0, [b"VP8X", vp8x(chunks[0][0], chunks[0][1])])
    flags = bytearray(chunks[0][1])
    flags[0] |= 0x04  # XMP metadata present
    chunks[0][1] = bytes(flags)
    existing = next((data for kind, data in chunks if kind == b"XMP "), None)
    chunks = [chunk for chunk in chunks if chunk[0] != b"XMP "]
    chunks.append([b"XMP ", relabelled(existing, source_type) if existing is not None else packet(source_type)])
    body = b"".join(kind + struct.pack("<I", len(data)) + data + (b"\x00" if len(data) & 1 else b"")
                    for kind, data in chunks)
    return Head(b"RIFF" + struct.pack("<I", len(body) + 4) + b"WEBP" + body, len(content))


def vp8x(kind: bytes, data: bytes) -> bytes:
    """The VP8X chunk of a simple WebP: its canvas size from the bitstream, alpha from a lossless one's flag."""
    if kind == b"VP8 ":
        width, height = (struct.unpack("<H", data[6:8])[0] & 0x3FFF), (struct.unpack("<H", data[8:10])[0] & 0x3FFF)
        alpha = False
    else:
        bits = struct.unpack("<I", data[1:5])[0]
        width, height, alpha = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, bool(bits >> 28 & 1)
    return bytes([0x10 if alpha else 0, 0, 0, 0]) + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")


HEADS = {"JPEG": jpeg_head, "MPO": jpeg_head, "PNG": png_head, "WEBP": webp_head}  # the formats labelled
