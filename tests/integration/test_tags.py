"""Tags: added and removed on a photo's page (plain forms), the owner's tags with counts, a tag's page
(the grid's paging, sort and filters, only its photos, never the trash), rename and merge, delete
(the photos stay), bad names refused in words changing nothing, another account's tag a 404, and a
thousand photos tagged in one transaction."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import event, func, select

from app.extensions import db
from app.models import Photo, PhotoTag, Tag, User
from app.services import tags as tag_service
from app.services import trash
from testapp import JSON, jpeg, upload_as

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
    """`count` photo rows of `owner_id`, taken an hour apart (the later, the larger the id)."""
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


def tag_names(app, photo_id: int) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(Tag.name).join(PhotoTag, PhotoTag.tag_id == Tag.id)
                                       .where(PhotoTag.photo_id == photo_id).order_by(Tag.name_key)))


def state(app) -> tuple:
    """Every tag and link, to tell that a refused request changed nothing."""
    with app.app_context():
        return (sorted(db.session.execute(select(Tag.id, Tag.owner_id, Tag.name, Tag.name_key)).all()),
                sorted(db.session.execute(select(PhotoTag.photo_id, PhotoTag.tag_id)).all()))


def version(app, user_id: int) -> int:
    with app.app_context():
        return db.session.scalar(select(User.library_version).where(User.id == user_id))


def tag_id_of(app, owner_id: int, name: str) -> int:
    with app.app_context():
        return db.session.scalar(select(Tag.id).where(Tag.owner_id == owner_id, Tag.name == name))


def shown_ids(page: BeautifulSoup) -> list[int]:
    return [int(a["href"].split("?")[0].rsplit("/", 1)[1]) for a in page.select("ul.grid li a")]


# --- a photo's page -----------------------------------------------------------------------

def test_add_and_remove_tags_on_the_photo_page_without_javascript(app, client, user_id):
    photo_id = upload_as(client, jpeg(), "lake.jpg")
    before = version(app, user_id)
    response = client.post(f"/photos/{photo_id}/tags", data={"names": " Beach, sunset ,beach,, Ünïcode "})
    assert response.status_code == 303 and response.location == f"/photos/{photo_id}"
    assert tag_names(app, photo_id) == ["Beach", "sunset", "Ünïcode"]  # trimmed, one per name whatever its case
    assert version(app, user_id) != before  # the owner's cached reads retired

    chips = soup(client, f"/photos/{photo_id}").select("section.tags li.chip")
    assert [chip.a.get_text(strip=True) for chip in chips] == ["Beach", "sunset", "Ünïcode"]
    remove = chips[1].form["action"]
    assert client.post(remove).status_code == 303
    assert tag_names(app, photo_id) == ["Beach", "Ünïcode"]
    # Adding "BEACH" again is the same tag, not a second one.
    client.post(f"/photos/{photo_id}/tags", data={"names": "BEACH"})
    with app.app_context():
        assert db.session.scalar(select(func.count(Tag.id))) == 3  # sunset stays, without photos


@pytest.mark.parametrize("names", ["", " , ", "x" * 101, "bad\x00name", "line\nbreak", "right\u202eleft",
                                   "ok, zero\u200bwidth"])
def test_bad_names_are_a_400_in_words_and_change_nothing(app, client, user_id, names):
    photo_id = upload_as(client, jpeg(), "lake.jpg")
    client.post(f"/photos/{photo_id}/tags", data={"names": "kept"})
    before = state(app)
    response = client.post(f"/photos/{photo_id}/tags", data={"names": names}, headers=JSON)
    assert response.status_code == 400
    assert "tag" in response.get_data(as_text=True).lower()
    assert state(app) == before
    tag_id = tag_id_of(app, user_id, "kept")
    response = client.post(f"/tags/{tag_id}/rename", data={"name": names or " "})
    assert response.status_code == 400
    assert state(app) == before


def test_another_accounts_tag_is_a_404(app, client, user_id, bob):
    photo_id = upload_as(client, jpeg(), "lake.jpg")
    client.post(f"/photos/{photo_id}/tags", data={"names": "mine"})
    tag_id = tag_id_of(app, user_id, "mine")
    before = state(app)
    assert bob.get(f"/tags/{tag_id}").status_code == 404
    assert bob.post(f"/tags/{tag_id}/rename", data={"name": "stolen"}).status_code == 404
    assert bob.post(f"/tags/{tag_id}/delete").status_code == 404
    assert state(app) == before
    assert "mine" not in bob.get("/tags").get_data(as_text=True)


# --- the tag page ----------------------------------------------------------------------------

def test_tag_page_lists_exactly_its_photos_with_paging_and_sort(app, client, user_id, make_user):
    ids = add_photos(app, user_id, 7)
    bob_id = make_user("bob")
    bobs = add_photos(app, bob_id, 1, start=50)
    with app.app_context():
        alice = db.session.get_one(User, user_id)
        tag = tag_service.tag_photos(alice, ids[:5], ["Trip"])[0]
        tag_service.tag_photos(db.session.get_one(User, bob_id), bobs, ["Trip"])  # bob's own tag of that name
        tag_id = tag.id
    tagged = ids[:5]
    for query, order in [("", tagged[::-1]), ("?order=oldest", tagged),
                         ("?sort=added", tagged), ("?sort=added&order=oldest", tagged[::-1])]:
        seen, url = [], f"/tags/{tag_id}{query}"
        while url:
            page = soup(client, url)
            found = shown_ids(page)
            assert len(found) <= PAGE_SIZE
            seen += found
            link = page.select_one('nav.pager a[rel="next"]')
            url = link["href"] if link else None
        assert seen == order, query
    assert "5 photos" in soup(client, f"/tags/{tag_id}").h1.get_text()


def test_tags_page_counts_and_the_trash_is_left_out(app, client, user_id):
    ids = add_photos(app, user_id, 3)
    with app.app_context():
        alice = db.session.get_one(User, user_id)
        tag_id = tag_service.tag_photos(alice, ids, ["Family"])[0].id
        tag_service.tag_photos(alice, ids[:1], ["Cat"])
    with app.app_context():
        trash.move_to_trash(user_id, [ids[0]])
    listed = {li.select_one(".name").get_text(strip=True): int(li.select_one(".count").get_text())
              for li in soup(client, "/tags").select("ul.tag-list li")}
    assert listed == {"Cat": 0, "Family": 2}
    page = soup(client, f"/tags/{tag_id}")
    assert sorted(shown_ids(page)) == sorted(ids[1:])  # two: one page
    assert page.select_one('a[rel="next"]') is None
    assert "2 photos" in page.h1.get_text()
    header = soup(client, "/").select_one("header.site nav")
    assert any(a.get_text(strip=True) == "Tags" and a["href"] == "/tags" for a in header.select("a"))


# --- rename, merge, delete ---------------------------------------------------------------------

def test_rename_a_tag_for_the_whole_library(app, client, user_id):
    ids = add_photos(app, user_id, 2)
    with app.app_context():
        tag_id = tag_service.tag_photos(db.session.get_one(User, user_id), ids, ["beech"])[0].id
    response = client.post(f"/tags/{tag_id}/rename", data={"name": " Beach "})
    assert response.status_code == 303 and response.location == f"/tags/{tag_id}"
    assert tag_names(app, ids[0]) == tag_names(app, ids[1]) == ["Beach"]
    response = client.post(f"/tags/{tag_id}/rename", data={"name": "BEACH"})  # only the case: the same tag
    assert response.location == f"/tags/{tag_id}" and tag_names(app, ids[0]) == ["BEACH"]


def test_renaming_onto_an_existing_name_merges_without_duplicates(app, client, user_id):
    ids = add_photos(app, user_id, 4)
    with app.app_context():
        alice = db.session.get_one(User, user_id)
        sea = tag_service.tag_photos(alice, ids[:3], ["sea"])[0].id
        ocean = tag_service.tag_photos(alice, ids[1:], ["Ocean"])[0].id
    before = version(app, user_id)
    response = client.post(f"/tags/{sea}/rename", data={"name": "ocean"})
    assert response.status_code == 303 and response.location == f"/tags/{ocean}"
    with app.app_context():
        assert db.session.get(Tag, sea) is None
        links = db.session.execute(select(PhotoTag.photo_id, PhotoTag.tag_id)).all()
    assert sorted(links) == sorted((photo_id, ocean) for photo_id in ids)  # each photo once
    assert tag_names(app, ids[0]) == ["ocean"]  # the name as typed last
    assert version(app, user_id) != before
    assert client.get(f"/tags/{sea}").status_code == 404


def test_merge_tags_service(app, user_id):
    ids = add_photos(app, user_id, 3)
    with app.app_context():
        alice = db.session.get_one(User, user_id)
        a = tag_service.tag_photos(alice, ids[:2], ["a"])[0]
        b = tag_service.tag_photos(alice, ids[1:], ["b"])[0]
        c = tag_service.tag_photos(alice, ids[:1], ["c"])[0]
        tag_service.merge_tags(alice, [a, b], into=c)
        assert [tag.name for tag in db.session.scalars(select(Tag))] == ["c"]
        assert sorted(db.session.scalars(select(PhotoTag.photo_id))) == sorted(ids)


def test_delete_a_tag_keeps_its_photos(app, client, user_id, photo_count):
    photo_id = upload_as(client, jpeg(), "lake.jpg")
    client.post(f"/photos/{photo_id}/tags", data={"names": "gone, stays"})
    tag_id = tag_id_of(app, user_id, "gone")
    response = client.post(f"/tags/{tag_id}/delete")
    assert response.status_code == 303 and response.location == "/tags"
    assert tag_names(app, photo_id) == ["stays"]
    assert client.get(f"/photos/{photo_id}").status_code == 200
    assert client.get(f"/tags/{tag_id}").status_code == 404
    with app.app_context():
        assert db.session.scalar(select(func.count(Photo.id))) == 1


# --- the list-based services -------------------------------------------------------------------

def test_tag_photos_on_a_thousand_photos_is_one_transaction(app, user_id):
    ids = add_photos(app, user_id, 1000)
    with app.app_context():
        alice = db.session.get_one(User, user_id)
        commits, statements = [], []

        def on_commit(connection):
            commits.append(connection)

        def on_statement(connection, cursor, statement, *args):
            statements.append(statement)

        event.listen(db.engine, "commit", on_commit)
        event.listen(db.engine, "before_cursor_execute", on_statement)
        try:
            tag_service.tag_photos(alice, ids, ["bulk", "second"])
        finally:
            event.remove(db.engine, "commit", on_commit)
            event.remove(db.engine, "before_cursor_execute", on_statement)
        assert len(commits) == 1
        assert len(statements) <= 10, statements  # set-based: not a statement a photo
        assert db.session.scalar(select(func.count()).select_from(PhotoTag)) == 2000
        removed = tag_service.untag_photos(alice, ids, [tag.id for tag in db.session.scalars(
            select(Tag).where(Tag.name == "bulk"))])
        assert removed == 1000


def test_a_foreign_or_unknown_photo_id_refuses_the_whole_action(app, user_id, make_user):
    ids = add_photos(app, user_id, 3)
    bobs = add_photos(app, make_user("bob"), 1, start=10)
    before = state(app)
    with app.app_context():
        alice = db.session.get_one(User, user_id)
        for wrong in (bobs, [2**30]):
            with pytest.raises(tag_service.UnknownPhotos):
                tag_service.tag_photos(alice, ids + wrong, ["x"])
    assert state(app) == before


def test_deleting_an_account_takes_its_tags_and_leaves_anothers(app, user_id, make_user):
    from app.services.users import delete_user

    bob_id = make_user("bob")
    mine, bobs = add_photos(app, user_id, 1), add_photos(app, bob_id, 1, start=5)
    with app.app_context():
        tag_service.tag_photos(db.session.get_one(User, user_id), mine, ["shared name"])
        tag_service.tag_photos(db.session.get_one(User, bob_id), bobs, ["shared name"])
        delete_user(db.session.get_one(User, bob_id))
        assert db.session.execute(select(Tag.owner_id, Tag.name)).all() == [(user_id, "shared name")]
        assert db.session.execute(select(PhotoTag.photo_id)).scalars().all() == mine
