"""Selection of many in a real browser: a tile's checkbox, shift-click for a range, a plain click on a
tile while a selection is in progress, "Select page", the action bar and the undo; and the same form
without JavaScript.

Same live server, Chromium and CSRF-on app as test_browser.py, whose fixtures this module imports.
GALLERY_SCREENSHOTS=<folder> keeps a screenshot of the grid with a selection at 400 and 1400 px.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select
from test_browser import (  # noqa: F401  (fixtures: pytest finds them by name in this module)
    base_url,
    browser_context_args,
    browser_type_launch_args,
    live_server,
    log_in,
    page,
    page_errors,
)
from testapp import upload_jpegs

from app.extensions import db
from app.models import Photo

pytestmark = [
    pytest.mark.browser,
    pytest.mark.parametrize("database", ["sqlite"], indirect=True),
]


@pytest.fixture
def photo_ids(app, user_id) -> list[int]:
    """Six of alice's photos, uploaded in this order (the grid, newest first, shows them reversed)."""
    return upload_jpegs(app, user_id, [(40 * i, 120, 200 - 30 * i) for i in range(6)])


@pytest.fixture
def marks(app):
    """marks() -> {photo name: (favourite, rating, in the trash)}."""
    def read() -> dict[str, tuple]:
        with app.app_context():
            return {name: (favourite, rating, trashed is not None) for name, favourite, rating, trashed in
                    db.session.execute(select(Photo.original_name, Photo.favourite, Photo.rating, Photo.trashed_at))}
    return read


def tiles(page: Page):
    return page.locator("ul.grid li:not(.heading)")


def box(page: Page, n: int):
    return tiles(page).nth(n).locator("input[type=checkbox]")


def screenshot(page: Page, name: str) -> None:
    folder = os.environ.get("GALLERY_SCREENSHOTS")
    if folder:
        for width in (400, 1400):
            page.set_viewport_size({"width": width, "height": 900})
            page.screenshot(path=str(Path(folder) / f"{name}-{width}.png"), full_page=True)
        page.set_viewport_size({"width": 1280, "height": 720})


def test_shift_click_a_range_click_a_tile_select_the_page_and_act(page: Page, page_errors, photo_ids, marks):
    page.goto("/?sort=added")
    bar = page.locator("form#selection")
    count = bar.locator("[data-selected-count]")
    expect(tiles(page)).to_have_count(6)
    expect(count).to_have_text("Select photos to act on them")
    expect(bar.get_by_role("button", name="Apply")).to_be_hidden()
    corner = tiles(page).nth(0).locator("label.pick")
    expect(corner).to_have_css("opacity", "0")  # shown on hover

    tiles(page).nth(0).hover()
    expect(corner).to_have_css("opacity", "1")
    box(page, 0).click()
    expect(count).to_have_text("1 selected")
    box(page, 3).click(modifiers=["Shift"])  # photo-5 .. photo-2
    expect(count).to_have_text("4 selected")
    tiles(page).nth(5).locator("a").click()  # a selection is in progress: the click ticks, not opens
    expect(count).to_have_text("5 selected")
    expect(page).to_have_url(re.compile(r"/\?sort=added$"))
    box(page, 1).click()  # untick photo-4
    expect(count).to_have_text("4 selected")
    screenshot(page, "grid-selecting")

    bar.get_by_label("Action").select_option("rate")
    bar.get_by_label("Stars").select_option("4")
    bar.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"/\?sort=added$"))
    expect(page.locator(".flashes")).to_contain_text("Rated 4 photos ★★★★.")
    rated = {name for name, (_, rating, _) in marks().items() if rating == 4}
    assert rated == {"photo-5.jpg", "photo-3.jpg", "photo-2.jpg", "photo-0.jpg"}

    expect(count).to_have_text("Select photos to act on them")
    bar.get_by_role("button", name="Select page").click()
    expect(count).to_have_text("6 selected")
    bar.get_by_label("Action").select_option("trash")
    bar.get_by_role("button", name="Apply").click()
    expect(page.locator(".flashes")).to_contain_text("Moved 6 photos to the trash.")
    expect(tiles(page)).to_have_count(0)
    assert all(trashed for _, _, trashed in marks().values())
    page.locator(".flashes").get_by_role("button", name="Undo").click()
    expect(page).to_have_url(re.compile(r"/\?sort=added$"))
    expect(page.locator(".flashes")).to_contain_text("Restored 6 photos.")
    expect(tiles(page)).to_have_count(6)
    assert {name: rating for name, (_, rating, _) in marks().items()} == {
        f"photo-{i}.jpg": 4 if i in (0, 2, 3, 5) else 0 for i in range(6)}

    # Without a selection a plain click on a tile opens the photo.
    tiles(page).nth(0).locator("a").click()
    expect(page).to_have_url(re.compile(rf"/photos/{photo_ids[5]}\?sort=added$"))
    assert page_errors == []


