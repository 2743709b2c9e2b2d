"""The grid and a photo's page on a phone (400 x 900) and a wide screen (1400 x 1000), in Chromium: how
many columns, no sideways scroll, the information panel beside or under the photo, the arrows, Escape
back to the grid page the photo was opened from, swipe and zoom.

Same live server, Chromium and CSRF-on app as test_browser.py, whose fixtures this module imports.
The photos are uploaded through a test client of the same app.
"""
from __future__ import annotations

import io
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
from testapp import GPS_JPEG, jpeg

from app.services import photos as photo_service

pytestmark = [
    pytest.mark.browser,
    pytest.mark.parametrize("database", ["sqlite"], indirect=True),
]

PORTRAIT_JPEG = "large/canon-eos-5d_13mp_portrait.jpg"  # 2912 x 4368, dated 2005: the oldest photo
PHONE, WIDE = {"width": 400, "height": 900}, {"width": 1400, "height": 1000}
PAGE_SIZE = 6


@pytest.fixture
def app_config() -> dict:
    return {"WTF_CSRF_ENABLED": True, "PAGE_SIZE": PAGE_SIZE}


@pytest.fixture
def photo_ids(app, user_id, photos_dir) -> list[int]:
    """Two camera photos (a portrait, and a landscape with GPS), then ten small undated photos (so the
    grid, newest first, shows the small ones first); ids in upload order."""
    files = [(photos_dir / name).read_bytes() for name in (PORTRAIT_JPEG, GPS_JPEG)]
    files += [jpeg((20 * i, 90, 200 - 15 * i)) for i in range(10)]
    names = ["canon-eos-5d_13mp_portrait.jpg", "nikon-coolpix-p6000_gps.jpg"] + [f"small-{i}.jpg" for i in range(10)]
    with app.app_context():
        return [photo_service.ingest_photo(io.BytesIO(content), name, user_id).id for content, name in zip(files, names)]


def columns_and_overflow(page: Page) -> tuple[int, int]:
    """(tiles in the grid's first row, pixels the page scrolls sideways)."""
    return page.evaluate("""() => {
        const tops = Array.from(document.querySelectorAll("ul.grid li:not(.heading)")).map(li => li.getBoundingClientRect().top);
        return [tops.filter(top => Math.abs(top - tops[0]) < 1).length,
                document.documentElement.scrollWidth - document.documentElement.clientWidth];
    }""")


def on_page(page: Page, href: str) -> None:
    """Wait for `href` to be shown with its script run (a key pressed earlier would go unheard)."""
    expect(page).to_have_url(re.compile(re.escape(href) + "$"))
    page.wait_for_load_state("domcontentloaded")


def box(page: Page, selector: str) -> dict:
    return page.locator(selector).bounding_box()


def test_the_grid_is_three_across_on_a_phone_dense_on_a_wide_screen_and_never_scrolls_sideways(
        page: Page, page_errors, photo_ids):
    for size, fewest in ((PHONE, 3), (WIDE, 6)):
        page.set_viewport_size(size)
        page.goto("/")
        columns, overflow = columns_and_overflow(page)
        assert columns >= fewest and overflow == 0, (size, columns, overflow)
        header = box(page, "header.site")
        assert header["height"] < 110, header  # brand, sections and account in at most two lines
        logout = page.get_by_role("button", name="Log out").bounding_box()
        assert logout["height"] < 40 and logout["x"] + logout["width"] <= size["width"]  # on one line, on screen
    expect(page.locator("details.upload-panel")).not_to_have_attribute("open", "")  # folded above the photos

    # A disabled button looks disabled, and the keyboard's focus shows.
    looks = page.evaluate("""() => {
        const button = document.querySelector("form[data-arrange] button, details.upload-panel button");
        button.disabled = true;
        const style = getComputedStyle(button);
        return [Number(style.opacity), style.cursor];
    }""")
    assert looks[0] < 0.6 and looks[1] == "not-allowed", looks
    page.locator("ul.grid li a").first.focus()
    outline = page.evaluate("(s => [s.outlineStyle, s.outlineColor])(getComputedStyle(document.activeElement))")
    assert outline == ["solid", "rgb(108, 182, 255)"], outline  # the accent's ring, not the browser's faint default
    assert page_errors == []


