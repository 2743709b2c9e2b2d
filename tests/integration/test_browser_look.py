"""The look of the library in Chromium at 400 x 900 and 1400 x 1000: square and justified grids with date
headings, the Map page's clustered markers over tiles served on loopback (a marker opens its photo), the
photo page's small map, and the slideshow driven by the keyboard. Screenshots of each page are kept under
test-artifacts/look/ (ignored by git) for a person to look at.

Same live server, Chromium and CSRF-on app as test_browser.py, whose fixtures this module imports.
"""
from __future__ import annotations

import io
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

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
from PIL import Image, ImageDraw
from testapp import GPS_JPEG, OTHER_GPS_JPEG

from app.services import photos as photo_service

pytestmark = [
    pytest.mark.browser,
    pytest.mark.parametrize("database", ["sqlite"], indirect=True),
]

PORTRAIT_JPEG = "large/canon-eos-5d_13mp_portrait.jpg"
SIZES = {"phone": {"width": 400, "height": 900}, "wide": {"width": 1400, "height": 1000}}
ARTEFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "look"


def tile_png() -> bytes:
    """A map-like tile: a dark ground with a lighter grid of streets."""
    image = Image.new("RGB", (256, 256), (38, 46, 56))
    draw = ImageDraw.Draw(image)
    for at in range(0, 256, 64):
        draw.line([(at, 0), (at, 256)], fill=(70, 82, 96), width=3)
        draw.line([(0, at), (256, at)], fill=(70, 82, 96), width=3)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def tile_server():
    """Serves the same tile for every /tiles/{z}/{x}/{y}.png on a loopback port; (base URL, paths asked)."""
    body, asked = tile_png(), []

    class Tiles(BaseHTTPRequestHandler):
        def do_GET(self):
            asked.append(self.path)
            ok = re.fullmatch(r"/tiles/\d+/\d+/\d+\.png", self.path)
            self.send_response(200 if ok else 404)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body) if ok else 0))
            self.end_headers()
            if ok:
                self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Tiles)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", asked
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


@pytest.fixture
def app_config(tile_server) -> dict:
    return {"WTF_CSRF_ENABLED": True, "PAGE_SIZE": 30, "MAP_TILE_URL": tile_server[0] + "/tiles/{z}/{x}/{y}.png"}


@pytest.fixture
def photo_ids(app, user_id, photos_dir) -> list[int]:
    """Two geotagged camera photos, a portrait, and a dozen small photos of other shapes and colours."""
    files = [((photos_dir / name).read_bytes(), Path(name).name) for name in (GPS_JPEG, OTHER_GPS_JPEG, PORTRAIT_JPEG)]
    for i in range(12):
        size = [(80, 60), (60, 90), (120, 50), (70, 70)][i % 4]
        buffer = io.BytesIO()
        Image.new("RGB", size, (40 + 15 * i, 120 - 7 * i, 200 - 12 * i)).save(buffer, "JPEG")
        files.append((buffer.getvalue(), f"colour-{i}.jpg"))
    with app.app_context():
        return [photo_service.ingest_photo(io.BytesIO(content), name, user_id).id for content, name in files]


def shoot(page: Page, name: str) -> None:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTEFACTS / f"{name}.png"), full_page=False)


def overflow(page: Page) -> int:
    return page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")


def test_the_justified_grid_keeps_each_photos_shape_in_rows_of_one_height_under_date_headings(
        app, user_id, page: Page, page_errors, photo_ids):
    with app.app_context():
        photos = [photo_service.find_photo(user_id, photo_id) for photo_id in photo_ids]
        shapes = {photo.id: photo.width / photo.height for photo in photos}
    for name, size in SIZES.items():
        page.set_viewport_size(size)
        page.goto("/")
        expect(page.locator("ul.grid li.heading h2").first).to_be_visible()
        shoot(page, f"grid-square-{name}")
        assert overflow(page) == 0
    page.get_by_role("button", name="Justified").click()
    expect(page.locator(".layout-justified ul.grid")).to_be_visible()
    for name, size in SIZES.items():
        page.set_viewport_size(size)
        page.reload()
        boxes = page.evaluate("""() => Array.from(document.querySelectorAll("ul.grid li[id]")).map(li => {
            const box = li.getBoundingClientRect();
            return {id: Number(li.id.slice(6)), top: Math.round(box.top), width: box.width, height: box.height};
        })""")
        first_row = [b for b in boxes if b["top"] == boxes[0]["top"]]
        assert len(first_row) >= 2, (name, boxes[:4])
        assert max(b["height"] for b in first_row) - min(b["height"] for b in first_row) < 1.5
        for b in first_row:  # each tile is its photo's shape, to the 3 % of its aspect class
            assert b["width"] / b["height"] == pytest.approx(shapes[b["id"]], rel=0.035), b
        assert overflow(page) == 0
        shoot(page, f"grid-justified-{name}")
    assert page_errors == []


