"""The admin's accounts page and a zip download in a real browser.

Same live server, Chromium and CSRF-on app as test_browser.py, whose fixtures this module imports.
GALLERY_SCREENSHOTS=<folder> keeps screenshots of the accounts page and the account page at 400 and 1400 px.
"""
from __future__ import annotations

import re
import zipfile

import pytest
from playwright.sync_api import Page, expect
from test_browser import (  # noqa: F401  (fixtures: pytest finds them by name in this module)
    base_url,
    browser_context_args,
    browser_type_launch_args,
    live_server,
    log_in,
)
from test_browser_selection import box, photo_ids, screenshot, tiles  # noqa: F401  (photo_ids: a fixture)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.parametrize("database", ["sqlite"], indirect=True),
]


def test_an_admin_creates_disables_and_deletes_accounts(page: Page, make_user, user_id, bob_id, password, accounts):
    make_user("root", is_admin=True)
    log_in(page, password, "root")
    page.locator("header.site").get_by_role("link", name="Accounts").click()
    expect(page.locator("h1")).to_have_text("Accounts")
    expect(page.locator("li.account-row")).to_have_count(3)

    page.get_by_label("User name").fill("carol")
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Password again").fill(password)
    page.get_by_role("button", name="Create account").click()
    expect(page.locator(".flashes")).to_have_text("Created the account carol.")
    expect(page.locator("li.account-row")).to_have_count(4)

    bob_row = page.locator("li.account-row", has_text="bob")
    bob_row.get_by_role("button", name="Disable").click()
    expect(page.locator(".flashes")).to_contain_text("Disabled bob")
    expect(bob_row.locator(".badge.off")).to_have_text("disabled")
    assert accounts()["bob"].disabled

    bob_row.get_by_text("Reset password").click()
    expect(bob_row.get_by_label("New password for bob")).to_be_visible()
    screenshot(page, "admin-accounts")

    page.locator("li.account-row", has_text="carol").get_by_role("link", name="Delete…").click()
    expect(page.locator("main")).to_contain_text("Delete carol and their 0 photos, with their files?")
    page.get_by_role("button", name="Delete carol and their photos").click()
    expect(page.locator(".flashes")).to_have_text("Deleted carol and 0 photos, with their files.")
    assert "carol" not in accounts()

    page.goto("/account")
    page.get_by_label("Display name").fill("The Root")
    page.get_by_role("button", name="Save name").click()
    expect(page.locator("header.site a.who")).to_have_text("The Root")
    screenshot(page, "account")


def test_download_a_selection_as_a_zip(page: Page, photo_ids, password):
    log_in(page, password)
    page.goto("/?sort=added")
    tiles(page).nth(0).hover()
    box(page, 0).click()
    box(page, 1).click()
    bar = page.locator("form#selection")
    bar.get_by_label("Action").select_option("download")
    with page.expect_download() as download:
        bar.get_by_role("button", name="Apply").click()
    assert download.value.suggested_filename == "photos.zip"
    with zipfile.ZipFile(download.value.path()) as archive:
        assert archive.testzip() is None
        assert sorted(archive.namelist()) == ["photo-4.jpg", "photo-5.jpg"]
    expect(page).to_have_url(re.compile(r"/\?sort=added$"))  # the grid stays where it was
