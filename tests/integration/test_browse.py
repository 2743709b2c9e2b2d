"""Browsing: the grid and its paging, a photo's page, the original, thumbnails, delete for good, error pages.
(Moving to the trash and back: test_trash.py.)"""
from __future__ import annotations

import io
import re
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

import pytest
from bs4 import BeautifulSoup
from PIL import ExifTags, Image, PngImagePlugin
from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError
from werkzeug.http import parse_options_header

from testapp import GPS_JPEG, TINY_JPEG, TRANSPARENT_PNG, log_in

from app.extensions import db
from app.models import Photo

ONE_YEAR = 365 * 24 * 3600
# Uploaded in this order; two have no DateTimeOriginal, so they sort by upload time (newest).
GALLERY = ["camera/canon-eos-40d_tiny.jpg", "camera/nikon-coolpix-p6000_gps.jpg", "formats/density-plot.png",
           "odd/nintendo-3ds.mpo", "camera/nikon-coolpix-p6000_gps2.jpg", "formats/png-16bit-rgb.png",
           "odd/grayscale-canon-5d3.jpg"]
PAGE_SIZE = 3
# The manifest's dates are EXIF's; these PNGs carry theirs in a Creation Time text and a tIME chunk.
PNG_DATES = {"formats/density-plot.png": "2007:02:13 06:34:38", "formats/png-16bit-rgb.png": "2022:08:10 09:12:04"}


@pytest.fixture
def app_config():
    # Small pages, so seven photos make three; 2 MB requests, so a 413 is cheap to provoke.
    return {"PAGE_SIZE": PAGE_SIZE, "MAX_REQUEST_BYTES": 2_000_000}


@pytest.fixture
def upload_id(upload, photos_dir):
    """upload_id("camera/x.jpg", client_name=None) -> the id of the stored photo."""
    def send(name: str, client_name: str | None = None) -> int:
        response = upload(photos_dir / name, client_name)
        assert response.status_code == 201, response.get_data(as_text=True)
        return response.get_json()["files"][0]["photo_id"]
    return send


@pytest.fixture
def gallery(upload_id, manifest) -> list[int]:
    """Uploads GALLERY; returns the ids in the order the grid must show them, newest taken first."""
    taken = {row["file"]: row["datetime_original"] or PNG_DATES.get(row["file"]) for row in manifest}
    uploaded = [(taken[name], upload_id(name)) for name in GALLERY]
    undated = [photo_id for when, photo_id in reversed(uploaded) if not when]  # by upload time
    dated = sorted(((datetime.strptime(when, "%Y:%m:%d %H:%M:%S"), photo_id) for when, photo_id in uploaded
                    if when), reverse=True)
    return undated + [photo_id for _, photo_id in dated]


