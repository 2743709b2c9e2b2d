"""Every rule in the app's URL map, walked: what each one refuses, to whom, and that refusing changes nothing.

The cases are made from the URL map itself, so a route added later is covered without anyone adding
it here. A route whose URL takes an argument `Gallery.values` has no value for fails
test_every_url_argument_has_a_value (and every case of that route), saying which to add.

"Nothing changes" is checked by a snapshot of every table's rows, every file under data/ (path and
sha256) and every write request the (fake) InvokeAI server received, taken before and after the request.
"""
from __future__ import annotations

import secrets
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import api_contract
from fake_invokeai import FakeInvokeAI
from testapp import JSON, PASSWORD, PASSWORD_HASH, csrf_token_of, log_in, make_app, migrate_fresh, sha256, sign_in
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from werkzeug.routing import Rule

from app import create_app
from app.blueprints.auth import PUBLIC_ENDPOINTS
from app.extensions import db
from app.models import GenerationImage, GenerationSession, Photo, User
from app.services.albums import add_photos, create_album
from app.services.shares import ShareOptions, share_album
from app.services.tags import tag_photos
from app.services.thumbnails import SIZES as THUMBNAIL_SIZES
from app.services.tokens import create_token

ALICES_PHOTO = "camera/canon-eos-40d_tiny.jpg"
ALICES_CANDIDATE = "formats/density-plot.png"  # a generated image of hers, downloaded, not kept yet
FRESH_PHOTO = "formats/png-16bit-rgb.png"  # in nobody's gallery: a refused upload would store it

# The only endpoints an anonymous visitor may reach: the way in, and what a share link opens (its token is the key).
SHARED = {"shares.public_page", "shares.unlock", "shares.public_photo", "shares.public_thumbnail",
          "shares.public_original"}
PUBLIC = {"auth.login", "auth.setup", "static"} | SHARED
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
IMPLICIT_METHODS = {"HEAD", "OPTIONS"}  # added to every rule by Werkzeug and Flask


@pytest.fixture
def app_config(fake_invokeai):
    # Maps on (the map's JSON is a 404 while they are off); no tile is asked for: no browser here.
    return {"WTF_CSRF_ENABLED": True, "INVOKEAI_URL": fake_invokeai.url,
            "MAP_TILE_URL": "http://127.0.0.1:9/tiles/{z}/{x}/{y}.png"}


# --- the rule table, read at collection time from an app that never touches its database ----

def read_rule_table() -> list[Rule]:
    with tempfile.TemporaryDirectory() as tmp:
        throwaway = create_app({"SECRET_KEY": "route-table-" + "0" * 32, "DATA_DIR": f"{tmp}/data",
                                "DATABASE_URL": f"sqlite:///{tmp}/never-opened.db"})
        return sorted(throwaway.url_map.iter_rules(), key=lambda rule: (rule.endpoint, rule.rule))


RULES = read_rule_table()


def cases(keep) -> list:
    """(rule, method) for each explicit method of each rule that keep(rule, method) accepts."""
    return [pytest.param(rule, method, id=f"{rule.endpoint}-{method}")
            for rule in RULES for method in sorted(rule.methods - IMPLICIT_METHODS) if keep(rule, method)]


def takes_an_id(rule: Rule) -> bool:
    """Whether the rule names something of an account's by id; a share link's URLs open the owner's photos
    to whoever has its token (tests/integration/test_shares.py holds them to their link)."""
    return any(name.endswith("_id") for name in rule.arguments) and "token" not in rule.arguments


def in_api(rule: Rule) -> bool:
    """The JSON API's rules (/api/v1): a write there needs a bearer token, which no other site can send,
    instead of a CSRF token; the session cookie alone may only read, and an error is problem+json."""
    return rule.endpoint.startswith("api.")


WRITES = cases(lambda rule, method: method in WRITE_METHODS)
PRIVATE_WRITES = cases(lambda rule, method: method in WRITE_METHODS and rule.endpoint not in PUBLIC)
GETS = cases(lambda rule, method: method == "GET")
PRIVATE_GETS = cases(lambda rule, method: method == "GET" and rule.endpoint not in PUBLIC)
ID_CASES = cases(lambda rule, method: takes_an_id(rule))
ID_GETS = cases(lambda rule, method: takes_an_id(rule) and method == "GET")


