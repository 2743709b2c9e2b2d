"""Cached reads: the grid page comes from the cache until the owner's library changes.

Every write to a library bumps its owner's library version, a column of users that is part of the
key of every cached read of it, so the next view is right at once; other owners keep theirs. The
version lives in the database, so a write through one app instance (a worker, the CLI) is seen by
another at once, with or without Redis.
"""
from __future__ import annotations

import pickle

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import delete, event

from app.extensions import db
from app.models import Photo, User
from app.services import cache as gallery_cache
from app.services import photos as photo_service
from testapp import GPS_JPEG, TINY_JPEG, log_in, make_app, multipart_body
from live_redis import redis_cache_fixture  # noqa: F401  (the redis_cache fixture)
from live_server import free_port  # a port nothing listens on



@pytest.fixture
def photo_queries(app) -> list[str]:
    """The SQL statements that read the photos table while the test runs."""
    seen: list[str] = []

    def record(connection, cursor, statement, parameters, context, executemany):
        if "FROM photos" in statement:
            seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def grid(client, path: str = "/") -> tuple[str, list[str]]:
    """The grid's heading and the file names of the photos it shows."""
    response = client.get(path)
    assert response.status_code == 200
    page = BeautifulSoup(response.get_data(as_text=True), "html.parser")
    return page.h1.get_text(strip=True), [img["alt"] for img in page.select("ul.grid img")]


def stored(response) -> int:
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()["files"][0]["photo_id"]


def test_a_second_view_of_the_grid_reads_no_photos_from_the_database(client, upload, photos_dir, photo_queries):
    stored(upload(photos_dir / TINY_JPEG))
    photo_queries.clear()
    assert grid(client) == ("1 photo", ["canon-eos-40d_tiny.jpg"])
    assert len(photo_queries) == 1  # the page (the count comes with the user)
    assert grid(client) == ("1 photo", ["canon-eos-40d_tiny.jpg"])
    assert grid(client, "/?source=") == ("1 photo", ["canon-eos-40d_tiny.jpg"])  # the same page, the same keys
    assert len(photo_queries) == 1


def test_an_upload_shows_at_once_in_a_cached_grid(client, upload, photos_dir):
    assert grid(client) == ("0 photos", [])
    assert grid(client, "/?source=uploaded") == ("0 photos", [])
    stored(upload(photos_dir / TINY_JPEG))
    assert grid(client) == ("1 photo", ["canon-eos-40d_tiny.jpg"])
    assert grid(client, "/?source=uploaded") == ("1 photo", ["canon-eos-40d_tiny.jpg"])
    assert grid(client, "/?source=generated") == ("0 photos", [])


def test_a_delete_shows_at_once_in_a_cached_grid(client, upload, photos_dir):
    photo_id = stored(upload(photos_dir / TINY_JPEG))
    stored(upload(photos_dir / GPS_JPEG))
    assert grid(client)[0] == "2 photos"
    assert client.post(f"/photos/{photo_id}/delete").status_code == 302
    assert grid(client) == ("1 photo", ["nikon-coolpix-p6000_gps.jpg"])


def test_a_cached_later_page_follows_a_change(client, upload, photos_dir, app):
    app.config["PAGE_SIZE"] = 1
    stored(upload(photos_dir / TINY_JPEG))  # taken 2008
    gps_id = stored(upload(photos_dir / GPS_JPEG))  # taken 2008 too, later in the year
    page = BeautifulSoup(client.get("/").get_data(as_text=True), "html.parser")
    older = page.select_one("a[rel=next]")["href"]
    assert grid(client, older)[1] == ["canon-eos-40d_tiny.jpg"]
    client.post(f"/photos/{gps_id}/delete")
    # The cursor still names a place in the order; the page behind it is read again.
    assert grid(client, older) == ("1 photo", ["canon-eos-40d_tiny.jpg"])
    assert grid(client) == ("1 photo", ["canon-eos-40d_tiny.jpg"])


def test_another_owners_cached_reads_survive_a_change(app, client, make_user, upload, photos_dir, photo_queries):
    bob = log_in(app.test_client(), make_user("bob"))
    assert grid(bob) == ("0 photos", [])
    assert grid(client) == ("0 photos", [])
    stored(upload(photos_dir / TINY_JPEG))  # alice's
    photo_queries.clear()
    assert grid(bob) == ("0 photos", [])
    assert photo_queries == []  # bob's page still comes from the cache
    assert grid(client) == ("1 photo", ["canon-eos-40d_tiny.jpg"])
    assert len(photo_queries) == 1


def test_clearing_without_an_owner_drops_everyones_reads(app, client, make_user, photo_queries):
    bob = log_in(app.test_client(), make_user("bob"))
    grid(bob), grid(client)
    photo_queries.clear()
    with app.app_context():
        gallery_cache.clear_every_library()  # after a change that bypassed the ORM
        db.session.commit()
    grid(bob), grid(client)
    assert len(photo_queries) == 2


