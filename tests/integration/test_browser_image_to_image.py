"""Image to image in a real browser: "Use as starting image" on a photo's page, the strength slider, the
session, keeping a result, and the kept photo's page linking back to the photo it was made from.

Same live server, Chromium and CSRF-on app as test_browser.py (its fixtures imported); InvokeAI is the fake.
Screenshots of the form and of the lineage go to /tmp/shots-gen2 when that folder exists.
"""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect
from test_browser import (  # noqa: F401  (fixtures: pytest finds them by name in this module)
    base_url,
    browser_context_args,
    browser_type_launch_args,
    live_server,
    loaded_width,
    page,
    page_errors,
)

from app.services import photos

IMAGES_TIMEOUT = 15_000
SHOTS = Path("/tmp/shots-gen2")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.parametrize("database", ["sqlite"], indirect=True),
]


@pytest.fixture
def app_config(fake_invokeai) -> dict:
    return {"WTF_CSRF_ENABLED": True, "INVOKEAI_URL": fake_invokeai.url,
            "INVOKEAI_CONNECT_TIMEOUT": 2.0, "INVOKEAI_READ_TIMEOUT": 3.0, "INVOKEAI_DEADLINE": 5.0}


@pytest.fixture
def camera_photo(app, user_id, photos_dir) -> int:
    with app.app_context(), open(photos_dir / "camera" / "nikon-coolpix-p6000_gps.jpg", "rb") as stream:
        return photos.ingest_photo(stream, "harbour.jpg", user_id).id


def shoot(page: Page, name: str) -> None:
    if SHOTS.is_dir():
        for width in (400, 1400):
            page.set_viewport_size({"width": width, "height": 900})
            page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
        page.set_viewport_size({"width": 1280, "height": 900})


def generate_from_shown_photo(page: Page, strength: str, shots: str | None = None) -> None:
    """From the photo page shown: Use as starting image, the slider at `strength`, generate, keep, open the photo."""
    page.get_by_role("link", name="Use as starting image").click()
    expect(page.locator("h1")).to_have_text("Generate from a photo")
    assert loaded_width(page.locator(".starting-image img")) > 0
    expect(page.locator("[data-strength-value]")).to_have_text("0.75")
    page.locator("input[name=strength]").fill(strength)
    expect(page.locator("[data-strength-value]")).to_have_text(f"{float(strength):.2f}")
    page.get_by_role("textbox", name="Prompt", exact=True).fill("the harbour in watercolour")
    page.get_by_label("Width").fill("96")
    page.get_by_label("Height").fill("64")
    page.get_by_label("Steps").fill("2")
    if shots:
        shoot(page, shots)
    page.get_by_role("button", name="Generate from this photo").click()
    expect(page).to_have_url(re.compile(r"/generate/sessions/\d+$"))
    card = page.locator("ol.candidates > li.candidate")
    expect(card.locator("img")).to_have_count(1, timeout=IMAGES_TIMEOUT)
    card.get_by_role("button", name=re.compile("^Keep")).click()
    card.get_by_role("link", name=re.compile("photo|gallery|View", re.I)).first.click()
    expect(page).to_have_url(re.compile(r"/photos/\d+"))


def test_start_from_a_photo_keep_the_result_and_follow_its_lineage(page: Page, page_errors, camera_photo,
                                                                   fake_invokeai):
    page.goto(f"/photos/{camera_photo}")
    generate_from_shown_photo(page, "0.4", shots="generate-from-photo")
    assert fake_invokeai.enqueued_batches()[0]["graph"]["nodes"]["denoise"]["denoising_start"] == pytest.approx(0.6)
    made_from = page.locator("section.lineage [data-lineage=ancestors] a")
    expect(made_from).to_have_attribute("href", f"/photos/{camera_photo}")
    first_kept = page.url

    generate_from_shown_photo(page, "0.3")  # a second generation, from the kept image
    lineage = page.locator("section.lineage")
    expect(lineage.locator("h3")).to_have_text(["Made from"])
    expect(made_from).to_have_count(2)
    assert made_from.nth(0).get_attribute("href") == urlsplit(first_kept).path
    assert made_from.nth(1).get_attribute("href") == f"/photos/{camera_photo}"
    for img in made_from.locator("img").all():
        assert loaded_width(img) > 0
    shoot(page, "kept-photo-lineage")
    made_from.nth(1).click()
    expect(page.locator("section.lineage h3")).to_have_text(["Made from this"])
    expect(page.locator("section.lineage [data-lineage=descendants] a")).to_have_count(2)
    shoot(page, "source-photo-lineage")
    assert page_errors == []