# --- helpers ------------------------------------------------------------------------------

def fill_url(rule: Rule, values: dict) -> str:
    unknown = sorted(rule.arguments - values.keys())
    if unknown:
        pytest.fail(f"{rule.endpoint} ({rule.rule}) takes {', '.join(unknown)}, which Gallery.values in "
                    f"{Path(__file__).name} has no value for: add one (for an id, one of something alice owns)")
    return rule.build({name: values[name] for name in rule.arguments}, append_unknown=False)[1]


# What a GET may change: a share link's count of views and its last use (what its owner's list shows), and
# the stripped copies a link's originals are served from (data/shares/: a cache, made like thumbnails).
COUNTERS = {"share_links": {"views", "last_used_at"}}
CACHES = ("shares/",)


def snapshot(app, invokeai) -> dict:
    """Every row of every table (but COUNTERS), every file under data/ (but CACHES) with its sha256, every
    write InvokeAI was sent."""
    with app.app_context():
        rows = {table.name: [tuple(row) for row in db.session.execute(
                    select(*(column for column in table.columns if column.name not in COUNTERS.get(table.name, ())))
                    .order_by(*(table.primary_key.columns or table.columns)))]
                for table in db.metadata.sorted_tables}
    data_dir = Path(app.config["DATA_DIR"])
    files = {str(path.relative_to(data_dir)): sha256(path)
             for path in sorted(data_dir.rglob("*"))
             if path.is_file() and not str(path.relative_to(data_dir)).startswith(CACHES)}
    writes = [(logged.method, logged.path) for logged in invokeai.requests if logged.method in WRITE_METHODS]
    return {"rows": rows, "files": files, "invokeai": writes}


def send(client: FlaskClient, method: str, url: str, data: dict | None = None, headers: dict | None = None):
    # buffered: the response is read and closed, so no file of send_file stays open
    return client.open(url, method=method, data=data, headers=headers, buffered=True)


def refused_for_csrf(response) -> bool:
    """The error handler's JSON answer to a missing or wrong token (CSRFProtect runs before any view)."""
    return response.status_code == 400 and response.is_json and "CSRF" in response.json.get("error", "")


def assert_cookie_write_refusal(response) -> None:
    """The API's answer to a write that a session cookie alone (with or without a CSRF token) sends."""
    assert response.status_code == 403, f"answered {response.status_code}, not the API's 403 for a cookie-only write"
    assert response.mimetype == "application/problem+json" and "token" in response.json["detail"], response.json


def assert_csrf_refusal(response) -> None:
    assert response.status_code == 400, f"answered {response.status_code}, not the 400 of a CSRF refusal"
    assert refused_for_csrf(response), f"refused, but not for its CSRF token: {response.get_data(as_text=True)}"


# --- the gallery every test starts from -----------------------------------------------------

@dataclass
class Gallery:
    """alice, signed in, an admin, with one photo (tagged, in an album) and one generated candidate; bob,
    signed in, with nothing."""

    app: Flask
    invokeai: FakeInvokeAI
    alice: FlaskClient
    bob: FlaskClient
    ids: dict[str, int]  # URL argument -> the id of something alice owns
    token: str  # of alice's share link of her album
    bearer: dict[str, dict]  # alice's and bob's API tokens, as the Authorization header that sends them
    secrets: list[bytes]  # every file of alice's: photo, candidate, their thumbnails
    fresh_photo: bytes

    @property
    def values(self) -> dict:
        """A value for every URL argument any rule takes."""
        return self.ids | {"size": "grid", "filename": "gallery.css", "token": self.token}

    def snapshot(self) -> dict:
        return snapshot(self.app, self.invokeai)

    def form(self, token: str | None = None) -> dict:
        """A body that would do something on any form route if accepted: store a new photo, make an account."""
        form = {"photos": (BytesIO(self.fresh_photo), Path(FRESH_PHOTO).name), "username": "mallory",
                "password": "mallory's password", "confirm": "mallory's password", "prompt": "a lighthouse"}
        return form | ({"csrf_token": token} if token else {})

    def assert_no_secret_in(self, response) -> None:
        assert not response.mimetype.startswith("image/"), f"sent an image ({response.mimetype})"
        assert not any(secret in response.data for secret in self.secrets), "sent the bytes of alice's files"


