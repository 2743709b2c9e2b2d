"""The trash: delete moves a photo there (files stay), restore brings it back, delete forever and "Empty
trash" remove rows and files for good, and what has passed GALLERY_TRASH_DAYS goes by itself."""
from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import event, select, update
from testapp import JSON, heading, jpeg, log_in, page_text, run_together, upload_as

from app.extensions import db
from app.models import Photo, User, utcnow

DAYS = 30  # GALLERY_TRASH_DAYS's default


def html(response) -> BeautifulSoup:
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


@pytest.fixture
def photo(client):
    """photo(colour, name) -> the id of a new small upload of alice's."""
    def make(colour=(200, 10, 10), name: str = "red.jpg") -> int:
        return upload_as(client, jpeg(colour), name)
    return make


@pytest.fixture
def counts(app, user_id):
    """counts() -> alice's (uploaded, generated, in the trash) as the database has them."""
    def read() -> tuple[int, int, int]:
        with app.app_context():
            user = db.session.get_one(User, user_id)
            return user.uploaded_photos, user.generated_photos, user.trashed_photos
    return read


@pytest.fixture
def trashed_at(app):
    """trashed_at(photo_id) -> the row's trashed_at; trashed_at(photo_id, when) sets it."""
    def access(photo_id: int, when: datetime | None = None):
        with app.app_context():
            if when is not None:
                db.session.execute(update(Photo).where(Photo.id == photo_id).values(trashed_at=when))
                db.session.commit()
            return db.session.scalar(select(Photo.trashed_at).where(Photo.id == photo_id))
    return access


def trash_ids(client) -> list[int]:
    page = html(client.get("/trash"))
    return [int(a["href"].rsplit("/", 1)[1]) for a in page.select("ul.grid li a.thumb")]


def grid_ids(client, path: str = "/") -> list[int]:
    return [int(a["href"].split("?")[0].rsplit("/", 1)[1]) for a in html(client.get(path)).select("ul.grid li a")]


def header_trash(client) -> str:
    return html(client.get("/")).select_one("header.site a.trash-link").get_text(" ", strip=True)


# --- delete -> trash -> restore ------------------------------------------------------------------

def test_delete_moves_to_the_trash_and_restore_brings_back_photo_files_and_counts(client, photo, data_files, counts,
                                                                                  trashed_at):
    kept, doomed = photo((10, 200, 10), "green.jpg"), photo()
    files = data_files()
    assert (heading(client), counts(), header_trash(client)) == ("2 photos", (2, 0, 0), "Trash")

    response = client.post(f"/photos/{doomed}/delete")

    assert response.status_code == 302 and response.location == "/"
    assert data_files() == files, "moving to the trash moves no file"
    assert trashed_at(doomed) is not None and trashed_at(kept) is None
    assert (heading(client), grid_ids(client), counts()) == ("1 photo", [kept], (1, 0, 1))
    assert heading(client, "/?source=uploaded") == "1 photo"
    assert header_trash(client) == "Trash 1"
    assert trash_ids(client) == [doomed]

    restored = client.post(f"/photos/{doomed}/restore")

    assert restored.status_code == 302 and restored.location == f"/photos/{doomed}"
    assert data_files() == files
    assert trashed_at(doomed) is None
    assert (heading(client), sorted(grid_ids(client)), counts()) == ("2 photos", sorted([kept, doomed]), (2, 0, 0))
    assert trash_ids(client) == []
    assert client.get(f"/photos/{doomed}/original", buffered=True).status_code == 200


def test_a_trashed_photo_is_out_of_its_neighbours_links(client, photo, trashed_at):
    first, middle, last = photo((1, 1, 1), "a.jpg"), photo((2, 2, 2), "b.jpg"), photo((3, 3, 3), "c.jpg")
    assert html(client.get(f"/photos/{last}")).select_one("link[rel=next]")["href"] == f"/photos/{middle}"

    assert client.post(f"/photos/{middle}/delete").status_code == 302

    assert html(client.get(f"/photos/{last}")).select_one("link[rel=next]")["href"] == f"/photos/{first}"
    assert html(client.get(f"/photos/{first}")).select_one("link[rel=prev]")["href"] == f"/photos/{last}"
    assert grid_ids(client) == [last, first]


