"""A share link in a real browser: made from an album's page, opened in a fresh context with no login
(its grid, a photo's page, the original's download), then gone once revoked from the owner's list.

Same live server, Chromium and CSRF-on app as test_browser.py, whose fixtures this module imports.
GALLERY_SCREENSHOTS=<folder> keeps screenshots of the share panel, the made link, the owner's list and the
shared pages at 400 and 1400 px.
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
    page,
    page_errors,
)
from test_browser_selection import photo_ids, screenshot, tiles  # noqa: F401  (photo_ids: a fixture)

from app.extensions import db
from app.models import User
from app.services import albums

pytestmark = [
    pytest.mark.browser,
    pytest.mark.parametrize("database", ["sqlite"], indirect=True),
]


def test_share_an_album_open_it_without_an_account_then_revoke(page: Page, page_errors, photo_ids, app, user_id,
                                                               new_context):
    with app.app_context():
        album_id = albums.create_album(db.session.get_one(User, user_id), "Lake weekend").id
        albums.add_photos(user_id, album_id, photo_ids[:3])
        albums.create_album(db.session.get_one(User, user_id), "Private things")
    page.goto(f"/photos/{photo_ids[0]}")
    page.locator(".info details.share-panel").get_by_text("Share…").click()
    expect(page.locator(".info form.share-form").get_by_label("Remove the location (GPS)")).to_be_checked()
    screenshot(page, "share-photo-panel")
    page.goto(f"/albums/{album_id}")
    page.locator(".album-tools").get_by_text("Share…").click()
    panel = page.locator("details.share-panel form")
    panel.get_by_label("Allow downloading the originals").check()
    screenshot(page, "share-album-panel")
    panel.get_by_role("button", name="Make a link").click()
    expect(page.locator("h1")).to_have_text("Your link is ready")
    url = page.locator("input[data-share-url]").input_value()
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/s/[A-Za-z0-9_-]{43}", url)
    screenshot(page, "share-created")

    visitor = new_context().new_page()  # no cookies: nobody signed in
    visitor_errors: list[str] = []
    visitor.on("pageerror", lambda error: visitor_errors.append(str(error)))
    visitor.goto(url)
    expect(visitor.locator("h1")).to_have_text("Lake weekend")
    expect(tiles(visitor)).to_have_count(3)
    expect(visitor.locator("header.site nav.sections")).to_have_count(0)
    assert "Private things" not in visitor.content()
    widths = [img.evaluate("img => img.decode().then(() => img.naturalWidth)") for img in
              visitor.locator("ul.grid img").all()]
    assert all(width > 0 for width in widths)
    screenshot(visitor, "share-public-grid")
    tiles(visitor).nth(0).locator("a").click()
    expect(visitor.locator("h1.photo-name")).to_have_text("photo-2.jpg")
    expect(visitor.locator("img.preview")).to_have_js_property("complete", True)
    with visitor.expect_download() as download:
        visitor.get_by_role("link", name="Download original").click()
    assert download.value.suggested_filename == "photo-2.jpg"
    screenshot(visitor, "share-public-photo")
    assert visitor_errors == []

    page.goto("/shares")
    expect(page.locator(".share-row")).to_have_count(1)
    expect(page.locator(".share-row .share-facts").first).to_contain_text("2 views")
    screenshot(page, "share-list")
    # Edit…: a password given later locks the visitor out of the pages already open to them.
    page.locator(".share-row summary").click()
    page.locator(".share-row form.share-form input[name=password]").fill("lake secrets")
    screenshot(page, "share-list-edit")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flashes")).to_contain_text("Saved the link's options")
    expect(page.locator(".share-row .share-facts").nth(1)).to_contain_text("password")
    visitor.goto(url)
    expect(visitor.locator("input[type=password]")).to_be_visible()
    page.get_by_role("button", name="Revoke the link to Album Lake weekend").click()
    expect(page.locator(".flashes")).to_contain_text("Revoked the link")
    assert visitor.goto(url).status == 404
    assert page_errors == []
