"""The integration tests' app factory, sign-in, upload bodies and generate form, the corpus photos they
upload and the readers of what comes back (imported by conftest and tests; fixtures live in conftest)."""
from __future__ import annotations

import hashlib
import io
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import flask_migrate
from bs4 import BeautifulSoup
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import MetaData, create_engine, text
from werkzeug.security import generate_password_hash

from fake_invokeai import TINY_SD15
from app import create_app
from app.blueprints.auth import SESSION_TOKEN
from app.extensions import db
from app.models import User
from app.services.thumbnails import SIZES as THUMBNAIL_SIZES
from app.services.users import start_login_session

SECRET = "test-secret-key-" + "0" * 32
PASSWORD = "correct horse battery staple"  # every test user's (conftest's make_user)
PASSWORD_HASH = generate_password_hash(PASSWORD)  # made once: a real scrypt hash costs ~50 ms
NEW_PASSWORD = "a brand new passphrase"  # what a password change sets (every test user starts with conftest's)
JSON = {"Accept": "application/json"}  # the header of a request made by the page's script

# Photos of the shared corpus (../shared/photos) that many tests upload.
TINY_JPEG = "camera/canon-eos-40d_tiny.jpg"  # 100 x 68, 8 KB
GPS_JPEG = "camera/nikon-coolpix-p6000_gps.jpg"  # 640 x 480, 160 KB, with GPS
OTHER_GPS_JPEG = "camera/nikon-coolpix-p6000_gps2.jpg"  # the same camera, another picture
SIX_MP_JPEG = "camera/nikon-d70_6mp.jpg"  # 1.6 MB
TRANSPARENT_PNG = "formats/png-palette-transparent.png"


def make_app(database_url: str, data_dir: Path, **overrides):
    config = {"SECRET_KEY": SECRET, "DATABASE_URL": database_url, "DATA_DIR": str(data_dir),
              "TESTING": True, "WTF_CSRF_ENABLED": False, "CACHE_TYPE": "app.services.cache.MemoryCache",
              "INVOKEAI_URL": None,  # generation tests point it at their fake InvokeAI
              "MAP_TILE_URL": None}  # no test asks the public tile server: the map tests serve tiles on loopback
    config.update(overrides)
    return create_app(config)


def migrate_fresh(url: str, data_dir: Path) -> None:
    """Drop whatever a previous run left, then make the schema with `flask db upgrade`."""
    engine = create_engine(url)
    with engine.begin() as connection:
        existing = MetaData()
        existing.reflect(connection)
        existing.drop_all(connection)
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()
    app = make_app(url, data_dir)
    with app.app_context():
        flask_migrate.upgrade()
        db.session.remove()
        db.engine.dispose()


def invokeai_settings(fake) -> dict:
    """Settings that point the app at a fake InvokeAI, with timeouts short enough for tests."""
    return {"INVOKEAI_URL": fake.url, "INVOKEAI_READ_TIMEOUT": 1.0, "INVOKEAI_CONNECT_TIMEOUT": 1.0,
            "INVOKEAI_DEADLINE": 5.0}


GENERATE_FORM = {"prompt": "a lighthouse on a cliff at sunset", "negative_prompt": "blurry, text", "model": TINY_SD15,
                 "width": 64, "height": 72, "steps": 2, "cfg_scale": 7.5, "scheduler": "dpmpp_2m", "seed": "",
                 "count": 3}


def generate(client, **overrides) -> int:
    """POST the generate form (GENERATE_FORM with `overrides`) as a browser would; the new session's id."""
    response = client.post("/generate", data={**GENERATE_FORM, **overrides})
    assert response.status_code == 302, response.get_data(as_text=True)
    match = re.fullmatch(r"/generate/sessions/(\d+)", urlsplit(response.location).path)
    assert match, response.location
    return int(match[1])


def thumbnails_of(file_path: str, ext: str) -> set[str]:
    """The data-folder paths of the thumbnails of the original at photos/`file_path`."""
    stem = file_path.rsplit(".", 1)[0]
    return {f"thumbnails/{stem}.{size}.{ext}" for size in THUMBNAIL_SIZES}


def log_in(client, user_id: int):
    """Sign the test client in as a successful login would (see auth.start_session): a login session
    row, and its token in the session cookie."""
    with client.application.app_context():
        token = start_login_session(db.session.get(User, user_id), "test client", "127.0.0.1")
    with client.session_transaction() as session:
        session["_user_id"] = str(user_id)
        session["_fresh"] = True
        session[SESSION_TOKEN] = token
    return client


def sign_in(client, username: str, password: str, next: str | None = None, address: str = "127.0.0.1",
            csrf: bool = False):
    """POST the login form as a browser at `address` would (with the form's CSRF token when `csrf`);
    the response. `log_in` is the shortcut for tests that are not about signing in."""
    form = {"username": username, "password": password}
    if next is not None:
        form["next"] = next
    if csrf:
        form["csrf_token"] = csrf_token_of(client)
    return client.post("/login", data=form, environ_base={"REMOTE_ADDR": address})