def test_the_page_of_a_trashed_photo_says_so_and_offers_restore_and_delete_forever(client, photo, trashed_at):
    photo_id = photo()
    assert client.post(f"/photos/{photo_id}/delete").status_code == 302
    trashed_at(photo_id, datetime(2026, 12, 1, 9, 30))

    page = client.get(f"/photos/{photo_id}")

    assert page.status_code == 200
    assert "In the trash since 2026-12-01: it will be deleted for good on 2026-12-31 unless you restore it." \
        in page_text(page)
    soup = html(page)
    assert soup.select_one(f"div.actions form[action='/photos/{photo_id}/restore'] button").get_text() == "Restore"
    assert soup.select_one(f"a[href='/photos/{photo_id}/purge']").get_text() == "Delete forever…"
    assert soup.select_one(f"form[action='/photos/{photo_id}/delete']") is None
    assert soup.select("link[rel=prev], link[rel=next]") == []


def test_the_flash_of_a_trash_has_an_undo_that_restores(client, photo, counts):
    photo_id = photo(name="holiday.jpg")

    grid = client.post(f"/photos/{photo_id}/delete", follow_redirects=True)

    flash = html(grid).select_one("ul.flashes li")
    assert " ".join(flash.get_text(" ").split()) == "Moved holiday.jpg to the trash. Undo"
    undo = flash.select_one("form")
    assert (undo["method"], undo["action"]) == ("post", f"/photos/{photo_id}/restore")
    assert counts() == (0, 0, 1)
    assert client.post(undo["action"]).status_code == 302
    assert counts() == (1, 0, 0)


def test_the_routes_answer_json_to_a_script(client, photo, counts):
    photo_id = photo()

    trashed = client.post(f"/photos/{photo_id}/delete", headers=JSON)
    assert trashed.status_code == 200
    assert trashed.json["in_trash"] is True and trashed.json["restore_url"] == f"/photos/{photo_id}/restore"
    removal = datetime.fromisoformat(trashed.json["removal_at"])
    assert timedelta(days=DAYS - 1) < removal - utcnow() <= timedelta(days=DAYS)

    restored = client.post(f"/photos/{photo_id}/restore", headers=JSON)
    assert restored.status_code == 200 and restored.json == {"photo_id": photo_id, "in_trash": False,
                                                              "restored": True, "url": f"/photos/{photo_id}"}
    again = client.post(f"/photos/{photo_id}/restore", headers=JSON)
    assert again.json["restored"] is False and counts() == (1, 0, 0)

    refused = client.post(f"/photos/{photo_id}/purge", headers=JSON)
    assert refused.status_code == 409 and "not in the trash" in refused.json["error"]
    client.post(f"/photos/{photo_id}/delete", headers=JSON)
    assert client.post(f"/photos/{photo_id}/purge", headers=JSON).json == {"photo_id": photo_id, "deleted": True}
    assert client.post("/trash/empty", headers=JSON).json == {"deleted": 0}
    assert counts() == (0, 0, 0)


def test_a_kept_generation_goes_to_the_trash_and_back_counted_as_generated(app, client, user_id, counts):
    with app.app_context():
        generated = Photo(owner_id=user_id, source="generated", original_path="generated/completed/a.png",
                          thumbnail_ext="jpg", original_name="lighthouse.png", sha256="a" * 64, format="PNG",
                          mime_type="image/png", file_size=1, width=1, height=1, sorted_at=datetime(2026, 12, 1))
        db.session.add(generated)
        db.session.commit()
        photo_id = generated.id
    assert counts() == (0, 1, 0)
    assert client.post(f"/photos/{photo_id}/delete").status_code == 302
    assert counts() == (0, 0, 1) and heading(client, "/?source=generated") == "0 photos"
    assert client.post(f"/photos/{photo_id}/restore").status_code == 302
    assert counts() == (0, 1, 0) and heading(client, "/?source=generated") == "1 photo"


