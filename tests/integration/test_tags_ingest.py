"""Tags that come with a photo: IPTC Keywords and XMP dc:subject of an uploaded file (made here, in the
test), and a kept generation's model name; stored with the photo's row."""
from __future__ import annotations

import io
import struct

import pytest
from PIL import Image
from sqlalchemy import select
from testapp import JSON, invokeai_settings, upload_as

from app.extensions import db
from app.models import PhotoTag, Tag
from app.services import metadata


def names_of(app, photo_id: int) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(Tag.name).join(PhotoTag, PhotoTag.tag_id == Tag.id)
                                       .where(PhotoTag.photo_id == photo_id).order_by(Tag.name_key)))


def plain_jpeg(colour=(10, 120, 200), **options) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(buffer, "JPEG", **options)
    return buffer.getvalue()


def with_iptc_keywords(jpeg: bytes, keywords: list[bytes]) -> bytes:
    """The JPEG with an APP13 segment (Photoshop 3.0 image resources) holding one 8BIM 0x0404 resource:
    an IPTC-IIM block of record 2 datasets 25 (Keywords), as cameras and Lightroom write them."""
    iim = b"".join(b"\x1c\x02\x19" + struct.pack(">H", len(word)) + word for word in keywords)
    resource = b"8BIM" + struct.pack(">H", 0x0404) + b"\x00\x00" + struct.pack(">I", len(iim)) + iim
    if len(iim) % 2:
        resource += b"\x00"  # resources are padded to an even length
    payload = b"Photoshop 3.0\x00" + resource
    segment = b"\xff\xed" + struct.pack(">H", len(payload) + 2) + payload
    return jpeg[:2] + segment + jpeg[2:]  # right after SOI


XMP = b"""<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">
   <dc:subject><rdf:Bag><rdf:li>Mountains</rdf:li><rdf:li>Caf\xc3\xa9</rdf:li><rdf:li>mountains</rdf:li></rdf:Bag></dc:subject>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"""


def test_an_upload_with_iptc_keywords_is_tagged_with_them(app, client):
    content = with_iptc_keywords(plain_jpeg(), [b"Holiday", "K\xf8benhavn".encode(), b"bad\x07one", b"holiday"])
    with Image.open(io.BytesIO(content)) as check:  # the file really carries them, as Pillow reads it
        from PIL import IptcImagePlugin
        assert IptcImagePlugin.getiptcinfo(check)[(2, 25)][0] == b"Holiday"
    photo_id = upload_as(client, content, "iptc.jpg")
    assert names_of(app, photo_id) == ["Holiday", "København"]  # the control character's one left out
    page = client.get(f"/photos/{photo_id}").get_data(as_text=True)
    assert "København" in page


def test_an_upload_with_xmp_subjects_is_tagged_with_them(app, client):
    photo_id = upload_as(client, plain_jpeg(xmp=XMP), "xmp.jpg")
    assert names_of(app, photo_id) == ["Café", "Mountains"]


def test_an_upload_without_keywords_has_no_tags(app, client):
    assert names_of(app, upload_as(client, plain_jpeg(), "plain.jpg")) == []


def test_a_packet_past_the_cap_or_not_xml_is_left_unread():
    """(A JPEG segment holds 64 KB at most; a PNG's iTXt chunk, as Pillow reads it, has no such bound.)"""
    image = Image.new("RGB", (4, 4))
    image.info["xmp"] = XMP
    assert metadata.keywords(image) == ["Mountains", "Café", "mountains"]  # tags.usable_names folds the case
    image.info["xmp"] = XMP.replace(b"<?xpacket end", b" " * metadata.MAX_XMP + b"<?xpacket end")
    assert metadata.keywords(image) == []
    image.info["xmp"] = b"<x:xmpmeta><unclosed></x:xmpmeta>"
    assert metadata.keywords(image) == []


class TestKeptGeneration:
    @pytest.fixture
    def app_config(self, fake_invokeai):
        return invokeai_settings(fake_invokeai)

    def test_a_kept_generation_is_tagged_with_its_model(self, app, client, generate, poll_until_finished,
                                                         stored_images):
        session_id = generate(seed=42, count=1)
        poll_until_finished(session_id)
        image = stored_images(session_id)[42]
        response = client.post(f"/generate/images/{image.id}/keep", data={"image_name": image.image_name},
                               headers=JSON)
        assert response.status_code == 200, response.get_json()
        photo_id = int(response.get_json()["image"]["photo_url"].rsplit("/", 1)[1])
        assert names_of(app, photo_id) == ["tiny-sd15"]
        assert "tiny-sd15" in client.get("/tags").get_data(as_text=True)