@pytest.fixture
def statements(app) -> list[tuple[str, object]]:
    """Every SQL statement the app sends while the test runs, with its parameters."""
    seen: list[tuple[str, object]] = []

    def record(connection, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


@pytest.fixture
def photo_row(app):
    def get(photo_id: int) -> Photo | None:
        with app.app_context():
            photo = db.session.get(Photo, photo_id)
            if photo is not None:
                db.session.expunge(photo)
            return photo
    return get


def html(response) -> BeautifulSoup:
    assert response.mimetype == "text/html"
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def grid_ids(page: BeautifulSoup) -> list[int]:
    return [int(re.fullmatch(r"/photos/(\d+)", a["href"].split("?")[0])[1]) for a in page.select("ul.grid li a")]


def pager_link(page: BeautifulSoup, rel: str) -> str | None:
    link = page.select_one(f"nav.pager a[rel={rel}]")
    return link["href"] if link else None


def pager_link_text(page: BeautifulSoup, word: str) -> str | None:
    """The photo page's arrow link whose text has `word` (Newer, Older)."""
    links = [a["href"] for a in page.select("article.viewer a.step") if word in a.get_text()]
    return links[0] if links else None


def head_link(page: BeautifulSoup, rel: str) -> str | None:
    link = page.select_one(f"head link[rel={rel}]")
    return link["href"] if link else None


def metadata(page: BeautifulSoup) -> dict[str, str]:
    """The photo page's information panel as {label: value}: its date line and its facts (not the raw
    EXIF table)."""
    date = page.select_one("details.info .date")
    facts = {div.dt.get_text(strip=True): div.dd.get_text(" ", strip=True)
             for div in page.select("details.info section.facts dl > div")}
    return {date.select_one(".date-label").get_text(strip=True): date.get_text(" ", strip=True).split(" ", 1)[1],
            **facts}


def exif_gps(path: Path) -> tuple[float, float]:
    """Latitude and longitude straight from the file's GPS IFD, in signed degrees."""
    with Image.open(path) as image:
        gps = image.getexif().get_ifd(ExifTags.IFD.GPSInfo)

    def degrees(dms, ref) -> float:
        value = float(dms[0]) + float(dms[1]) / 60 + float(dms[2]) / 3600
        return -value if ref in ("S", "W") else value

    return (degrees(gps[ExifTags.GPS.GPSLatitude], gps[ExifTags.GPS.GPSLatitudeRef]),
            degrees(gps[ExifTags.GPS.GPSLongitude], gps[ExifTags.GPS.GPSLongitudeRef]))


# --- the grid -----------------------------------------------------------------------------

def test_older_links_visit_every_photo_once_and_newer_links_walk_back(client, gallery, statements):
    pages, url = [], "/"
    while url:
        page = html(client.get(url))
        pages.append(grid_ids(page))
        url = pager_link(page, "next")

    assert [photo_id for ids in pages for photo_id in ids] == gallery
    assert [len(ids) for ids in pages] == [3, 3, 1]

    walked_back, url = [], pager_link(page, "prev")
    while url:
        page = html(client.get(url))
        walked_back.append(grid_ids(page))
        url = pager_link(page, "prev")
    assert walked_back == pages[-2::-1]

    # Five page loads, five queries: the first page plain, every other one by keyset on (sorted_at, id).
    grid_queries = [s for s, _ in statements if "FROM photos" in s and "ORDER BY photos.sorted_at" in s]
    keyset = re.compile(r"(WHERE|AND) \(photos\.sorted_at, photos\.id\) [<>] ")
    assert all("WHERE photos.owner_id = " in s for s in grid_queries)  # only the signed-in user's photos
    assert [bool(keyset.search(s)) for s in grid_queries] == [False, True, True, True, True]
    assert all(" LIMIT " in s for s in grid_queries)
    # SQLAlchemy's SQLite dialect writes "LIMIT ? OFFSET ?" for a plain limit, binding 0: no row is
    # ever skipped by OFFSET (on PostgreSQL the word does not appear at all).
    offsets = [parameters[-1] for s, parameters in statements if "OFFSET" in s.upper()]
    assert set(offsets) <= {0}


@pytest.mark.parametrize("cursor", ["garbage", "20261121T120000000000", "20261121T120000000000.x",
                                    "2026-11-21 12:00:00.5", "20261321T120000000000.5",
                                    "20261121T120000000000.99999999999999999999"])
@pytest.mark.parametrize("direction", ["older", "newer"])
def test_a_bogus_cursor_is_a_bad_request(direction, cursor, client, gallery):
    response = client.get("/", query_string={direction: cursor})

    assert response.status_code == 400
    assert html(response).select_one("header.site a.brand") is not None


def test_the_source_filter(client, gallery):
    uploaded = html(client.get("/?source=uploaded"))
    assert grid_ids(uploaded) == gallery[:PAGE_SIZE]
    assert uploaded.h1.get_text(strip=True) == f"{len(GALLERY)} photos"
    assert uploaded.select_one("nav.filters a[aria-current=page]").get_text() == "Uploaded"
    assert "source=uploaded" in pager_link(uploaded, "next")

    generated = html(client.get("/?source=generated"))
    assert grid_ids(generated) == []
    assert generated.h1.get_text(strip=True) == "0 photos"
    assert "No photos yet from this source" in generated.select_one("p.empty").get_text()

    assert client.get("/?source=bogus").status_code == 400


def test_grid_images_are_lazy_sized_thumbnails(client, gallery):
    page = html(client.get("/"))
    links = page.select("ul.grid li a")
    assert len(links) == PAGE_SIZE

    for link in links:
        photo_id = int(link["href"].rsplit("/", 1)[1])
        img = link.img
        assert img["loading"] == "lazy"
        assert int(img["width"]) > 0 and int(img["height"]) > 0
        assert re.fullmatch(rf"/thumbnails/{photo_id}/grid(\?v=[0-9a-f]+)?", img["src"])
        thumbnail = client.get(img["src"], buffered=True)
        assert thumbnail.status_code == 200 and thumbnail.mimetype.startswith("image/")


# --- a photo's page -----------------------------------------------------------------------

@pytest.mark.parametrize("name", [GPS_JPEG, TINY_JPEG, "large/moto-g9-plus_16mp_emptygps.jpg",
                                  "formats/density-plot.png"])
def test_the_photo_page_shows_its_metadata(name, manifest, upload_id, client):
    row = next(row for row in manifest if row["file"] == name)
    photo_id = upload_id(name)

    table = metadata(html(client.get(f"/photos/{photo_id}")))

    if row["make"]:
        model, brand = row["model"], row["make"].split()[0]  # the make once: "Canon EOS 40D", "NIKON D70"
        assert table["Camera"] == (model if model.lower().startswith(brand.lower()) else f"{row['make']} {model}")
    else:
        assert "Camera" not in table
    taken = row["datetime_original"] or PNG_DATES.get(name)
    if taken:
        assert table["Taken"] == f"{datetime.strptime(taken, '%Y:%m:%d %H:%M:%S'):%-d %B %Y, %H:%M}"
    else:
        assert re.fullmatch(r"\d{1,2} \w+ \d{4}, \d\d:\d\d UTC", table["Added"]) and "Taken" not in table
    width, height = int(row["display_width"]), int(row["display_height"])
    assert table["Dimensions"].startswith(f"{width:,} × {height:,}")
    assert table["Format"] == row["format"]
    if row["gps"] == "yes":
        latitude, longitude = exif_gps(row["path"])
        assert table["Location"] == (f"{abs(latitude):.5f}° {'N' if latitude >= 0 else 'S'}, "
                                     f"{abs(longitude):.5f}° {'E' if longitude >= 0 else 'W'}")
    else:
        assert "Location" not in table


def test_a_camera_photos_page_reads_in_words_and_folds_the_raw_fields(upload_id, client):
    """The issue's photo: its panel says 1/75 s, not ExposureTime 0.0133; the raw table is there, folded."""
    page = html(client.get(f"/photos/{upload_id(GPS_JPEG)}"))

    table = metadata(page)
    assert {label: table[label] for label in ("Camera", "Exposure", "Aperture", "Focal length", "ISO", "Program",
                                              "Metering", "Flash", "White balance", "Location", "File size")} == {
        "Camera": "NIKON COOLPIX P6000", "Exposure": "1/75 s", "Aperture": "f/5.9",
        "Focal length": "24 mm (112 mm in 35 mm)", "ISO": "ISO 64", "Program": "Program AE",
        "Metering": "Multi-segment (matrix)", "Flash": "Did not fire (forced off)", "White balance": "Auto",
        "Location": "43.46745° N, 11.88513° E", "File size": "162 KB"}
    raw = page.select_one("details.info details.exif")
    assert raw is not None and not raw.has_attr("open")
    rows = {tr.th.get_text(strip=True): tr.td.get_text(strip=True) for tr in raw.select("tr")}
    assert rows["ExposureTime"].startswith("0.0133") and rows["GPSLatitude"] == "43, 28, 2.814"
    assert page.select_one(".stage img.preview")["alt"] == "nikon-coolpix-p6000_gps.jpg"


def test_photo_pages_link_newer_and_older_in_grid_order(client, gallery):
    visited, url = [], f"/photos/{gallery[0]}"
    while url:
        page = html(client.get(url))
        visited.append(int(re.search(r"/photos/(\d+)", url)[1]))
        assert head_link(page, "next") == pager_link_text(page, "Older")
        assert head_link(page, "prev") == pager_link_text(page, "Newer")
        url = head_link(page, "next")
    assert visited == gallery
    assert head_link(html(client.get(f"/photos/{gallery[0]}")), "prev") is None

    walked_back, url = [], head_link(page, "prev")
    while url:
        walked_back.append(int(re.search(r"/photos/(\d+)", url)[1]))
        url = head_link(html(client.get(url)), "prev")
    assert walked_back == gallery[-2::-1]


def back_link(page: BeautifulSoup) -> str:
    return page.select_one("a[data-back]")["href"]


def test_back_to_the_grid_page_the_photo_was_opened_from_at_the_photo(client, gallery):
    second = html(client.get(pager_link(html(client.get("/")), "next")))  # photos 4 to 6 of 7
    tile = second.select("ul.grid li a")[1]
    cursor = re.search(r"older=([\w.]+)", pager_link(html(client.get("/")), "next"))[1]
    assert tile["href"] == f"/photos/{gallery[4]}?older={cursor}"  # the tile carries its page

    page = html(client.get(tile["href"]))
    assert back_link(page) == f"/?older={cursor}#photo-{gallery[4]}"
    assert page.select_one("article.viewer")["data-back-url"] == back_link(page)
    # Its neighbours on the same page come back to it too; past the page's end, to a page that starts
    # with the photo shown.
    assert back_link(html(client.get(head_link(page, "next")))) == f"/?older={cursor}#photo-{gallery[5]}"
    last = html(client.get(f"/photos/{gallery[6]}?older={cursor}"))
    assert back_link(last).endswith(f"#photo-{gallery[6]}") and f"older={cursor}" not in back_link(last)
    shown = grid_ids(html(client.get(back_link(last).split("#")[0])))
    assert shown[0] == gallery[6]
    # No page named, or a cursor made up: the page that shows the photo, never an error.
    assert back_link(html(client.get(f"/photos/{gallery[0]}"))) == f"/#photo-{gallery[0]}"
    assert gallery[3] in grid_ids(html(client.get(back_link(html(client.get(
        f"/photos/{gallery[3]}?older=bogus"))).split("#")[0])))


def test_a_generated_image_is_marked_in_the_grid_and_its_prompt_is_its_alt(app, client, user_id):
    from app.services import photos as photo_service

    info = PngImagePlugin.PngInfo()
    info.add_text("invokeai_metadata", '{"positive_prompt": "a lighthouse at dusk", "seed": 7}')
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (20, 40, 90)).save(buffer, "PNG", pnginfo=info)
    with app.app_context():
        generated = photo_service.ingest_photo(io.BytesIO(buffer.getvalue()), "made.png", user_id, "generated").id
    camera = client.post("/upload", data={"photos": (io.BytesIO(jpeg_bytes()), "camera.jpg")})
    assert camera.status_code == 201

    tiles = {int(li["id"].removeprefix("photo-")): li for li in html(client.get("/")).select("ul.grid li:not(.heading)")}
    assert tiles[generated].select_one(".generated-mark").get_text() == "AI"
    assert tiles[generated].img["alt"] == "a lighthouse at dusk"
    other = next(li for photo_id, li in tiles.items() if photo_id != generated)
    assert other.select_one(".generated-mark") is None and other.img["alt"] == "camera.jpg"
    page = html(client.get(f"/photos/{generated}"))
    assert page.select_one(".stage img")["alt"] == "a lighthouse at dusk"
    assert page.select_one("#prompt-text").get_text() == "a lighthouse at dusk"
    assert page.select_one("button[data-copy]")["data-copy"] == "#prompt-text"