# --- counts under repeats and races --------------------------------------------------------------

def test_trashing_twice_or_restoring_twice_moves_the_count_once(client, photo, counts):
    photo_id = photo()
    photo((1, 2, 3), "other.jpg")
    for _ in range(2):
        assert client.post(f"/photos/{photo_id}/delete").status_code == 302
        assert counts() == (1, 0, 1)
    for _ in range(2):
        assert client.post(f"/photos/{photo_id}/restore").status_code == 302
        assert counts() == (2, 0, 0)


def test_two_tabs_trashing_then_restoring_the_same_photo_at_once_move_the_count_once(app, client, user_id, photo,
                                                                                     counts, runner):
    photo_id = photo()
    photo((1, 2, 3), "other.jpg")
    tabs = [client, log_in(app.test_client(), user_id)]

    trashed = run_together([lambda tab=tab: tab.post(f"/photos/{photo_id}/delete", headers=JSON) for tab in tabs])
    assert [response.status_code for response in trashed] == [200, 200]
    assert counts() == (1, 0, 1)

    restored = run_together([lambda tab=tab: tab.post(f"/photos/{photo_id}/restore", headers=JSON) for tab in tabs])
    assert sorted(response.json["restored"] for response in restored) == [False, True]
    assert counts() == (2, 0, 0)
    assert runner.invoke(args=["gallery", "check"]).exit_code == 0


def test_two_tabs_deleting_forever_at_once_delete_once(app, client, user_id, photo, counts, data_files):
    photo_id = photo()
    files = data_files()
    assert client.post(f"/photos/{photo_id}/delete").status_code == 302
    tabs = [client, log_in(app.test_client(), user_id)]

    answers = run_together([lambda tab=tab: tab.post(f"/photos/{photo_id}/purge", headers=JSON) for tab in tabs])

    assert sorted(response.status_code for response in answers) in ([200, 404], [200, 409])
    assert counts() == (0, 0, 0)
    assert data_files() < files and not any(name.startswith("photos/uploaded/") for name in data_files())


def test_a_restore_that_comes_first_keeps_the_photo_from_a_delete_forever(app, client, photo, counts, data_files):
    """A delete for good checks, under the row's lock, that the photo is still in the trash."""
    from app.services import trash as trash_service
    photo_id = photo()
    files = data_files()
    client.post(f"/photos/{photo_id}/delete")
    with app.test_request_context():
        stale = db.session.get_one(Photo, photo_id)  # read while it was in the trash
        trash_service.restore_from_trash(stale.owner_id, [photo_id])
        with pytest.raises(trash_service.NotInTrash):
            trash_service.photo_service.delete_photo(stale, from_trash=True)
    assert counts() == (1, 0, 0) and data_files() == files


# --- delete forever, empty the trash -------------------------------------------------------------

def test_delete_forever_of_a_photo_not_in_the_trash_is_refused_and_changes_nothing(client, photo, data_files, counts):
    photo_id = photo()
    files = data_files()
    refused = client.post(f"/photos/{photo_id}/purge")
    assert refused.status_code == 409
    assert "not in the trash" in page_text(refused)
    assert data_files() == files and counts() == (1, 0, 0)
    asked = client.get(f"/photos/{photo_id}/purge")
    assert asked.status_code == 302 and asked.location == f"/photos/{photo_id}"