def test_the_map_page_clusters_the_geotagged_photos_over_loopback_tiles_and_a_marker_opens_its_photo(
        page: Page, page_errors, photo_ids, tile_server):
    _, asked = tile_server
    for name, size in SIZES.items():
        page.set_viewport_size(size)
        page.goto("/map")
        expect(page.locator("[data-map][data-ready='2']")).to_be_attached()
        expect(page.locator(".leaflet-marker-icon").first).to_be_visible()
        page.wait_for_function("() => Array.from(document.querySelectorAll('.leaflet-tile')).some(t => t.complete && t.naturalWidth)")
        shoot(page, f"map-{name}")
    assert asked and all(path.startswith("/tiles/") for path in asked)

    # Open clusters until a photo's own marker shows, then its popup and the photo.
    for _ in range(8):
        single = page.locator(".leaflet-marker-icon:not(.marker-cluster)")
        if single.count():
            break
        page.locator(".marker-cluster").first.click()
        page.wait_for_timeout(400)
    single.first.click()
    popup = page.locator("a.map-popup")
    expect(popup).to_be_visible()
    page.wait_for_function("() => getComputedStyle(document.querySelector('.leaflet-popup')).opacity === '1'")
    shoot(page, "map-popup-wide")
    popup.click()
    expect(page).to_have_url(re.compile(r"/photos/\d+$"))
    opened = int(page.url.rsplit("/", 1)[1])
    assert opened in photo_ids[:2]

    expect(page.locator(".photo-map .leaflet-marker-icon")).to_be_visible()
    page.locator(".photo-map").scroll_into_view_if_needed()
    shoot(page, "photo-map-wide")
    page.set_viewport_size(SIZES["phone"])
    page.locator(".photo-map").scroll_into_view_if_needed()
    shoot(page, "photo-map-phone")
    assert page_errors == []


def test_the_slideshow_runs_by_the_keyboard_pauses_steps_and_leaves(page: Page, page_errors, photo_ids):
    page.goto("/")
    page.get_by_role("link", name="Slideshow").click()
    expect(page).to_have_url(re.compile(r"/slideshow$"))
    show = page.locator("[data-slideshow]")
    position = page.locator("[data-position]")
    expect(position).to_have_text(f"1 / {len(photo_ids)}")
    page.keyboard.press("ArrowRight")
    expect(position).to_have_text(f"2 / {len(photo_ids)}")
    second = page.locator("[data-slide-image]").get_attribute("src")
    assert "/preview?" in second
    page.keyboard.press("Space")
    expect(show).to_have_class(re.compile(r"\bpaused\b"))
    expect(page.locator("[data-play]")).to_have_attribute("aria-pressed", "false")
    for name, size in SIZES.items():
        page.set_viewport_size(size)
        page.wait_for_function("() => document.querySelector('[data-slide-image]').complete")
        page.wait_for_timeout(400)  # the bar's fade in
        shoot(page, f"slideshow-{name}")
    page.keyboard.press("ArrowLeft")
    expect(position).to_have_text(f"1 / {len(photo_ids)}")

    page.locator("[data-interval-select]").select_option("3")
    page.keyboard.press("Space")  # plays again: after 3 s the next photo
    expect(position).to_have_text(f"2 / {len(photo_ids)}", timeout=6000)
    assert page.evaluate("() => localStorage.getItem('gallery.slideshow.interval')") == "3"

    page.keyboard.press("Escape")
    expect(page).to_have_url(re.compile(r"/$"))
    assert page_errors == []
