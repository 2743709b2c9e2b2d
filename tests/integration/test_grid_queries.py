"""The grid, a photo's page and a thumbnail each send a few SQL statements, however many photos show.

A statement per photo (an N+1: a lazy load, a per-photo query in a template or a helper) would
show here as ten or more statements on a page of ten. Counted with a before_cursor_execute
listener on the app's engine, with the cache cleared first, so every cached read pays its SQL
(tests/benchmarks/bench_grid.py measures the same at 100 000 photos).
"""
from __future__ import annotations

import io
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from PIL import Image
from flask import url_for
from sqlalchemy import event

from app.extensions import cache, db
from app.models import Photo, User
from app.services import albums, storage, tags
from app.services.thumbnails import url_version

PAGE_SIZE = 10
PHOTOS = 30  # three pages
GRID_STATEMENTS = 2  # the user (with its photo counts and library version, joined to its login session), the rows
# the user; the photo with its tags, the albums (its and the others) and its lineage as JSON columns
# (services/photo_page.py); its newer and older neighbours with, cold, whether the grid page Escape goes
# back to still shows it (one UNION ALL)
DETAIL_STATEMENTS = 3
THUMBNAIL_STATEMENTS = 2  # the user, the photo


@pytest.fixture
def app_config():
    return {"PAGE_SIZE": PAGE_SIZE}


