"""Share links through the JSON API (/api/v1/shares): list, make (a photo, an album, a selection, with
every option of the share forms), read, change, revoke; the token shown once; another account's ids a 404;
and, for the pages and the API alike, the views counted in the cache and written once a minute, and a
link's folder of copies gone with the link when its photo, album or owner is deleted. Every answer is
also held against the OpenAPI document by the `app` fixture (api_contract.py)."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import select

from app.extensions import cache, db
from app.models import ShareLink, User, utcnow
from app.services import shares, tokens
from live_redis import redis_cache_fixture  # noqa: F401  (the redis_cache fixture)
from testapp import BufferedClient, log_in, make_app

GPS_JPEG = "camera/nikon-coolpix-p6000_gps.jpg"
OTHER_JPEG = "camera/canon-eos-40d_tiny.jpg"
PROBLEM = "application/problem+json"


@pytest.fixture(autouse=True)
def buffered(app):
    app.test_client_class = BufferedClient


@pytest.fixture
def bearer_client(app):
    """bearer_client(user_id, read_only=False) -> a client that sends a new token of that user."""
    def make(owner_id: int, read_only: bool = False):
        with app.app_context():
            secret = tokens.create_token(db.session.get_one(User, owner_id), "test", read_only, None)[1]
        client = app.test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
        return client
    return make


@pytest.fixture
def api(bearer_client, user_id):
    """alice's read-write token."""
    return bearer_client(user_id)


@pytest.fixture
def photo(upload, photos_dir):
    """photo(name=GPS_JPEG) -> the id of alice's new photo."""
    def store(name: str = GPS_JPEG) -> int:
        response = upload(photos_dir / name)
        assert response.status_code == 201, response.json
        return response.json["files"][0]["photo_id"]
    return store


@pytest.fixture
def album(api):
    """album(name, photo_ids, parent_id=None) -> the id of alice's new album holding them."""
    def make(name: str, photo_ids=(), parent_id: int | None = None) -> int:
        made = api.post("/api/v1/albums", json={"name": name, "parent_id": parent_id})
        assert made.status_code == 201, made.json
        if photo_ids:
            assert api.post(f"/api/v1/albums/{made.json['id']}/photos", json={"photo_ids": list(photo_ids)}).status_code == 200
        return made.json["id"]
    return make


@pytest.fixture
def share(api):
    """share(**body) -> the 201 answer's JSON."""
    def make(**body) -> dict:
        response = api.post("/api/v1/shares", json=body)
        assert response.status_code == 201, response.get_data(as_text=True)
        return response.json
    return make


def assert_problem(response, status: int, *words: str):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    for word in words:
        assert word in response.json["detail"], response.json


def path_of(url: str) -> str:
    return urlsplit(url).path


def shown_ids(anonymous, link: str) -> set[int]:
    page = anonymous.get(link)
    assert page.status_code == 200, page.get_data(as_text=True)
    soup = BeautifulSoup(page.get_data(as_text=True), "html.parser")
    return {int(a["href"].split("?")[0].rsplit("/", 1)[1]) for a in soup.select("ul.grid li a")}


# --- making, reading, listing ----------------------------------------------------------------

def test_a_photo_link_made_through_the_api_opens_with_its_options_and_its_token_is_shown_once(api, anonymous, share,
                                                                                              photo, app):
    photo_id = photo()
    last_day = (utcnow().date() + timedelta(days=7)).isoformat()
    made = share(photo_id=photo_id, expires_on=last_day, allow_originals=True, strip_exif=True, strip_generation=True)
    assert made["kind"] == "photo" and made["photo_id"] == photo_id and made["state"] == "open"
    assert (made["expires_on"], made["allow_originals"], made["strip_gps"], made["strip_exif"],
            made["strip_generation"], made["has_password"], made["views"]) == (last_day, True, True, True, True, False, 0)
    assert made["url"].endswith(made["token"]) and len(made["token"]) >= 40

    opened = anonymous.get(path_of(made["url"]))
    assert opened.status_code == 200
    original = anonymous.get(f"{path_of(made['url'])}/original/{photo_id}")
    assert original.status_code == 200 and b"Exif" not in original.data[:4096]  # strip_exif: no APP1 Exif

    listed = api.get("/api/v1/shares").json["shares"]
    assert [(s["id"], s["views"]) for s in listed] == [(made["id"], 1)]
    assert listed[0]["last_used_at"] is not None
    one = api.get(f"/api/v1/shares/{made['id']}")
    assert one.json["id"] == made["id"]
    for answer in (one, api.get("/api/v1/shares")):
        assert made["token"] not in answer.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(ShareLink.token_hash)) == shares.token_hash(made["token"])


