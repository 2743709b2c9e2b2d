"""Share links: a photo, an album (with its sub-albums or not) or a selection opened with no account;
expiry and revocation end every URL a link opened, thumbnails included; passwords throttled like logins;
what the served originals carry, read from their bytes; another account's ids refused; the owner's list."""
from __future__ import annotations

import io
import struct
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from bs4 import BeautifulSoup
from PIL import Image
from sqlalchemy import select, update

from app.extensions import db
from app.models import Photo, ShareLink, utcnow
from app.services import labels, stripping
from testapp import JSON, BufferedClient, page_text, sha256

GPS_JPEG = "camera/nikon-coolpix-p6000_gps.jpg"
OTHER_JPEG = "camera/canon-eos-40d_tiny.jpg"
INVOKEAI_PNG = Path(__file__).parent.parent / "files" / "ai" / "invokeai-5.png"
A1111_PNG = Path(__file__).parent.parent / "files" / "ai" / "a1111.png"
FORGE_WEBP = Path(__file__).parent.parent / "files" / "ai" / "forge-flux.webp"  # parameters in EXIF UserComment
ATTEMPTS = 3


@pytest.fixture
def app_config():
    return {"LOGIN_ATTEMPTS_PER_MINUTE": ATTEMPTS}


@pytest.fixture(autouse=True)
def buffered(app):
    app.test_client_class = BufferedClient


@pytest.fixture
def photo(upload):
    """photo(path) -> the id of alice's new photo."""
    def store(path) -> int:
        response = upload(path)
        assert response.status_code == 201, response.json
        return response.json["files"][0]["photo_id"]
    return store


@pytest.fixture
def album(client):
    """album(name, photo_ids, parent_id=None) -> the id of alice's new album holding those photos."""
    def make(name: str, photo_ids=(), parent_id: int | None = None) -> int:
        response = client.post("/albums", data={"name": name, "parent_id": parent_id or ""}, headers=JSON)
        album_id = response.json["album"]["id"]
        for photo_id in photo_ids:
            assert client.post(f"/photos/{photo_id}/albums", data={"album_id": album_id}, headers=JSON).status_code == 200
        return album_id
    return make


def made_link(response) -> str:
    """The path of the link a share form made (shown once on its answer)."""
    assert response.status_code == 201, response.get_data(as_text=True)
    url = BeautifulSoup(response.get_data(as_text=True), "html.parser").select_one("input[data-share-url]")["value"]
    return urlsplit(url).path


def shown_ids(anonymous, link: str) -> set[int]:
    page = anonymous.get(link)
    assert page.status_code == 200, page.get_data(as_text=True)
    soup = BeautifulSoup(page.get_data(as_text=True), "html.parser")
    return {int(a["href"].split("?")[0].rsplit("/", 1)[1]) for a in soup.select("ul.grid li a")}


def every_url(link: str, photo_id: int) -> list[str]:
    return [link, f"{link}/photos/{photo_id}", f"{link}/thumbnails/{photo_id}/grid",
            f"{link}/thumbnails/{photo_id}/preview", f"{link}/original/{photo_id}"]


def test_an_album_link_opens_its_photos_to_anyone_read_only_and_unindexed(client, anonymous, photo, album,
                                                                          photos_dir, app):
    shared, other = photo(photos_dir / GPS_JPEG), photo(photos_dir / OTHER_JPEG)
    album_id = album("Holiday in Spain", [shared])
    album("Secret album", [other])
    link = made_link(client.post(f"/albums/{album_id}/share", data={"allow_originals": "1"}))

    page = anonymous.get(link)
    assert page.status_code == 200
    assert page.headers["X-Robots-Tag"] == "noindex, nofollow"
    soup = BeautifulSoup(page.get_data(as_text=True), "html.parser")
    assert soup.select_one("meta[name=robots]")["content"] == "noindex, nofollow"
    assert shown_ids(anonymous, link) == {shared}
    text = page_text(page)
    assert "Holiday in Spain" in text and "Secret album" not in text and "alice" not in text
    assert not soup.select("form[method=post]") and not soup.select("input[type=checkbox]")  # no control of the owner's
    for url in every_url(link, shared):
        response = anonymous.get(url)
        assert response.status_code == 200, url
        assert response.headers["X-Robots-Tag"] == "noindex, nofollow"
    assert anonymous.get(f"{link}/thumbnails/{other}/grid").status_code == 404  # not in the album
    assert anonymous.get(f"{link}/photos/{other}").status_code == 404


