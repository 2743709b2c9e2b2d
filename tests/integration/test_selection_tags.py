"""Tags through a selection (POST /selection: "Add a tag", "Remove a tag", a tag page's "Remove from
<tag>"), a tag's page as a selectable grid, and the organise issue's round trip: a thousand photos
through the trash and back, every tag, rating, favourite and count as before; on both databases."""
from __future__ import annotations

import pytest
from sqlalchemy import event, select
from test_selection import act, add_photos, counts, html, rows  # noqa: F401  (counts, rows: fixtures)
from testapp import JSON, log_in

from app.extensions import db
from app.models import Album, PhotoTag, Tag, User


@pytest.fixture
def app_config():
    return {"PAGE_SIZE": 500}  # the round trip reads every page of a thousand photos: two a view


@pytest.fixture
def tagging(app, user_id):
    """tagging() -> every account's tags {(owner, name): its photos' ids}, and alice's library version."""
    def read() -> tuple[dict, int]:
        with app.app_context():
            links = db.session.execute(select(Tag.owner_id, Tag.name, PhotoTag.photo_id)
                                       .outerjoin(PhotoTag, PhotoTag.tag_id == Tag.id)).all()
            found: dict[tuple, set] = {}
            for owner, name, photo_id in links:
                found.setdefault((owner, name), set()).update([photo_id] if photo_id else [])
            return found, db.session.scalar(select(User.library_version).where(User.id == user_id))
    return read


def tag_id(app, owner_id: int, name: str) -> int:
    with app.app_context():
        return db.session.scalar(select(Tag.id).where(Tag.owner_id == owner_id, Tag.name == name))


def shown(client, url: str) -> list[int]:
    """The ids a grid page shows, following its "next" links to the end."""
    ids = []
    while url:
        page = html(client.get(url))
        ids += [int(a["href"].split("?")[0].rsplit("/", 1)[1]) for a in page.select("ul.grid li > a")]
        following = page.select_one('nav.pager a[rel="next"]')
        url = following["href"] if following else None
    return ids


# --- "Add a tag" and "Remove a tag" ------------------------------------------------------------------

def test_add_a_tag_to_a_selection_then_remove_it(app, client, user_id, bob_id, tagging):
    ids = add_photos(app, user_id, 6)
    add_photos(app, bob_id, 2, start=100)
    response = act(client, ids[1:4], "tag", tag="  Sea trip ", next="/?sort=added")
    assert response.status_code == 303 and response.headers["Location"] == "/?sort=added"
    trip = tag_id(app, user_id, "Sea trip")
    message = html(client.get("/?sort=added")).select_one(".flashes li span")
    assert message.get_text() == "Tagged 3 photos “Sea trip”."
    assert message.a["href"] == f"/tags/{trip}"
    assert sorted(shown(client, f"/tags/{trip}")) == ids[1:4]

    again = act(client, ids[:3], "tag", tag="sea TRIP", json=True)  # the same tag, however it is typed
    assert again.json == {"action": "tag", "selected": 3, "changed": 1, "next": "/"}
    assert tagging()[0] == {(user_id, "Sea trip"): set(ids[:4])}

    removed = act(client, [ids[0], ids[3], ids[5]], "untag", tag="Sea Trip")
    assert removed.status_code == 303
    assert html(client.get("/")).select_one(".flashes li span").get_text() == (
        "Removed the tag “Sea trip” from 2 photos. The other one did not have it.")
    assert tagging()[0] == {(user_id, "Sea trip"): set(ids[1:3])}


def undo(client, url: str):
    """Press the Undo of the flash message `url` shows, as a browser would post its form."""
    form = html(client.get(url)).select_one(".flashes form.undo")
    return client.post(form["action"], data={field["name"]: field["value"] for field in form.select("input")})


def test_the_undo_of_a_tag_action_changes_back_exactly_the_photos_it_changed(app, client, user_id, tagging):
    ids = add_photos(app, user_id, 5)
    act(client, ids[:2], "tag", tag="Kept")
    client.get("/")  # shows (and so clears) its message
    act(client, ids[1:4], "tag", tag="kept", next="/?order=oldest")  # ids[1] had it already
    assert undo(client, "/?order=oldest").headers["Location"] == "/?order=oldest"
    assert tagging()[0] == {(user_id, "Kept"): set(ids[:2])}  # ids[1] keeps it
    assert "Removed the tag “Kept” from 2 photos." in html(client.get("/")).select_one(".flashes").get_text()

    act(client, ids[1:], "untag", tag="KEPT")  # ids[2:] never had it
    assert tagging()[0] == {(user_id, "Kept"): {ids[0]}}
    undo(client, "/")
    assert tagging()[0] == {(user_id, "Kept"): set(ids[:2])}
    assert "Tagged 1 photo “Kept”." in html(client.get("/")).select_one(".flashes").get_text()