def test_the_cache_holds_plain_values_and_the_grid_the_models_urls(app, user_id, upload, photos_dir):
    photo_id = stored(upload(photos_dir / TINY_JPEG))
    with app.test_request_context():
        page = photo_service.grid_page(db.session.get(User, user_id))
        # what grid_page keeps in the cache
        cached = photo_service._grid_rows(user_id, photo_service.DEFAULT_OPTIONS, None, None, 60)
        photo = db.session.get(Photo, photo_id)
        assert [link.grid_url for link in page.links()] == [photo.thumbnail_url("grid")]
    assert pickle.loads(pickle.dumps(cached)) == cached
    assert cached == {"photos": [(photo_id, "canon-eos-40d_tiny.jpg", photo.sha256, False, 0, "uploaded", None,
                                  photo.width, photo.height, photo.colour, photo.sorted_at.date().isoformat())],
                      "newer": None, "older": None}
    assert photo.colour.startswith("#")  # the placeholder colour, made at ingest


def test_a_write_through_one_worker_is_seen_by_another_through_redis(app, user_id, redis_cache, photos_dir):
    """Two app instances (as two workers would be) share the Redis cache: one's upload clears the other's reads."""
    url, prefix = redis_cache
    database_url = app.config["SQLALCHEMY_DATABASE_URI"]
    workers = [make_app(database_url, app.config["DATA_DIR"], CACHE_REDIS_URL=url, CACHE_KEY_PREFIX=prefix)
               for _ in range(2)]
    try:
        first, second = (log_in(worker.test_client(), user_id) for worker in workers)
        assert workers[0].config["CACHE_TYPE"] == "RedisCache"
        assert grid(first) == grid(second) == ("0 photos", [])
        payload = (photos_dir / TINY_JPEG).read_bytes()
        body, content_type = multipart_body([(payload, "tiny.jpg")])
        response = first.post("/upload", data=body, content_type=content_type, headers={"Accept": "application/json"})
        assert response.status_code == 201
        assert grid(second) == ("1 photo", ["tiny.jpg"])
        assert grid(first) == ("1 photo", ["tiny.jpg"])

        # A change behind the gallery's back shows nowhere until a clear of everyone's reads, which
        # (new library versions, in the database) reaches the other instance too.
        with workers[0].app_context():
            db.session.execute(delete(Photo))
            db.session.commit()
        assert grid(second) == ("1 photo", ["tiny.jpg"])
        with workers[0].app_context():
            gallery_cache.clear_every_library()
            db.session.commit()
        assert grid(second) == ("1 photo", [])
        with workers[0].app_context():
            photo_service.recount_photos()  # what a bulk change must do
        assert grid(second) == ("0 photos", [])
    finally:
        for worker in workers:
            with worker.app_context():
                db.session.remove()
                db.engine.dispose()


def test_an_import_by_another_process_shows_at_once_without_redis(app, user_id, photos_dir, tmp_path):
    """Two app instances on one database and data folder, each with its own in-process cache (as `flask
    run` and `flask photos import` are): what one stores, the other's cached grid shows at once."""
    server, importer = (make_app(app.config["SQLALCHEMY_DATABASE_URI"], app.config["DATA_DIR"], PAGE_SIZE=1)
                        for _ in range(2))
    try:
        assert server.config["CACHE_TYPE"] == "app.services.cache.MemoryCache"
        browser = log_in(server.test_client(), user_id)
        folder = tmp_path / "to-import"
        folder.mkdir()
        (folder / "tiny.jpg").write_bytes((photos_dir / TINY_JPEG).read_bytes())
        body, content_type = multipart_body([((photos_dir / GPS_JPEG).read_bytes(), "gps.jpg")])
        stored(browser.post("/upload", data=body, content_type=content_type, headers={"Accept": "application/json"}))
        assert grid(browser) == ("1 photo", ["gps.jpg"])  # cached now, in the server's own memory

        result = importer.test_cli_runner().invoke(args=["photos", "import", str(folder), "--user", "alice"])
        assert result.exit_code == 0, result.output

        page = BeautifulSoup(browser.get("/").get_data(as_text=True), "html.parser")
        assert page.h1.get_text(strip=True) == "2 photos"
        assert [img["alt"] for img in page.select("ul.grid img")] == ["gps.jpg"]  # the newer one first
        older = page.select_one("nav.pager a[rel=next]")
        assert older is not None, "no Older link though a second photo is there"
        assert grid(browser, older["href"]) == ("2 photos", ["tiny.jpg"])
    finally:
        for instance in (server, importer):
            with instance.app_context():
                db.session.remove()
                db.engine.dispose()


def test_an_unreachable_redis_costs_the_cache_not_the_gallery(app, user_id, photos_dir, data_dir, caplog):
    """Reads go to the database, and an upload's commit stands with its files: clearing needs no cache."""
    broken = make_app(app.config["SQLALCHEMY_DATABASE_URI"], app.config["DATA_DIR"],
                      CACHE_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    try:
        client = log_in(broken.test_client(), user_id)
        assert grid(client) == ("0 photos", [])
        body, content_type = multipart_body([((photos_dir / TINY_JPEG).read_bytes(), "tiny.jpg")])
        response = client.post("/upload", data=body, content_type=content_type, headers={"Accept": "application/json"})
        assert response.status_code == 201
        with broken.app_context():
            photo = db.session.get(Photo, response.get_json()["files"][0]["photo_id"])
            assert (data_dir / "photos" / photo.original_path).is_file()
            assert (data_dir / "photos" / photo.thumbnail_path("grid")).is_file()
        assert grid(client) == ("1 photo", ["tiny.jpg"])
        assert "cache unreachable, reading grid from the database" in caplog.text
    finally:
        with broken.app_context():
            db.session.remove()
            db.engine.dispose()