def add_candidate(app, owner_id: int, original: Path, thumbnails: dict[str, bytes]) -> tuple[int, int]:
    """A finished generation session of `owner_id` with one downloaded candidate: (session id, image id)."""
    with app.app_context():
        session = GenerationSession(owner_id=owner_id, batch_id="route-table-batch", prompt="a lighthouse",
                                    model_key="sd-1-key", model_name="sd-1 model", model_hash="blake3:0",
                                    model_base="sd-1", width=512, height=512, steps=20, cfg_scale=7.5,
                                    scheduler="euler", item_ids=[1])
        content = original.read_bytes()
        with Image.open(original) as decoded:
            width, height = decoded.size
        image = GenerationImage(seed_index=0, seed=1234, item_id=1, state="done", image_name="invokeai.png",
                                thumbnail_ext="jpg", sha256=sha256(content), format="PNG",
                                file_size=len(content), image_width=width, image_height=height)
        session.images.append(image)
        db.session.add(session)
        db.session.flush()
        image.file_path = f"generated/sessions/{session.id}/{'a' * 16}.png"
        root = Path(app.config["DATA_DIR"]) / "photos"
        for relative, data in [(image.file_path, content)] + [(image.thumbnail_path(size), thumbnails[size])
                                                               for size in THUMBNAIL_SIZES]:
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            (root / relative).write_bytes(data)
        db.session.commit()
        return session.id, image.id


def build_gallery(app: Flask, invokeai: FakeInvokeAI, photos_dir: Path) -> Gallery:
    """alice (signed in, the admin) with her photo, tag, album, share link, candidate and API token; bob
    (signed in through the form) with his token and nothing else."""
    alice_id, bob_id = (add_user(app, name) for name in ("alice", "bob"))
    alice = log_in(app.test_client(), alice_id)
    with (photos_dir / ALICES_PHOTO).open("rb") as original:
        stored = alice.post("/upload", data={"photos": (original, Path(ALICES_PHOTO).name)},
                            headers={**JSON, "X-CSRFToken": csrf_token_of(alice)})
    assert stored.status_code == 201, stored.json
    photo_id = stored.json["files"][0]["photo_id"]
    root = Path(app.config["DATA_DIR"]) / "photos"
    with app.app_context():
        photo = db.session.get_one(Photo, photo_id)
        thumbnails = {size: (root / photo.thumbnail_path(size)).read_bytes() for size in THUMBNAIL_SIZES}
    session_id, image_id = add_candidate(app, alice_id, photos_dir / ALICES_CANDIDATE, thumbnails)
    bob = app.test_client()
    signed_in = sign_in(bob, "bob", PASSWORD, csrf=True)
    assert signed_in.status_code == 302, f"bob could not log in: {signed_in.status_code}"
    files = [path for path in Path(app.config["DATA_DIR"]).rglob("*") if path.is_file()]
    assert len(files) == 2 * (1 + len(THUMBNAIL_SIZES)), f"expected two originals and their thumbnails: {files}"
    with app.app_context():
        tag_id = tag_photos(db.session.get_one(User, alice_id), [photo_id], ["lighthouse"])[0].id
        album_id = create_album(db.session.get_one(User, alice_id), "Lighthouses").id
        add_photos(alice_id, album_id, [photo_id])
        link, token = share_album(db.session.get_one(User, alice_id), album_id, False,
                                  ShareOptions(allow_originals=True, strip_gps=True))
        share_id = link.id
        # alice is the admin, so the admin's pages are hers to reach and bob's to be refused; the account
        # they act on is bob's (hers would be refused to her as her own).
        db.session.get_one(User, alice_id).is_admin = True
        db.session.commit()
        api_token, alices_secret = create_token(db.session.get_one(User, alice_id), "alice's script")
        token_id = api_token.id
        bobs_secret = create_token(db.session.get_one(User, bob_id), "bob's script")[1]
    ids = {"photo_id": photo_id, "session_id": session_id, "image_id": image_id, "tag_id": tag_id,
           "album_id": album_id, "share_id": share_id, "account_id": bob_id, "token_id": token_id}
    bearer = {name: {"Authorization": f"Bearer {secret}"} for name, secret in
              (("alice", alices_secret), ("bob", bobs_secret))}
    return Gallery(app, invokeai, alice, bob, ids, token, bearer, [path.read_bytes() for path in files],
                   (photos_dir / FRESH_PHOTO).read_bytes())


