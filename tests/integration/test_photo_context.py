"""A photo opened from an album, a tag or a search steps through that album, tag or search in its order
(its arrows, and so the keys and swipes that follow them), its back link returns to that page, and
another account's album or tag in its URL is a 404; the slideshow plays a search's results, a tag's and
an album's. Everything is followed as a person would: by the links the pages show."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from bs4 import BeautifulSoup

from app.extensions import db
from app.models import User
from app.services import albums, tags
from test_look import set_taken
from testapp import jpeg, upload_as

NAMES = ["harbour-dawn.jpg", "forest.jpg", "harbour-noon.jpg", "meadow.jpg", "harbour-dusk.jpg", "field.jpg"]


def soup(client, url: str) -> BeautifulSoup:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def name_of(page: BeautifulSoup) -> str:
    return page.select_one("h1.photo-name").get_text()


def tile_link(page: BeautifulSoup, photo_id: int) -> str:
    return page.select_one(f"ul.grid li#photo-{photo_id} a")["href"]


def walk_older(client, url: str) -> list[str]:
    """The names of the photos met following the "Older" arrow from the photo at `url` to the end."""
    names = []
    while url:
        page = soup(client, url)
        names.append(name_of(page))
        older = page.select_one('a.step[rel="next"]')  # newest first: the next photo is the older one
        url = older["href"] if older else None
        assert len(names) <= len(NAMES), names
    return names


@pytest.fixture
def library(app, client, user_id) -> dict[str, int]:
    """Six photos taken an hour apart in NAMES' order (so the last is the newest): name -> id."""
    ids = {name: upload_as(client, jpeg((40 * i, 90, 120)), name) for i, name in enumerate(NAMES)}
    start = datetime(2026, 5, 1, 8)
    set_taken(app, {ids[name]: start + timedelta(hours=i) for i, name in enumerate(NAMES)})
    return ids


@pytest.fixture
def album_id(app, user_id, library) -> int:
    """An album of the three photos whose names begin with "harbour"."""
    with app.app_context():
        album = albums.create_album(db.session.get(User, user_id), "Harbour")
        albums.add_photos(user_id, album.id, [library[name] for name in NAMES if name.startswith("harbour")])
        return album.id


def test_from_an_album_the_older_arrow_stays_in_the_album_and_back_returns_to_it(client, library, album_id):
    album_page = soup(client, f"/albums/{album_id}")
    newest = tile_link(album_page, library["harbour-dusk.jpg"])
    assert walk_older(client, newest) == ["harbour-dusk.jpg", "harbour-noon.jpg", "harbour-dawn.jpg"]
    middle = soup(client, tile_link(album_page, library["harbour-noon.jpg"]))
    assert name_of(soup(client, middle.select_one('a.step[rel="prev"]')["href"])) == "harbour-dusk.jpg"
    back = middle.select_one("a[data-back]")
    assert back["href"] == f"/albums/{album_id}#photo-{library['harbour-noon.jpg']}"
    assert back.get_text(strip=True) == "←Harbour"
    # The same photo opened from the grid steps through the whole library.
    assert walk_older(client, tile_link(soup(client, "/"), library["harbour-noon.jpg"])) == \
        ["harbour-noon.jpg", "forest.jpg", "harbour-dawn.jpg"]


def test_a_mark_set_without_script_comes_back_in_the_album(client, library, album_id):
    page = soup(client, tile_link(soup(client, f"/albums/{album_id}"), library["harbour-noon.jpg"]))
    form = page.select_one('form[data-mark="favourite"]')
    response = client.post(form["action"], data={"favourite": "1"})
    assert response.status_code == 303
    assert walk_older(client, response.headers["Location"]) == ["harbour-noon.jpg", "harbour-dawn.jpg"]


def test_from_a_tag_the_arrows_step_through_the_tag(app, client, user_id, library):
    with app.app_context():
        tag_id = tags.add_tags(user_id, [library["meadow.jpg"], library["forest.jpg"], library["field.jpg"]],
                               ["green"])[0]
        db.session.commit()
    tag_page = soup(client, f"/tags/{tag_id}")
    assert walk_older(client, tile_link(tag_page, library["field.jpg"])) == ["field.jpg", "meadow.jpg", "forest.jpg"]
    assert soup(client, tile_link(tag_page, library["meadow.jpg"])).select_one("a[data-back]")["href"] == \
        f"/tags/{tag_id}#photo-{library['meadow.jpg']}"


