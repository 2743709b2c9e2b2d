"""Selection of many: the grid's and the trash page's checkboxes and action menu (POST /selection), on
both databases. Each action changes exactly the selected photos, all or none of them, in one request."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import select
from testapp import JSON, heading, jpeg, upload_as

from app.extensions import db
from app.models import Photo, User


def html(response) -> BeautifulSoup:
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def add_photos(app, owner_id: int, number: int, start: int = 0) -> list[int]:
    """`number` photo rows of `owner_id`'s, inserted directly (no files), two in five generated; their ids."""
    with app.app_context():
        rows = [Photo(owner_id=owner_id, source="generated" if i % 5 < 2 else "uploaded",
                      original_path=f"uploaded/2026-12-01/{owner_id}-{i:05}.jpg", thumbnail_ext="jpg",
                      original_name=f"{i}.jpg", sha256=f"{owner_id:08}{i:056}", format="JPEG",
                      mime_type="image/jpeg", file_size=1, width=1, height=1,
                      sorted_at=datetime(2026, 12, 1) + timedelta(seconds=i))
                for i in range(start, start + number)]
        db.session.add_all(rows)
        db.session.commit()
        return [row.id for row in rows]


@pytest.fixture
def rows(app):
    """rows() -> {id: (owner, favourite, rating, in the trash)} for every photo of every account."""
    def read() -> dict[int, tuple]:
        with app.app_context():
            return {row.id: (row.owner_id, row.favourite, row.rating, row.trashed_at is not None)
                    for row in db.session.execute(select(Photo.id, Photo.owner_id, Photo.favourite,
                                                         Photo.rating, Photo.trashed_at))}
    return read


@pytest.fixture
def counts(app, user_id):
    """counts() -> alice's (uploaded, generated, in the trash) as the database has them."""
    def read() -> tuple[int, int, int]:
        with app.app_context():
            user = db.session.get_one(User, user_id)
            db.session.refresh(user)
            return user.uploaded_photos, user.generated_photos, user.trashed_photos
    return read


def act(client, ids, action: str, json: bool = False, **form):
    return client.post("/selection", data={"ids": [str(i) for i in ids], "action": action, **form},
                       headers=JSON if json else None)


def changed(before: dict, after: dict) -> set[int]:
    return {photo_id for photo_id in before if before[photo_id] != after.get(photo_id)}


# --- each action changes exactly the selected photos -------------------------------------------------

@pytest.mark.parametrize("action, form, expected", [
    ("favourite", {}, lambda row: (row[0], True, row[2], row[3])),
    ("rate", {"rating": "3"}, lambda row: (row[0], row[1], 3, row[3])),
    ("trash", {}, lambda row: (row[0], row[1], row[2], True)),
])
def test_an_action_changes_exactly_the_selected_photos(app, client, user_id, bob_id, rows, action, form, expected):
    ids = add_photos(app, user_id, 10)
    add_photos(app, bob_id, 3)
    selected = ids[2:7]
    before = rows()
    response = act(client, selected, action, **form)
    assert response.status_code == 303
    after = rows()
    assert changed(before, after) == set(selected)
    assert all(after[i] == expected(before[i]) for i in selected)


def test_unfavourite_restore_and_a_rating_of_nought_undo_their_counterparts(app, client, user_id, rows):
    ids = add_photos(app, user_id, 6)
    start = rows()
    for action, form in [("favourite", {}), ("rate", {"rating": "5"}), ("trash", {})]:
        assert act(client, ids[:4], action, **form).status_code == 303
    assert changed(start, rows()) == set(ids[:4])
    for action, form in [("restore", {}), ("rate", {"rating": "0"}), ("unfavourite", {})]:
        assert act(client, ids[:4], action, **form).status_code == 303
    assert rows() == start


def test_trash_and_restore_of_a_selection_keep_every_count_and_the_undo_restores_exactly_those(
        app, client, user_id, counts, rows):
    ids = add_photos(app, user_id, 10)  # 6 uploaded, 4 generated
    assert counts() == (6, 4, 0) and heading(client) == "10 photos"
    act(client, [ids[9]], "trash")  # trashed on its own: the undo below must leave it in the trash
    client.get("/")  # shows (and so clears) its message
    selected = ids[:5]  # i = 0..4: 3 uploaded, 2 generated
    response = act(client, selected, "trash", next="/?sort=added")
    assert response.status_code == 303 and response.headers["Location"] == "/?sort=added"
    assert counts() == (2, 2, 6)
    page = html(client.get("/?sort=added"))
    assert "Moved 5 photos to the trash." in page.get_text(" ")
    undo = page.select_one("form.undo")
    data = {field["name"]: field["value"] for field in undo.select("input")}
    back = client.post(undo["action"], data=data)
    assert back.status_code == 303 and back.headers["Location"] == "/?sort=added"
    assert counts() == (5, 4, 1)
    assert {i for i, row in rows().items() if row[3]} == {ids[9]}
    page = html(client.get("/"))
    assert "Restored 5 photos." in page.get_text(" ") and page.h1.get_text() == "9 photos"