def add_user(app: Flask, username: str) -> int:
    with app.app_context():
        user = User(username=username, password_hash=PASSWORD_HASH)
        db.session.add(user)
        db.session.commit()
        return user.id


@contextmanager
def database_of_its_own(database, work: Path):
    """A migrated database for this module's gallery alone: the per-test `app` of the other tests here
    empties the shared PostgreSQL database after each of them."""
    if database.backend == "sqlite":
        yield database.url_for_test(work)
        return
    base = make_url(database.url)
    name = f"{base.database}_routes_{secrets.token_hex(4)}"
    server = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        url = base.set(database=name).render_as_string(hide_password=False)
        migrate_fresh(url, work / "migrations")
        yield url
    finally:
        with server.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()


@pytest.fixture(scope="module")
def gallery(database, tmp_path_factory, photos_dir) -> Gallery:
    """One gallery for every test of this module that must change nothing (each checks that it did not,
    with a snapshot before and after): built once per database instead of once per case, which is most
    of this module's time. The tests whose requests do change something take `fresh_gallery`."""
    work = tmp_path_factory.mktemp("route-table")
    invokeai = FakeInvokeAI().start()
    try:
        with database_of_its_own(database, work) as url:
            app = make_app(url, work / "data", WTF_CSRF_ENABLED=True, INVOKEAI_URL=invokeai.url,
                           MAP_TILE_URL="http://127.0.0.1:9/tiles/{z}/{x}/{y}.png")
            broken_contract = api_contract.watch(app)
            try:
                yield build_gallery(app, invokeai, photos_dir)
            finally:
                if "invokeai" in app.extensions:
                    app.extensions["invokeai"].close()
                with app.app_context():
                    db.session.remove()
                    db.engine.dispose()
            assert not broken_contract, "API answers that break the OpenAPI document:\n" + "\n".join(broken_contract)
    finally:
        invokeai.stop()
    assert not invokeai.errors, "the fake InvokeAI crashed (a bug in the fake):\n" + "\n".join(invokeai.errors)


@pytest.fixture
def fresh_gallery(app, fake_invokeai, photos_dir) -> Gallery:
    """A gallery of its own, for a test whose requests change it."""
    return build_gallery(app, fake_invokeai, photos_dir)


@pytest.fixture
def anonymous(gallery):
    """A client nobody has signed in with, of the shared gallery's app."""
    return gallery.app.test_client()


# --- the table itself ---------------------------------------------------------------------

def test_the_cases_are_the_apps_own_url_map(gallery):
    """The rules read at collection time are the rules of the app under test."""
    def table(rules):
        return {(rule.endpoint, rule.rule, frozenset(rule.methods)) for rule in rules}
    assert table(gallery.app.url_map.iter_rules()) == table(RULES)


def test_every_url_argument_has_a_value(gallery):
    missing = {f"{rule.endpoint} ({rule.rule})": sorted(rule.arguments - gallery.values.keys())
               for rule in RULES if rule.arguments - gallery.values.keys()}
    assert not missing, f"add values for these URL arguments to Gallery.values ({Path(__file__).name}): {missing}"


def test_the_public_endpoints_are_the_ones_this_module_expects():
    """A new public endpoint is a decision to review here, not a side effect."""
    assert PUBLIC_ENDPOINTS == PUBLIC


# --- 1. writes need the signed-in user's own CSRF token -------------------------------------

@pytest.mark.parametrize(("rule", "method"), WRITES)
def test_write_without_a_csrf_token_is_refused(gallery, rule, method):
    url = fill_url(rule, gallery.values)
    before = gallery.snapshot()
    response = send(gallery.alice, method, url, gallery.form(), JSON)
    assert_cookie_write_refusal(response) if in_api(rule) else assert_csrf_refusal(response)
    assert gallery.snapshot() == before


