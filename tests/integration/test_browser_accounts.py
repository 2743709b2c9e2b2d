"""Accounts in a real browser: first-run setup, logging out and in, and photos that stay private.

Same live server, Chromium and CSRF-on app as test_browser.py, whose fixtures this module imports
(pytest registers fixtures imported into a test module). Unlike there, `page` here is
pytest-playwright's own: a fresh context nobody has signed in with, on a database with no users.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from test_browser import (  # noqa: F401  (fixtures: pytest finds them by name in this module)
    GPS_PHOTO,
    UPLOAD_FORM,
    UPLOAD_TIMEOUT,
    app_config,
    base_url,
    browser_context_args,
    browser_type_launch_args,
    grid_images,
    live_server,
    loaded_width,
    status_cells,
)

ADMIN = "admin"
ADMIN_PASSWORD = "a long and secret passphrase"
WRONG_PASSWORD_MESSAGE = "Unknown user name or wrong password."

pytestmark = [
    pytest.mark.browser,
    pytest.mark.parametrize("database", ["sqlite"], indirect=True),
]


def submit_login(page: Page, username: str, password: str) -> None:
    """Fill in the login form on the current page and send it (no expectation of where it lands)."""
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def log_out(page: Page) -> None:
    """The header's Log out button (a POST form with its CSRF token)."""
    page.locator("header.site").get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.locator(".flashes")).to_have_text("You are logged out.")
    expect(page.locator("header.site form.account")).to_have_count(0)


def expect_no_image(response, login_url: str) -> None:
    """A request for a photo's bytes after logout: sent to the login page or refused, never the image."""
    assert response.status in (302, 401) or response.url.startswith(login_url), (response.status, response.url)
    assert not response.headers.get("content-type", "").startswith("image/"), response.headers
    assert not response.body().startswith(b"\xff\xd8"), "JPEG bytes served after logout"


def test_first_run_setup_then_log_out_and_in_and_a_photo_stays_private(page: Page, photos_dir):
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    # No account yet: the gallery sends the first visitor to the setup page.
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/setup$"))
    expect(page.locator("h1")).to_have_text("Set up the gallery")
    expect(page.locator("header.site form.account")).to_have_count(0)

    # A typo in the second password: the form says so and keeps the name.
    page.get_by_label("Admin user name").fill(ADMIN)
    page.get_by_label("Password", exact=True).fill(ADMIN_PASSWORD)
    page.get_by_label("Password again").fill(ADMIN_PASSWORD + "x")
    page.get_by_role("button", name="Create the admin account").click()
    expect(page).to_have_url(re.compile(r"/setup$"))
    expect(page.locator(".field-error")).to_have_text("The passwords differ.")
    expect(page.get_by_label("Admin user name")).to_have_value(ADMIN)

    page.get_by_label("Password", exact=True).fill(ADMIN_PASSWORD)
    page.get_by_label("Password again").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Create the admin account").click()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator(".flashes")).to_have_text(f"Welcome, {ADMIN}. Your gallery is ready.")
    expect(page.locator("h1")).to_have_text("0 photos")
    expect(page.locator("header.site .who")).to_have_text(ADMIN)

    log_out(page)
    page.goto("/setup")  # setup is done once: now it leads to the login page
    expect(page).to_have_url(re.compile(r"/login$"))
    submit_login(page, ADMIN, ADMIN_PASSWORD)
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator("header.site .who")).to_have_text(ADMIN)

    # Upload through the form: gallery.js sends it with the X-CSRFToken header.
    page.locator(f"{UPLOAD_FORM} input[type=file]").set_input_files(photos_dir / GPS_PHOTO)
    page.locator(f"{UPLOAD_FORM} button[type=submit]").click()
    expect(status_cells(page)).to_have_text(["stored"], timeout=UPLOAD_TIMEOUT)
    page.get_by_role("link", name="1 stored. Show the gallery").click()
    expect(grid_images(page)).to_have_count(1)
    page.locator("ul.grid a").first.click()
    expect(page).to_have_url(re.compile(r"/photos/\d+$"))

    detail_url = page.url
    detail_path = re.sub(r"^https?://[^/]+", "", detail_url)
    preview = page.locator("img.preview")
    assert loaded_width(preview) > 0  # also puts the thumbnail in the browser's cache
    preview_url = preview.evaluate("img => img.src")
    original_url = page.get_by_role("link", name="Download original").evaluate("a => a.href")
    # Signed in, both URLs give the image: the checks after logout are not vacuous.
    for url in (preview_url, original_url):
        response = page.request.get(url)
        assert response.status == 200, (url, response.status)
        assert response.headers["content-type"] == "image/jpeg"
        assert response.body().startswith(b"\xff\xd8")

    log_out(page)
    login_url = re.sub(r"/photos/\d+$", "/login", detail_url)

    # The photo's page, its thumbnail and its original now lead to the login page, without bytes.
    for url in (preview_url, original_url):
        redirect = page.request.get(url, max_redirects=0)  # shares the context's (now anonymous) cookies
        assert redirect.status == 302, (url, redirect.status)
        assert redirect.headers["location"].startswith("/login?next="), redirect.headers
        expect_no_image(redirect, login_url)
        expect_no_image(page.request.get(url), login_url)  # following the redirect: the login page
        refused = page.request.get(url, headers={"Accept": "application/json"})
        assert refused.status == 401, (url, refused.status)
        expect_no_image(refused, login_url)
    for url in (preview_url, original_url):  # typed into the address bar: the browser's cache must not answer
        response = page.goto(url)
        expect(page).to_have_url(re.compile(r"/login\?next="))
        expect(page.locator("h1")).to_have_text("Log in")
        expect_no_image(response, login_url)

    page.goto(detail_url)
    expect(page).to_have_url(re.compile(r"/login\?next=" + re.escape(detail_path).replace("/", "(/|%2F)") + "$"))
    expect(page.locator("h1")).to_have_text("Log in")
    expect(page.locator("img")).to_have_count(0)

    # A wrong password keeps the visitor on the login page, saying so; the next page is not forgotten.
    submit_login(page, ADMIN, "not the password")
    expect(page).to_have_url(re.compile(r"/login(\?|$)"))
    expect(page.locator(".flashes")).to_have_text(WRONG_PASSWORD_MESSAGE)
    expect(page.locator("header.site form.account")).to_have_count(0)
    expect(page.get_by_label("User name")).to_have_value(ADMIN)
    expect(page.get_by_label("Password")).to_have_value("")

    submit_login(page, ADMIN, ADMIN_PASSWORD)
    expect(page).to_have_url(detail_url)  # back on the photo that was asked for
    assert loaded_width(page.locator("img.preview")) > 0
    assert errors == []


