"""Albums in a real browser: select photos on the grid, add them to a new album, open the album, add a
sub-album, remove one photo by selection on the album's page; the photo page's albums.

Same live server, Chromium and CSRF-on app as test_browser.py, whose fixtures this module imports.
GALLERY_SCREENSHOTS=<folder> keeps screenshots of /albums, an album page and a photo page at 400 and 1400 px.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select
from test_browser import (  # noqa: F401  (fixtures: pytest finds them by name in this module)
    base_url,
    browser_context_args,
    browser_type_launch_args,
    live_server,
    page,
    page_errors,
)
from test_browser_selection import box, photo_ids, screenshot, tiles  # noqa: F401  (photo_ids: a fixture)

from app.extensions import db
from app.models import Album, AlbumPhoto, Photo

pytestmark = [
    pytest.mark.browser,
    pytest.mark.parametrize("database", ["sqlite"], indirect=True),
]


@pytest.fixture
def album_members(app):
    """album_members() -> {album name: sorted photo names}."""
    def read() -> dict[str, list[str]]:
        with app.app_context():
            found: dict[str, list[str]] = {name: [] for name in db.session.scalars(select(Album.name))}
            for album, photo in db.session.execute(
                    select(Album.name, Photo.original_name).join(AlbumPhoto, AlbumPhoto.album_id == Album.id)
                    .join(Photo, Photo.id == AlbumPhoto.photo_id)):
                found[album].append(photo)
            return {name: sorted(photos) for name, photos in found.items()}
    return read


def test_select_on_the_grid_add_to_an_album_open_it_and_remove_one(page: Page, page_errors, photo_ids,
                                                                   album_members):
    page.goto("/?sort=added")  # photo-5 first
    bar = page.locator("form#selection")
    tiles(page).nth(0).hover()
    box(page, 0).click()
    box(page, 3).click(modifiers=["Shift"])  # photo-5 .. photo-2
    expect(bar.locator("[data-selected-count]")).to_have_text("4 selected")
    bar.get_by_label("Action").select_option("add_to_album")
    bar.get_by_role("button", name="Apply").click()

    expect(page.locator("h1")).to_have_text("Add 4 photos to an album")
    page.get_by_label("A new album").fill("Summer")
    page.get_by_role("button", name="New album with 4 photos").click()
    expect(page).to_have_url(re.compile(r"/\?sort=added$"))
    expect(page.locator(".flashes")).to_contain_text("Added 4 photos to the new album “Summer”.")
    assert album_members() == {"Summer": ["photo-2.jpg", "photo-3.jpg", "photo-4.jpg", "photo-5.jpg"]}

    page.locator(".flashes").get_by_role("link", name="the new album “Summer”").click()
    expect(page.locator("h1 .album-title")).to_have_text("Summer")
    expect(page.locator("h1 .subtitle")).to_have_text("4 photos")
    page.get_by_placeholder("New album in here").fill("Beach days")
    page.get_by_role("button", name="New album in here").click()
    expect(page.locator("nav.breadcrumb")).to_contain_text("Summer")
    page.locator("nav.breadcrumb").get_by_role("link", name="Summer").click()
    expect(page.locator("ul.album-cards .album-name")).to_have_text(["Beach days"])

    bar = page.locator("form#selection")
    expect(tiles(page)).to_have_count(4)
    tiles(page).nth(1).hover()
    box(page, 1).click()
    expect(bar.locator("[data-selected-count]")).to_have_text("1 selected")
    expect(bar.get_by_label("Action")).to_have_value("remove_from_album")
    screenshot(page, "album-page")
    bar.get_by_role("button", name="Apply").click()
    expect(page.locator(".flashes")).to_contain_text("Removed 1 photo from this album")
    expect(tiles(page)).to_have_count(3)
    expect(page.locator("h1 .subtitle")).to_have_text("3 photos")
    assert album_members()["Summer"] == ["photo-2.jpg", "photo-3.jpg", "photo-5.jpg"]

    page.goto("/albums")
    expect(page.locator("ul.album-cards .album-count")).to_have_text(["3 photos · 1 album"])
    screenshot(page, "albums")

    tiles_url = f"/photos/{photo_ids[0]}"
    page.goto(tiles_url)
    page.get_by_label("Add to album").select_option(label="Summer")
    page.get_by_role("button", name="Add to album").click()
    expect(page.locator("section.photo-albums li.album-chip .name")).to_have_text(["Summer"])
    screenshot(page, "photo-page")
    assert page_errors == []