def test_an_album_link_with_or_without_its_sub_albums_and_a_selection(share, photo, album, anonymous):
    top, below, other = photo(GPS_JPEG), photo(OTHER_JPEG), photo("camera/nikon-d70_6mp.jpg")
    trip = album("Trip", [top])
    album("Day two", [below], parent_id=trip)
    alone = share(album_id=trip)
    with_sub = share(album_id=trip, with_sub_albums=True, password="sesame")
    picked = share(photo_ids=[other, top, other])  # a photo given twice is shown once
    assert (alone["what"], alone["photos"]) == ("Album Trip", 1)
    assert (with_sub["what"], with_sub["photos"], with_sub["has_password"]) == ("Album Trip with its sub-albums", 2, True)
    assert (picked["kind"], sorted(picked["photo_ids"]), picked["photos"]) == ("selection", sorted([other, top]), 2)
    assert shown_ids(anonymous, path_of(alone["url"])) == {top}
    assert shown_ids(anonymous, path_of(picked["url"])) == {top, other}
    assert "password" in anonymous.get(path_of(with_sub["url"])).get_data(as_text=True).lower()


@pytest.mark.parametrize(("body", "field"), [
    ({}, "photo_id"),
    ({"photo_id": 1, "album_id": 1}, "album_id"),
    ({"photo_ids": []}, "photo_ids"),
    ({"photo_id": 1, "with_sub_albums": True}, "with_sub_albums"),
    ({"photo_id": 1, "expires_on": "2020-01-01"}, "expires_on"),
    ({"photo_id": 1, "expires_on": "9999-12-31"}, "expires_on"),
    ({"photo_id": 1, "expires_on": "tomorrow"}, "expires_on"),
    ({"photo_id": 1, "password": "x" * 1025}, "password"),
    ({"photo_id": 1, "strip_gps": "maybe"}, "strip_gps"),
])
def test_a_bad_body_is_a_400_naming_the_field_and_makes_no_link(api, row_count, body, field):
    response = api.post("/api/v1/shares", json=body)
    assert_problem(response, 400, field)
    assert field in response.json["errors"]
    assert row_count(ShareLink) == 0


def test_another_accounts_ids_are_404_and_make_no_link(api, bearer_client, bob_id, photo, album, share, row_count):
    photo_id = photo()
    album_id = album("Mine", [photo_id])
    link = share(photo_id=photo_id)
    bob = bearer_client(bob_id)
    for body in ({"photo_id": photo_id}, {"album_id": album_id}, {"photo_ids": [photo_id]}):
        assert_problem(bob.post("/api/v1/shares", json=body), 404)
    assert_problem(bob.get(f"/api/v1/shares/{link['id']}"), 404, "share link")
    assert_problem(bob.patch(f"/api/v1/shares/{link['id']}", json={"allow_originals": True}), 404)
    assert_problem(bob.delete(f"/api/v1/shares/{link['id']}"), 404)
    assert bob.get("/api/v1/shares").json == {"shares": []}
    assert row_count(ShareLink) == 1 and api.get(f"/api/v1/shares/{link['id']}").json["state"] == "open"


def test_a_photo_in_the_trash_is_not_shared(api, photo, row_count):
    photo_id = photo()
    assert api.post(f"/api/v1/photos/{photo_id}/trash").status_code == 200
    assert_problem(api.post("/api/v1/shares", json={"photo_id": photo_id}), 404)
    assert_problem(api.post("/api/v1/shares", json={"photo_ids": [photo_id]}), 404, "not in your gallery")
    assert row_count(ShareLink) == 0


def test_a_read_only_token_lists_but_cannot_make_change_or_revoke(bearer_client, user_id, share, photo):
    link = share(photo_id=photo())
    reader = bearer_client(user_id, read_only=True)
    assert reader.get("/api/v1/shares").status_code == 200
    assert_problem(reader.post("/api/v1/shares", json={"photo_id": link["photo_id"]}), 403, "read-only")
    assert_problem(reader.patch(f"/api/v1/shares/{link['id']}", json={"allow_originals": True}), 403)
    assert_problem(reader.delete(f"/api/v1/shares/{link['id']}"), 403)
    assert reader.get(f"/api/v1/shares/{link['id']}").json["state"] == "open"


# --- changing and revoking ---------------------------------------------------------------------