def login_next(response) -> str | None:
    """The `next` of a redirect to the login page; None when it leads elsewhere."""
    location = urlsplit(response.headers.get("Location", ""))
    if location.path != "/login":
        return None
    return parse_qs(location.query).get("next", [""])[0]


def assert_hashed(stored: str, password: str) -> None:
    assert stored.startswith(("scrypt:", "pbkdf2:"))
    assert password not in stored


def csrf_token(html: str) -> str:
    """The CSRF token of a page's form (the test client's or the live server's answer's `.text`)."""
    return BeautifulSoup(html, "html.parser").select_one("input[name=csrf_token]")["value"]


def csrf_token_of(client) -> str:
    """A valid CSRF token of this test client's own session, read from the login page's form."""
    page = client.get("/login")
    assert page.status_code == 200, f"GET /login answered {page.status_code}"
    return csrf_token(page.text)


def page_text(response) -> str:
    """A page's words as a person reads them: the text of its HTML, white space folded."""
    return " ".join(BeautifulSoup(response.get_data(as_text=True), "html.parser").get_text(" ").split())


def heading(client, path: str = "/") -> str:
    """The heading of a grid page ("2 photos"), which counts the photos it lists."""
    page = client.get(path)
    assert page.status_code == 200, f"GET {path} answered {page.status_code}"
    return BeautifulSoup(page.get_data(as_text=True), "html.parser").select_one("section.toolbar h1").get_text()


def grid(client) -> tuple[str, set[int]]:
    """The grid's heading ("2 photos") and the ids of the photos it links to."""
    page = BeautifulSoup(client.get("/").get_data(as_text=True), "html.parser")
    ids = {int(a["href"].split("?")[0].rsplit("/", 1)[1]) for a in page.select("ul.grid li a")}
    return page.h1.get_text(strip=True), ids


def jpeg(colour=(120, 60, 30), exif: Image.Exif | None = None) -> bytes:
    """A small real JPEG (80 x 60); another colour makes other bytes."""
    buffer = io.BytesIO()
    Image.new("RGB", (80, 60), colour).save(buffer, "JPEG", **({"exif": exif} if exif else {}))
    return buffer.getvalue()


def upload_as(client, content: bytes, name: str) -> int:
    """Upload one small file with `client` (anyone's); the stored photo's id."""
    response = client.post("/upload", data={"photos": (io.BytesIO(content), name)}, headers=JSON)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()["files"][0]["photo_id"]


class BufferedClient(FlaskClient):
    """Reads and closes every answer (send_file's open file with it)."""

    def open(self, *args, **kwargs):
        kwargs.setdefault("buffered", True)
        return super().open(*args, **kwargs)


def upload_jpegs(app, user_id: int, colours: list[tuple[int, int, int]]) -> list[int]:
    """One small JPEG of each colour uploaded as `user_id` through the test client, in this order, named
    photo-0.jpg, photo-1.jpg ...; their ids (for a live server's tests, whose app checks CSRF tokens)."""
    client = log_in(app.test_client(), user_id)
    checks_csrf = app.config["WTF_CSRF_ENABLED"]
    app.config["WTF_CSRF_ENABLED"] = False  # the test client posts no token
    try:
        return [upload_as(client, jpeg(colour), f"photo-{i}.jpg") for i, colour in enumerate(colours)]
    finally:
        app.config["WTF_CSRF_ENABLED"] = checks_csrf


def sha256(content: bytes | Path) -> str:
    """The hex SHA-256 of bytes, or of a file's bytes."""
    return hashlib.sha256(content.read_bytes() if isinstance(content, Path) else content).hexdigest()


def multipart_body(files: list[tuple[bytes, str]]) -> tuple[bytes, str]:
    """A multipart body with each file in the form's `photos` field, as a browser sends it.

    Names travel as RFC 5987 `filename*=UTF-8''...` (Werkzeug decodes it), so quotes, NULs and
    newlines arrive exactly; and the body stays in memory, where the test client's own encoder
    spools bodies over 500 KB to a temp file it never closes (a ResourceWarning, so an error here).
    """
    boundary = "gallery-test-boundary-7d1f"
    def disposition(name: str) -> str:
        # An empty file input sends filename="" as browsers do.
        return f"filename*=UTF-8''{quote(name, safe='')}" if name else 'filename=""'

    parts = [(f'--{boundary}\r\nContent-Disposition: form-data; name="photos"; {disposition(name)}\r\n'
              "Content-Type: application/octet-stream\r\n\r\n").encode() + body + b"\r\n" for body, name in files]
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def run_together(requests: list, wait: float = 10) -> list:
    """Call each of `requests` (no arguments, returning a response) in its own thread, all at once;
    their responses in order. An exception in a request is raised here."""
    start = threading.Barrier(len(requests), timeout=wait)

    def run(send):
        start.wait()
        return send()

    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        futures = [pool.submit(run, send) for send in requests]
        return [future.result(timeout=wait * 3) for future in futures]