def test_the_trash_page_restores_a_selection_and_asks_before_deleting_forever(page: Page, page_errors, photo_ids,
                                                                              marks):
    page.goto("/")
    page.locator("form#selection").get_by_role("button", name="Select page").click()
    page.locator("form#selection").get_by_label("Action").select_option("trash")
    page.locator("form#selection").get_by_role("button", name="Apply").click()
    page.goto("/trash")
    bar = page.locator("form#selection")
    box(page, 0).click()
    box(page, 2).click(modifiers=["Shift"])
    expect(bar.locator("[data-selected-count]")).to_have_text("3 selected")
    screenshot(page, "trash-selecting")
    bar.get_by_label("Action").select_option("delete")
    bar.get_by_role("button", name="Apply").click()
    expect(page.locator("h1")).to_have_text("Delete 3 photos for good?")
    page.get_by_role("button", name="Delete 3 forever").click()
    expect(page).to_have_url(re.compile(r"/trash$"))
    expect(page.locator(".flashes")).to_contain_text("Deleted 3 photos for good.")
    box(page, 0).click()
    bar.get_by_label("Action").select_option("restore")
    bar.get_by_role("button", name="Apply").click()
    expect(page.locator(".flashes")).to_contain_text("Restored 1 photo.")
    assert sorted(trashed for _, _, trashed in marks().values()) == [False, True, True]
    assert page_errors == []


def test_the_selection_without_javascript(new_context, user_id, password, photo_ids, marks):
    page = log_in(new_context(java_script_enabled=False).new_page(), password)
    page.goto("/?order=oldest")
    bar = page.locator("form#selection")
    expect(box(page, 0)).to_be_visible()
    box(page, 0).check()
    box(page, 4).check()
    bar.get_by_label("Action").select_option("favourite")
    bar.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"/\?order=oldest$"))
    expect(page.locator(".flashes")).to_contain_text("Added 2 photos to your favourites.")
    assert {name for name, (favourite, _, _) in marks().items() if favourite} == {"photo-0.jpg", "photo-4.jpg"}


def test_on_a_tag_page_tag_a_shift_clicked_range_then_untag_one_on_the_new_tags_page(app, user_id, page: Page,
                                                                                    page_errors, photo_ids):
    from app.models import User
    from app.services import tags

    with app.app_context():
        trip = tags.tag_photos(db.session.get_one(User, user_id), photo_ids, ["Trip"])[0].id
    page.goto(f"/tags/{trip}?sort=added")
    bar = page.locator("form#selection")
    tag_field = bar.get_by_placeholder("Tag name")
    expect(tiles(page)).to_have_count(6)
    box(page, 1).click()
    box(page, 3).click(modifiers=["Shift"])  # photo-4 .. photo-2
    expect(bar.locator("[data-selected-count]")).to_have_text("3 selected")
    expect(tag_field).to_be_hidden()
    bar.get_by_label("Action").select_option("tag")
    expect(tag_field).to_be_focused()
    expect(page.locator("datalist#selection-tags option")).to_have_count(1)  # the owner's tags, asked on focus
    assert page.locator("datalist#selection-tags option").get_attribute("value") == "Trip"
    tag_field.fill("Picked")
    screenshot(page, "tag-page-tagging")
    tag_field.press("Enter")  # Apply is the form's default button, not "Remove from “Trip”"
    expect(page).to_have_url(re.compile(rf"/tags/{trip}\?sort=added$"))
    expect(page.locator(".flashes span")).to_have_text("Tagged 3 photos “Picked”.")

    page.locator(".flashes").get_by_role("link", name="Picked").click()
    expect(page.locator("h1")).to_have_text("Picked 3 photos")
    assert [img.get_attribute("alt") for img in page.locator("ul.grid img").all()] == [
        "photo-4.jpg", "photo-3.jpg", "photo-2.jpg"]
    box(page, 1).click()
    bar.get_by_role("button", name="Remove from “Picked”").click()
    expect(page.locator(".flashes span")).to_have_text("Removed the tag “Picked” from 1 photo.")
    expect(page.locator("h1")).to_have_text("Picked 2 photos")
    assert [img.get_attribute("alt") for img in page.locator("ul.grid img").all()] == ["photo-4.jpg", "photo-2.jpg"]
    screenshot(page, "tag-page")
    with app.app_context():
        assert {tag.name for tag in tags.tags_of(db.session.get_one(Photo, photo_ids[3]))} == {"Trip"}
    assert page_errors == []