def test_a_merged_tag_steps_in_date_order_past_a_photo_in_the_trash(app, client, user_id, library):
    """The arrows walk the tag's own (tag_id, sorted_at, photo_id) index: the links a merge moves carry
    their photos' dates with them, and a tagged photo in the trash is stepped over."""
    from app.services import trash
    with app.app_context():
        green, grass = (tags.add_tags(user_id, [library[name] for name in names], [tag])[0]
                        for tag, names in (("green", ["meadow.jpg", "field.jpg"]),
                                           ("grass", ["forest.jpg", "harbour-dawn.jpg", "harbour-noon.jpg"])))
        db.session.commit()
        owner = db.session.get(User, user_id)
        tags.merge_tags(owner, [tags.find_tag(user_id, grass)], tags.find_tag(user_id, green))
        trash.move_to_trash(user_id, [library["harbour-noon.jpg"]])
        db.session.commit()
    newest = soup(client, f"/photos/{library['field.jpg']}?tag_id={green}")
    assert walk_older(client, f"/photos/{library['field.jpg']}?tag_id={green}") == \
        ["field.jpg", "meadow.jpg", "forest.jpg", "harbour-dawn.jpg"]
    assert newest.select_one('a.step[rel="prev"]') is None


def test_from_a_search_the_arrows_step_through_its_results_and_back_returns_to_them(client, library):
    results = soup(client, "/search?q=harbour&order=oldest")
    shown = [int(li["id"].removeprefix("photo-")) for li in results.select("ul.grid li[id]")]
    assert shown == [library[name] for name in ("harbour-dawn.jpg", "harbour-noon.jpg", "harbour-dusk.jpg")]
    first = soup(client, tile_link(results, shown[0]))
    assert first.select_one('a.step[rel="prev"]') is None  # oldest first: nothing before the oldest
    second = soup(client, first.select_one('a.step[rel="next"]')["href"])
    assert name_of(second) == "harbour-noon.jpg"
    assert name_of(soup(client, second.select_one('a.step[rel="next"]')["href"])) == "harbour-dusk.jpg"
    back = second.select_one("a[data-back]")["href"]
    assert back.startswith("/search?") and back.endswith(f"#photo-{shown[1]}")
    assert [int(li["id"].removeprefix("photo-")) for li in soup(client, back).select("ul.grid li[id]")] == shown


@pytest.mark.parametrize("probed", [(1, 0), (16, 2)])
def test_a_search_steps_the_same_whether_its_first_photos_settle_it_or_it_reads_every_match(
        app, client, library, monkeypatch, probed):
    """On SQLite the page first tests the search's photos one by one (photos.PROBED_PHOTOS of them, and
    PROBED_PAGES pages for the way back), then reads every match when those did not settle it: with one
    and none, every step and the way back take the second way (the harbour photos are an hour apart,
    others between them). Opened by URL, not from the search's page: that page's tiles, once cached,
    would be the neighbours."""
    from app.services import photos
    monkeypatch.setattr(photos, "PROBED_PHOTOS", probed[0])
    monkeypatch.setattr(photos, "PROBED_PAGES", probed[1])
    newest = f"/photos/{library['harbour-dusk.jpg']}?search=1&q=harbour"
    assert walk_older(client, newest) == ["harbour-dusk.jpg", "harbour-noon.jpg", "harbour-dawn.jpg"]
    oldest = soup(client, f"/photos/{library['harbour-dawn.jpg']}?search=1&q=harbour")
    assert name_of(soup(client, oldest.select_one('a.step[rel="prev"]')["href"])) == "harbour-noon.jpg"
    assert oldest.select_one("a[data-back]")["href"] == f"/search?q=harbour#photo-{library['harbour-dawn.jpg']}"
    # Pages of two: the two newer matches fill the first, so the way back is the page after it.
    monkeypatch.setitem(app.config, "PAGE_SIZE", 2)
    back = soup(client, f"/photos/{library['harbour-dawn.jpg']}?search=1&q=harbour").select_one("a[data-back]")
    assert "older=" in back["href"]
    assert [int(li["id"].removeprefix("photo-")) for li in soup(client, back["href"]).select("ul.grid li[id]")] == \
        [library["harbour-dawn.jpg"]]