def test_tagging_a_thousand_is_one_transaction_of_a_few_statements(app, client, user_id, tagging):
    ids = add_photos(app, user_id, 1000)
    client.get("/")  # the session's first request reads the user; count only the action's own
    _, version = tagging()
    with app.app_context():
        engine = db.engine
    commits, statements = [], []

    def on_commit(connection):
        commits.append(connection)

    def on_statement(connection, cursor, statement, *args):
        statements.append(statement)

    event.listen(engine, "commit", on_commit)
    event.listen(engine, "before_cursor_execute", on_statement)
    try:
        assert act(client, ids, "tag", tag="bulk", json=True).json["changed"] == 1000
    finally:
        event.remove(engine, "commit", on_commit)
        event.remove(engine, "before_cursor_execute", on_statement)
    assert len(commits) <= 2  # the action's, and the login session's last-seen touch at most
    assert len(statements) <= 14, statements  # set-based: not a statement a photo
    found, after = tagging()
    assert found == {(user_id, "bulk"): set(ids)} and after == version + 1


@pytest.mark.parametrize("action, tag, status, words", [
    ("tag", None, 400, "A tag needs a name"),
    ("tag", "   ", 400, "A tag needs a name"),
    ("untag", "", 400, "A tag needs a name"),
    ("tag", "x" * 101, 400, "at most 100 characters; this one has 101"),
    ("tag", "new\nline", 400, "control characters"),
    ("tag", "nul\x00", 400, "control characters"),
    ("tag", "bidi\u202eevil", 400, "control characters"),
    ("tag", "a, b", 400, "cannot hold a comma"),
    ("untag", "never made", 404, "You have no tag named “never made”: nothing was changed."),
    ("untag", "bob's", 404, "You have no tag named “bob's”"),  # another account's tag is unknown
])
def test_a_bad_tag_is_a_4xx_in_words_and_changes_nothing(app, client, user_id, bob_id, tagging, rows,
                                                         action, tag, status, words):
    ids = add_photos(app, user_id, 3)
    bobs = add_photos(app, bob_id, 1, start=100)
    assert act(client, ids[:1], "tag", tag="kept").status_code == 303
    assert act(log_in(app.test_client(), bob_id), bobs, "tag", tag="bob's").status_code == 303
    before, before_rows = tagging(), rows()
    response = act(client, ids, action, json=True, **({} if tag is None else {"tag": tag}))
    assert response.status_code == status and words in response.json["error"]
    assert tagging() == before and rows() == before_rows


@pytest.mark.parametrize("action", ["tag", "untag"])
def test_a_foreign_or_unknown_id_refuses_the_whole_tagging(app, client, user_id, bob_id, tagging, action):
    ids = add_photos(app, user_id, 4)
    bobs = add_photos(app, bob_id, 1, start=100)
    assert act(client, ids[:2], "tag", tag="kept").status_code == 303
    before = tagging()
    for intruder in (bobs[0], bobs[0] + 1000):
        response = act(client, ids + [intruder], action, tag="kept", json=True)
        assert response.status_code == 404
        assert response.json["error"] == "1 of the 5 selected photos is not in your gallery; nothing was changed."
        assert tagging() == before


# --- a tag's page is a selectable grid ---------------------------------------------------------------

def test_a_tag_page_offers_the_selection_and_removes_its_own_tag_without_javascript(app, client, user_id,
                                                                                   tagging):
    ids = add_photos(app, user_id, 5)
    act(client, ids, "tag", tag="Holiday")
    holiday = tag_id(app, user_id, "Holiday")
    url = f"/tags/{holiday}?order=oldest"
    page = html(client.get(url))
    form = page.select_one("form#selection")
    assert [o["value"] for o in form.select("select[name=action] option")] == [
        "favourite", "unfavourite", "rate", "tag", "untag", "add_to_album", "trash", "download", "compare"]
    boxes = page.select("ul.grid li input[type=checkbox][name=ids][form=selection]")
    assert [int(box["value"]) for box in boxes] == ids
    button = form.select_one('button[name="untag"]')
    assert button.get_text() == "Remove from “Holiday”" and button["value"] == "Holiday"

    # What the browser sends for that button: the form's fields, the ticked boxes, the button's pair.
    data = {field["name"]: field["value"] for field in form.select("input[type=hidden]")}
    data.update(action="favourite", tag="", untag=button["value"], ids=[boxes[1]["value"], boxes[3]["value"]])
    response = client.post(form["action"], data=data)
    assert response.status_code == 303 and response.headers["Location"] == url
    assert tagging()[0] == {(user_id, "Holiday"): {ids[0], ids[2], ids[4]}}
    after = html(client.get(url))
    assert "Removed the tag “Holiday” from 2 photos." in after.select_one(".flashes").get_text()
    assert [int(box["value"]) for box in after.select("ul.grid input[name=ids]")] == [ids[0], ids[2], ids[4]]
    assert after.select_one("h1 .subtitle").get_text() == "3 photos"


