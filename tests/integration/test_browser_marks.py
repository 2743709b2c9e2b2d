"""Favourites, ratings and the grid's sort in a real browser: F and 0-5 on a photo's page, the heart on
a grid tile, the sort form, each without a reload; and the heart's plain form without JavaScript.

Same live server, Chromium and CSRF-on app as test_browser.py, whose fixtures this module imports.
The photos are uploaded through a test client of the same app (the same database and data folder).
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
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

pytestmark = [
    pytest.mark.browser,
    pytest.mark.parametrize("database", ["sqlite"], indirect=True),
]


@pytest.fixture
def photo_ids(app, user_id) -> list[int]:
    """Three of alice's photos, uploaded in this order (so the grid, newest first, shows them reversed)."""
    return upload_jpegs(app, user_id, [(200, 40, 40), (40, 200, 40), (40, 40, 200)])


def documents_loaded(page: Page) -> list[str]:
    """The URLs of every page the browser loads from now on (a reload or a form's POST would add one)."""
    loaded: list[str] = []
    page.on("request", lambda request: loaded.append(request.url) if request.resource_type == "document" else None)
    return loaded


def stars_pressed(page: Page):
    return page.locator('form[data-mark="rating"] button.star[aria-pressed="true"]')


def test_keys_on_a_photos_page_set_the_heart_and_the_stars(page: Page, page_errors, photo_ids):
    page.goto(f"/photos/{photo_ids[1]}")
    heart = page.locator('form[data-mark="favourite"] button')
    expect(heart).to_have_attribute("aria-pressed", "false")
    loaded = documents_loaded(page)

    page.keyboard.press("f")
    expect(heart).to_have_attribute("aria-pressed", "true")
    expect(heart).to_contain_text("Favourite")
    page.keyboard.press("3")
    expect(stars_pressed(page)).to_have_count(3)
    page.keyboard.press("5")
    expect(stars_pressed(page)).to_have_count(5)
    page.keyboard.press("Control+f")  # the browser's find, not the heart
    page.locator('button.star[data-stars="2"]').click()
    expect(stars_pressed(page)).to_have_count(2)
    assert loaded == [], "the marks were sent without loading a page"

    page.reload()  # what the gallery now holds
    expect(heart).to_have_attribute("aria-pressed", "true")
    expect(stars_pressed(page)).to_have_count(2)
    page.keyboard.press("F")
    page.keyboard.press("0")
    expect(heart).to_have_attribute("aria-pressed", "false")
    expect(stars_pressed(page)).to_have_count(0)
    page.reload()
    expect(heart).to_have_attribute("aria-pressed", "false")
    expect(stars_pressed(page)).to_have_count(0)
    assert page_errors == []


def test_keys_typed_into_a_field_are_not_marks(page: Page, page_errors, photo_ids):
    page.goto(f"/photos/{photo_ids[0]}")
    # The page has no text field of its own: one added as another script would.
    page.evaluate("""() => { const input = document.createElement("input"); input.id = "typing";
                             document.querySelector("main").prepend(input); }""")
    page.locator("#typing").fill("")
    page.locator("#typing").press_sequentially("f3")
    expect(page.locator("#typing")).to_have_value("f3")
    page.reload()
    expect(page.locator('form[data-mark="favourite"] button')).to_have_attribute("aria-pressed", "false")
    expect(stars_pressed(page)).to_have_count(0)
    assert page_errors == []


def test_the_grids_heart_toggles_without_a_reload_and_the_sort_form(page: Page, page_errors, photo_ids):
    page.goto("/")
    tiles = page.locator("ul.grid li:not(.heading)")
    expect(tiles).to_have_count(3)
    heart = tiles.nth(1).locator("button.heart")  # photo-1, the middle one
    expect(heart).to_be_visible()
    expect(heart).to_have_attribute("aria-pressed", "false")
    loaded = documents_loaded(page)
    heart.click()
    expect(heart).to_have_attribute("aria-pressed", "true")
    assert loaded == []

    page.reload()  # the grid's cached page was retired by the change
    expect(tiles.nth(1).locator("button.heart")).to_have_attribute("aria-pressed", "true")
    expect(tiles.nth(0).locator("button.heart")).to_have_attribute("aria-pressed", "false")

    # The sort form sends itself on change, with only what differs from the defaults in the URL.
    page.get_by_label("Order").select_option("oldest")
    expect(page).to_have_url(re.compile(r"/\?order=oldest$"))
    assert [img.get_attribute("alt") for img in page.locator("ul.grid img").all()] == [
        "photo-0.jpg", "photo-1.jpg", "photo-2.jpg"]
    page.get_by_label("♥ Favourites only").check()
    expect(page).to_have_url(re.compile(r"/\?order=oldest&favourites=1$"))
    expect(page.locator("ul.grid img")).to_have_count(1)
    expect(page.locator("ul.grid img")).to_have_attribute("alt", "photo-1.jpg")
    expect(page.locator("h1")).to_have_text("Favourites")

    page.locator("ul.grid a").first.click()  # the photo's page keeps the choice
    expect(page).to_have_url(re.compile(rf"/photos/{photo_ids[1]}\?order=oldest&favourites=1$"))
    expect(page.get_by_role("link", name="Grid")).to_have_attribute("href", f"/?order=oldest&favourites=1#photo-{photo_ids[1]}")
    assert page_errors == []


def test_the_heart_and_stars_without_javascript(new_context, user_id, password, photo_ids):
    page = log_in(new_context(java_script_enabled=False).new_page(), password)
    page.goto(f"/photos/{photo_ids[0]}?sort=added")
    page.get_by_role("button", name="Add to favourites").click()
    expect(page).to_have_url(re.compile(rf"/photos/{photo_ids[0]}\?sort=added$"))
    expect(page.locator('form[data-mark="favourite"] button')).to_have_attribute("aria-pressed", "true")
    page.get_by_role("button", name="4 stars").click()
    expect(page).to_have_url(re.compile(rf"/photos/{photo_ids[0]}\?sort=added$"))
    expect(stars_pressed(page)).to_have_count(4)
    page.goto("/")
    expect(page.locator("ul.grid button.heart").first).to_be_hidden()  # the grid's heart needs the script