def test_a_new_password_locks_out_who_gave_the_old_one_and_none_opens_it(api, anonymous, share, photo, app):
    link = share(photo_id=photo(), password="first")
    page = path_of(link["url"])
    assert anonymous.post(page, data={"password": "first"}).status_code == 303
    assert 'type="password"' not in anonymous.get(page).get_data(as_text=True)  # unlocked: the photo, not the form

    changed = api.patch(f"/api/v1/shares/{link['id']}", json={"password": "second"})
    assert changed.status_code == 200 and changed.json["has_password"]
    assert 'type="password"' in anonymous.get(page).get_data(as_text=True)  # the old password no longer opens it
    assert anonymous.post(page, data={"password": "first"}).status_code == 401
    assert anonymous.post(page, data={"password": "second"}).status_code == 303

    assert api.patch(f"/api/v1/shares/{link['id']}", json={"password": None}).json["has_password"] is False
    assert 'type="password"' not in app.test_client().get(page).get_data(as_text=True)


def test_changing_what_the_files_carry_and_the_expiry(api, anonymous, share, photo, data_dir):
    photo_id = photo()
    link = share(photo_id=photo_id, allow_originals=True)  # strip_gps by default, as the form
    original = f"{path_of(link['url'])}/original/{photo_id}"
    assert anonymous.get(original).status_code == 200
    assert any((data_dir / "shares" / str(link["id"])).iterdir())  # the stripped copy

    last_day = (utcnow().date() + timedelta(days=1)).isoformat()
    changed = api.patch(f"/api/v1/shares/{link['id']}", json={"strip_gps": False, "strip_exif": True,
                                                                "expires_on": last_day})
    assert changed.status_code == 200, changed.json
    assert (changed.json["strip_gps"], changed.json["strip_exif"], changed.json["expires_on"]) == (False, True, last_day)
    assert not (data_dir / "shares" / str(link["id"])).exists()  # copies of the old choice are gone
    served = anonymous.get(original)
    assert served.status_code == 200 and b"Exif" not in served.data[:4096]
    assert api.patch(f"/api/v1/shares/{link['id']}", json={"allow_originals": False}).json["allow_originals"] is False
    assert anonymous.get(original).status_code == 404
    assert api.patch(f"/api/v1/shares/{link['id']}", json={"expires_on": None}).json["expires_on"] is None


def test_revoking_ends_the_link_for_good(api, anonymous, share, photo, data_dir):
    photo_id = photo()
    link = share(photo_id=photo_id, allow_originals=True)
    assert anonymous.get(f"{path_of(link['url'])}/original/{photo_id}").status_code == 200
    revoked = api.delete(f"/api/v1/shares/{link['id']}")
    assert revoked.status_code == 200 and revoked.json["state"] == "revoked" and revoked.json["revoked_at"]
    assert anonymous.get(path_of(link["url"])).status_code == 404
    assert anonymous.get(f"{path_of(link['url'])}/thumbnails/{photo_id}/grid").status_code == 404
    assert not (data_dir / "shares" / str(link["id"])).exists()
    assert api.delete(f"/api/v1/shares/{link['id']}").json["state"] == "revoked"  # again: as it is
    assert_problem(api.patch(f"/api/v1/shares/{link['id']}", json={"expires_on": None}), 409, "revoked")


def test_a_shared_grid_is_cached_without_its_token(share, photo, album, anonymous, app):
    """The tiles are kept in the cache with a mark for the token: the same page for a second visitor,
    another link's URLs for another link, and no token in any cached value (the tests' SimpleCache)."""
    album_id = album("Cached", [photo(GPS_JPEG), photo(OTHER_JPEG)])
    first, second = share(album_id=album_id), share(album_id=album_id)
    cold = anonymous.get(path_of(first["url"])).get_data(as_text=True)
    warm = app.test_client().get(path_of(first["url"])).get_data(as_text=True)
    assert cold == warm and cold.count(f"/s/{first['token']}/thumbnails/") == 2
    other = anonymous.get(path_of(second["url"])).get_data(as_text=True)
    assert other.count(f"/s/{second['token']}/thumbnails/") == 2 and first["token"] not in other
    with app.app_context():
        kept = b"".join(value for _, value in cache.cache._cache.values())
    assert b"share-token" in kept  # the tiles are cached...
    assert first["token"].encode() not in kept and second["token"].encode() not in kept  # ...without a token


# --- counting views cheaply ------------------------------------------------------------------------

def test_views_are_counted_in_the_cache_and_written_once_a_minute(api, anonymous, share, photo, album, app):
    link = share(album_id=album("Counted", [photo()]))
    page = path_of(link["url"])

    def written() -> tuple[int, object]:
        with app.app_context():
            row = db.session.get_one(ShareLink, link["id"])
            return row.views, row.last_used_at

    for _ in range(4):
        assert anonymous.get(page).status_code == 200
    assert written()[0] == 1  # the first view of the minute wrote; the three after it wait in the cache
    first_use = written()[1]
    assert first_use is not None
    listed = api.get(f"/api/v1/shares/{link['id']}").json
    assert listed["views"] == 4  # the owner sees every view

    with app.app_context():
        cache.delete(f"share-views-written:{link['id']}")  # as a minute passing does
    assert anonymous.get(page).status_code == 200
    views, last_use = written()
    assert views == 5 and last_use >= first_use
    assert api.get("/api/v1/shares").json["shares"][0]["views"] == 5


