"""What the gallery promises a browser: security headers on every response, cookie flags,
image types for files, escaped text from untrusted names and metadata, no inline code,
and only the host names it was told to answer to."""
from __future__ import annotations

import io
import json

import pytest
from bs4 import BeautifulSoup
from PIL import ExifTags, Image
from PIL.PngImagePlugin import PngInfo
from testapp import jpeg
from werkzeug.http import parse_options_header

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; "
                               "frame-ancestors 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "SAMEORIGIN",
}
STATIC_SCRIPT = "/static/gallery.js"

# Probes for file names: a name may not hold / or \, so none of these does.
NAME_PROBES = [
    '"><svg onload=alert(1)>.jpg',
    "x' onerror='alert(1).jpg",
    "<img src=x onerror=alert(1)>.jpg",
    "' onmouseover='alert(1) .jpg",
    '"><script>alert(1)<script>.jpg',
]
# Probes for metadata, where anything goes.
SCRIPT_PROBE = '"><script>alert(1)</script>'
ATTRIBUTE_PROBE = "' onmouseover='alert(1)"
IMG_PROBE = "<img src=x onerror=alert(1)>"
SVG_PROBE = '"><svg onload=alert(1)>'


# --- helpers ------------------------------------------------------------------------------

def soup(response) -> BeautifulSoup:
    assert response.mimetype == "text/html"
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def assert_security_headers(response) -> None:
    assert {name: response.headers.get(name) for name in SECURITY_HEADERS} == SECURITY_HEADERS


def assert_nothing_injected(page: BeautifulSoup) -> None:
    """Only the gallery's own markup: its one external script, no event handlers, no SVG."""
    assert [script.get("src", "").split("?")[0] for script in page.find_all("script")] == [STATIC_SCRIPT]
    assert page.find("svg") is None
    assert page.find("img", src="x") is None
    handlers = [(tag.name, name) for tag in page.find_all(True) for name in tag.attrs if name.lower().startswith("on")]
    assert handlers == []


def assert_no_inline_code(page: BeautifulSoup) -> None:
    """What the Content-Security-Policy would block: inline scripts, handlers, styles, javascript: URLs."""
    assert_nothing_injected(page)
    assert all(not script.get_text().strip() for script in page.find_all("script"))
    assert page.find("style") is None
    assert page.find_all(style=True) == []
    links = [tag.get(name, "") for tag in page.find_all(True) for name in ("href", "src", "action")]
    assert not any(link.strip().lower().startswith("javascript:") for link in links)


def png(text: dict[str, str] | None = None) -> bytes:
    info = PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, value)
    buffer = io.BytesIO()
    Image.new("RGB", (60, 80), (10, 90, 200)).save(buffer, "PNG", pnginfo=info)
    return buffer.getvalue()


@pytest.fixture
def store(upload):
    """store(content, name) -> the id of the stored photo (alice's)."""
    def send(content: bytes, name: str) -> int:
        response = upload(content, name)
        assert response.status_code == 201, response.get_data(as_text=True)
        return response.get_json()["files"][0]["photo_id"]
    return send


@pytest.fixture
def photo_id(store) -> int:
    return store(jpeg(), "plain.jpg")


# --- headers on every response ------------------------------------------------------------

RESPONSES = {
    "grid page": lambda client, anonymous, photo_id: client.get("/"),
    "photo page": lambda client, anonymous, photo_id: client.get(f"/photos/{photo_id}"),
    "thumbnail image": lambda client, anonymous, photo_id: client.get(f"/thumbnails/{photo_id}/grid", buffered=True),
    "original download": lambda client, anonymous, photo_id: client.get(f"/photos/{photo_id}/original", buffered=True),
    "400 page": lambda client, anonymous, photo_id: client.post("/upload", data={}),
    "404 page": lambda client, anonymous, photo_id: client.get("/no/such/page"),
    "404 photo": lambda client, anonymous, photo_id: client.get(f"/photos/{photo_id + 1000}"),
    "405 page": lambda client, anonymous, photo_id: client.get("/logout"),
    "401 json": lambda client, anonymous, photo_id: anonymous.get("/", headers={"Accept": "application/json"}),
    "static file": lambda client, anonymous, photo_id: anonymous.get("/static/gallery.css", buffered=True),
    "login page": lambda client, anonymous, photo_id: anonymous.get("/login"),
    "redirect": lambda client, anonymous, photo_id: anonymous.get("/"),
    "304 not modified": lambda client, anonymous, photo_id: revalidate(client, f"/thumbnails/{photo_id}/grid"),
}