def test_wrong_password_and_unknown_user_stay_on_the_login_page(page: Page, make_user, password):
    make_user("alice")
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login\?next=(/|%2F)$"))

    for username, attempt in (("alice", "not the password"), ("nobody", password)):
        submit_login(page, username, attempt)
        expect(page).to_have_url(re.compile(r"/login(\?|$)"))
        expect(page.locator("h1")).to_have_text("Log in")
        expect(page.locator(".flashes")).to_have_text(WRONG_PASSWORD_MESSAGE)
        expect(page.locator("header.site form.account")).to_have_count(0)

    # A `next` that leaves the site is ignored: the gallery's own grid instead.
    page.goto("/login?next=//example.com/")
    submit_login(page, "alice", password)
    expect(page).to_have_url(re.compile(r"^http://127\.0\.0\.1:\d+/$"))
    expect(page.locator("header.site .who")).to_have_text("alice")


def test_the_account_page_changes_the_password_and_logs_out_everywhere(page: Page, browser, browser_context_args,
                                                                        make_user, password):
    """Two browsers signed in as alice: a password change in one ends the other's session and keeps its
    own; then "Log out everywhere" ends them all."""
    make_user("alice")
    new_password = "an even longer new passphrase"
    other = browser.new_context(**browser_context_args).new_page()
    try:
        for browser_page in (other, page):
            browser_page.goto("/login")
            submit_login(browser_page, "alice", password)
            expect(browser_page).to_have_url(re.compile(r"/$"))

        page.locator("header.site").get_by_role("link", name="alice").click()
        expect(page).to_have_url(re.compile(r"/account$"))
        expect(page.locator("h1")).to_have_text("alice")
        expect(page.locator(".sessions li")).to_have_count(2)
        expect(page.locator(".sessions li.current")).to_contain_text("this browser")

        page.get_by_label("Current password").fill("not the password")
        page.get_by_label("New password", exact=True).fill(new_password)
        page.get_by_label("New password again").fill(new_password)
        page.get_by_role("button", name="Change password").click()
        expect(page.locator(".field-error")).to_have_text("That is not your current password.")

        page.get_by_label("Current password").fill(password)
        page.get_by_label("New password", exact=True).fill(new_password)
        page.get_by_label("New password again").fill(new_password)
        page.get_by_role("button", name="Change password").click()
        expect(page).to_have_url(re.compile(r"/account$"))
        expect(page.locator(".flashes")).to_contain_text("Your password is changed.")
        expect(page.locator(".sessions li")).to_have_count(1)

        other.goto("/")  # the other browser's session ended with the old password
        expect(other).to_have_url(re.compile(r"/login\?next="))
        submit_login(other, "alice", new_password)
        expect(other).to_have_url(re.compile(r"/$"))

        page.reload()
        expect(page.locator(".sessions li")).to_have_count(2)
        page.get_by_role("button", name="Log out everywhere").click()
        expect(page).to_have_url(re.compile(r"/login$"))
        expect(page.locator(".flashes")).to_contain_text("You are logged out everywhere")
        other.goto("/")
        expect(other).to_have_url(re.compile(r"/login\?next="))
    finally:
        other.context.close()