def test_two_workers_count_the_views_of_a_link_together_through_redis(app, user_id, share, photo, album, redis_cache):
    """As gunicorn's workers would: views through both add up in Redis, the row is written once a
    minute whichever worker takes it, either worker's list shows them all, and Redis holds no token."""
    import redis

    url, prefix = redis_cache
    link = share(album_id=album("Both workers", [photo()]))
    workers = [make_app(app.config["SQLALCHEMY_DATABASE_URI"], app.config["DATA_DIR"], CACHE_REDIS_URL=url,
                        CACHE_KEY_PREFIX=prefix) for _ in range(2)]
    try:
        assert workers[0].config["CACHE_TYPE"] == "RedisCache"
        visitors = [worker.test_client() for worker in workers]
        for turn in range(6):
            assert visitors[turn % 2].get(path_of(link["url"])).status_code == 200
        with app.app_context():
            assert db.session.get_one(ShareLink, link["id"]).views == 1  # written once, by the first view
        owners = [log_in(worker.test_client(), user_id) for worker in workers]
        for owner in owners:
            assert "6 views" in owner.get("/shares").get_data(as_text=True)
        stored = redis.Redis.from_url(url)
        try:
            kept = b"".join(stored.get(key) or b"" for key in stored.scan_iter(match=f"{prefix}*"))
        finally:
            stored.close()
        assert b"share-token" in kept and link["token"].encode() not in kept
    finally:
        for worker in workers:
            with worker.app_context():
                db.engine.dispose()


# --- a link's folder goes with the link ------------------------------------------------------------

def copy_made(anonymous, link: dict, photo_id: int, data_dir: Path) -> Path:
    """Open the link's original of the photo (stripped: a copy in the link's folder); the folder."""
    assert anonymous.get(f"{path_of(link['url'])}/original/{photo_id}").status_code == 200
    folder = data_dir / "shares" / str(link["id"])
    assert any(folder.glob(f"{photo_id}.*")), list(folder.iterdir())
    return folder


def test_a_deleted_photo_takes_its_links_folder_and_its_copies_in_other_links(api, anonymous, share, photo, album,
                                                                             data_dir, row_count):
    photo_id, kept = photo(GPS_JPEG), photo(OTHER_JPEG)
    own = copy_made(anonymous, share(photo_id=photo_id, allow_originals=True), photo_id, data_dir)
    in_album = share(album_id=album("Both", [photo_id, kept]), allow_originals=True)
    album_folder = copy_made(anonymous, in_album, photo_id, data_dir)
    copy_made(anonymous, in_album, kept, data_dir)
    assert api.post(f"/api/v1/photos/{photo_id}/trash").status_code == 200
    assert api.delete("/api/v1/trash").json == {"deleted": 1}
    assert row_count(ShareLink) == 1  # the photo's link went with it; the album's stays
    assert not own.exists()
    assert not list(album_folder.glob(f"{photo_id}.*")) and list(album_folder.glob(f"{kept}.*"))


@pytest.mark.parametrize("children", ["delete", "move_up"])
def test_a_deleted_album_takes_its_links_folders(api, anonymous, share, photo, album, data_dir, row_count, children):
    photo_id = photo()
    top = album("Top", [photo_id])
    sub = album("Sub", [photo_id], parent_id=top)
    folders = {name: copy_made(anonymous, share(album_id=album_id, allow_originals=True), photo_id, data_dir)
               for name, album_id in (("top", top), ("sub", sub))}
    assert api.delete(f"/api/v1/albums/{top}?children={children}").status_code == 200
    assert not folders["top"].exists()
    assert folders["sub"].exists() == (children == "move_up")  # a sub-album moved up keeps its link
    assert row_count(ShareLink) == (1 if children == "move_up" else 0)


def test_a_deleted_account_takes_every_links_folder(runner, client, anonymous, share, photo, album, data_dir,
                                                    row_count):
    photo_id = photo()
    folders = [copy_made(anonymous, share(allow_originals=True, **target), photo_id, data_dir)
               for target in ({"photo_id": photo_id}, {"album_id": album("A", [photo_id])}, {"photo_ids": [photo_id]})]
    result = runner.invoke(args=["users", "delete", "--yes", "alice"])
    assert result.exit_code == 0, result.output
    assert row_count(ShareLink) == 0
    assert not any(folder.exists() for folder in folders)
    assert not [folder for folder in (data_dir / "shares").iterdir() if folder.name.isdigit()]