def test_revoking_ends_every_url_the_link_opened_thumbnails_included(client, anonymous, photo, album, photos_dir,
                                                                     app, data_dir):
    photo_id = photo(photos_dir / GPS_JPEG)
    link = made_link(client.post(f"/albums/{album('Trip', [photo_id])}/share",
                                 data={"allow_originals": "1", "strip_gps": "1"}))
    for url in every_url(link, photo_id):
        response = anonymous.get(url)
        assert response.status_code == 200, url
    thumbnail = anonymous.get(f"{link}/thumbnails/{photo_id}/grid")
    assert "no-cache" in thumbnail.headers["Cache-Control"] and "immutable" not in thumbnail.headers["Cache-Control"]
    assert any((data_dir / "shares").rglob("*.jpg"))  # the stripped copy, kept like a thumbnail

    with app.app_context():
        share_id = db.session.scalar(select(ShareLink.id))
    assert client.post(f"/shares/{share_id}/revoke").status_code == 303
    for url in every_url(link, photo_id):
        assert anonymous.get(url).status_code == 404, url
    assert not any((data_dir / "shares").rglob("*.jpg"))
    assert client.get(f"/thumbnails/{photo_id}/grid").status_code == 200  # the owner's own URLs live on


def test_an_expired_link_is_gone_and_a_past_last_day_is_refused(client, anonymous, photo, photos_dir, app, row_count):
    photo_id = photo(photos_dir / OTHER_JPEG)
    today = utcnow().date()
    link = made_link(client.post(f"/photos/{photo_id}/share",
                                 data={"expires_on": today.isoformat(), "allow_originals": "1"}))
    assert anonymous.get(link).status_code == 200  # works through its last day
    with app.app_context():
        db.session.execute(update(ShareLink).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    for url in every_url(link, photo_id):
        assert anonymous.get(url).status_code == 404, url

    refused = client.post(f"/photos/{photo_id}/share", data={"expires_on": (today - timedelta(days=1)).isoformat()})
    assert refused.status_code == 400 and "past" in page_text(refused)
    assert client.post(f"/photos/{photo_id}/share", data={"expires_on": "soon"}).status_code == 400
    assert row_count(ShareLink) == 1


def test_a_password_guards_every_url_and_is_throttled_like_logins(client, anonymous, app, photo, photos_dir):
    photo_id = photo(photos_dir / OTHER_JPEG)
    link = made_link(client.post(f"/photos/{photo_id}/share", data={"password": "open sesame"}))

    form = anonymous.get(link)
    assert form.status_code == 200 and form.headers["X-Robots-Tag"] == "noindex, nofollow"
    assert BeautifulSoup(form.get_data(as_text=True), "html.parser").select_one("input[type=password]")
    assert anonymous.get(f"{link}/thumbnails/{photo_id}/grid").status_code == 403
    for _ in range(ATTEMPTS):
        assert anonymous.post(link, data={"password": "guess"}).status_code == 401
    throttled = anonymous.post(link, data={"password": "open sesame"})
    assert throttled.status_code == 429
    assert anonymous.get(f"{link}/thumbnails/{photo_id}/grid").status_code == 403

    other = app.test_client()  # another address is counted apart
    opened = other.post(link, data={"password": "open sesame"}, environ_base={"REMOTE_ADDR": "10.0.0.2"})
    assert opened.status_code == 303
    assert other.get(link).status_code == 200
    assert other.get(f"{link}/thumbnails/{photo_id}/grid").status_code == 200


def exif_of(data: bytes) -> Image.Exif:
    with Image.open(io.BytesIO(data)) as image:
        return image.getexif()


def png_chunk_keywords(data: bytes) -> set[bytes]:
    found, at = set(), 8
    while at < len(data):
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        if kind in (b"tEXt", b"iTXt", b"zTXt"):
            found.add(data[at + 8:at + 8 + length].split(b"\0", 1)[0])
        at += 12 + length
    return found


def test_the_served_originals_carry_only_what_the_link_allows(client, anonymous, photo, photos_dir, data_dir):
    gps = photo(photos_dir / GPS_JPEG)
    stored = (photos_dir / GPS_JPEG).read_bytes()
    assert stripping.GPS_IFD in exif_of(stored)

    def served(photo_id: int, **form) -> bytes:
        link = made_link(client.post(f"/photos/{photo_id}/share", data={"allow_originals": "1", **form}))
        response = anonymous.get(f"{link}/original/{photo_id}")
        assert response.status_code == 200
        return response.data

    as_stored = served(gps)
    assert sha256(as_stored) == sha256(stored)
    no_gps = served(gps, strip_gps="1")
    assert stripping.GPS_IFD not in exif_of(no_gps) and exif_of(no_gps)[0x010F] == "NIKON"
    with Image.open(io.BytesIO(no_gps)) as image, Image.open(io.BytesIO(stored)) as original:
        assert image.tobytes() == original.tobytes()  # the same pixels: no re-encoding
    no_exif = served(gps, strip_exif="1")
    assert len(exif_of(no_exif)) == 0 and b"Exif\0\0" not in no_exif

    generated = photo(INVOKEAI_PNG)
    assert b"invokeai_metadata" in png_chunk_keywords(INVOKEAI_PNG.read_bytes())
    without = served(generated, strip_generation="1")
    assert not png_chunk_keywords(without) & stripping.GENERATION_KEYWORDS
    assert b"invokeai_metadata" not in without
    a1111 = photo(A1111_PNG)
    assert b"parameters" not in png_chunk_keywords(served(a1111, strip_generation="1"))
    assert b"parameters" in png_chunk_keywords(served(a1111))

    forge = photo(FORGE_WEBP)
    assert stripping.USER_COMMENT in exif_of(FORGE_WEBP.read_bytes()).get_ifd(stripping.EXIF_IFD)
    assert stripping.USER_COMMENT not in exif_of(served(forge, strip_generation="1")).get_ifd(stripping.EXIF_IFD)

    link = made_link(client.post(f"/photos/{gps}/share"))  # originals not allowed
    assert anonymous.get(f"{link}/original/{gps}").status_code == 404


def test_another_accounts_ids_are_refused_and_a_selection_refused_whole(client, bob, photo, album, photos_dir,
                                                                        row_count):
    mine, theirs_album = photo(photos_dir / OTHER_JPEG), album("Mine")
    assert bob.post(f"/photos/{mine}/share").status_code == 404
    assert bob.post(f"/albums/{theirs_album}/share").status_code == 404
    refused = bob.post("/shares/selection", data={"ids": [str(mine)], "create": "1"})
    assert refused.status_code == 404
    assert client.post("/shares/selection", data={"ids": [str(mine), "99999"], "create": "1"}).status_code == 404
    assert row_count(ShareLink) == 0


def test_a_selection_link_shows_only_its_photos(client, anonymous, photo, photos_dir):
    one, two = photo(photos_dir / OTHER_JPEG), photo(photos_dir / GPS_JPEG)
    asked = client.post("/shares/selection", data={"ids": [str(one)]})
    assert asked.status_code == 200 and "Share 1 photo" in page_text(asked)
    link = made_link(client.post("/shares/selection", data={"ids": [str(one)], "create": "1"}))
    assert shown_ids(anonymous, link) == {one}
    assert anonymous.get(f"{link}/photos/{two}").status_code == 404


def test_an_album_link_takes_its_sub_albums_only_when_asked(client, anonymous, photo, album, photos_dir):
    top_photo, sub_photo = photo(photos_dir / OTHER_JPEG), photo(photos_dir / GPS_JPEG)
    top = album("Year", [top_photo])
    album("Summer", [sub_photo], parent_id=top)
    assert shown_ids(anonymous, made_link(client.post(f"/albums/{top}/share"))) == {top_photo}
    assert shown_ids(anonymous, made_link(client.post(f"/albums/{top}/share", data={"with_sub_albums": "1"}))) \
        == {top_photo, sub_photo}


def test_the_owner_sees_views_and_last_use_and_revokes_only_her_own(client, bob, anonymous, photo, photos_dir, app):
    photo_id = photo(photos_dir / OTHER_JPEG)
    link = made_link(client.post(f"/photos/{photo_id}/share"))
    listed = BeautifulSoup(client.get("/shares").get_data(as_text=True), "html.parser")
    assert "0 views" in listed.select_one(".share-row").get_text() and "never opened" in listed.get_text()
    anonymous.get(link)
    anonymous.get(link)
    row = BeautifulSoup(client.get("/shares").get_data(as_text=True), "html.parser").select_one(".share-row")
    assert "2 views" in row.get_text() and "last opened" in row.get_text()
    with app.app_context():
        share_id = db.session.scalar(select(ShareLink.id))
    assert bob.post(f"/shares/{share_id}/revoke").status_code == 404
    assert anonymous.get(link).status_code == 200
    assert "Photo canon-eos-40d_tiny.jpg" not in bob.get("/shares").get_data(as_text=True)


def edit_form(client, share_id: int):
    """The share list's "Edit…" form of the link, as the owner sees it."""
    listed = BeautifulSoup(client.get("/shares").get_data(as_text=True), "html.parser")
    return listed.select_one(f"#share-{share_id} form.share-form")


def test_the_owner_edits_a_links_last_day_password_and_what_its_files_carry(client, bob, anonymous, app, photo,
                                                                           photos_dir):
    photo_id = photo(photos_dir / GPS_JPEG)
    link = made_link(client.post(f"/photos/{photo_id}/share", data={"password": "open sesame", "strip_gps": "1"}))
    with app.app_context():
        share_id = db.session.scalar(select(ShareLink.id))
    assert anonymous.post(link, data={"password": "open sesame"}).status_code == 303
    form = edit_form(client, share_id)
    assert form.select_one("input[name=strip_gps]").has_attr("checked")
    assert not form.select_one("input[name=allow_originals]").has_attr("checked")
    assert form.select_one("input[name=expires_on]")["value"] == ""
    assert "keep the one it has" in form.get_text() and form.select_one("input[name=remove_password]")

    # A last day, the originals with their GPS; the password left empty stays.
    last_day = utcnow().date() + timedelta(days=7)
    saved = client.post(f"/shares/{share_id}", data={"expires_on": last_day.isoformat(), "allow_originals": "1",
                                                     "password": ""})
    assert saved.status_code == 303 and saved.headers["Location"].endswith(f"/shares#share-{share_id}")
    form = edit_form(client, share_id)
    assert form.select_one("input[name=expires_on]")["value"] == last_day.isoformat()
    assert not form.select_one("input[name=strip_gps]").has_attr("checked")
    assert anonymous.get(link).status_code == 200  # the same password: still open to whoever gave it
    original = anonymous.get(f"{link}/original/{photo_id}")
    assert original.status_code == 200 and stripping.GPS_IFD in exif_of(original.data)

    # A new password locks out the browsers that gave the old one; removing it opens the link to anyone.
    assert client.post(f"/shares/{share_id}", data={"password": "new words", "allow_originals": "1"}).status_code == 303
    assert anonymous.get(f"{link}/original/{photo_id}").status_code == 403
    assert client.post(f"/shares/{share_id}", data={"remove_password": "1"}).status_code == 303
    assert app.test_client().get(link).status_code == 200
    assert app.test_client().get(f"{link}/original/{photo_id}").status_code == 404  # originals unchecked this time

    # Bad input and other people's links change nothing; a revoked link cannot open again.
    with app.app_context():
        before = db.session.get(ShareLink, share_id).expires_at
    past = client.post(f"/shares/{share_id}", data={"expires_on": (utcnow().date() - timedelta(days=1)).isoformat()})
    assert past.status_code == 400 and "past" in page_text(past)
    assert bob.post(f"/shares/{share_id}", data={}).status_code == 404
    with app.app_context():
        assert db.session.get(ShareLink, share_id).expires_at == before
    assert client.post(f"/shares/{share_id}/revoke").status_code == 303
    assert edit_form(client, share_id) is None
    revoked = client.post(f"/shares/{share_id}", data={})
    assert revoked.status_code == 409 and "revoked" in page_text(revoked)
    assert app.test_client().get(link).status_code == 404


def test_an_expired_link_given_a_new_last_day_opens_again(client, anonymous, app, photo, photos_dir):
    photo_id = photo(photos_dir / OTHER_JPEG)
    link = made_link(client.post(f"/photos/{photo_id}/share"))
    with app.app_context():
        share_id = db.session.scalar(select(ShareLink.id))
        db.session.execute(update(ShareLink).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    assert anonymous.get(link).status_code == 404
    assert edit_form(client, share_id) is not None  # an expired link keeps its Edit…
    today = utcnow().date()
    assert client.post(f"/shares/{share_id}", data={"expires_on": today.isoformat()}).status_code == 303
    assert anonymous.get(link).status_code == 200


def xmp_source_type(data: bytes) -> str | None:
    with Image.open(io.BytesIO(data)) as image:
        xmp = image.getxmp()
    return xmp["xmpmeta"]["RDF"]["Description"]["DigitalSourceType"] if xmp else None


A1111_JPEG = Path(__file__).parent.parent / "files" / "ai" / "a1111.jpg"


@pytest.mark.parametrize("path", [A1111_PNG, A1111_JPEG], ids=["png", "jpeg"])
def test_a_generated_original_carries_its_label_stripped_or_not(client, anonymous, photo, path, app, data_dir):
    generated = photo(path)
    with app.app_context():
        row = db.session.get_one(Photo, generated)
        stored = data_dir / "photos" / row.original_path
    assert sha256(stored) == sha256(path)

    def served(**form) -> bytes:
        link = made_link(client.post(f"/photos/{generated}/share", data={"allow_originals": "1", **form}))
        first = anonymous.get(f"{link}/original/{generated}")
        assert first.status_code == 200 and first.data == anonymous.get(f"{link}/original/{generated}").data
        return first.data

    for form in ({}, {"strip_gps": "1"}, {"strip_generation": "1"}, {"strip_exif": "1", "strip_generation": "1"}):
        data = served(**form)
        assert xmp_source_type(data) == labels.TRAINED, form  # stripped or not, it says it was made by AI
        with Image.open(io.BytesIO(data)) as shared, Image.open(path) as original:
            assert shared.tobytes() == original.tobytes()
    assert b"parameters" not in served(strip_generation="1")  # the prompt went, the label stayed
    assert sha256(stored) == sha256(path)  # the stored original is as it was
    copies = list((data_dir / "shares").rglob(f"{generated}.*"))
    assert copies and all(xmp_source_type(copy.read_bytes()) == labels.TRAINED for copy in copies)  # cached labelled