def test_delete_forever_asks_with_how_many_then_deletes_rows_and_files(app, client, user_id, counts, data_files):
    ids = [upload_as(client, jpeg((10 * i, 0, 0)), f"p{i}.jpg") for i in range(3)]
    files = data_files()
    act(client, ids[:2], "trash")
    ask = act(client, ids[:2], "delete", next="/trash")
    assert ask.status_code == 200
    page = html(ask)
    assert page.h1.get_text(strip=True) == "Delete 2 photos for good?"
    assert counts() == (1, 0, 2) and data_files() == files  # asking deleted nothing
    form = page.select_one("section.confirm form")
    data = [(field["name"], field["value"]) for field in form.select("input")]
    done = client.post("/selection", data={name: [v for n, v in data if n == name] for name, _ in data})
    assert done.status_code == 303 and done.headers["Location"] == "/trash"
    assert counts() == (1, 0, 0)
    with app.app_context():
        assert list(db.session.scalars(select(Photo.id))) == [ids[2]]
    assert len(data_files()) < len(files) and "Deleted 2 photos for good." in html(client.get("/trash")).get_text(" ")


def test_delete_forever_of_a_selection_with_a_photo_in_the_library_is_refused_whole(app, client, user_id, rows,
                                                                                     counts):
    ids = add_photos(app, user_id, 3)
    act(client, ids[:2], "trash")
    before, before_counts = rows(), counts()
    response = act(client, ids, "delete", confirm="1")
    assert response.status_code == 400 and "trash first" in response.get_data(as_text=True)
    assert rows() == before and counts() == before_counts


# --- refused, and nothing changes ------------------------------------------------------------------

@pytest.mark.parametrize("action", ["favourite", "rate", "trash", "restore", "delete"])
def test_a_foreign_or_unknown_id_among_them_refuses_the_whole_action(app, client, user_id, bob_id, rows, counts,
                                                                     action):
    ids = add_photos(app, user_id, 5)
    bobs = add_photos(app, bob_id, 2)
    act(client, ids[:2], "trash")
    before, before_counts = rows(), counts()
    for intruder in (bobs[0], max(before) + 1000):
        response = act(client, ids + [intruder], action, json=True, rating="4", confirm="1")
        assert response.status_code == 404
        assert response.json["error"] == "1 of the 6 selected photos is not in your gallery; nothing was changed."
        assert rows() == before and counts() == before_counts


@pytest.mark.parametrize("form, status, words", [
    ({"action": "favourite"}, 400, "Select at least one photo"),
    ({"action": "favourite", "ids": ""}, 400, "is not a photo id"),
    ({"action": "rate", "ids": "ID", "rating": "7"}, 400, "from 0 to 5"),
    ({"action": "rate", "ids": "ID"}, 400, "from 0 to 5"),
    ({"action": "rate", "ids": "ID", "rating": "x"}, 400, "from 0 to 5"),
    ({"action": "shred", "ids": "ID"}, 400, "is not something a selection can do"),
    ({"ids": "ID"}, 400, "is not something a selection can do"),
    ({"action": "favourite", "ids": ["ID", "abc"]}, 400, "'abc' is not a photo id"),
    ({"action": "favourite", "ids": ["ID", "-1"]}, 400, "is not a photo id"),
    ({"action": "favourite", "ids": ["ID", str(2**31)]}, 400, "is not a photo id"),
])
def test_bad_input_is_a_4xx_in_words_and_changes_nothing(app, client, user_id, rows, form, status, words):
    ids = add_photos(app, user_id, 2)
    form = {name: [str(ids[0]) if v == "ID" else v for v in ([value] if isinstance(value, str) else value)]
            for name, value in form.items()}
    before = rows()
    response = client.post("/selection", data=form, headers=JSON)
    assert response.status_code == status and words in response.json["error"]
    assert rows() == before


def test_more_than_max_selection_is_a_413_in_words(app, client, user_id, rows):
    app.config["MAX_SELECTION"] = 3
    ids = add_photos(app, user_id, 4)
    before = rows()
    response = act(client, ids, "favourite", json=True)
    assert response.status_code == 413
    assert response.json["error"] == "At most 3 photos can be changed at once; 4 were selected."
    assert rows() == before
    assert act(client, ids[:3], "favourite").status_code == 303


def test_an_unsafe_next_goes_back_to_the_grid(app, client, user_id):
    ids = add_photos(app, user_id, 1)
    for unsafe in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        assert act(client, ids, "favourite", next=unsafe).headers["Location"] == "/"