def jpeg_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 100, 50)).save(buffer, "JPEG")
    return buffer.getvalue()


# --- the original -------------------------------------------------------------------------

@pytest.mark.parametrize("name, content_type", [
    (GPS_JPEG, "image/jpeg"), ("formats/density-plot.png", "image/png"), ("formats/iphone-11-pro.heic", "image/heic"),
], ids=["jpeg", "png", "heic"])
def test_the_original_downloads_as_sent(name, content_type, upload_id, photos_dir, client):
    photo_id = upload_id(name)

    response = client.get(f"/photos/{photo_id}/original", buffered=True)

    assert response.status_code == 200
    assert response.mimetype == content_type
    assert parse_options_header(response.headers["Content-Disposition"]) == (
        "attachment", {"filename": Path(name).name})
    assert response.data == (photos_dir / name).read_bytes()
    assert response.cache_control.private and not response.cache_control.public


@pytest.mark.parametrize("client_name", ["Été 東京.jpg", 'say "cheese"; now.jpg', "名" * 251 + ".jpg"],
                         ids=["accents and CJK", "quote and semicolon", "255 CJK characters"])
def test_an_unusual_original_name_is_encoded_safely(client_name, upload_id, client):
    photo_id = upload_id(TINY_JPEG, client_name)

    header = client.get(f"/photos/{photo_id}/original", buffered=True).headers["Content-Disposition"]

    header.encode("latin-1")  # a header a browser can read
    assert parse_options_header(header) == ("attachment", {"filename": client_name})
    if not client_name.isascii():
        assert f"filename*=UTF-8''{quote(client_name)}" in header