@pytest.mark.parametrize("token_owner", ["anonymous", "bob"])
@pytest.mark.parametrize(("rule", "method"), WRITES)
def test_write_with_another_sessions_csrf_token_is_refused(gallery, rule, method, token_owner):
    url = fill_url(rule, gallery.values)
    foreign = csrf_token_of(gallery.bob if token_owner == "bob" else gallery.app.test_client())
    before = gallery.snapshot()
    response = send(gallery.alice, method, url, gallery.form(foreign), JSON)
    assert_cookie_write_refusal(response) if in_api(rule) else assert_csrf_refusal(response)
    assert gallery.snapshot() == before


@pytest.mark.parametrize(("rule", "method"), WRITES)
def test_anonymous_write_without_a_token_is_refused(gallery, anonymous, rule, method):
    url = fill_url(rule, gallery.values)
    before = gallery.snapshot()
    response = send(anonymous, method, url, gallery.form(), JSON)
    assert 400 <= response.status_code < 500, f"answered {response.status_code}"
    assert gallery.snapshot() == before


@pytest.mark.parametrize(("rule", "method"), PRIVATE_WRITES)
def test_anonymous_write_with_its_own_valid_token_meets_the_login_gate(gallery, anonymous, rule, method):
    url = fill_url(rule, gallery.values)
    token = csrf_token_of(anonymous)
    before = gallery.snapshot()
    response = send(anonymous, method, url, gallery.form(token), JSON)
    assert response.status_code == 401, f"answered {response.status_code}, not the login gate's 401"
    assert gallery.snapshot() == before


@pytest.mark.parametrize(("rule", "method"), WRITES)
def test_write_with_the_users_own_token_gets_past_csrf(fresh_gallery, rule, method):
    """The control for the refusals above: the same request with a valid own token is not refused for it
    (in the API, the token is alice's bearer token)."""
    url = fill_url(rule, fresh_gallery.values)
    headers = {**JSON, **fresh_gallery.bearer["alice"]} if in_api(rule) else JSON
    form = fresh_gallery.form(csrf_token_of(fresh_gallery.alice))
    response = send(fresh_gallery.alice, method, url, form, headers)
    assert response.status_code < 500
    assert not refused_for_csrf(response), response.json
    if in_api(rule):
        assert response.status_code not in (401, 403), response.json


def test_trash_then_delete_forever_with_the_users_own_token_deletes(fresh_gallery):
    """The harness sees a change when there is one: the photo's row changes (to the trash), then its row
    and its files go."""
    token = {"csrf_token": csrf_token_of(fresh_gallery.alice)}
    before = fresh_gallery.snapshot()
    response = fresh_gallery.alice.post(f"/photos/{fresh_gallery.ids['photo_id']}/delete", data=token)
    assert response.status_code == 302
    trashed = fresh_gallery.snapshot()
    assert trashed["rows"]["photos"] != before["rows"]["photos"] and trashed["files"] == before["files"]
    response = fresh_gallery.alice.post(f"/photos/{fresh_gallery.ids['photo_id']}/purge", data=token)
    assert response.status_code == 302
    after = fresh_gallery.snapshot()
    assert len(after["rows"]["photos"]) == len(before["rows"]["photos"]) - 1
    assert len(after["files"]) == len(before["files"]) - 1 - len(THUMBNAIL_SIZES)


def test_the_refused_body_would_store_a_photo(fresh_gallery):
    """The refused body is not inert: with a valid token, /upload stores its photo."""
    before = fresh_gallery.snapshot()
    form = fresh_gallery.form(csrf_token_of(fresh_gallery.alice))
    response = fresh_gallery.alice.post("/upload", data=form, headers=JSON)
    assert response.status_code == 201, response.json
    after = fresh_gallery.snapshot()
    assert len(after["rows"]["photos"]) == len(before["rows"]["photos"]) + 1
    assert len(after["files"]) == len(before["files"]) + 1 + len(THUMBNAIL_SIZES)


# --- 2. another user's id is as unknown as one that never existed ----------------------------

@pytest.mark.parametrize(("rule", "method"), ID_CASES)
def test_another_users_id_is_not_found(gallery, rule, method):
    url = fill_url(rule, gallery.values)
    form = gallery.form(csrf_token_of(gallery.bob)) if method != "GET" else None  # bob's own token
    headers = gallery.bearer["bob"] if in_api(rule) else None  # the API: bob's own bearer token
    before = gallery.snapshot()
    response = send(gallery.bob, method, url, form, headers)
    assert response.status_code == 404, f"bob got {response.status_code} from alice's {url}"
    gallery.assert_no_secret_in(response)
    assert gallery.snapshot() == before