def test_the_tag_field_lists_the_owners_tags_as_json(app, client, user_id, bob_id):
    ids = add_photos(app, user_id, 2)
    act(client, ids, "tag", tag="b")
    act(client, ids[:1], "tag", tag="A")
    response = client.get("/tags", headers=JSON)
    assert [(tag["name"], tag["photos"]) for tag in response.json["tags"]] == [("A", 1), ("b", 2)]


# --- the organise issue's round trip -----------------------------------------------------------------

def album_views(client, app, owner_id) -> dict:
    """Each of the owner's album pages (its heading with the count, and every photo it shows), and the
    album cards with their counts on /albums and on each album's page."""
    with app.app_context():
        album_ids = db.session.scalars(select(Album.id).where(Album.owner_id == owner_id).order_by(Album.id)).all()
    found: dict = {"/albums": [card.get_text(" ", strip=True) for card in html(client.get("/albums")).select(
        "ul.album-cards li")]}
    for album_id in album_ids:
        url = f"/albums/{album_id}"
        page = html(client.get(url))
        found[url] = (page.select_one("h1").get_text(" ", strip=True),
                      [card.get_text(" ", strip=True) for card in page.select("ul.album-cards li")], shown(client, url))
    return found


def make_album(client, name: str, parent_id: int | None = None) -> int:
    response = client.post("/albums", data={"name": name, "parent_id": parent_id or ""}, headers=JSON)
    assert response.status_code in (200, 201), response.get_data(as_text=True)
    return response.json["album"]["id"]


def views(client, app, owner_id, tag_names) -> dict:
    """What a person checks: the header counts, the filters' photos, each tag's page and the tags page."""
    found: dict = {"heading": html(client.get("/")).select_one("section.toolbar h1").get_text(),
                   "trash link": html(client.get("/")).select_one("a.trash-link").get_text(" ", strip=True)}
    for url in ("/", "/?favourites=1", "/?rating=3", "/?rating=5", "/?source=generated&favourites=1"):
        found[url] = shown(client, url)
    for name in tag_names:
        url = f"/tags/{tag_id(app, owner_id, name)}"
        found[url] = (html(client.get(url)).select_one("h1").get_text(" ", strip=True), shown(client, url),
                      shown(client, f"{url}?rating=3&favourites=1"))
    found["/tags"] = html(client.get("/tags")).select_one("main").get_text(" ", strip=True)
    found.update(album_views(client, app, owner_id))
    return found


def test_a_thousand_photos_through_the_trash_and_back_keep_every_album_tag_rating_favourite_and_count(
        app, client, user_id, bob_id, counts, rows, tagging):
    ids = add_photos(app, user_id, 1000)  # 600 uploaded, 400 generated
    add_photos(app, bob_id, 5, start=5000)
    trip = make_album(client, "Trip")
    day = make_album(client, "Day one", trip)
    for selected, album in [(ids[:300], trip), (ids[250:600], day)]:
        assert act(client, selected, "add_to_album", json=True, album_id=str(album)).status_code == 200
    for selected, action, form in [(ids, "tag", {"tag": "Everything"}), (ids[::3], "tag", {"tag": "Thirds"}),
                                   (ids[500:510], "tag", {"tag": "Ten"}), (ids[:400], "rate", {"rating": "3"}),
                                   (ids[:90], "rate", {"rating": "5"}), (ids[::7], "favourite", {})]:
        assert act(client, selected, action, json=True, **form).status_code == 200
    names = ["Everything", "Thirds", "Ten"]
    before, before_rows, before_tags, before_counts = views(client, app, user_id, names), rows(), tagging(), counts()
    assert before["heading"] == "1000 photos" and len(before["/"]) == 1000
    assert len(before["/?favourites=1"]) == 143 and len(before["/?rating=5"]) == 90
    assert before[f"/tags/{tag_id(app, user_id, 'Thirds')}"][0] == "Thirds 334 photos"
    assert before[f"/albums/{day}"][0] == "Day one 350 photos" and len(before[f"/albums/{day}"][2]) == 350
    assert before["/albums"] == ["Trip 300 photos · 1 album"]

    assert act(client, ids, "trash", json=True).json["changed"] == 1000
    trashed = views(client, app, user_id, names)
    assert trashed["heading"] == "0 photos" and trashed["trash link"] == "Trash 1000"
    assert trashed["/?favourites=1"] == [] and trashed[f"/tags/{tag_id(app, user_id, 'Ten')}"][:2] == (
        "Ten 0 photos", [])
    assert tagging()[0] == before_tags[0]  # the trash keeps the tags: they show again on restore
    assert trashed[f"/albums/{trip}"] == ("Trip 0 photos", ["▦ Day one 0 photos"], [])  # no cover: the mark

    assert act(client, ids, "restore", json=True).json["changed"] == 1000
    assert views(client, app, user_id, names) == before
    assert rows() == before_rows and counts() == before_counts == (600, 400, 0)
    assert tagging()[0] == before_tags[0]