def test_the_add_to_album_select_follows_the_albums_while_the_page_reads_them_from_the_cache(
        app, client, user_id, library, album_id):
    """The albums in tree order and their options are cached until the library changes: an album made,
    renamed or given the photo shows on the next visit, indented under its parent."""
    url = f"/photos/{library['forest.jpg']}"

    def picker() -> tuple[list[str], list[str]]:
        page = soup(client, url)
        return ([a.get_text() for a in page.select(".album-chip a .name")],
                [o.get_text() for o in page.select("#add-to-album option[value]") if o["value"]])

    assert picker() == ([], ["Harbour"])
    assert picker() == ([], ["Harbour"])  # from the cache
    with app.app_context():
        owner = db.session.get(User, user_id)
        albums.create_album(owner, "Boats & <Ships>", parent_id=album_id)
        albums.create_album(owner, "Anchors")
    assert picker() == ([], ["Anchors", "Harbour", "\u2003Boats & <Ships>"])
    with app.app_context():
        owner = db.session.get(User, user_id)
        albums.edit_album(owner, albums.find_album(user_id, album_id), "Port", "")
        albums.add_photos(user_id, album_id, [library["forest.jpg"]])
    assert picker() == (["Port"], ["Anchors", "\u2003Boats & <Ships>"])


def test_another_accounts_album_or_tag_in_the_url_is_a_404(app, client, bob_id, library):
    with app.app_context():
        theirs = albums.create_album(db.session.get(User, bob_id), "Bob's")
        their_tag = tags.add_tags(bob_id, [], ["bobs"])[0]
        db.session.commit()
        theirs_id = theirs.id
    photo = library["forest.jpg"]
    for query in (f"album_id={theirs_id}", f"tag_id={their_tag}", f"search=1&album={theirs_id}",
                  f"album_id={theirs_id + 100}"):
        response = client.get(f"/photos/{photo}?{query}")
        assert response.status_code == 404, query
        assert "Bob" not in response.get_data(as_text=True)
        assert client.get(f"/slideshow?{query}").status_code == 404, query
    for query in ("album_id=x", "tag_id=0", "album_id=1&tag_id=1", "search=1&taken_from=someday"):
        assert client.get(f"/photos/{photo}?{query}").status_code == 400, query


def test_the_slideshow_of_a_search_shows_its_results_in_order(client, library, album_id):
    results = soup(client, "/search?q=harbour")
    link = results.select_one("a.slideshow-link")["href"]
    show = soup(client, link)
    assert [li.get_text() for li in show.select(".slides li")] == ["harbour-dusk.jpg", "harbour-noon.jpg",
                                                                   "harbour-dawn.jpg"]
    assert show.select_one("[data-slide-image]")["alt"] == "harbour-dusk.jpg"
    assert show.select_one("[data-slideshow]")["data-leave"] == "/search?q=harbour"
    # each slide's page steps through the search too
    assert walk_older(client, show.select_one(".slides li")["data-url"]) == ["harbour-dusk.jpg", "harbour-noon.jpg",
                                                                            "harbour-dawn.jpg"]
    # without script, the refresh moves on within the search
    following = soup(client, show.select_one("noscript meta")["content"].split("url=", 1)[1])
    assert following.select_one("[data-slide-image]")["alt"] == "harbour-noon.jpg"
    # and a search narrowed to an album, the album's
    narrowed = soup(client, soup(client, f"/search?q=harbour&album={album_id}&order=oldest")
                    .select_one("a.slideshow-link")["href"])
    assert [li.get_text() for li in narrowed.select(".slides li")] == ["harbour-dawn.jpg", "harbour-noon.jpg",
                                                                       "harbour-dusk.jpg"]