@pytest.mark.parametrize(("rule", "method"), ID_GETS)
def test_the_owner_reaches_her_own_ids(gallery, rule, method):
    url = fill_url(rule, gallery.values)
    response = send(gallery.alice, "GET", url)
    assert response.status_code in (200, 302), f"alice got {response.status_code} from her own {url}"


# --- 3. an anonymous visitor sees nothing but the way in --------------------------------------

@pytest.mark.parametrize(("rule", "method"), PRIVATE_GETS)
def test_anonymous_page_request_is_sent_to_login(gallery, anonymous, rule, method):
    """The API sends nobody to a login page: it asks for a bearer token."""
    response = send(anonymous, "GET", fill_url(rule, gallery.values))
    if in_api(rule):
        assert response.status_code == 401 and response.mimetype == "application/problem+json"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    else:
        assert response.status_code == 302, f"answered {response.status_code}"
        assert urlsplit(response.location).path == "/login"
    gallery.assert_no_secret_in(response)


@pytest.mark.parametrize(("rule", "method"), [case for case in GETS if in_api(case.values[0])])
def test_api_reads_with_a_bearer_token_alone(gallery, anonymous, rule, method):
    response = send(anonymous, "GET", fill_url(rule, gallery.values), headers=gallery.bearer["alice"])
    assert response.status_code == 200, response.get_data(as_text=True)[:300]


@pytest.mark.parametrize(("rule", "method"), PRIVATE_GETS)
def test_anonymous_json_request_is_unauthorized(gallery, anonymous, rule, method):
    response = send(anonymous, "GET", fill_url(rule, gallery.values), headers=JSON)
    assert response.status_code == 401, f"answered {response.status_code}"
    gallery.assert_no_secret_in(response)


def test_anonymous_gets_nothing_from_the_files_own_urls(gallery, anonymous):
    """The URLs the pages put in <img> and download links, version query and all."""
    with gallery.app.test_request_context():
        photo = db.session.get_one(Photo, gallery.ids["photo_id"])
        image = db.session.get_one(GenerationImage, gallery.ids["image_id"])
        urls = [f"/photos/{photo.id}/original"] + [thing.thumbnail_url(size) for thing in (photo, image)
                                                     for size in THUMBNAIL_SIZES]
    for url in urls:
        for headers in ({}, JSON, {"Accept": "image/*"}):
            response = send(anonymous, "GET", url, headers=headers)
            assert response.status_code in (302, 401), f"{url} {headers}: {response.status_code}"
            gallery.assert_no_secret_in(response)


# --- 4. GET never changes anything ------------------------------------------------------------

@pytest.mark.parametrize(("rule", "method"), GETS)
def test_get_changes_nothing(gallery, rule, method):
    url = fill_url(rule, gallery.values)
    before = gallery.snapshot()
    response = send(gallery.alice, "GET", url)
    assert response.status_code < 400, f"alice got {response.status_code} from {url}: is Gallery.values right?"
    assert gallery.snapshot() == before


# --- 5. ids in a query string (the table above walks the ids in the path) --------------------------

def test_compare_takes_only_the_owners_ids(gallery, anonymous):
    """/compare names its photos and candidates in the query string: bob gets a 404 for alice's (alone or
    beside an id of nobody's), with nothing of hers sent; anonymous meets the login gate; alice sees them."""
    url = f"/compare?ids={gallery.ids['photo_id']}&candidates={gallery.ids['image_id']}"
    before = gallery.snapshot()
    for query in (url, f"/compare?ids={gallery.ids['photo_id']},{gallery.ids['photo_id'] + 1000}"):
        response = send(gallery.bob, "GET", query)
        assert response.status_code == 404, f"bob got {response.status_code} from {query}"
        gallery.assert_no_secret_in(response)
    response = send(anonymous, "GET", url)
    assert response.status_code == 302 and urlsplit(response.location).path == "/login"
    assert send(gallery.alice, "GET", url).status_code == 200
    assert gallery.snapshot() == before