def test_empty_trash_asks_first_then_deletes_every_trashed_photo_for_good_in_batches(app, client, photo, data_files,
                                                                                    counts, monkeypatch):
    from app.services import trash as trash_service
    monkeypatch.setattr(trash_service, "BATCH", 2)
    kept = photo((0, 0, 0), "kept.jpg")
    files_of_kept = data_files()
    doomed = [photo((i * 40, 100, 100), f"doomed-{i}.jpg") for i in range(5)]
    for photo_id in doomed:
        assert client.post(f"/photos/{photo_id}/delete").status_code == 302
    assert counts() == (1, 0, 5)

    confirm = client.get("/trash/empty")
    assert "The 5 photos in the trash will be removed from the gallery" in page_text(confirm)
    form = html(confirm).select_one("section.confirm form")
    assert (form["method"], form["action"]) == ("post", "/trash/empty")
    assert counts() == (1, 0, 5), "asking deleted nothing"

    batches = []

    def record(connection, cursor, statement, parameters, context, executemany):
        if re.match(r"SELECT photos.trashed_at, photos.id\s", statement):
            batches.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        emptied = client.post("/trash/empty")
    finally:
        event.remove(engine, "before_cursor_execute", record)

    assert emptied.status_code == 302 and emptied.location == "/trash"
    assert len(batches) == 3, "five photos read two at a time"
    assert "Emptied the trash: 5 photos deleted for good." in page_text(client.get("/trash"))
    assert data_files() == files_of_kept
    assert counts() == (1, 0, 0) and grid_ids(client) == [kept] and trash_ids(client) == []
    with app.app_context():
        assert db.session.scalars(select(Photo.id)).all() == [kept]


def test_the_trash_page_pages_by_keyset_most_recently_trashed_first(app, client, photo, trashed_at):
    app.config["PAGE_SIZE"] = 2
    ids = [photo((i, i, i), f"p{i}.jpg") for i in range(5)]
    for number, photo_id in enumerate(ids):
        client.post(f"/photos/{photo_id}/delete")
        trashed_at(photo_id, datetime(2026, 12, 1) + timedelta(hours=number))
    seen, path = [], "/trash"
    while path:
        page = html(client.get(path))
        seen.append([int(a["href"].rsplit("/", 1)[1]) for a in page.select("ul.grid li a.thumb")])
        link = page.select_one("a[rel=next]")
        path = link["href"] if link else None
    assert seen == [[ids[4], ids[3]], [ids[2], ids[1]], [ids[0]]]
    removal = html(client.get("/trash")).select_one("ul.grid li time.removal")
    assert removal.get_text() == "Kept until 2026-12-31" and removal["datetime"] == "2026-12-31T04:00:00Z"
    assert client.get("/trash?older=nonsense").status_code == 400


# --- expiry --------------------------------------------------------------------------------------

def test_purge_trash_removes_only_what_has_passed_its_days(app, client, photo, trashed_at, runner, data_files,
                                                           counts):
    kept, recent, old, older = (photo((i * 50, 0, 0), f"{name}.jpg")
                                for i, name in enumerate(["kept", "recent", "old", "older"]))
    files = data_files()
    for photo_id in (recent, old, older):
        client.post(f"/photos/{photo_id}/delete")
    now = utcnow()
    trashed_at(recent, now - timedelta(days=DAYS - 1))
    trashed_at(old, now - timedelta(days=DAYS, minutes=1))
    trashed_at(older, now - timedelta(days=400))

    result = runner.invoke(args=["gallery", "purge-trash"])

    assert result.exit_code == 0, result.output
    assert result.stdout == f"Deleted 2 photos from the trash for good (in the trash for more than {DAYS} days).\n"
    assert counts() == (1, 0, 1) and trash_ids(client) == [recent] and grid_ids(client) == [kept]
    assert len(files - data_files()) == 2 * 3, "two originals with their two thumbnails each"
    again = runner.invoke(args=["gallery", "purge-trash"])
    assert again.exit_code == 0 and again.stdout.startswith("Deleted 0 photos")