def add_photos(app, owner_id: int, count: int, prefix: str) -> list[int]:
    """`count` photos of `owner_id` (rows only), half of them sharing a taken time; ids newest first."""
    newest = datetime(2026, 6, 1, 12, 0, 0)
    with app.app_context():
        photos = []
        for i in range(count):
            taken = newest - timedelta(hours=i // 2)  # pairs share a time: the id breaks the tie
            photos.append(Photo(owner_id=owner_id, source="uploaded" if i % 3 else "generated",
                                original_path=f"uploaded/2026-06-01/{prefix}{i:04d}.jpg", thumbnail_ext="jpg",
                                original_name=f"{prefix}{i}.jpg", sha256=f"{prefix}{i:04d}".ljust(64, "0"),
                                format="JPEG", mime_type="image/jpeg", file_size=1000 + i, width=4000,
                                height=3000, taken_at=taken, sorted_at=taken, exif={"Make": "Test"}))
        db.session.add_all(photos)
        db.session.commit()
        ordered = sorted(photos, key=lambda p: (p.sorted_at, p.id), reverse=True)
        return [p.id for p in ordered]


@pytest.fixture
def photo_ids(app, user_id, make_user) -> list[int]:
    add_photos(app, make_user("bob"), 5, "b")  # someone else's photos: the grid must never show them
    return add_photos(app, user_id, PHOTOS, "a")


@pytest.fixture
def counted(app, client):
    """counted(url, cold=True) -> (response, statements): a GET, after clearing the cache unless
    cold is False, and the SQL it sent."""
    seen: list[str] = []

    def record(connection, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    with app.app_context():
        engine = db.engine
    client.get("/upload")  # the connection is open and the session settled before counting
    event.listen(engine, "before_cursor_execute", record)

    def get(url: str, cold: bool = True):
        if cold:
            with app.app_context():
                cache.clear()
        seen.clear()
        response = client.get(url)
        return response, list(seen)

    yield get
    event.remove(engine, "before_cursor_execute", record)


def grid_ids(response) -> list[int]:
    soup = BeautifulSoup(response.get_data(as_text=True), "html.parser")
    return [int(a["href"].split("/")[2].split("?")[0]) for a in soup.select("ul.grid a")]


def link(response, rel: str) -> str | None:
    found = BeautifulSoup(response.get_data(as_text=True), "html.parser").select_one(f'nav.pager a[rel="{rel}"]')
    return found["href"] if found else None


def test_every_grid_page_takes_at_most_three_statements(counted, photo_ids):
    url, shown, pages = "/", [], 0
    while url:
        response, statements = counted(url)
        assert response.status_code == 200
        assert len(statements) <= GRID_STATEMENTS, statements
        shown += grid_ids(response)
        pages += 1
        url = link(response, "next")
    assert pages == PHOTOS // PAGE_SIZE
    assert shown == photo_ids  # the cursor walked every photo once, in order


def test_a_page_reached_backwards_and_a_filtered_page_take_at_most_three(counted, photo_ids):
    first, _ = counted("/")
    second, _ = counted(link(first, "next"))
    third, _ = counted(link(second, "next"))
    back, statements = counted(link(third, "prev"))
    assert grid_ids(back) == grid_ids(second)
    assert len(statements) <= GRID_STATEMENTS, statements
    for source in ("uploaded", "generated"):
        response, statements = counted(f"/?source={source}")
        assert response.status_code == 200 and grid_ids(response)
        assert len(statements) <= GRID_STATEMENTS, statements


def test_a_cached_grid_page_takes_only_the_user(counted, photo_ids):
    response, cold = counted("/")
    again, warm = counted("/", cold=False)
    assert grid_ids(again) == grid_ids(response)
    assert len(warm) == 1 < len(cold), warm
    assert "login_sessions" in warm[0] and "FROM users" in warm[0]  # the session is checked in the same statement


ARRANGEMENTS = [{"sort": sort, "order": order, **filters}
                for sort in ("taken", "added") for order in ("newest", "oldest")
                for filters in ({}, {"source": "generated"}, {"favourites": "1"}, {"rating": "2", "source": "uploaded"})]


@pytest.mark.parametrize("query", ARRANGEMENTS, ids=lambda query: "&".join(f"{k}={v}" for k, v in query.items()))
def test_every_sort_and_filter_pages_in_two_statements_cold_and_one_warm(app, counted, photo_ids, query):
    with app.app_context():  # a third of the photos favourites with 2 stars, so the filters show two pages
        for photo in db.session.scalars(db.select(Photo).where(Photo.id.in_(photo_ids[::2]))):
            photo.favourite, photo.rating = True, 2
        db.session.commit()
    url, pages, shown = "/?" + "&".join(f"{k}={v}" for k, v in query.items()), 0, []
    while url:
        response, cold = counted(url)
        assert response.status_code == 200
        assert len(cold) <= GRID_STATEMENTS, cold
        again, warm = counted(url, cold=False)
        assert grid_ids(again) == grid_ids(response)
        assert len(warm) == 1, warm
        shown += grid_ids(response)
        pages += 1
        url = link(response, "next")
    assert shown and len(shown) == len(set(shown)) and pages == -(-len(shown) // PAGE_SIZE)
    for photo_id in shown[:: PAGE_SIZE - 1]:  # a photo page, its neighbours in the same sort and filter
        response, statements = counted(f"/photos/{photo_id}?" + "&".join(f"{k}={v}" for k, v in query.items()))
        assert response.status_code == 200
        assert len(statements) <= DETAIL_STATEMENTS, statements


def test_a_photo_page_takes_at_most_three_statements(counted, photo_ids):
    for photo_id in (photo_ids[0], photo_ids[PHOTOS // 2], photo_ids[-1]):
        response, statements = counted(f"/photos/{photo_id}")
        assert response.status_code == 200
        assert len(statements) <= DETAIL_STATEMENTS, statements


@pytest.fixture
def furnished(app, user_id, photo_ids) -> tuple[int, int]:
    """(photo, album): a photo in the middle with two tags, in one album of two (with its neighbours),
    made from the photo before it and the source of the one after it."""
    with app.app_context():
        owner = db.session.get(User, user_id)
        middle = photo_ids[PHOTOS // 2]
        tags.add_tags(user_id, [middle], ["Harbour", "boats"])
        album = albums.create_album(owner, "Coast")
        albums.create_album(owner, "Elsewhere")
        albums.add_photos(user_id, album.id, photo_ids[PHOTOS // 2 - 3: PHOTOS // 2 + 4])
        photos = {p.id: p for p in db.session.scalars(db.select(Photo).where(Photo.id.in_(photo_ids)))}
        photos[middle].derived_from_id = photo_ids[PHOTOS // 2 + 1]
        photos[photo_ids[PHOTOS // 2 - 1]].derived_from_id = middle
        db.session.commit()
        return middle, album.id


def test_a_photo_page_with_tags_albums_lineage_and_an_album_to_step_through_takes_three(app, counted, furnished,
                                                                                     photo_ids, user_id):
    """Everything the page shows costs no statement of its own: cold, from an album's or a tag's page
    several pages in (so the way back is worked out too), and from a search."""
    photo_id, album_id = furnished
    with app.app_context():
        tag_id = tags.find_tag_named(user_id, "Harbour").id
    cursor = f"taken.{datetime(2026, 6, 1, 12):%Y%m%dT%H%M%S%f}.{photo_ids[0]}"
    for query in (f"album_id={album_id}&older={cursor}", f"album_id={album_id}", f"tag_id={tag_id}",
                  f"tag_id={tag_id}&older={cursor}", "search=1&q=harbour&gps=0", f"search=1&album={album_id}",
                  f"older={cursor}&sort=taken"):
        response, statements = counted(f"/photos/{photo_id}?{query}")
        assert response.status_code == 200, query
        assert len(statements) <= DETAIL_STATEMENTS, (query, statements)
        soup = BeautifulSoup(response.get_data(as_text=True), "html.parser")
        assert [a.get_text() for a in soup.select("section.tags .chip a")] == ["boats", "Harbour"]
        assert [a.get_text(strip=True) for a in soup.select(".album-chip a .name")] == ["Coast"]
        assert [o.get_text() for o in soup.select("#add-to-album option[value]") if o["value"]] == ["Elsewhere"]
        assert [a["href"].split("?")[0] for a in soup.select('[data-lineage="ancestors"] a')] == \
            [f"/photos/{photo_ids[PHOTOS // 2 + 1]}"]
        assert [a["href"].split("?")[0] for a in soup.select('[data-lineage="descendants"] a')] == \
            [f"/photos/{photo_ids[PHOTOS // 2 - 1]}"]


def test_a_photo_opened_from_the_grid_reads_the_grids_page_from_the_cache(counted, photo_ids):
    """Its neighbours are the page's tiles beside it, and the way back is that page: no statement but
    the user and the photo's."""
    grid, _ = counted("/")
    hrefs = [a["href"] for a in BeautifulSoup(grid.get_data(as_text=True), "html.parser").select("ul.grid li a")]
    response, statements = counted(hrefs[3], cold=False)
    assert response.status_code == 200
    assert len(statements) <= DETAIL_STATEMENTS - 1, statements
    soup = BeautifulSoup(response.get_data(as_text=True), "html.parser")
    assert soup.select_one('a.step[rel="prev"]')["href"] == hrefs[2]
    assert soup.select_one('a.step[rel="next"]')["href"] == hrefs[4]
    assert soup.select_one("a[data-back]")["href"] == f"/#photo-{photo_ids[3]}"


def test_a_thumbnail_takes_at_most_two_statements(app, counted, photo_ids):
    photo_id = photo_ids[0]
    with app.app_context():
        photo = db.session.get(Photo, photo_id)
        path = storage.resolve(storage.photos_root(app.config["DATA_DIR"]), photo.thumbnail_path("grid"))
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "JPEG")
    Path(path).write_bytes(buffer.getvalue())
    response, statements = counted(f"/thumbnails/{photo_id}/grid")
    body = response.get_data()
    response.close()
    assert response.status_code == 200 and body == buffer.getvalue()
    assert len(statements) <= THUMBNAIL_STATEMENTS, statements
    again, warm = counted(f"/thumbnails/{photo_id}/grid", cold=False)
    again.close()
    assert len(warm) == 1, warm  # the user: the photo's thumbnail path was kept in the cache


@pytest.mark.parametrize("query", [{}, {"source": "uploaded"},
                                   {"sort": "added", "order": "oldest", "source": "generated", "rating": "2"},
                                   {"order": "oldest", "favourites": "1"}])
def test_the_grid_links_are_the_urls_url_for_makes(app, client, photo_ids, query):
    """The grid writes its links without url_for (for speed): they must be exactly url_for's, with the
    grid's sort and filters carried on, under a prefix (SCRIPT_NAME) too, so no link of the grid points
    elsewhere than its route; and the page's cached HTML is never served under another prefix."""
    with app.app_context():
        marked = db.session.scalars(db.select(Photo).where(Photo.id.in_(photo_ids[::2]))).all()
        for photo in marked:  # some photos the filters show
            photo.favourite, photo.rating = True, 3
        db.session.commit()
    for script_root in ["", "/gallery", ""]:
        response = client.get("/", query_string=query, base_url=f"http://localhost{script_root}")
        assert response.status_code == 200
        soup = BeautifulSoup(response.get_data(as_text=True), "html.parser")
        shown = [(li.a["href"], li.img["src"], li.select_one("button.heart")["data-favourite-url"])
                 for li in soup.select("ul.grid li:not(.heading)")]
        assert shown, "the filters show no photo: the comparison would be empty"
        with app.test_request_context(base_url=f"http://localhost{script_root}"):
            photos = {p.id: p for p in db.session.scalars(db.select(Photo).where(Photo.id.in_(photo_ids)))}
            expected = [(url_for("photos.detail", photo_id=photo_id, **query),
                         url_for("thumbnails.photo", photo_id=photo_id, size="grid",
                                 v=url_version(photos[photo_id].sha256)),
                         url_for("photos.favourite", photo_id=photo_id, **query))
                        for photo_id in [int(href.split("?")[0].rsplit("/", 1)[1]) for href, _, _ in shown]]
        assert shown == expected
        assert all(href.startswith(f"{script_root}/photos/") for href, _, _ in shown)


def test_a_tag_page_takes_three_statements_cold_and_one_warm(app, counted, photo_ids, user_id):
    """The user, the tag with its count (one statement, cached), the page's rows (cached): a tag of tens of
    thousands of photos is not counted again on every request."""
    from sqlalchemy import select

    from app.models import Photo, PhotoTag, Tag, tag_key_of
    with app.app_context():
        tag, other = (Tag(owner_id=user_id, name=name, name_key=tag_key_of(name)) for name in ("Beach", "Other"))
        db.session.add_all([tag, other])
        db.session.flush()
        sorted_at = dict(db.session.execute(select(Photo.id, Photo.sorted_at).where(Photo.id.in_(photo_ids))).all())
        db.session.add_all([PhotoTag(photo_id=photo_id, tag_id=tag.id, sorted_at=sorted_at[photo_id])
                            for photo_id in photo_ids[::2]])
        db.session.add_all([PhotoTag(photo_id=photo_id, tag_id=other.id, sorted_at=sorted_at[photo_id])
                            for photo_id in photo_ids])  # not counted
        db.session.commit()
        tag_id = tag.id
    url = f"/tags/{tag_id}"
    shown = []
    while url:
        response, cold = counted(url)
        assert response.status_code == 200 and len(cold) <= 3, cold
        shown += grid_ids(response)
        url = link(response, "next")
    assert shown == photo_ids[::2]
    first, _ = counted(f"/tags/{tag_id}")
    again, warm = counted(f"/tags/{tag_id}", cold=False)
    assert grid_ids(again) == grid_ids(first) and len(warm) == 1, warm
    heading = BeautifulSoup(again.get_data(as_text=True), "html.parser").select_one("h1 .subtitle").get_text()
    assert heading == f"{len(photo_ids[::2])} photos"