def revalidate(client, path: str):
    etag = client.get(path, buffered=True).headers["ETag"]
    response = client.get(path, headers={"If-None-Match": etag}, buffered=True)
    assert response.status_code == 304
    return response


@pytest.mark.parametrize("name", RESPONSES)
def test_every_response_carries_the_security_headers(name, client, anonymous, photo_id):
    response = RESPONSES[name](client, anonymous, photo_id)

    assert response.status_code < 500
    assert_security_headers(response)


def test_a_login_failure_and_the_throttle_page_carry_them_too(anonymous, user_id):
    for _ in range(10):
        failed = anonymous.post("/login", data={"username": "alice", "password": "wrong password"})
        assert failed.status_code == 401
    assert_security_headers(failed)

    throttled = anonymous.post("/login", data={"username": "alice", "password": "wrong password"})

    assert throttled.status_code == 429
    assert_security_headers(throttled)


# --- cookies ------------------------------------------------------------------------------

def session_cookie_flags(response) -> dict[str, str]:
    """The attributes of the session cookie a response sets, by lower-case name."""
    (cookie,) = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    attributes = [part.strip().partition("=") for part in cookie.split(";")[1:]]
    return {name.lower(): value for name, _, value in attributes}


@pytest.mark.parametrize("app_config, secure", [({}, False), ({"SECURE_COOKIES": True}, True)],
                         ids=["http", "https"])
def test_the_session_cookie_is_http_only_and_same_site(anonymous, user_id, password, app_config, secure):
    response = anonymous.post("/login", data={"username": "alice", "password": password})

    assert response.status_code == 302
    flags = session_cookie_flags(response)
    assert "httponly" in flags
    assert flags["samesite"] == "Lax"
    assert ("secure" in flags) is secure


# --- files are served as images -----------------------------------------------------------

HTML_IN_A_PNG = png({"Comment": "<html><script>alert(document.cookie)</script></html>"})


@pytest.mark.parametrize("content, name, original_type", [
    (jpeg(), "page.html", "image/jpeg"),
    (png(), "drawing.svg", "image/png"),
    (HTML_IN_A_PNG, "polyglot.htm", "image/png"),
    (jpeg(), "no-extension", "image/jpeg"),
])
def test_files_are_served_with_the_type_that_was_decoded(store, client, content, name, original_type):
    photo_id = store(content, name)

    original = client.get(f"/photos/{photo_id}/original", buffered=True)
    thumbnails = [client.get(f"/thumbnails/{photo_id}/{size}", buffered=True) for size in ("grid", "preview")]

    assert original.status_code == 200 and original.mimetype == original_type
    assert original.data == content
    assert parse_options_header(original.headers["Content-Disposition"])[0] == "attachment"
    assert [r.mimetype for r in thumbnails] == ["image/jpeg", "image/jpeg"]
    for response in [original, *thumbnails]:
        assert "html" not in response.content_type and "svg" not in response.content_type
        assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("name", [
    'quote"; filename="evil.html.jpg',
    "semi;colon, comma=equals.jpg",
    "Ünïcødé 写真 🙂.jpg",
    *NAME_PROBES,
])
def test_the_download_name_is_encoded_safely(store, client, name):
    photo_id = store(jpeg(), name)

    header = client.get(f"/photos/{photo_id}/original", buffered=True).headers["Content-Disposition"]

    assert header.isascii() and "\r" not in header and "\n" not in header
    assert parse_options_header(header) == ("attachment", {"filename": name})


@pytest.mark.parametrize("content, name, download", [
    (jpeg(), ".htaccess", "htaccess.jpg"),  # never a dotfile
    (jpeg(), "x.jpg.php", "x.jpg"),  # never another extension than the stored format's
    (jpeg(), "page.html", "page.jpg"),
    (jpeg(), "no-extension", "no-extension.jpg"),
    (jpeg(), "IMG_0001.JPEG", "IMG_0001.JPEG"),  # a usual extension of the format stays as it was
    (png(), "drawing.svg", "drawing.png"),
    (png(), "photo.jpg", "photo.png"),
])
def test_the_download_name_is_no_dotfile_and_ends_in_the_stored_format(store, client, content, name, download):
    photo_id = store(content, name)

    header = client.get(f"/photos/{photo_id}/original", buffered=True).headers["Content-Disposition"]

    assert parse_options_header(header) == ("attachment", {"filename": download})


# --- no inline code on any page -----------------------------------------------------------

