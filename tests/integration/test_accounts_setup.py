"""Accounts, the first start: every page leads to setup until the admin is made, and setup works once."""
from __future__ import annotations

import pytest
from bs4 import BeautifulSoup
from testapp import assert_hashed, login_next, page_text


# --- first start --------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/", "/upload", "/photos/1", "/photos/1/original", "/thumbnails/1/grid",
                                  "/login", "/?source=uploaded"])
def test_with_no_account_every_page_leads_to_setup(anonymous, path):
    response = anonymous.get(path)

    assert response.status_code == 302
    assert response.headers["Location"] == "/setup"


def test_setup_makes_the_admin_and_signs_them_in(anonymous, accounts):
    page = anonymous.get("/setup")
    assert page.status_code == 200
    assert BeautifulSoup(page.data, "html.parser").select_one("form input[name=confirm]") is not None

    response = anonymous.post("/setup", data={"username": "admin", "password": "s3cret passphrase",
                                              "confirm": "s3cret passphrase"})

    assert response.status_code == 302 and response.headers["Location"] == "/"
    (admin,) = accounts().values()
    assert admin.username == "admin" and admin.is_admin
    assert_hashed(admin.password_hash, "s3cret passphrase")
    home = anonymous.get("/")
    assert home.status_code == 200
    assert "Welcome, admin" in page_text(home)


@pytest.mark.parametrize("username, password, confirm", [
    ("admin", "s3cret passphrase", "another passphrase"),  # the two differ
    ("admin", "short", "short"),  # too short
    ("", "s3cret passphrase", "s3cret passphrase"),  # no name
    ("has space", "s3cret passphrase", "s3cret passphrase"),  # not a user name
    ("x" * 65, "s3cret passphrase", "s3cret passphrase"),  # too long
])
def test_setup_refuses_a_bad_admin_and_makes_nothing(anonymous, accounts, username, password, confirm):
    response = anonymous.post("/setup", data={"username": username, "password": password, "confirm": confirm})

    assert response.status_code == 200
    assert BeautifulSoup(response.data, "html.parser").select(".field-error")
    assert accounts() == {}
    assert anonymous.get("/").headers["Location"] == "/setup"


def test_setup_works_once_only(anonymous, accounts):
    first = {"username": "admin", "password": "s3cret passphrase", "confirm": "s3cret passphrase"}
    assert anonymous.post("/setup", data=first).status_code == 302
    stranger = anonymous.application.test_client()

    second_visit = stranger.get("/setup")
    takeover = stranger.post("/setup", data={**first, "username": "mallory"})

    assert second_visit.status_code == 302 and second_visit.headers["Location"] == "/login"
    assert takeover.status_code == 302 and takeover.headers["Location"] == "/login"
    assert list(accounts()) == ["admin"]
    assert stranger.get("/").headers["Location"].startswith("/login")


def test_once_an_account_exists_pages_lead_to_login(anonymous, user_id):
    assert anonymous.get("/setup").headers["Location"] == "/login"
    assert login_next(anonymous.get("/?source=uploaded")) == "/?source=uploaded"