def test_the_panel_is_beside_the_photo_on_a_wide_screen_and_under_it_on_a_phone(page: Page, page_errors, photo_ids):
    portrait = photo_ids[0]
    page.set_viewport_size(WIDE)
    page.goto(f"/photos/{portrait}")
    stage, panel = box(page, ".stage"), box(page, "details.info")
    assert panel["x"] >= stage["x"] + stage["width"] - 1 and panel["y"] < stage["y"] + stage["height"]
    assert stage["height"] <= WIDE["height"]  # the portrait photo fits the window...
    for control in ("Download original", "Move to trash"):  # ...and nothing is pushed below the fold
        control_box = page.get_by_role("button" if "trash" in control else "link", name=control).bounding_box()
        assert control_box["y"] + control_box["height"] <= WIDE["height"], control

    page.locator("details.info > summary").click()  # folded: the photo takes the width, and it stays so
    expect(page.locator("details.info")).not_to_have_attribute("open", "")
    assert box(page, ".stage")["width"] > stage["width"] + 200
    page.reload()
    expect(page.locator("details.info")).not_to_have_attribute("open", "")
    page.keyboard.press("i")
    expect(page.locator("details.info")).to_have_attribute("open", "")

    page.set_viewport_size(PHONE)
    page.goto(f"/photos/{photo_ids[1]}")
    stage, panel = box(page, ".stage"), box(page, "details.info")
    assert panel["y"] >= stage["y"] + stage["height"] - 1
    assert stage["height"] < PHONE["height"] * 0.6  # a landscape photo leaves the panel in sight
    assert page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") == 0
    assert page_errors == []


def test_arrows_go_to_the_neighbours_and_escape_back_to_the_grid_page_it_came_from(page: Page, page_errors, photo_ids):
    page.set_viewport_size(WIDE)
    page.goto("/")
    page.locator("nav.pager a[rel=next]").click()  # the second page: the older photos
    expect(page).to_have_url(re.compile(r"\?older="))
    grid_url = page.url
    tiles = page.locator("ul.grid li a")
    hrefs = [a.get_attribute("href") for a in tiles.all()]
    tiles.nth(1).click()
    on_page(page, hrefs[1])

    page.keyboard.press("ArrowRight")  # the next tile of the same page
    on_page(page, hrefs[2])
    page.keyboard.press("ArrowLeft")
    on_page(page, hrefs[1])
    page.keyboard.press("ArrowRight")
    on_page(page, hrefs[2])
    photo_id = re.search(r"/photos/(\d+)", hrefs[2])[1]

    page.keyboard.press("Escape")
    expect(page).to_have_url(f"{grid_url}#photo-{photo_id}")
    expect(page.locator(f"#photo-{photo_id} a")).to_be_focused()
    assert page_errors == []


def test_a_click_zooms_to_the_originals_pixels_and_a_swipe_steps_on(page: Page, page_errors, photo_ids):
    page.set_viewport_size(PHONE)
    page.goto(f"/photos/{photo_ids[1]}")  # 640 x 480: its preview is the whole photo
    newer = page.locator('link[rel="prev"]').get_attribute("href")
    image = page.locator(".frame img.preview")
    image.click()
    expect(page.locator(".frame")).to_have_class(re.compile(r"\bzoomed\b"))
    expect(page.locator("[data-zoom-toggle]")).to_have_attribute("aria-pressed", "true")
    assert image.evaluate("img => img.getBoundingClientRect().width") == 640  # one pixel of the original each
    page.keyboard.press("Escape")  # zoomed out first, still on the photo
    expect(page.locator(".frame")).not_to_have_class(re.compile(r"\bzoomed\b"))

    frame = page.locator(".frame")
    middle = frame.bounding_box()
    x, y = middle["x"] + middle["width"] / 2, middle["y"] + middle["height"] / 2
    for kind, at in (("pointerdown", x - 80), ("pointermove", x), ("pointerup", x + 80)):  # a finger swipes right
        frame.dispatch_event(kind, {"pointerType": "touch", "clientX": at, "clientY": y, "button": 0,
                                    "isPrimary": True, "bubbles": True})
    on_page(page, newer)
    expect(page.locator("[data-zoom-toggle]")).to_be_hidden()  # an 80 x 60 photo: nothing more to see
    page.locator(".frame img.preview").click()
    expect(page.locator(".frame")).not_to_have_class(re.compile(r"\bzoomed\b"))
    assert page_errors == []


def test_in_an_albums_photo_the_keys_step_through_the_album_and_escape_goes_back_to_it(
        app, user_id, page: Page, page_errors, photo_ids):
    """On a phone and a wide screen: the photos between the album's are skipped."""
    from app.extensions import db
    from app.models import User
    from app.services import albums
    with app.app_context():
        album = albums.create_album(db.session.get(User, user_id), "Every other")
        albums.add_photos(user_id, album.id, photo_ids[2::2])
        album_id = album.id
    for size in (PHONE, WIDE):
        page.set_viewport_size(size)
        page.goto(f"/albums/{album_id}")
        hrefs = [a.get_attribute("href") for a in page.locator("ul.grid li a").all()]
        assert [int(re.search(r"/photos/(\d+)", href)[1]) for href in hrefs] == photo_ids[2::2][::-1][:PAGE_SIZE]
        page.locator("ul.grid li a").nth(1).click()
        on_page(page, hrefs[1])
        page.keyboard.press("ArrowRight")
        on_page(page, hrefs[2])
        page.keyboard.press("ArrowLeft")
        on_page(page, hrefs[1])
        page.keyboard.press("Escape")
        expect(page).to_have_url(re.compile(rf"/albums/{album_id}#photo-{photo_ids[2::2][::-1][1]}$"))
    assert page_errors == []