def test_no_page_of_the_library_has_inline_code(client, upload, photo_id):
    pages = {
        "grid": client.get("/"),
        "grid, one source": client.get("/?source=uploaded"),
        "upload": client.get("/upload"),
        "results": upload(jpeg((1, 1, 1)), "another.jpg", json=False),
        "duplicate results": upload(jpeg((1, 1, 1)), "again.jpg", json=False),
        "rejected results": upload(b"not an image", "junk.jpg", json=False),
        "detail": client.get(f"/photos/{photo_id}"),
        "trash": client.get("/trash"),
        "empty trash confirm": client.get("/trash/empty"),
        "400": client.get("/?source=bogus"),
        "404": client.get("/photos/999999"),
        "405": client.get("/logout"),
        "login, signed in": client.get("/login"),
    }
    assert client.post(f"/photos/{photo_id}/delete").status_code == 302
    pages["flash with undo"] = client.get("/")
    pages["detail, in the trash"] = client.get(f"/photos/{photo_id}")
    pages["trash, with a photo"] = client.get("/trash")
    pages["delete forever confirm"] = client.get(f"/photos/{photo_id}/purge")
    for name, response in pages.items():
        assert response.mimetype == "text/html", name
        assert_no_inline_code(soup(response))


def test_no_page_before_login_has_inline_code(app, anonymous, make_user, password):
    pages = {"setup": anonymous.get("/setup"),
             "setup, refused": anonymous.post("/setup", data={"username": "a b", "password": "x", "confirm": "y"})}
    make_user("alice")
    pages["login"] = anonymous.get("/login?next=/upload")
    for _ in range(10):
        pages["login, refused"] = anonymous.post("/login", data={"username": "alice", "password": "wrong password"})
    pages["429"] = anonymous.post("/login", data={"username": "alice", "password": password})
    pages["404, anonymous"] = anonymous.get("/no/such/page")

    assert [pages[name].status_code for name in ("setup", "setup, refused", "login", "login, refused", "429")] == [
        200, 200, 200, 401, 429]
    for name, response in pages.items():
        assert response.mimetype == "text/html", name
        assert_no_inline_code(soup(response))


# --- untrusted text comes out as text -----------------------------------------------------

def assert_shown_as_text(page: BeautifulSoup, probe: str) -> None:
    assert_nothing_injected(page)
    assert probe in page.get_text()


@pytest.mark.parametrize("name", NAME_PROBES)
def test_a_hostile_file_name_is_text_on_every_page(client, upload, name):
    results = upload(jpeg(), name, json=False)
    assert results.status_code == 201
    page = soup(results)
    assert_shown_as_text(page, name)
    photo_id = int(page.select_one("table.outcomes a")["href"].rsplit("/", 1)[1])

    grid = soup(client.get("/"))
    assert_nothing_injected(grid)
    link = grid.select_one("ul.grid li a")
    assert (link["title"], link.img["alt"]) == (name, name)

    detail = soup(client.get(f"/photos/{photo_id}"))
    assert_shown_as_text(detail, name)
    assert detail.select_one("h1.photo-name").get_text() == name
    assert detail.select_one(".stage img")["alt"] == name
    assert name in detail.title.get_text()

    trashed = client.post(f"/photos/{photo_id}/delete", follow_redirects=True)
    assert_shown_as_text(soup(trashed), f"Moved {name} to the trash.")

    trash = soup(client.get("/trash"))
    assert_shown_as_text(trash, name)
    assert trash.select_one("ul.grid li img")["alt"] == name

    confirm = soup(client.get(f"/photos/{photo_id}/purge"))
    assert_shown_as_text(confirm, name)
    assert confirm.select_one("img.confirm-thumb")["alt"] == name

    deleted = client.post(f"/photos/{photo_id}/purge", follow_redirects=True)
    assert_shown_as_text(soup(deleted), f"Deleted {name} for good.")


