"""IPTC digital source type labels in JPEG, PNG and WebP files, read back with Pillow's XMP reader."""
from __future__ import annotations

import io

import pytest
from PIL import Image

from app.services import labels


def exif() -> bytes:
    data = Image.Exif()
    data[0x010F] = "Camera maker"
    return data.tobytes()


def encoded(image_format: str, **options) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (48, 32), (200, 80, 40)).save(buffer, image_format, **options)
    return buffer.getvalue()


def source_type(content: bytes) -> str:
    with Image.open(io.BytesIO(content)) as image:
        image.load()
        xmp = image.getxmp()
    description = xmp["xmpmeta"]["RDF"]["Description"]
    descriptions = description if isinstance(description, list) else [description]
    return next(d["DigitalSourceType"] for d in descriptions if "DigitalSourceType" in d)


@pytest.mark.parametrize("image_format, options", [("JPEG", {}), ("JPEG", {"exif": exif()}),
                                                    ("PNG", {}), ("WEBP", {}), ("WEBP", {"lossless": True})])
def test_a_file_without_xmp_gets_the_label_and_keeps_its_pixels(image_format, options):
    original = encoded(image_format, **options)
    labelled = labels.labelled_bytes(original, image_format, labels.TRAINED)
    assert source_type(labelled) == labels.TRAINED
    with Image.open(io.BytesIO(original)) as before, Image.open(io.BytesIO(labelled)) as after:
        assert after.format == before.format and after.size == before.size
        assert after.tobytes() == before.tobytes() and after.getexif() == before.getexif()


@pytest.mark.parametrize("image_format", ["JPEG", "PNG", "WEBP"])
def test_an_existing_label_is_replaced_not_doubled(image_format):
    once = labels.labelled_bytes(encoded(image_format), image_format, labels.TRAINED)
    twice = labels.labelled_bytes(once, image_format, labels.COMPOSITE)
    assert source_type(twice) == labels.COMPOSITE
    assert twice.count(b"DigitalSourceType") == 1


def test_an_existing_packet_keeps_what_it_says_and_gains_the_label():
    xmp = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           b'<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator>Ada</dc:creator>'
           b'</rdf:Description></rdf:RDF></x:xmpmeta>')
    labelled = labels.labelled_bytes(encoded("JPEG", xmp=xmp), "JPEG", labels.TRAINED)
    assert source_type(labelled) == labels.TRAINED
    assert b"<dc:creator>Ada</dc:creator>" in labelled and labelled.count(labels.JPEG_XMP) == 1


def test_a_file_that_is_not_what_its_format_says_is_left_alone(tmp_path):
    path = tmp_path / "odd.png"
    path.write_bytes(b"GIF89a not a png")
    stream, size, labelled = labels.labelled_file(path, "PNG", labels.TRAINED)
    with stream:
        assert (stream.read(), size, labelled) == (b"GIF89a not a png", 16, False)


def test_the_labelled_file_streams_the_rest_from_the_stored_file(tmp_path):
    path = tmp_path / "big.png"
    path.write_bytes(encoded("PNG"))
    stream, size, labelled = labels.labelled_file(path, "PNG", labels.COMPOSITE)
    with stream:
        content = stream.read()
    assert labelled and len(content) == size and source_type(content) == labels.COMPOSITE