# --- thumbnails ---------------------------------------------------------------------------

@pytest.mark.parametrize("name, content_type", [(GPS_JPEG, "image/jpeg"), (TRANSPARENT_PNG, "image/webp")])
@pytest.mark.parametrize("size", ["grid", "preview"])
def test_a_thumbnail_is_cached_for_a_year_and_revalidates(size, name, content_type, upload_id, client, app):
    photo_id = upload_id(name)

    response = client.get(f"/thumbnails/{photo_id}/{size}", buffered=True)

    assert response.status_code == 200 and response.mimetype == content_type
    with Image.open(io.BytesIO(response.data)) as image:
        assert max(image.size) <= app.config[f"{size.upper()}_SIZE"]
    assert response.cache_control.max_age >= ONE_YEAR
    etag = response.headers["ETag"]
    again = client.get(f"/thumbnails/{photo_id}/{size}", headers={"If-None-Match": etag}, buffered=True)
    assert again.status_code == 304 and again.data == b""


def test_a_thumbnail_url_changes_with_the_image_and_with_the_thumbnail_settings(upload_id, client, app):
    """Thumbnails are cached as immutable, so whatever changes their pixels must change their URL."""
    first, second = upload_id(GPS_JPEG), upload_id(TINY_JPEG)

    def preview_src(photo_id: int) -> str:
        return html(client.get(f"/photos/{photo_id}")).select_one("img.preview")["src"]

    before = preview_src(first)
    assert before != preview_src(second).replace(f"/{second}/", f"/{first}/")  # another image, another version
    app.config["GRID_SIZE"] = app.config["GRID_SIZE"] // 2  # as after a restart with a new setting
    assert preview_src(first) != before


