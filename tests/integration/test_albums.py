"""Albums: create, rename and describe, move (never under itself or its own sub-album), delete with its
sub-albums or moving them up; a photo in many albums, added and removed on its page and by a selection
of a thousand in one request; another account's album a 404 everywhere; the trash hidden from an
album and its count and back on restore; an album's page on the grid's paging and sorts, in three
statements; covers; bad input refused in words, changing nothing."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import event, func, select

from app.extensions import cache, db
from app.models import Album, AlbumPhoto, Photo, User
from app.services import albums as album_service
from app.services import trash
from testapp import JSON, jpeg, log_in, run_together, upload_as

PAGE_SIZE = 2
T0 = datetime(2026, 3, 1, 9, 0, 0)


@pytest.fixture
def app_config():
    return {"PAGE_SIZE": PAGE_SIZE}


def soup(client, url: str) -> BeautifulSoup:
    response = client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def add_photos(app, owner_id: int, count: int, start: int = 0) -> list[int]:
    """`count` photo rows of `owner_id`, taken an hour apart (the later, the larger the id), added in the
    opposite order."""
    with app.app_context():
        photos = [Photo(owner_id=owner_id, source="uploaded", original_path=f"uploaded/2026-03-01/{owner_id}-{i}.jpg",
                        thumbnail_ext="jpg", original_name=f"p{i}.jpg", sha256=f"{owner_id}-{i}-".ljust(64, "0"),
                        format="JPEG", mime_type="image/jpeg", file_size=1000, width=40, height=30,
                        taken_at=T0 + timedelta(hours=i), sorted_at=T0 + timedelta(hours=i),
                        uploaded_at=T0 - timedelta(hours=i))
                  for i in range(start, start + count)]
        db.session.add_all(photos)
        db.session.commit()
        return [photo.id for photo in photos]


def make_album(app, owner_id: int, name: str, parent_id: int | None = None, photo_ids=()) -> int:
    with app.app_context():
        owner = db.session.get_one(User, owner_id)
        album_id = album_service.create_album(owner, name, "", parent_id).id
        if photo_ids:
            album_service.add_photos(owner_id, album_id, photo_ids)
        return album_id


def state(app) -> tuple:
    """Every album and membership, to tell that a refused request changed nothing."""
    with app.app_context():
        return (sorted(db.session.execute(select(Album.id, Album.owner_id, Album.parent_id, Album.path, Album.name,
                                                 Album.description, Album.cover_photo_id)).all()),
                sorted(db.session.execute(select(AlbumPhoto.album_id, AlbumPhoto.photo_id)).all()))


def albums_by_name(app) -> dict[str, tuple]:
    """{name: (parent's name or None, path as names)}."""
    with app.app_context():
        rows = db.session.execute(select(Album.id, Album.name, Album.parent_id, Album.path)).all()
    names = {row.id: row.name for row in rows}
    return {row.name: (names.get(row.parent_id), "/".join(names[int(i)] for i in row.path.strip("/").split("/")))
            for row in rows}


def members(app, album_id: int) -> set[int]:
    with app.app_context():
        return set(db.session.scalars(select(AlbumPhoto.photo_id).where(AlbumPhoto.album_id == album_id)))


def version(app, user_id: int) -> int:
    with app.app_context():
        return db.session.scalar(select(User.library_version).where(User.id == user_id))


def shown_ids(page: BeautifulSoup) -> list[int]:
    return [int(a["href"].split("?")[0].rsplit("/", 1)[1]) for a in page.select("ul.grid li a")]


def card_counts(page: BeautifulSoup) -> dict[str, str]:
    return {li.select_one(".album-name").get_text(strip=True): li.select_one(".album-count").get_text(strip=True)
            for li in page.select("ul.album-cards li")}


# --- create, rename, describe, move, delete ------------------------------------------------------

def test_create_rename_describe_and_list(app, client, user_id):
    before = version(app, user_id)
    response = client.post("/albums", data={"name": "  Holidays  "})
    assert response.status_code == 303
    holidays = int(response.location.rsplit("/", 1)[1])
    assert version(app, user_id) != before
    response = client.post("/albums", data={"name": "Italy 2026", "parent_id": str(holidays)})
    italy = int(response.location.rsplit("/", 1)[1])
    assert albums_by_name(app) == {"Holidays": (None, "Holidays"), "Italy 2026": ("Holidays", "Holidays/Italy 2026")}

    response = client.post(f"/albums/{italy}/edit", data={"name": "Italia", "description": "Rome\nand Naples"})
    assert response.status_code == 303 and response.location == f"/albums/{italy}"
    page = soup(client, f"/albums/{italy}")
    assert page.h1.select_one(".album-title").get_text() == "Italia"
    assert page.select_one(".album-description").get_text() == "Rome\nand Naples"
    assert [a.get_text() for a in page.select("nav.breadcrumb a")] == ["Albums", "Holidays"]

    index = soup(client, "/albums")
    assert card_counts(index) == {"Holidays": "0 photos · 1 album"}  # only the top albums
    header = soup(client, "/").select_one("header.site nav")
    assert any(a.get_text(strip=True) == "Albums" and a["href"] == "/albums" for a in header.select("a"))


@pytest.mark.parametrize("name", ["", "   ", "x" * 201, "bad\x00name", "line\nbreak", "right\u202eleft",
                                  "zero\u200bwidth"])
def test_bad_names_are_a_400_in_words_and_change_nothing(app, client, user_id, name):
    album_id = make_album(app, user_id, "Kept")
    before = state(app)
    for url, form in [("/albums", {"name": name}), (f"/albums/{album_id}/edit", {"name": name}),
                      ("/albums", {"name": "Fine", "parent_id": "x1"})]:
        response = client.post(url, data=form, headers=JSON)
        assert response.status_code == 400, url
        assert "album" in response.json["error"].lower()
        assert state(app) == before
    response = client.post(f"/albums/{album_id}/edit", data={"name": "Fine", "description": "bell\x07"}, headers=JSON)
    assert response.status_code == 400 and state(app) == before
    assert client.post("/albums", data={"name": "x" * 200}).status_code == 303  # the limit itself is fine


def test_move_under_another_album_carries_its_sub_albums(app, client, user_id):
    a = make_album(app, user_id, "A")
    b = make_album(app, user_id, "B", a)
    c = make_album(app, user_id, "C", b)
    d = make_album(app, user_id, "D")
    response = client.post(f"/albums/{b}/move", data={"parent_id": str(d)})
    assert response.status_code == 303
    assert albums_by_name(app) == {"A": (None, "A"), "B": ("D", "D/B"), "C": ("B", "D/B/C"), "D": (None, "D")}
    assert [a.get_text() for a in soup(client, f"/albums/{c}").select("nav.breadcrumb a")] == ["Albums", "D", "B"]
    client.post(f"/albums/{b}/move", data={"parent_id": ""})  # to the top
    assert albums_by_name(app)["C"] == ("B", "B/C")


def test_a_move_under_itself_or_its_descendant_is_a_400_changing_nothing(app, client, user_id):
    a = make_album(app, user_id, "A")
    b = make_album(app, user_id, "B", a)
    c = make_album(app, user_id, "C", b)
    before = state(app)
    for target in (a, b, c):
        response = client.post(f"/albums/{a}/move", data={"parent_id": str(target)}, headers=JSON)
        assert response.status_code == 400
        assert "cannot go under itself or one of its own sub-albums" in response.json["error"]
        assert state(app) == before
    edit = soup(client, f"/albums/{a}/edit")  # the edit page offers none of them
    assert [o.get_text(strip=True) for o in edit.select("select[name=parent_id] option")] == ["Albums (the top)"]


def test_delete_with_sub_albums_asks_then_moves_them_up_or_deletes_them(app, client, user_id):
    photos = add_photos(app, user_id, 3)
    top = make_album(app, user_id, "Top")
    middle = make_album(app, user_id, "Middle", top, photos[:2])
    child = make_album(app, user_id, "Child", middle, photos[1:])
    make_album(app, user_id, "Grandchild", child)
    before = state(app)
    question = client.post(f"/albums/{middle}/delete")  # no choice made: the question, nothing deleted
    assert question.status_code == 400 and state(app) == before
    form = BeautifulSoup(question.get_data(as_text=True), "html.parser").select_one("form.delete-album")
    assert sorted(b["value"] for b in form.select("button[name=children]")) == ["delete", "move_up"]
    assert client.get(f"/albums/{middle}/delete").status_code == 200 and state(app) == before

    response = client.post(f"/albums/{middle}/delete", data={"children": "move_up"})
    assert response.status_code == 303 and response.location == f"/albums/{top}"
    assert albums_by_name(app) == {"Top": (None, "Top"), "Child": ("Top", "Top/Child"),
                                   "Grandchild": ("Child", "Top/Child/Grandchild")}
    assert members(app, child) == set(photos[1:])

    response = client.post(f"/albums/{top}/delete", data={"children": "delete"})
    assert response.status_code == 303 and response.location == "/albums"
    assert state(app) == ([], [])
    with app.app_context():
        assert db.session.scalar(select(func.count(Photo.id))) == 3  # the photos stay


def test_delete_an_album_without_sub_albums(app, client, user_id):
    photo = add_photos(app, user_id, 1)
    album = make_album(app, user_id, "Alone", photo_ids=photo)
    page = soup(client, f"/albums/{album}/delete")
    assert not page.select("button[name=children]")
    assert client.post(f"/albums/{album}/delete").status_code == 303
    assert state(app) == ([], [])
    assert client.get(f"/albums/{album}").status_code == 404


# --- photos in albums ---------------------------------------------------------------------------

def test_a_photo_in_many_albums_added_and_removed_on_its_page(app, client, user_id):
    photo_id = upload_as(client, jpeg(), "lake.jpg")
    one, two = make_album(app, user_id, "One"), make_album(app, user_id, "Two")
    page = soup(client, f"/photos/{photo_id}")
    assert [o["value"] for o in page.select("form.add-to-album option") if o["value"]] == [str(one), str(two)]
    for album in (one, two):
        response = client.post(f"/photos/{photo_id}/albums", data={"album_id": str(album)})
        assert response.status_code == 303 and response.location == f"/photos/{photo_id}"
    page = soup(client, f"/photos/{photo_id}")
    chips = page.select("section.photo-albums li.album-chip")
    assert [chip.select_one(".name").get_text() for chip in chips] == ["One", "Two"]
    assert page.select_one("form.add-to-album") is None  # in every album already
    for album in (one, two):
        assert shown_ids(soup(client, f"/albums/{album}")) == [photo_id]
    remove = chips[0].select("form")[-1]["action"]
    assert client.post(remove).status_code == 303
    assert members(app, one) == set() and members(app, two) == {photo_id}
    assert client.get(f"/photos/{photo_id}").status_code == 200  # still in the library


def test_use_as_album_cover_and_the_newest_photo_otherwise(app, client, user_id):
    photos = add_photos(app, user_id, 3)  # the last is the newest by date taken
    album = make_album(app, user_id, "Covers", photo_ids=photos)
    with app.test_request_context():
        owner = db.session.get_one(User, user_id)
        assert album_service.top_albums(owner)[0].cover_id == photos[-1]
    response = client.post(f"/albums/{album}/cover", data={"photo_id": str(photos[0]), "from": "photo"})
    assert response.status_code == 303 and response.location == f"/photos/{photos[0]}"
    img = soup(client, "/albums").select_one("ul.album-cards img")
    assert img["src"].startswith(f"/thumbnails/{photos[0]}/grid")
    with app.app_context():
        trash.move_to_trash(user_id, [photos[0]])  # a trashed cover falls back to the newest photo
    assert soup(client, "/albums").select_one("ul.album-cards img")["src"].startswith(f"/thumbnails/{photos[-1]}/")
    outside = add_photos(app, user_id, 1, start=10)[0]
    before = state(app)
    response = client.post(f"/albums/{album}/cover", data={"photo_id": str(outside)}, headers=JSON)
    assert response.status_code == 400 and "in the album" in response.json["error"] and state(app) == before


def test_a_thousand_photos_added_and_removed_by_selection_in_one_request_each(app, client, user_id):
    photos = add_photos(app, user_id, 1000)
    album = make_album(app, user_id, "Bulk", photo_ids=photos[:10])
    with app.app_context():
        commits = []
        listener = lambda connection: commits.append(connection)  # noqa: E731
        event.listen(db.engine, "commit", listener)
    try:
        response = client.post("/selection", data={"action": "add_to_album", "album_id": str(album),
                                                   "ids": ",".join(map(str, photos)), "next": "/"})
        assert response.status_code == 303 and response.location == "/"
        assert len(commits) == 1
    finally:
        with app.app_context():
            event.remove(db.engine, "commit", listener)
    assert members(app, album) == set(photos)
    page = soup(client, f"/albums/{album}")
    assert "1000 photos" in page.h1.get_text()
    assert " ".join(page.select_one(".flashes").get_text().split()) == "Added 1000 photos to “Bulk”."
    response = client.post("/selection", data={"action": "remove_from_album", "from_album": str(album),
                                                "ids": ",".join(map(str, photos[:999])), "next": f"/albums/{album}"},
                           headers=JSON)
    assert response.status_code == 200 and response.json["changed"] == 999
    assert members(app, album) == {photos[-1]}


def test_a_selection_with_a_foreign_or_unknown_id_changes_nothing(app, client, user_id, bob_id):
    photos = add_photos(app, user_id, 3)
    bobs = add_photos(app, bob_id, 1, start=50)
    album = make_album(app, user_id, "Mine", photo_ids=photos[:1])
    bobs_album = make_album(app, bob_id, "Bob's")
    before = state(app)
    for form in [{"action": "add_to_album", "album_id": str(album), "ids": [*map(str, photos), str(bobs[0])]},
                 {"action": "add_to_album", "album_id": str(album), "ids": [str(photos[1]), "999999"]},
                 {"action": "add_to_album", "album_id": str(bobs_album), "ids": [str(photos[1])]},
                 {"action": "add_to_album", "album_id": "99999", "ids": [str(photos[1])]},
                 {"action": "remove_from_album", "from_album": str(album), "ids": [str(photos[0]), str(bobs[0])]},
                 {"action": "remove_from_album", "ids": [str(photos[0])]},
                 {"action": "add_to_album", "album_id": "new", "album_name": "Fresh", "ids": [str(bobs[0])]},
                 {"action": "add_to_album", "album_id": "new", "album_name": "", "ids": [str(photos[0])]}]:
        response = client.post("/selection", data=form, headers=JSON)
        assert response.status_code in (400, 404), form
        assert response.json["error"], form
        assert state(app) == before, form


def test_the_grids_add_to_an_album_asks_which_then_adds_or_makes_a_new_one(app, client, user_id):
    photos = add_photos(app, user_id, 3)
    album = make_album(app, user_id, "Existing")
    page = soup(client, "/")
    assert "add_to_album" in [o["value"] for o in page.select("form#selection select[name=action] option")]
    question = client.post("/selection", data={"action": "add_to_album", "ids": [str(p) for p in photos[:2]],
                                               "next": "/"})
    assert question.status_code == 200
    existing, new = BeautifulSoup(question.get_data(as_text=True), "html.parser").select("section.choose-album form")
    assert [o["value"] for o in existing.select("select[name=album_id] option")] == [str(album)]
    assert new.select_one("input[name=album_id]")["value"] == "new" and new.select_one("input[name=album_name]")
    for form in (existing, new):
        assert sorted(i["value"] for i in form.select("input[name=ids]")) == sorted(map(str, photos[:2]))
    assert state(app)[1] == []
    response = client.post("/selection", data={"action": "add_to_album", "album_id": "new", "album_name": "Fresh",
                                                "ids": [str(p) for p in photos], "next": "/"})
    assert response.status_code == 303
    assert albums_by_name(app)["Fresh"] == (None, "Fresh")
    with app.app_context():
        fresh = db.session.scalar(select(Album.id).where(Album.name == "Fresh"))
    assert members(app, fresh) == set(photos)
    assert "the new album “Fresh”" in soup(client, "/").select_one(".flashes").get_text()


# --- another account's albums -------------------------------------------------------------------

def test_another_accounts_album_is_a_404_on_every_route(app, client, user_id, bob, bob_id):
    photos = add_photos(app, user_id, 1)
    bobs = add_photos(app, bob_id, 1, start=50)
    album = make_album(app, user_id, "Alice's", photo_ids=photos)
    bobs_album = make_album(app, bob_id, "Bob's", photo_ids=bobs)
    before = state(app)
    for method, url, form in [("get", f"/albums/{album}", None), ("get", f"/albums/{album}/edit", None),
                              ("get", f"/albums/{album}/delete", None),
                              ("post", f"/albums/{album}/edit", {"name": "mine"}),
                              ("post", f"/albums/{album}/move", {"parent_id": ""}),
                              ("post", f"/albums/{album}/cover", {"photo_id": ""}),
                              ("post", f"/albums/{album}/delete", {"children": "delete"}),
                              ("post", f"/albums/{bobs_album}/move", {"parent_id": str(album)}),
                              ("post", "/albums", {"name": "inside", "parent_id": str(album)}),
                              ("post", f"/photos/{bobs[0]}/albums", {"album_id": str(album)}),
                              ("post", f"/photos/{photos[0]}/albums/{album}/remove", {}),
                              ("post", f"/photos/{bobs[0]}/albums/{album}/remove", {})]:
        response = getattr(bob, method)(url, data=form)
        assert response.status_code == 404, (method, url)
        assert "Alice" not in response.get_data(as_text=True)
        assert state(app) == before
    assert "Alice's" not in bob.get("/albums").get_data(as_text=True)


# --- the trash ----------------------------------------------------------------------------------

def test_a_trashed_photo_leaves_the_album_page_and_count_and_comes_back(app, client, user_id):
    photos = add_photos(app, user_id, 2)
    parent = make_album(app, user_id, "Parent")
    album = make_album(app, user_id, "Trip", parent, photos)
    assert card_counts(soup(client, f"/albums/{parent}")) == {"Trip": "2 photos"}
    with app.app_context():
        trash.move_to_trash(user_id, [photos[0]])
    page = soup(client, f"/albums/{album}")
    assert shown_ids(page) == [photos[1]] and "1 photo" in page.h1.get_text()
    assert card_counts(soup(client, f"/albums/{parent}")) == {"Trip": "1 photo"}
    assert members(app, album) == set(photos)  # it keeps its membership
    with app.app_context():
        trash.restore_from_trash(user_id, [photos[0]])
    page = soup(client, f"/albums/{album}")
    assert sorted(shown_ids(page)) == sorted(photos) and "2 photos" in page.h1.get_text()


def test_deleting_a_photo_for_good_unsets_its_cover_and_an_account_takes_its_albums(app, client, user_id, bob_id):
    photo_id = upload_as(client, jpeg(), "lake.jpg")
    album = make_album(app, user_id, "Lake", photo_ids=[photo_id])
    client.post(f"/albums/{album}/cover", data={"photo_id": str(photo_id)})
    make_album(app, bob_id, "Bob's")
    assert client.post(f"/photos/{photo_id}/delete").status_code == 302
    assert client.post(f"/photos/{photo_id}/purge").status_code == 302
    with app.app_context():
        assert db.session.get_one(Album, album).cover_photo_id is None
        assert members(app, album) == set()
        from app.services.users import delete_user
        delete_user(db.session.get_one(User, user_id))
        assert [a.name for a in db.session.scalars(select(Album))] == ["Bob's"]


# --- at the same moment --------------------------------------------------------------------------

def test_crossing_moves_at_once_never_make_a_cycle(app, user_id):
    a, b = make_album(app, user_id, "A"), make_album(app, user_id, "B")
    tabs = [log_in(app.test_client(), user_id) for _ in range(2)]
    answers = run_together([lambda: tabs[0].post(f"/albums/{a}/move", data={"parent_id": str(b)}, headers=JSON),
                            lambda: tabs[1].post(f"/albums/{b}/move", data={"parent_id": str(a)}, headers=JSON)])
    assert sorted(answer.status_code for answer in answers) == [200, 400]
    paths = albums_by_name(app)
    assert paths in ({"A": (None, "A"), "B": ("A", "A/B")}, {"A": ("B", "B/A"), "B": (None, "B")})


def test_adds_and_removes_at_once_leave_the_right_rows_and_counts(app, client, user_id):
    photos = add_photos(app, user_id, 40)
    album = make_album(app, user_id, "Busy", photo_ids=photos[30:])
    assert "10 photos" in soup(client, f"/albums/{album}").h1.get_text()  # cached now
    tabs = [log_in(app.test_client(), user_id) for _ in range(4)]

    def send(tab, form):
        return lambda: tab.post("/selection", data={**form, "next": "/"}, headers=JSON)

    answers = run_together([
        send(tabs[0], {"action": "add_to_album", "album_id": str(album), "ids": [str(p) for p in photos[:20]]}),
        send(tabs[1], {"action": "add_to_album", "album_id": str(album), "ids": [str(p) for p in photos[10:30]]}),
        send(tabs[2], {"action": "remove_from_album", "from_album": str(album), "ids": [str(p) for p in photos[35:]]}),
        send(tabs[3], {"action": "trash", "ids": [str(p) for p in photos[:5]]})])
    assert [answer.status_code for answer in answers] == [200] * 4
    assert members(app, album) == set(photos[:35])
    assert "30 photos" in soup(client, f"/albums/{album}").h1.get_text()  # 35 in it, 5 of them in the trash


# --- the album page -----------------------------------------------------------------------------

def test_album_page_pages_across_two_pages_in_each_sort(app, client, user_id):
    ids = add_photos(app, user_id, 7)
    album = make_album(app, user_id, "Four", photo_ids=ids[:4])
    inside = ids[:4]
    for query, order in [("", inside[::-1]), ("?order=oldest", inside),
                         ("?sort=added", inside), ("?sort=added&order=oldest", inside[::-1])]:
        seen, url, pages = [], f"/albums/{album}{query}", 0
        while url:
            page = soup(client, url)
            found = shown_ids(page)
            assert len(found) <= PAGE_SIZE
            seen += found
            pages += 1
            link = page.select_one('nav.pager a[rel="next"]')
            url = link["href"] if link else None
        assert seen == order and pages == 2, query


def test_album_page_takes_three_statements_cold_and_one_warm(app, client, user_id):
    ids = add_photos(app, user_id, 5)
    top = make_album(app, user_id, "Top")
    album = make_album(app, user_id, "Here", top, ids)
    for i in range(3):
        make_album(app, user_id, f"Child {i}", album, ids[i:i + 2])
    seen = []
    with app.app_context():
        engine = db.engine
    client.get("/upload")
    listener = lambda conn, cursor, statement, *args: seen.append(statement)  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        with app.app_context():
            cache.clear()
        response = client.get(f"/albums/{album}")
        cold = list(seen)
        seen.clear()
        again = client.get(f"/albums/{album}")
        warm = list(seen)
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert response.status_code == again.status_code == 200
    assert len(cold) <= 3, cold  # the user, the album with its breadcrumb and sub-albums, the page's photos
    assert len(warm) == 1, warm
    page = BeautifulSoup(response.get_data(as_text=True), "html.parser")
    assert card_counts(page) == {"Child 0": "2 photos", "Child 1": "2 photos", "Child 2": "2 photos"}
    assert [a.get_text() for a in page.select("nav.breadcrumb a")] == ["Albums", "Top"]


def test_selection_on_an_album_page_offers_remove_from_this_album(app, client, user_id):
    ids = add_photos(app, user_id, 2)
    album = make_album(app, user_id, "Here", photo_ids=ids)
    page = soup(client, f"/albums/{album}")
    form = page.select_one("form#selection")
    assert form.select_one("input[name=from_album]")["value"] == str(album)
    options = [o["value"] for o in form.select("select[name=action] option")]
    assert options[0] == "remove_from_album" and "add_to_album" in options
    assert len(page.select("ul.grid[data-selectable] input[form=selection]")) == 2
    response = client.post("/selection", data={"action": "remove_from_album", "from_album": str(album),
                                                "ids": [str(ids[0])], "next": f"/albums/{album}"})
    assert response.status_code == 303 and response.location == f"/albums/{album}"
    assert shown_ids(soup(client, f"/albums/{album}")) == [ids[1]]


# --- pure ---------------------------------------------------------------------------------------

def test_tree_order_and_paths():
    choice = album_service.AlbumChoice
    choices = [choice(3, "b", 1, "/1/3/"), choice(1, "Zed", 0, "/1/"), choice(2, "alpha", 0, "/2/"),
               choice(4, "A", 1, "/1/4/"), choice(5, "deep", 2, "/1/3/5/"), choice(9, "lost", 1, "/8/9/")]
    assert [c.id for c in album_service.tree_order(choices)] == [2, 1, 4, 3, 5]
    assert album_service.parent_path("/1/3/5/", 5) == "/1/3/" and album_service.parent_path("/1/", 1) == "/"
    assert album_service.album_parent_id("/1/3/5/", 5) == 3 and album_service.album_parent_id("/1/", 1) is None
    assert album_service.is_within("/1/3/5/", "/1/3/") and not album_service.is_within("/1/30/", "/1/3/")
