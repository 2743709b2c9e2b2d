"""How the library looks: each photo's placeholder colour (at ingest, and by `flask thumbnails colours` for
the photos stored before), square or justified tiles kept per account, date headings on a grid sorted by
date taken, the map of geotagged photos (its JSON, the photo page's small map, switched off), and the
slideshow's pages (the grid's or an album's photos, the refresh that moves on without script)."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import update

from app.extensions import db
from app.models import Photo, User
from app.services import albums, search
from testapp import GPS_JPEG, JSON, jpeg, upload_as

TILES = "http://127.0.0.1:9/tiles/{z}/{x}/{y}.png"  # never fetched here: the test client loads no image


@pytest.fixture
def app_config():
    return {"MAP_TILE_URL": TILES}


def soup(client, url: str) -> BeautifulSoup:
    response = client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def tile_classes(page: BeautifulSoup) -> dict[int, list[str]]:
    return {int(li["id"].removeprefix("photo-")): li.get("class", []) for li in page.select("ul.grid li[id]")}


def set_taken(app, dates: dict[int, datetime]) -> None:
    """Give photos another date taken, as no write of the app's does: so it refreshes their search
    documents too, which on PostgreSQL carry a copy of sorted_at (search.walk_documents)."""
    with app.app_context():
        for photo_id, taken in dates.items():
            db.session.execute(update(Photo).where(Photo.id == photo_id).values(taken_at=taken, sorted_at=taken))
        search.refresh_search_documents(list(dates))
        db.session.execute(update(User).values(library_version=User.library_version + 1))
        db.session.commit()


def test_a_photo_gets_its_colour_at_ingest_and_its_tile_shows_it_with_its_shape(client, app):
    red = upload_as(client, jpeg((200, 20, 20)), "red.jpg")
    with app.app_context():
        photo = db.session.get(Photo, red)
        assert photo.colour is not None
        r, g, b = (int(photo.colour[i:i + 2], 16) for i in (1, 3, 5))
        assert r > 180 and g < 50 and b < 50, photo.colour
    # 80 x 60 is 5 steps of 2 ** (1/12) wide of square; the colour, in six levels a channel, red
    assert tile_classes(soup(client, "/"))[red] == ["a5", "c400"]


def test_the_colours_command_fills_the_photos_stored_before_and_the_grid_shows_them(client, app, runner):
    blue = upload_as(client, jpeg((20, 40, 210)), "blue.jpg")
    with app.app_context():
        db.session.execute(update(Photo).values(colour=None))
        db.session.commit()
    assert tile_classes(soup(client, "/"))[blue] == ["a5"]  # cached now, without a colour

    result = runner.invoke(args=["thumbnails", "colours"])
    assert result.exit_code == 0, result.output
    assert "Coloured 1 photos; 0 with problems." in result.output
    assert tile_classes(soup(client, "/"))[blue] == ["a5", "c014"]  # the command retired the cached grid
    assert runner.invoke(args=["thumbnails", "colours"]).output.startswith("Coloured 0 photos")


def test_the_layout_is_square_until_the_account_chooses_justified_and_stays_so(client, app, user_id):
    upload_as(client, jpeg(), "a.jpg")
    assert soup(client, "/").select_one("div.layout-square ul.grid")
    response = client.post("/grid-layout?sort=added", data={"layout": "justified"})
    assert response.status_code == 303 and response.headers["Location"].endswith("/?sort=added")
    page = soup(client, "/")
    assert page.select_one("div.layout-justified ul.grid")
    assert page.select_one('form.layout-toggle button[value="justified"]')["aria-pressed"] == "true"

    refused = client.post("/grid-layout", data={"layout": "masonry"})
    assert refused.status_code == 400 and "choose square or justified" in refused.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(User, user_id).grid_layout == "justified"


def test_a_grid_by_date_taken_is_headed_by_day_and_by_month_when_the_page_spans_many_days(client, app):
    ids = [upload_as(client, jpeg((10 * i, 50, 90)), f"p{i}.jpg") for i in range(4)]
    day = datetime(2024, 7, 14, 12)
    set_taken(app, {ids[0]: day - timedelta(days=1), ids[1]: day, ids[2]: day + timedelta(hours=2),
                    ids[3]: day + timedelta(days=40)})
    items = soup(client, "/").select("ul.grid > li")
    shown = [li.h2.get_text() if "heading" in li.get("class", []) else int(li["id"][6:]) for li in items]
    assert shown == ["Friday 23 August 2024", ids[3], "Sunday 14 July 2024", ids[2], ids[1],
                     "Saturday 13 July 2024", ids[0]]
    assert not soup(client, "/?sort=added").select("ul.grid li.heading")  # headings are the date taken's

    more = [upload_as(client, jpeg((5 * i, 200, 90)), f"q{i}.jpg") for i in range(10)]
    set_taken(app, {photo_id: day + timedelta(days=3 * i) for i, photo_id in enumerate(more)})
    headings = [h2.get_text() for h2 in soup(client, "/").select("ul.grid li.heading h2")]
    assert headings == ["August 2024", "July 2024"]


def test_the_map_lists_the_librarys_geotagged_photos_and_the_photo_page_shows_its_place(
        client, app, bob, photos_dir):
    here = upload_as(client, (photos_dir / GPS_JPEG).read_bytes(), "gps.jpg")
    upload_as(client, jpeg(), "nowhere.jpg")
    upload_as(bob, (photos_dir / GPS_JPEG).read_bytes(), "bobs.jpg")
    listed = client.get("/map/photos.json", headers=JSON).get_json()["photos"]
    assert [(p["id"], p["name"], p["url"]) for p in listed] == [(here, "gps.jpg", f"/photos/{here}")]
    assert listed[0]["lat"] == pytest.approx(43.467, abs=0.01)
    with client.get(listed[0]["thumbnail"]) as thumbnail:
        assert thumbnail.status_code == 200 and thumbnail.mimetype == "image/jpeg"

    page = soup(client, "/map")
    assert page.select_one("[data-map]")["data-tiles"] == TILES
    assert "1 photo with a place" in page.get_text()
    detail = client.get(f"/photos/{here}")
    small_map = BeautifulSoup(detail.get_data(as_text=True), "html.parser").select_one(".photo-map [data-map]")
    assert float(small_map["data-lat"]) == pytest.approx(listed[0]["lat"])
    assert "img-src 'self' data: http://127.0.0.1:9" in detail.headers["Content-Security-Policy"]


@pytest.mark.parametrize("app_config", [{"MAP_TILE_URL": None}])
def test_maps_switched_off_show_no_map_and_list_nothing(client, photos_dir):
    here = upload_as(client, (photos_dir / GPS_JPEG).read_bytes(), "gps.jpg")
    assert client.get("/map/photos.json").status_code == 404
    page = soup(client, "/map")
    assert not page.select("[data-map], script[src*=leaflet]") and "Maps are switched off" in page.get_text()
    detail = client.get(f"/photos/{here}")
    assert "leaflet" not in detail.get_data(as_text=True)
    assert "img-src 'self' data:;" in detail.headers["Content-Security-Policy"]


def test_the_slideshow_shows_the_grid_in_its_order_and_moves_on_without_script(client, app, user_id, bob_id):
    ids = [upload_as(client, jpeg((30 * i, 80, 80)), f"s{i}.jpg") for i in range(3)]
    page = soup(client, "/slideshow?order=oldest")
    assert page.select_one("[data-slide-image]")["alt"] == "s0.jpg"
    assert [li.get_text() for li in page.select(".slides li")] == ["s0.jpg", "s1.jpg", "s2.jpg"]
    assert page.select_one("noscript meta")["content"] == "5;url=/slideshow?order=oldest&interval=5&at=1"
    last = soup(client, "/slideshow?order=oldest&at=2&interval=10")
    assert last.select_one("noscript meta")["content"] == "10;url=/slideshow?order=oldest&interval=10"  # again
    assert last.select_one("[data-slideshow]")["data-leave"] == "/?order=oldest"

    with app.app_context():
        album = albums.create_album(db.session.get(User, user_id), "Summer")
        albums.add_photos(user_id, album.id, [ids[1]])
        theirs = albums.create_album(db.session.get(User, bob_id), "Bob's")
        album_id, theirs_id = album.id, theirs.id
    shown = soup(client, f"/slideshow?album_id={album_id}")
    assert [li.get_text() for li in shown.select(".slides li")] == ["s1.jpg"]
    assert shown.select_one("[data-slideshow]")["data-leave"] == f"/albums/{album_id}"
    assert client.get(f"/slideshow?album_id={theirs_id}").status_code == 404
    assert client.get("/slideshow?interval=7").status_code == 400
    assert client.get("/slideshow?at=x").status_code == 400