def test_a_missing_thumbnail_is_made_again(upload_id, photo_row, data_dir, client):
    photo = photo_row(upload_id(GPS_JPEG))
    path = data_dir / "photos" / photo.thumbnail_path("grid")
    with Image.open(path) as image:
        size = image.size
    path.unlink()

    response = client.get(f"/thumbnails/{photo.id}/grid", buffered=True)

    assert response.status_code == 200 and response.mimetype == "image/jpeg"
    assert path.read_bytes() == response.data
    with Image.open(path) as image:
        assert image.size == size


def test_a_thumbnail_served_before_a_delete_for_good_is_a_404_after_it(upload_id, client):
    """The thumbnail route keeps each photo's thumbnail path in the cache: a deleted photo's
    kept path must not serve anything (while it is in the trash, the trash page shows it)."""
    photo_id = upload_id(GPS_JPEG)
    assert client.get(f"/thumbnails/{photo_id}/grid", buffered=True).status_code == 200
    assert client.post(f"/photos/{photo_id}/delete").status_code == 302
    assert client.get(f"/thumbnails/{photo_id}/grid", buffered=True).status_code == 200
    assert client.post(f"/photos/{photo_id}/purge").status_code == 302
    assert client.get(f"/thumbnails/{photo_id}/grid").status_code == 404


def test_a_thumbnail_another_user_asked_for_first_stays_theirs(app, upload_id, client, make_user):
    """Bob's request for alice's thumbnail is a 404 before and after alice's own requests were cached."""
    photo_id = upload_id(GPS_JPEG)
    bob = log_in(app.test_client(), make_user("bob"))
    assert bob.get(f"/thumbnails/{photo_id}/grid").status_code == 404
    assert client.get(f"/thumbnails/{photo_id}/grid", buffered=True).status_code == 200
    assert bob.get(f"/thumbnails/{photo_id}/grid").status_code == 404


@pytest.mark.parametrize("url", ["/thumbnails/{id}/huge", "/thumbnails/424242/grid",
                                 "/thumbnails/99999999999999999999/grid"],
                         ids=["unknown size", "unknown photo", "id past any column"])
def test_an_unknown_thumbnail_is_a_404_page(url, upload_id, client):
    photo_id = upload_id(TINY_JPEG)

    response = client.get(url.format(id=photo_id))

    assert response.status_code == 404
    assert html(response).select_one("header.site a.brand") is not None


def test_a_photo_whose_files_are_gone_answers_404_not_500(upload_id, photo_row, data_dir, client):
    photo = photo_row(upload_id(GPS_JPEG))
    for relative in (photo.original_path, photo.thumbnail_path("grid"), photo.thumbnail_path("preview")):
        (data_dir / "photos" / relative).unlink()

    assert client.get(f"/photos/{photo.id}/original", buffered=True).status_code == 404
    assert client.get(f"/thumbnails/{photo.id}/grid", buffered=True).status_code == 404
    assert client.get(f"/photos/{photo.id}").status_code == 200  # the page and its metadata remain


# --- delete -------------------------------------------------------------------------------