def test_a_script_gets_json(app, client, user_id):
    ids = add_photos(app, user_id, 3)
    response = act(client, ids + [ids[0]], "favourite", json=True)
    assert response.status_code == 200
    assert response.json == {"action": "favourite", "selected": 3, "changed": 3, "next": "/"}
    assert act(client, ids, "favourite", json=True).json["changed"] == 0  # already favourites


# --- a thousand photos, one request each -------------------------------------------------------------

def test_a_thousand_photos_through_favourite_trash_and_restore_one_request_each(app, client, user_id, bob_id,
                                                                              counts, rows):
    ids = add_photos(app, user_id, 1000)
    add_photos(app, bob_id, 5)
    assert counts() == (600, 400, 0) and heading(client) == "1000 photos"
    start = rows()

    assert act(client, ids, "favourite", json=True).json["changed"] == 1000
    assert act(client, ids, "trash", json=True).json["changed"] == 1000
    assert counts() == (0, 0, 1000) and heading(client) == "0 photos"
    assert act(client, ids, "restore", json=True).json["changed"] == 1000
    assert counts() == (600, 400, 0) and heading(client) == "1000 photos"
    after = rows()
    assert changed(start, after) == set(ids)
    assert all(after[i] == (user_id, True, 0, False) for i in ids)


# --- without JavaScript: the grid is a form ----------------------------------------------------------

def test_the_grid_is_a_form_with_a_checkbox_per_photo_and_an_action_menu(app, client, user_id, rows):
    ids = add_photos(app, user_id, 4)
    page = html(client.get("/?sort=added&order=oldest"))
    form = page.select_one("form#selection")
    assert form["method"] == "post" and form["action"] == "/selection"
    boxes = page.select("ul.grid li input[type=checkbox][name=ids]")
    assert sorted(int(box["value"]) for box in boxes) == ids and all(box["form"] == "selection" for box in boxes)
    actions = [option["value"] for option in form.select("select[name=action] option")]
    assert actions == ["favourite", "unfavourite", "rate", "tag", "untag", "add_to_album", "trash", "download",
                       "compare"]
    assert form.select_one("input[type=text][name=tag]")["maxlength"] == "100"
    assert [option["value"] for option in form.select("select[name=rating] option")] == list("012345")

    # What the browser sends: the form's fields with the action chosen, and the boxes ticked.
    data = {field["name"]: field["value"] for field in form.select("input[type=hidden]")}
    data.update(action="rate", rating="4", ids=[boxes[0]["value"], boxes[2]["value"]])
    response = client.post(form["action"], data=data)
    assert response.status_code == 303 and response.headers["Location"] == "/?sort=added&order=oldest"
    rated = {i for i, row in rows().items() if row[2] == 4}
    assert rated == {int(boxes[0]["value"]), int(boxes[2]["value"])}
    assert "Rated 2 photos ★★★★." in html(client.get(response.headers["Location"])).get_text(" ")


def test_the_trash_page_is_a_form_with_restore_and_delete_forever(app, client, user_id, counts):
    ids = add_photos(app, user_id, 3)
    act(client, ids, "trash")
    page = html(client.get("/trash"))
    form = page.select_one("form#selection")
    assert [option["value"] for option in form.select("select[name=action] option")] == ["restore", "delete", "compare"]
    boxes = page.select("ul.grid li input[type=checkbox][name=ids][form=selection]")
    assert len(boxes) == 3
    data = {field["name"]: field["value"] for field in form.select("input[type=hidden]")}
    data.update(action="restore", ids=[boxes[1]["value"]])
    response = client.post(form["action"], data=data)
    assert response.status_code == 303 and response.headers["Location"] == "/trash"
    uploaded, generated, trashed = counts()
    assert (uploaded + generated, trashed) == (1, 2)
    assert len(html(client.get("/trash")).select("ul.grid li")) == 2


def test_the_undo_of_two_hundred_fits_the_session_cookie_and_a_larger_trashing_points_to_the_trash(
        app, client, user_id, counts, monkeypatch):
    from app.blueprints import selection as selection_view

    ids = add_photos(app, user_id, 201)
    response = act(client, ids[:200], "trash", next="/")
    cookie = response.headers["Set-Cookie"]
    assert len(cookie) < 4000, f"the session cookie carrying the undo is {len(cookie)} bytes"
    page = html(client.get("/"))
    undo = page.select_one("form.undo")
    client.post(undo["action"], data={field["name"]: field["value"] for field in undo.select("input")})
    assert counts() == (120, 81, 0)  # every one back

    monkeypatch.setattr(selection_view, "UNDO_LIMIT", 2)
    act(client, ids[:3], "trash")
    page = html(client.get("/"))
    assert page.select_one("form.undo") is None
    assert page.select_one(".flashes a[href='/trash']").get_text() == "Restore them from the trash"
