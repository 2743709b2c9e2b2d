"""Compare in a real browser: tick two tiles on the grid, choose Compare, and move the A/B slider with the
keyboard; the parameters table scrolls inside its box on a phone, never the page.

Same live server, Chromium and CSRF-on app as test_browser.py, whose fixtures this module imports.
GALLERY_SCREENSHOTS=<folder> keeps screenshots of the compare page (two with the slider, four) at 400 and
1400 px.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from test_browser import (  # fixtures: pytest finds them by name in this module
    base_url,
    browser_context_args,
    browser_type_launch_args,
    live_server,
    loaded_width,
    page,
    page_errors,
)
from testapp import csrf_token_of

# Named once here so that pyflakes sees them used: pytest uses them by name.
FIXTURES = (base_url, browser_context_args, browser_type_launch_args, live_server, page, page_errors)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.parametrize("database", ["sqlite"], indirect=True),
]

# Four real camera photos, two makers; uploaded in this order (the grid, newest added first, shows them reversed).
CAMERAS = ["camera/nikon-coolpix-p6000_gps.jpg", "camera/nikon-coolpix-p6000_gps2.jpg", "formats/denali.webp",
           "camera/nikon-d70_6mp.jpg"]


@pytest.fixture
def photo_ids(client, upload, photos_dir) -> list[int]:
    token = {"X-CSRFToken": csrf_token_of(client)}
    ids = []
    for name in CAMERAS:
        response = upload(photos_dir / name, headers=token)
        assert response.status_code == 201, response.json
        ids.append(response.json["files"][0]["photo_id"])
    return ids


def screenshot(page: Page, name: str) -> None:
    folder = os.environ.get("GALLERY_SCREENSHOTS")
    if folder:
        for width in (400, 1400):
            page.set_viewport_size({"width": width, "height": 900})
            page.screenshot(path=str(Path(folder) / f"{name}-{width}.png"), full_page=True)
        page.set_viewport_size({"width": 1280, "height": 720})


def split_of(page: Page) -> str:
    return page.locator("[data-ab-stage]").evaluate("stage => stage.style.getPropertyValue('--split')")


def test_tick_two_tiles_compare_them_and_move_the_slider_by_keyboard(page: Page, page_errors, photo_ids):
    page.goto("/?sort=added")
    tiles = page.locator("ul.grid li:not(.heading)")
    expect(tiles).to_have_count(4)
    for n in (0, 1):  # the Nikon D70 and the Canon 7D's webp
        tiles.nth(n).hover()
        tiles.nth(n).locator("input[type=checkbox]").check()
    bar = page.locator("form#selection")
    expect(bar.locator("[data-selected-count]")).to_have_text("2 selected")
    bar.get_by_label("Action").select_option("compare")
    bar.get_by_role("button", name="Apply").click()

    expect(page).to_have_url(re.compile(rf"/compare\?ids={photo_ids[3]}&ids={photo_ids[2]}$"))
    camera = page.locator("table.compare-table tr.differs", has=page.locator("th", has_text="Camera"))
    expect(camera).to_contain_text("NIKON D70")
    expect(camera.locator(".differs-mark")).to_be_visible()
    slider = page.locator("section.ab")
    expect(slider).to_be_visible()  # shown by compare.js
    assert split_of(page) == "50%"
    for img in slider.locator("img").all():
        assert loaded_width(img) > 0

    control = slider.get_by_label("Split between A (left) and B (right)")
    control.focus()
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    expect(control).to_have_value("55")
    assert split_of(page) == "55%"
    expect(control).to_have_attribute("aria-valuetext", "55 % A")
    screenshot(page, "compare-two")
    control.focus()
    page.keyboard.press("Home")
    assert split_of(page) == "0%"
    expect(control).to_have_attribute("aria-valuetext", "all B")
    # A clipped to nothing: B alone shows. End shows all of A.
    clip = page.locator("img.ab-a").evaluate("img => getComputedStyle(img).clipPath")
    assert clip.replace(" ", "").startswith("inset(0px100%0px0px") or "100%" in clip, clip
    page.keyboard.press("End")
    assert split_of(page) == "100%"
    assert page_errors == []


def test_four_side_by_side_and_the_table_scrolls_in_its_box_on_a_phone(page: Page, page_errors, photo_ids):
    page.goto("/compare?" + "&".join(f"ids={i}" for i in photo_ids))
    expect(page.locator("ol.compare-images img")).to_have_count(4)
    expect(page.locator("section.ab")).to_have_count(0)
    page.set_viewport_size({"width": 400, "height": 900})
    # Nothing of the page is wider than the window: the table scrolls inside its own box.
    assert page.evaluate("document.documentElement.scrollWidth") <= 400
    box = page.locator(".compare-table-box")
    assert box.evaluate("box => box.scrollWidth > box.clientWidth")
    for img in page.locator("ol.compare-images img").all():
        assert img.bounding_box()["width"] <= 200  # two across on a phone
    # "Only differences" hides the rows that are the same, without a script.
    same = page.locator("table.compare-table tr.same").first
    expect(same).to_be_visible()
    page.get_by_label("Only differences").check()
    expect(same).to_be_hidden()
    page.get_by_label("Only differences").uncheck()
    page.set_viewport_size({"width": 1280, "height": 720})
    screenshot(page, "compare-four")
    assert page_errors == []
