"""A person in a real browser: Debian's Chromium, driven by Playwright, against a live server.

The app runs with CSRF on, so the real form, its hidden token and gallery.js's X-CSRFToken header are
what gets exercised. One backend is enough for a browser: these tests ask for SQLite only.
"""
from __future__ import annotations

import base64
import re
import shutil
import threading

import pytest
from playwright.sync_api import Page, expect
from werkzeug.serving import make_server

CHROMIUM = shutil.which("chromium")
GPS_PHOTO = "camera/nikon-coolpix-p6000_gps.jpg"  # NIKON COOLPIX P6000, taken 2008, with GPS
PORTRAIT = "orientation/portrait_6.jpg"  # no date (sorts as "now", so first in the grid), EXIF rotation 6
UPLOAD_FORM = "form[data-upload]"
UPLOAD_TIMEOUT = 20_000  # ms for a row to finish: each upload takes about half a second here

pytestmark = [
    pytest.mark.browser,
    # One backend is enough for a browser test: this replaces the sqlite/postgresql params of `database`.
    pytest.mark.parametrize("database", ["sqlite"], indirect=True),
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed: apt-get install chromium")
    # Headless unless pytest-playwright was asked for --headed; no sandbox (root in a container).
    return {"headless": True, **browser_type_launch_args, "executable_path": CHROMIUM,
            "chromium_sandbox": False, "args": ["--disable-gpu", "--disable-quic"]}


@pytest.fixture(scope="session")
def base_url() -> None:
    """Replaces pytest-playwright's own: the live server gives the URL (see browser_context_args).

    pytest-playwright 0.10.0 defines its fallback `base_url` as a session fixture on a plugin instance,
    which pytest 9.2 deprecates with a PytestRemovedIn10Warning: an error under filterwarnings = error.
    """
    return None


@pytest.fixture
def app_config() -> dict:
    return {"WTF_CSRF_ENABLED": True}


@pytest.fixture
def live_server(app):
    """The app on a free loopback port, served from a daemon thread; its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    # A short poll interval: shutdown() waits for the loop to notice, 0.5 s by default.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name="live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


@pytest.fixture
def browser_context_args(browser_context_args, live_server) -> dict:
    return {**browser_context_args, "base_url": live_server}


def log_in(page: Page, password: str, username: str = "alice") -> Page:
    """Sign in through the login form, as a person would."""
    page.goto("/login")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/$"))
    return page


@pytest.fixture
def page(page: Page, user_id, password) -> Page:
    """pytest-playwright's page, signed in as alice."""
    return log_in(page, password)


@pytest.fixture
def page_errors(page: Page) -> list[str]:
    """Uncaught JavaScript errors on `page` (a test asserts the list stays empty)."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def loaded_width(img) -> int:
    """naturalWidth once the image has loaded or failed (0 when broken: `complete` is true for those too)."""
    img.scroll_into_view_if_needed()  # the grid's images are loading="lazy"
    return img.evaluate("""img => img.complete ? img.naturalWidth : new Promise(done => {
        img.addEventListener("load", () => done(img.naturalWidth));
        img.addEventListener("error", () => done(0));
    })""")


def status_cells(page: Page):
    """The status <span> of each per-file row that gallery.js adds (the summary row has none)."""
    return page.locator(f"{UPLOAD_FORM} .upload-progress li:has(progress) > span:last-child")


def grid_images(page: Page):
    return page.locator("ul.grid img")


def test_upload_with_javascript_then_browse_and_use_the_arrow_keys(page: Page, page_errors, photos_dir):
    page.goto("/")
    expect(page.locator("h1")).to_have_text("0 photos")
    page.locator(f"{UPLOAD_FORM} input[type=file]").set_input_files(
        [photos_dir / GPS_PHOTO, photos_dir / PORTRAIT])
    page.locator(f"{UPLOAD_FORM} button[type=submit]").click()

    # gallery.js sent one XHR per file: still on the grid page, with one row per file ending "stored".
    expect(status_cells(page)).to_have_text(["stored", "stored"], timeout=UPLOAD_TIMEOUT)
    expect(page.locator(f"{UPLOAD_FORM} .upload-progress li:has(progress) > span:first-child")).to_have_text(
        ["nikon-coolpix-p6000_gps.jpg", "portrait_6.jpg"])
    for bar in page.locator(f"{UPLOAD_FORM} .upload-progress progress").all():
        assert bar.evaluate("bar => bar.value") == 100
    expect(page.locator(f"{UPLOAD_FORM} input[type=file]")).to_have_value("")

    page.get_by_role("link", name="2 stored. Show the gallery").click()
    expect(page.locator("h1")).to_have_text("2 photos")
    expect(grid_images(page)).to_have_count(2)
    # Newest first: the undated portrait sorts at its upload time, the 2008 photo after it.
    assert [img.get_attribute("alt") for img in grid_images(page).all()] == [
        "portrait_6.jpg", "nikon-coolpix-p6000_gps.jpg"]
    for img in grid_images(page).all():
        assert loaded_width(img) > 0, f"grid thumbnail {img.get_attribute('src')} did not load"

    grid_links = [a.get_attribute("href") for a in page.locator("ul.grid a").all()]
    page.locator("ul.grid a").first.click()
    expect(page).to_have_url(re.compile(re.escape(grid_links[0]) + "$"))
    preview = page.locator("img.preview")
    assert loaded_width(preview) > 0
    # Served upright: the EXIF rotation of the 1800 x 1200 original is applied.
    assert preview.evaluate("img => img.naturalHeight > img.naturalWidth")

    page.keyboard.press("ArrowRight")  # rel="next": the older photo
    expect(page).to_have_url(re.compile(re.escape(grid_links[1]) + "$"))
    assert loaded_width(page.locator("img.preview")) > 0
    panel = page.locator("details.info")
    expect(panel.locator("section.camera dl > div", has=page.locator("dt", has_text="Camera")).locator("dd")).to_have_text(
        "NIKON COOLPIX P6000")
    expect(panel.locator("dd.gps")).to_be_visible()
    expect(panel.locator(".date")).to_have_text("Taken 22 October 2008, 16:28")

    expect(page.locator('link[rel="next"]')).to_have_count(0)  # the oldest photo
    page.keyboard.press("ArrowRight")  # so nothing happens
    page.keyboard.press("ArrowLeft")  # rel="prev": back to the newer photo
    expect(page).to_have_url(re.compile(re.escape(grid_links[0]) + "$"))
    assert page_errors == []


def test_upload_without_javascript_lands_on_the_results_page(new_context, user_id, password, photos_dir):
    page = log_in(new_context(java_script_enabled=False).new_page(), password)
    page.goto("/upload")
    page.locator(f"{UPLOAD_FORM} input[type=file]").set_input_files(photos_dir / GPS_PHOTO)
    page.locator(f"{UPLOAD_FORM} button[type=submit]").click()

    expect(page.locator("h1")).to_have_text("Upload results")
    row = page.locator("table.outcomes tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_have_class("stored")
    expect(row.locator("td")).to_have_text(["nikon-coolpix-p6000_gps.jpg", "stored", "view photo"])

    row.get_by_role("link", name="view photo").click()
    expect(page.locator("details.info section.camera")).to_contain_text("NIKON COOLPIX P6000")
    assert loaded_width(page.locator("img.preview")) > 0


def test_a_file_that_is_not_an_image_is_rejected_in_its_row(page: Page, page_errors, tmp_path):
    fake = tmp_path / "holiday.jpg"
    fake.write_text("These are my notes, not a photo.\n")
    page.goto("/upload")
    page.locator(f"{UPLOAD_FORM} input[type=file]").set_input_files(fake)
    page.locator(f"{UPLOAD_FORM} button[type=submit]").click()

    status = status_cells(page)
    expect(status).to_have_count(1)
    expect(status).to_have_class("rejected", timeout=UPLOAD_TIMEOUT)
    expect(status).to_have_text(re.compile(r"^rejected: not an image the gallery can read"))

    page.get_by_role("link", name="0 stored. Show the gallery").click()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator("h1")).to_have_text("0 photos")
    expect(grid_images(page)).to_have_count(0)
    expect(page.locator("p.empty")).to_be_visible()
    assert page_errors == []


def drop_files(page: Page, paths) -> None:
    """Drop files on the upload form's drop zone, as a drag from the desktop would."""
    files = [{"name": p.name, "data": base64.b64encode(p.read_bytes()).decode()} for p in paths]
    page.locator(f"{UPLOAD_FORM} .dropzone").evaluate("""(zone, files) => {
        const transfer = new DataTransfer();
        for (const { name, data } of files) {
            const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
            transfer.items.add(new File([bytes], name, { type: "image/jpeg" }));
        }
        zone.dispatchEvent(new DragEvent("dragover", { dataTransfer: transfer, bubbles: true, cancelable: true }));
        zone.dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true }));
    }""", files)


def test_drop_photos_then_trash_one_undo_and_delete_it_forever(page: Page, page_errors, photos_dir):
    page.goto("/")
    # The same photo twice in one drop: the second is a duplicate, linked to the first.
    drop_files(page, [photos_dir / GPS_PHOTO, photos_dir / PORTRAIT, photos_dir / GPS_PHOTO])
    expect(status_cells(page)).to_have_text(["stored", "stored", "duplicate: view the existing photo"],
                                            timeout=UPLOAD_TIMEOUT)
    stored_href = status_cells(page).first.get_by_role("link").get_attribute("href")
    expect(status_cells(page).last.get_by_role("link")).to_have_attribute("href", stored_href)
    page.get_by_role("link", name="2 stored. Show the gallery").click()
    expect(grid_images(page)).to_have_count(2)

    page.locator('ul.grid a[title="nikon-coolpix-p6000_gps.jpg"]').click()
    expect(page).to_have_url(re.compile(r"/photos/\d+$"))
    detail_url = page.url
    page.get_by_role("button", name="Move to trash").click()

    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator(".flashes")).to_have_text(re.compile(r"Moved nikon-coolpix-p6000_gps.jpg to the trash\.\s*Undo"))
    expect(page.locator("h1")).to_have_text("1 photo")
    page.locator(".flashes").get_by_role("button", name="Undo").click()  # changing one's mind keeps it
    expect(page).to_have_url(detail_url)
    expect(page.locator(".flashes")).to_have_text("Restored nikon-coolpix-p6000_gps.jpg.")

    page.get_by_role("button", name="Move to trash").click()
    page.locator("header.site").get_by_role("link", name=re.compile("^Trash")).click()
    expect(page.locator("h1")).to_have_text("Trash · 1 photo")
    expect(page.locator("ul.grid li .name")).to_have_text(["nikon-coolpix-p6000_gps.jpg"])
    assert loaded_width(grid_images(page).first) > 0
    page.get_by_role("link", name="Delete forever…").click()
    expect(page).to_have_url(re.compile(r"/photos/\d+/purge$"))
    expect(page.locator("h1")).to_have_text("Delete this photo for good?")
    assert loaded_width(page.locator("img.confirm-thumb")) > 0
    page.get_by_role("link", name="Cancel").click()
    expect(page).to_have_url(re.compile(r"/trash$"))
    page.get_by_role("link", name="Delete forever…").click()
    page.get_by_role("button", name="Delete forever").click()

    expect(page).to_have_url(re.compile(r"/trash$"))
    expect(page.locator(".flashes")).to_have_text("Deleted nikon-coolpix-p6000_gps.jpg for good.")
    expect(page.locator("h1")).to_have_text("Trash · 0 photos")
    page.locator("header.site").get_by_role("link", name="Photos").click()
    expect(page.locator("h1")).to_have_text("1 photo")
    expect(grid_images(page)).to_have_count(1)
    expect(grid_images(page)).to_have_attribute("alt", "portrait_6.jpg")
    assert loaded_width(grid_images(page).first) > 0
    assert page.goto(detail_url).status == 404
    assert page_errors == []