def test_delete_forever_asks_first_then_removes_the_row_and_every_file(upload_id, client, data_files, app):
    kept = upload_id(TINY_JPEG)
    files_of_kept = data_files()
    doomed = upload_id(GPS_JPEG)  # the same day folder as `kept`
    assert len(data_files() - files_of_kept) == 3
    assert client.post(f"/photos/{doomed}/delete").status_code == 302  # to the trash: nothing goes yet
    assert len(data_files() - files_of_kept) == 3

    confirm = html(client.get(f"/photos/{doomed}/purge"))
    form = confirm.select_one("section.confirm form")
    assert form["method"] == "post" and form["action"] == f"/photos/{doomed}/purge"
    assert client.get(f"/photos/{doomed}").status_code == 200  # asking deleted nothing

    response = client.post(form["action"])

    assert response.status_code == 302 and response.headers["Location"] == "/trash"
    trash = html(client.get("/trash"))
    assert "Deleted nikon-coolpix-p6000_gps.jpg for good." in trash.select_one("ul.flashes").get_text()
    assert trash.select("ul.grid li") == []
    assert grid_ids(html(client.get("/"))) == [kept]
    assert data_files() == files_of_kept
    with app.app_context():
        assert db.session.scalars(select(Photo.id)).all() == [kept]
    for url in (f"/photos/{doomed}", f"/thumbnails/{doomed}/grid", f"/photos/{doomed}/original"):
        assert client.get(url, buffered=True).status_code == 404
    assert client.post(f"/photos/{doomed}/purge").status_code == 404
    assert client.post(f"/photos/{doomed}/delete").status_code == 404
    assert client.get(f"/thumbnails/{kept}/grid", buffered=True).status_code == 200


def fail_the_commit():
    """The DELETE reaches the database, then the commit fails."""
    db.session.flush()
    raise OperationalError("COMMIT", {}, OSError("disk I/O error"))


@pytest.mark.parametrize("app_config", [{"PAGE_SIZE": PAGE_SIZE, "PROPAGATE_EXCEPTIONS": False}],
                         ids=["error pages"])
def test_a_delete_the_database_refuses_puts_every_file_back(upload_id, client, data_files, monkeypatch):
    photo_id = upload_id(GPS_JPEG)
    assert client.post(f"/photos/{photo_id}/delete").status_code == 302  # to the trash first
    files = data_files()
    with monkeypatch.context() as patch:
        patch.setattr(db.session, "commit", fail_the_commit)
        response = client.post(f"/photos/{photo_id}/purge")

    assert response.status_code == 500
    assert data_files() == files
    assert client.get(f"/photos/{photo_id}").status_code == 200
    assert client.get(f"/photos/{photo_id}/original", buffered=True).status_code == 200


def test_the_photo_count_follows_uploads_and_deletes(client, gallery, upload_id):
    def shown() -> str:
        return html(client.get("/")).h1.get_text(strip=True)

    assert shown() == f"{len(GALLERY)} photos"  # now cached
    client.post(f"/photos/{gallery[0]}/delete")
    assert shown() == f"{len(GALLERY) - 1} photos"
    upload_id("formats/denali.webp")
    assert shown() == f"{len(GALLERY)} photos"


# --- error pages --------------------------------------------------------------------------

def get(url: str):
    return lambda client, upload, headers: client.get(url, headers=headers)


def too_large_upload(client, upload, headers):
    return upload(b"\0" * 2_500_000, "huge.jpg", json=False, headers=headers)


ERRORS = {
    "404 unknown photo": (get("/photos/424242"), 404),
    "404 id past any column": (get("/photos/99999999999999999999"), 404),
    "404 no such page": (get("/no/such/page"), 404),
    "400 unknown source": (get("/?source=bogus"), 400),
    "400 bogus cursor": (get("/?older=garbage"), 400),
    "405 wrong method": (lambda client, upload, headers: client.post("/", headers=headers), 405),
    "413 request too large": (too_large_upload, 413),
}


@pytest.mark.parametrize("request_, status", ERRORS.values(), ids=ERRORS.keys())
def test_error_pages_look_like_the_gallery(request_, status, client, upload):
    response = request_(client, upload, {})

    assert response.status_code == status
    page = html(response)
    assert page.select_one("header.site a.brand") is not None
    assert page.select_one("section.error h1").get_text().startswith(str(status))
    assert page.select_one("section.error a[href='/']") is not None


@pytest.mark.parametrize("request_, status", ERRORS.values(), ids=ERRORS.keys())
def test_error_answers_are_json_for_json_clients(request_, status, client, upload):
    response = request_(client, upload, {"Accept": "application/json"})

    assert response.status_code == status
    assert response.is_json
    body = response.get_json()
    assert body["status"] == status and body["error"]