def test_hostile_exif_text_is_text_on_the_photo_page(store, client):
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = SCRIPT_PROBE
    exif[ExifTags.Base.Model] = ATTRIBUTE_PROBE
    exif[ExifTags.Base.ImageDescription] = SVG_PROBE
    exif[ExifTags.Base.Artist] = IMG_PROBE
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.LensModel] = IMG_PROBE + SCRIPT_PROBE
    photo_id = store(jpeg(exif=exif), "exif.jpg")

    page = soup(client.get(f"/photos/{photo_id}"))

    assert_nothing_injected(page)
    rows = {row.th.get_text(): row.td.get_text() for row in page.select("table.metadata tr")}
    rows |= {row.dt.get_text(): row.dd.get_text() for row in page.select("dl.fact-list > div")}
    assert rows["Camera"] == f"{SCRIPT_PROBE} {ATTRIBUTE_PROBE}"
    assert rows["Lens"] == IMG_PROBE + SCRIPT_PROBE
    for tag, probe in [("Make", SCRIPT_PROBE), ("Model", ATTRIBUTE_PROBE), ("ImageDescription", SVG_PROBE),
                       ("Artist", IMG_PROBE), ("LensModel", IMG_PROBE + SCRIPT_PROBE)]:
        assert rows[tag] == probe


def test_a_hostile_invokeai_prompt_is_text_on_the_photo_page(store, client):
    metadata = {"positive_prompt": SCRIPT_PROBE, "negative_prompt": SVG_PROBE, "seed": 7, "steps": 20,
                "model": {"name": IMG_PROBE, "key": ATTRIBUTE_PROBE}, "scheduler": ATTRIBUTE_PROBE}
    photo_id = store(png({"invokeai_metadata": json.dumps(metadata)}), "generated.png")

    page = soup(client.get(f"/photos/{photo_id}"))

    assert_nothing_injected(page)
    rows = {row.dt.get_text(): row.dd.get_text() for row in page.select("section.generation dl > div")}
    rows["Prompt"] = page.select_one("#prompt-text").get_text()
    rows["Negative prompt"] = page.select_one("#negative-prompt-text").get_text()
    assert (rows["Prompt"], rows["Negative prompt"], rows["Model"], rows["Scheduler"]) == (
        SCRIPT_PROBE, SVG_PROBE, IMG_PROBE, ATTRIBUTE_PROBE)

    grid = soup(client.get("/"))  # the tile's alt is the prompt (services/tiles.py writes the tiles' HTML)
    assert_nothing_injected(grid)
    assert grid.select_one(f"ul.grid li#photo-{photo_id} img")["alt"] == SCRIPT_PROBE


@pytest.mark.parametrize("probe", [SCRIPT_PROBE, ATTRIBUTE_PROBE, IMG_PROBE, SVG_PROBE])
def test_what_the_login_and_setup_forms_echo_is_escaped(anonymous, make_user, probe):
    setup = soup(anonymous.post("/setup", data={"username": probe, "password": "s3cret passphrase",
                                                "confirm": "s3cret passphrase"}))
    assert_nothing_injected(setup)
    assert setup.select_one("input[name=username]")["value"] == probe

    make_user("alice")
    login = soup(anonymous.post("/login", data={"username": probe, "password": "wrong password", "next": probe}))
    assert_nothing_injected(login)
    assert login.select_one("input[name=username]")["value"] == probe
    assert login.select_one("input[name=next]")["value"] == probe

    carried = soup(anonymous.get("/login", query_string={"next": probe}))
    assert_nothing_injected(carried)
    assert carried.select_one("input[name=next]")["value"] == probe


# --- trusted hosts ------------------------------------------------------------------------

class TestTrustedHosts:
    @pytest.fixture
    def app_config(self):
        return {"TRUSTED_HOSTS": ["gallery.example"]}

    @pytest.mark.parametrize("method, path", [("GET", "/"), ("GET", "/login"), ("GET", "/static/gallery.css"),
                                              ("GET", "/photos/1"), ("GET", "/no/such/page"), ("POST", "/login")])
    @pytest.mark.parametrize("host", ["evil.example", "gallery.example.evil.example", "localhost"])
    def test_another_host_gets_400(self, anonymous, user_id, password, method, path, host):
        response = anonymous.open(path, method=method, headers={"Host": host},
                                  data={"username": "alice", "password": password} if method == "POST" else None)

        assert response.status_code == 400
        assert_security_headers(response)
        assert "Set-Cookie" not in response.headers

    @pytest.mark.parametrize("host", ["gallery.example", "gallery.example:8443"])
    def test_the_trusted_host_works(self, anonymous, user_id, password, host):
        base_url = f"http://{host}"

        assert anonymous.get("/static/gallery.css", base_url=base_url, buffered=True).status_code == 200
        assert anonymous.get("/", base_url=base_url).headers["Location"].startswith("/login")
        signed_in = anonymous.post("/login", base_url=base_url, data={"username": "alice", "password": password})
        assert signed_in.status_code == 302
        assert anonymous.get("/", base_url=base_url).status_code == 200
