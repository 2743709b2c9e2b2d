"""The grid sorted by date taken or date added, newest or oldest first, filtered by source, favourites
and rating: every page by keyset, reached forwards and backwards, shows every photo it should once, in
order (ties on the date broken by id), and a photo's page steps through the same order.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import select

from app.extensions import db
from app.models import Photo
from app.services.photos import encode_cursor

PAGE_SIZE = 2
T0 = datetime(2026, 3, 1, 9, 0, 0)
# (taken hours after T0, added hours after T0, source, favourite, rating): 7 photos, with ties on both
# dates, and the two orders disagreeing (the first taken is the last added).
LIBRARY = [(0, 9, "uploaded", True, 5), (1, 3, "generated", False, 2), (1, 3, "uploaded", True, 0),
           (2, 1, "generated", True, 3), (2, 2, "uploaded", False, 4), (2, 2, "uploaded", False, 1),
           (5, 0, "generated", True, 2)]
SORTS = {"taken": "sorted_at", "added": "uploaded_at"}
FILTERS = [{}, {"source": "generated"}, {"source": "uploaded"}, {"favourites": "1"}, {"rating": "2"},
           {"favourites": "1", "rating": "3"}, {"source": "generated", "favourites": "1", "rating": "2"},
           {"rating": "5"}, {"source": "uploaded", "rating": "5", "favourites": "1"}]


@pytest.fixture
def app_config():
    return {"PAGE_SIZE": PAGE_SIZE}


@pytest.fixture
def library(app, user_id, make_user) -> list[Photo]:
    """alice's seven photos (detached), and bob's one, which no grid of hers may show."""
    bob = make_user("bob")
    with app.app_context():
        photos = [Photo(owner_id=owner, source=source, original_path=f"uploaded/2026-03-01/{owner}-{i}.jpg",
                        thumbnail_ext="jpg", original_name=f"{owner}-{i}.jpg", sha256=f"{owner}{i:03d}".ljust(64, "0"),
                        format="JPEG", mime_type="image/jpeg", file_size=1000, width=40, height=30,
                        taken_at=T0 + timedelta(hours=taken), sorted_at=T0 + timedelta(hours=taken),
                        uploaded_at=T0 + timedelta(hours=added), favourite=favourite, rating=rating)
                  for i, (taken, added, source, favourite, rating) in enumerate(LIBRARY + [(3, 3, "uploaded", True, 5)])
                  for owner in [user_id if i < len(LIBRARY) else bob]]
        db.session.add_all(photos)
        db.session.commit()
        for photo in photos:
            db.session.refresh(photo)  # loaded, then detached: read after the app context ends
        db.session.expunge_all()
    return photos[:len(LIBRARY)]


def expected(library: list[Photo], query: dict) -> list[int]:
    """The ids the grid should show for `query`, worked out here from the rows."""
    chosen = [p for p in library if query.get("source") in (None, p.source)
              and (query.get("favourites") != "1" or p.favourite) and p.rating >= int(query.get("rating", 0))]
    column = SORTS[query.get("sort", "taken")]
    ordered = sorted(chosen, key=lambda p: (getattr(p, column), p.id))
    return [p.id for p in (ordered[::-1] if query.get("order", "newest") == "newest" else ordered)]


def soup(response) -> BeautifulSoup:
    assert response.status_code == 200, response.get_data(as_text=True)
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def grid_ids(page: BeautifulSoup) -> list[int]:
    return [int(a["href"].split("?")[0].rsplit("/", 1)[1]) for a in page.select("ul.grid li a")]


def pager(page: BeautifulSoup, rel: str) -> str | None:
    found = page.select_one(f'nav.pager a[rel="{rel}"]')
    return found["href"] if found else None


def detail_link(page: BeautifulSoup, rel: str) -> str | None:
    found = page.select_one(f'link[rel="{rel}"]')
    return found["href"] if found else None


ARRANGEMENTS = [{"sort": sort, "order": order} | filters
                for sort in ("taken", "added") for order in ("newest", "oldest") for filters in FILTERS]


@pytest.mark.parametrize("query", ARRANGEMENTS, ids=lambda query: "&".join(f"{k}={v}" for k, v in query.items()))
def test_every_sort_and_filter_pages_through_every_photo_once_both_ways(client, library, query):
    want = expected(library, query)
    pages, url = [], "/?" + "&".join(f"{k}={v}" for k, v in query.items())
    while url:
        page = soup(client.get(url))
        pages.append(grid_ids(page))
        assert all(len(ids) == PAGE_SIZE for ids in pages[:-1])
        url = pager(page, "next")
        assert url is None or all(f"{k}={v}" in url for k, v in query.items() if (k, v) not in
                                  {("sort", "taken"), ("order", "newest")}), url  # the choice is carried on
    assert [i for ids in pages for i in ids] == want
    assert len(pages) == max(1, -(-len(want) // PAGE_SIZE))

    back, url = [], pager(page, "prev")
    while url:
        page = soup(client.get(url))
        back.append(grid_ids(page))
        url = pager(page, "prev")
    assert back == pages[-2::-1]  # the same pages, met backwards
    if len(pages) > 1:
        assert pager(page, "next") is not None and pager(page, "prev") is None  # back at the first page


@pytest.mark.parametrize("query", [q for q in ARRANGEMENTS if q.get("favourites") or q.get("source") == "generated"
                                   or len(q) == 2], ids=lambda query: "&".join(f"{k}={v}" for k, v in query.items()))
def test_a_photos_page_steps_through_the_grids_order(client, library, query):
    want = expected(library, query)
    suffix = "?" + "&".join(f"{k}={v}" for k, v in query.items())
    url, seen = f"/photos/{want[0]}{suffix}", []
    while url:
        page = soup(client.get(url))
        seen.append(int(url.split("?")[0].rsplit("/", 1)[1]))
        url = detail_link(page, "next")
    assert seen == want
    url, seen_back = detail_link(page, "prev"), []
    while url:
        seen_back.append(int(url.split("?")[0].rsplit("/", 1)[1]))
        url = detail_link(soup(client.get(url)), "prev")
    assert seen_back == want[-2::-1]


def test_the_grids_pager_words_follow_the_order(client, library):
    newest = soup(client.get("/?order=newest"))
    assert newest.select_one('nav.pager a[rel="next"]').get_text(strip=True) == "Older →"
    oldest = soup(client.get("/?order=oldest"))
    assert oldest.select_one('nav.pager a[rel="next"]').get_text(strip=True) == "Newer →"
    assert soup(client.get(pager(oldest, "next"))).select_one('nav.pager a[rel="prev"]').get_text(strip=True) == "← Older"


def test_the_form_shows_the_choice_and_carries_it(client, library):
    page = soup(client.get("/?sort=added&order=oldest&source=generated&favourites=1&rating=2"))
    form = page.select_one("form.arrange")
    assert form["method"] == "get"
    assert form.select_one("select[name=sort] option[selected]")["value"] == "added"
    assert form.select_one("select[name=order] option[selected]")["value"] == "oldest"
    assert form.select_one("select[name=rating] option[selected]")["value"] == "2"
    assert form.select_one("input[name=favourites]").has_attr("checked")
    assert form.select_one("input[name=source]")["value"] == "generated"
    assert page.h1.get_text(strip=True) == "Favourites rated ★★ or more"
    # The source links keep the rest of the choice.
    uploaded = page.select_one('nav.filters a[href*="source=uploaded"]')["href"]
    assert all(part in uploaded for part in ("sort=added", "order=oldest", "favourites=1", "rating=2"))


def test_the_forms_plain_submit_is_a_valid_grid(client, library):
    """Without JavaScript the form sends every field, the defaults and an empty source included."""
    page = soup(client.get("/?source=&sort=taken&order=newest&rating=0"))
    assert grid_ids(page) == expected(library, {})[:PAGE_SIZE]


@pytest.mark.parametrize("query", [{"sort": "random"}, {"order": "up"}, {"source": "scanned"}, {"rating": "7"},
                                   {"rating": "x"}, {"rating": "-1"}, {"rating": "2.5"}, {"favourites": "yes"}])
def test_an_unknown_choice_is_a_bad_request_in_words(client, library, query):
    for url in ("/", f"/photos/{library[0].id}"):
        response = client.get(url, query_string=query)
        assert response.status_code == 400
        name = next(iter(query))
        assert name in response.get_data(as_text=True).lower()


def cursor_of(app, photo_id: int, sort: str) -> str:
    with app.app_context():
        return encode_cursor(db.session.get(Photo, photo_id), sort)


@pytest.mark.parametrize("sort", ["taken", "added"])
def test_a_cursor_of_another_sort_or_junk_is_a_bad_request(app, client, library, sort):
    other = "added" if sort == "taken" else "taken"
    good = cursor_of(app, library[3].id, sort)
    assert client.get("/", query_string={"sort": sort, "older": good}).status_code == 200
    assert client.get("/", query_string={"sort": sort, "newer": good}).status_code == 200
    for cursor in [cursor_of(app, library[3].id, other), good.split(".", 1)[1], f"{sort}.junk.3",
                   f"{sort}.20260301T090000000000.0", f"{sort}.20260301T090000000000.99999999999", "x" * 500]:
        for direction in ("older", "newer"):
            response = client.get("/", query_string={"sort": sort, direction: cursor})
            assert response.status_code == 400, (direction, cursor)
            assert "page link is not valid" in response.get_data(as_text=True)


def test_the_grid_queries_page_by_keyset_without_offset(app, client, library):
    """Every sort reads its page as an index range after the cursor: never an OFFSET past rows."""
    from sqlalchemy import event

    statements = []
    with app.app_context():
        engine = db.engine
    listener = lambda conn, cursor, statement, parameters, context, many: statements.append((statement, parameters))
    event.listen(engine, "before_cursor_execute", listener)
    try:
        url = "/?sort=added&order=oldest"
        while url:
            url = pager(soup(client.get(url)), "next")
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    grid = [(s, p) for s, p in statements if "FROM photos" in s and "ORDER BY photos.uploaded_at" in s]
    assert len(grid) == 4
    assert sum("(photos.uploaded_at, photos.id) > " in s for s, _ in grid) == 3
    assert all(p[-1] == 0 for s, p in grid if "OFFSET" in s.upper())


def test_bobs_photo_never_shows_in_alices_grids(client, library, app):
    with app.app_context():
        bobs = db.session.scalars(select(Photo.id).where(Photo.id.not_in([p.id for p in library]))).all()
    for query in ARRANGEMENTS[:8]:
        url = "/?" + "&".join(f"{k}={v}" for k, v in query.items())
        while url:
            page = soup(client.get(url))
            assert not set(grid_ids(page)) & set(bobs)
            url = pager(page, "next")