@pytest.mark.parametrize("app_config", [{"TRASH_DAYS": 2}], ids=["two days"])
def test_visiting_the_trash_page_removes_what_has_passed_its_days(app, client, photo, trashed_at, counts):
    due, fresh = photo((1, 1, 1), "due.jpg"), photo((2, 2, 2), "fresh.jpg")
    for photo_id in (due, fresh):
        client.post(f"/photos/{photo_id}/delete")
    trashed_at(due, utcnow() - timedelta(days=2, seconds=1))
    trashed_at(fresh, utcnow() - timedelta(days=1, hours=23))

    assert trash_ids(client) == [fresh]
    assert counts() == (0, 0, 1)
    assert client.get(f"/photos/{due}").status_code == 404


def test_a_visit_with_nothing_due_costs_one_query_for_the_expiry(app, client, photo):
    client.post(f"/photos/{photo()}/delete")
    asked = []

    def record(connection, cursor, statement, parameters, context, executemany):
        if "photos.trashed_at <" in statement:
            asked.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        assert client.get("/trash").status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert len(asked) == 1


# --- other accounts, check ----------------------------------------------------------------------

def test_another_accounts_photo_is_a_404_on_every_trash_route(client, bob, photo, counts, data_files):
    in_library, in_trash = photo((1, 1, 1), "a.jpg"), photo((2, 2, 2), "b.jpg")
    client.post(f"/photos/{in_trash}/delete")
    files = data_files()
    for photo_id in (in_library, in_trash):
        assert bob.get(f"/photos/{photo_id}").status_code == 404
        assert bob.get(f"/photos/{photo_id}/purge").status_code == 404
        for action in ("delete", "restore", "purge"):
            assert bob.post(f"/photos/{photo_id}/{action}").status_code == 404
    assert bob.post("/trash/empty").status_code == 302
    assert trash_ids(bob) == []
    assert counts() == (1, 0, 1) and data_files() == files


def test_gallery_check_is_clean_with_photos_in_the_trash_and_mends_a_wrong_trash_count(app, client, photo, runner,
                                                                                       user_id, counts):
    photo((1, 1, 1), "a.jpg")
    client.post(f"/photos/{photo((2, 2, 2), 'b.jpg')}/delete")

    checked = runner.invoke(args=["gallery", "check"])
    assert checked.exit_code == 0, checked.output
    assert "no row points to" not in checked.output

    with app.app_context():
        db.session.execute(update(User).where(User.id == user_id).values(uploaded_photos=2, trashed_photos=0))
        db.session.commit()
    wrong = runner.invoke(args=["gallery", "check"])
    assert wrong.exit_code == 2
    assert "account alice: says 2 uploaded photos; the database holds 1" in wrong.output
    assert "account alice: says 0 photos in the trash; the database holds 1" in wrong.output
    assert runner.invoke(args=["gallery", "check", "--repair"]).exit_code == 1
    assert counts() == (1, 0, 1)


def test_a_thousand_photos_go_to_the_trash_and_back_in_one_call_each_with_every_count(app, client, user_id,
                                                                                     counts):
    from app.services import trash as trash_service

    with app.app_context():
        db.session.add_all(Photo(owner_id=user_id, source="generated" if i % 5 < 2 else "uploaded",
                                 original_path=f"uploaded/2026-12-01/{i:04}.jpg", thumbnail_ext="jpg",
                                 original_name=f"{i}.jpg", sha256=f"{i:064}", format="JPEG", mime_type="image/jpeg",
                                 file_size=1, width=1, height=1, sorted_at=datetime(2026, 12, 1) + timedelta(seconds=i))
                           for i in range(1000))
        db.session.commit()
        ids = list(db.session.scalars(select(Photo.id)))
    assert counts() == (600, 400, 0) and heading(client) == "1000 photos"

    with app.test_request_context():
        assert trash_service.move_to_trash(user_id, ids) == 1000
    assert counts() == (0, 0, 1000) and heading(client) == "0 photos" and grid_ids(client) == []
    with app.test_request_context():
        assert trash_service.restore_from_trash(user_id, ids + [ids[0]]) == 1000
    assert counts() == (600, 400, 0) and heading(client) == "1000 photos"
