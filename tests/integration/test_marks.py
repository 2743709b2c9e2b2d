"""Favourites and ratings on a photo's page: the heart and the stars as plain forms (POST, back to the
page) and as the page's script sends them (JSON); bad values refused in words, changing nothing; the
grid's cached pages follow every change."""
from __future__ import annotations

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import Photo, User
from testapp import JSON, jpeg, upload_as


@pytest.fixture
def photo_id(client) -> int:
    return upload_as(client, jpeg(), "lake.jpg")


@pytest.fixture
def marks(app):
    """marks(photo_id) -> (favourite, rating, the owner's library version) as the database holds them."""
    def read(photo_id: int) -> tuple[bool, int, int]:
        with app.app_context():
            row = db.session.execute(select(Photo.favourite, Photo.rating, User.library_version)
                                     .join(User, User.id == Photo.owner_id).where(Photo.id == photo_id)).one()
            return bool(row.favourite), row.rating, row.library_version
    return read


def page(client, url: str) -> BeautifulSoup:
    response = client.get(url)
    assert response.status_code == 200
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def test_a_new_photo_is_no_favourite_and_unrated(client, photo_id, marks):
    assert marks(photo_id)[:2] == (False, 0)
    shown = page(client, f"/photos/{photo_id}")
    heart = shown.select_one('form[data-mark="favourite"] button[name=favourite]')
    assert heart["aria-pressed"] == "false" and heart["value"] == "1"
    assert [star["aria-pressed"] for star in shown.select("button.star")] == ["false"] * 5


def test_the_heart_without_javascript_marks_and_unmarks_and_comes_back(client, photo_id, marks):
    before = marks(photo_id)
    response = client.post(f"/photos/{photo_id}/favourite?sort=added&order=oldest", data={"favourite": "1"})
    assert response.status_code == 303
    assert response.location == f"/photos/{photo_id}?sort=added&order=oldest"  # back, in the same grid order
    assert marks(photo_id)[:2] == (True, 0)
    assert marks(photo_id)[2] != before[2]  # the owner's cached reads retired
    heart = page(client, response.location).select_one('form[data-mark="favourite"] button[name=favourite]')
    assert heart["aria-pressed"] == "true" and heart["value"] == "0"  # pressing it again unmarks

    assert client.post(f"/photos/{photo_id}/favourite", data={"favourite": "0"}).status_code == 303
    assert marks(photo_id)[:2] == (False, 0)


def test_the_stars_without_javascript(client, photo_id, marks):
    response = client.post(f"/photos/{photo_id}/rating", data={"rating": "4"})
    assert response.status_code == 303 and response.location == f"/photos/{photo_id}"
    assert marks(photo_id)[:2] == (False, 4)
    stars = page(client, f"/photos/{photo_id}").select("button.star")
    assert [star["aria-pressed"] for star in stars] == ["true"] * 4 + ["false"]
    assert [star["value"] for star in stars] == ["1", "2", "3", "0", "5"]  # the fourth again clears
    client.post(f"/photos/{photo_id}/rating", data={"rating": "0"})
    assert marks(photo_id)[:2] == (False, 0)


def test_heart_and_stars_with_json(client, photo_id, marks):
    response = client.post(f"/photos/{photo_id}/favourite", data={"favourite": "1"}, headers=JSON)
    assert response.status_code == 200
    assert response.json == {"photo": {"id": photo_id, "favourite": True, "rating": 0}}
    response = client.post(f"/photos/{photo_id}/rating", data={"rating": "5"}, headers=JSON)
    assert response.status_code == 200
    assert response.json == {"photo": {"id": photo_id, "favourite": True, "rating": 5}}
    assert marks(photo_id)[:2] == (True, 5)


def test_the_same_value_again_changes_nothing(client, photo_id, marks):
    client.post(f"/photos/{photo_id}/rating", data={"rating": "3"}, headers=JSON)
    before = marks(photo_id)
    response = client.post(f"/photos/{photo_id}/rating", data={"rating": "3"}, headers=JSON)
    assert response.status_code == 200 and response.json["photo"]["rating"] == 3
    assert marks(photo_id) == before  # not even the library version: nothing cached went stale


@pytest.mark.parametrize("value", ["7", "6", "-1", "x", "", "3.0", " 3", "٣"])
@pytest.mark.parametrize("json", [True, False])
def test_a_bad_rating_is_refused_in_words_and_changes_nothing(client, photo_id, marks, value, json):
    client.post(f"/photos/{photo_id}/rating", data={"rating": "2"})
    before = marks(photo_id)
    response = client.post(f"/photos/{photo_id}/rating", data={"rating": value}, headers=JSON if json else {})
    assert response.status_code == 400
    text = response.json["error"] if json else response.get_data(as_text=True)
    assert "rating is a whole number of stars from 0 to 5" in text
    assert marks(photo_id) == before


@pytest.mark.parametrize("form", [{}, {"favourite": "yes"}, {"favourite": "2"}, {"rating": "1"}])
def test_a_bad_favourite_is_refused_in_words_and_changes_nothing(client, photo_id, marks, form):
    before = marks(photo_id)
    response = client.post(f"/photos/{photo_id}/favourite", data=form, headers=JSON)
    assert response.status_code == 400
    assert "favourite=1" in response.json["error"]
    assert marks(photo_id) == before


def test_a_bad_grid_choice_on_the_form_url_changes_nothing(client, photo_id, marks):
    before = marks(photo_id)
    response = client.post(f"/photos/{photo_id}/rating?sort=random", data={"rating": "4"})
    assert response.status_code == 400
    assert marks(photo_id) == before


@pytest.mark.parametrize("route, form", [("favourite", {"favourite": "1"}), ("rating", {"rating": "5"})])
def test_another_accounts_photo_is_not_found(app, client, bob, photo_id, marks, route, form):
    before = marks(photo_id)
    for headers in ({}, JSON):
        assert bob.post(f"/photos/{photo_id}/{route}", data=form, headers=headers).status_code == 404
    assert client.post(f"/photos/{photo_id + 1000}/{route}", data=form).status_code == 404
    assert marks(photo_id) == before


def test_the_database_refuses_a_rating_out_of_range(app, photo_id):
    """The CHECK constraint of the migration, on either backend: no write path can store 7 stars."""
    with app.app_context():
        with pytest.raises(IntegrityError):
            db.session.execute(update(Photo).where(Photo.id == photo_id).values(rating=7))
            db.session.flush()
        db.session.rollback()


def test_the_cached_grid_follows_the_heart_and_the_filters(client, photo_id):
    other = upload_as(client, jpeg((10, 200, 30)), "forest.jpg")

    def hearts(url: str) -> dict[int, str]:
        shown = page(client, url)
        return {int(li.a["href"].split("?")[0].rsplit("/", 1)[1]): li.select_one("button.heart")["aria-pressed"]
                for li in shown.select("ul.grid li:not(.heading)")}

    assert hearts("/") == {photo_id: "false", other: "false"}
    assert hearts("/?favourites=1") == {}  # both pages are cached now
    client.post(f"/photos/{photo_id}/favourite", data={"favourite": "1"}, headers=JSON)
    assert hearts("/") == {photo_id: "true", other: "false"}
    assert hearts("/?favourites=1") == {photo_id: "true"}
    client.post(f"/photos/{other}/rating", data={"rating": "4"}, headers=JSON)
    assert hearts("/?rating=4") == {other: "false"}
    assert hearts("/?rating=4&favourites=1") == {}
