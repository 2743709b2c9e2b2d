"""The admin's accounts page and the account page's name and password, on both databases: each admin action
through the page, what it refuses (a 400 in words, nothing changed), a 404 for everyone who is not an admin
on every admin route, and sessions that end when an account is disabled or its password changes."""
from __future__ import annotations

import pytest
from bs4 import BeautifulSoup
from testapp import jpeg, log_in, page_text, sign_in, upload_as

from app.models import User


@pytest.fixture
def root_id(make_user) -> int:
    return make_user("root", is_admin=True)


@pytest.fixture
def root(app, root_id):
    """A client signed in as root, the admin."""
    return log_in(app.test_client(), root_id)


def signed_in(client) -> bool:
    return client.get("/account").status_code == 200


def rows(response) -> dict[str, str]:
    """username -> the text of its row on the accounts page."""
    soup = BeautifulSoup(response.get_data(as_text=True), "html.parser")
    return {row.strong.get_text(): " ".join(row.get_text(" ").split()) for row in soup.select("li.account-row")}


def admin_routes(app) -> list[tuple[str, str]]:
    return [(method, rule.rule.replace("<int(max=2147483647):account_id>", "{id}"))
            for rule in app.url_map.iter_rules() if rule.endpoint.startswith("admin.")
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]


def test_the_list_shows_each_account_with_its_photos_and_storage(app, root, client, bob, user_id):
    sizes = [len(content) for content in (jpeg((1, 1, 1)), jpeg((200, 10, 10)))]
    upload_as(client, jpeg((1, 1, 1)), "a.jpg")
    upload_as(client, jpeg((200, 10, 10)), "b.jpg")
    listed = rows(root.get("/admin/accounts"))
    assert set(listed) == {"alice", "bob", "root"}
    assert "Photos 2" in listed["alice"] and "Photos 0" in listed["bob"]
    assert f"{sum(sizes) / 1000:.1f} kB" in listed["alice"]  # filesizeformat of the originals' sizes
    assert "admin" in listed["root"] and "you" in listed["root"]


def test_an_admin_creates_an_account_that_can_log_in(app, root, accounts, password):
    response = root.post("/admin/accounts", data={"username": "carol", "password": password, "confirm": password,
                                                   "is_admin": "y"})
    assert response.status_code == 303
    assert accounts()["carol"].is_admin
    assert sign_in(app.test_client(), "carol", password).status_code == 302


@pytest.mark.parametrize(("form", "message"), [
    ({"username": "no spaces", "password": "long enough pw", "confirm": "long enough pw"}, "1 to 64 letters"),
    ({"username": "alice", "password": "long enough pw", "confirm": "long enough pw"}, "is taken"),
    ({"username": "carol", "password": "short", "confirm": "short"}, "at least 8 characters"),
    ({"username": "carol", "password": "long enough pw", "confirm": "other password"}, "passwords differ"),
])
def test_a_refused_create_says_why_and_makes_nothing(root, user_id, accounts, form, message):
    before = set(accounts())
    response = root.post("/admin/accounts", data=form)
    assert response.status_code == 400
    assert message in page_text(response)
    assert set(accounts()) == before


def test_disabling_ends_the_sessions_and_stops_logins_until_enabled(app, root, bob, bob_id, password):
    assert signed_in(bob)
    assert root.post(f"/admin/accounts/{bob_id}/disable").status_code == 303
    assert not signed_in(bob)  # its cookie no longer opens a session
    refused = sign_in(app.test_client(), "bob", password)
    assert refused.status_code == 403 and "disabled" in page_text(refused)
    assert "disabled" in rows(root.get("/admin/accounts"))["bob"]
    assert root.post(f"/admin/accounts/{bob_id}/enable").status_code == 303
    assert sign_in(app.test_client(), "bob", password).status_code == 302


def test_a_wrong_password_of_a_disabled_account_says_nothing_of_it(app, root, bob_id):
    root.post(f"/admin/accounts/{bob_id}/disable")
    response = sign_in(app.test_client(), "bob", "not the password")
    assert response.status_code == 401 and "disabled" not in page_text(response)


def test_a_reset_password_replaces_the_old_one_and_ends_the_sessions(app, root, bob, bob_id, password):
    new = "a new password for bob"
    assert root.post(f"/admin/accounts/{bob_id}/password", data={"password": new, "confirm": new}).status_code == 303
    assert not signed_in(bob)
    assert sign_in(app.test_client(), "bob", password).status_code == 401
    assert sign_in(app.test_client(), "bob", new).status_code == 302


def test_a_refused_reset_changes_nothing(app, root, bob, bob_id, password):
    response = root.post(f"/admin/accounts/{bob_id}/password", data={"password": "short", "confirm": "short"})
    assert response.status_code == 400 and "at least 8 characters" in page_text(response)
    assert signed_in(bob)
    assert sign_in(app.test_client(), "bob", password).status_code == 302


def test_delete_asks_the_clis_question_then_deletes_with_the_photos(app, root, bob, bob_id, accounts, photos_of,
                                                                      data_files):
    upload_as(bob, jpeg((9, 9, 9)), "bobs.jpg")
    question = root.get(f"/admin/accounts/{bob_id}/delete")
    assert "Delete bob and their 1 photo, with their files? This cannot be undone" in page_text(question)
    unconfirmed = root.post(f"/admin/accounts/{bob_id}/delete")
    assert unconfirmed.status_code == 400 and "bob" in accounts()
    assert root.post(f"/admin/accounts/{bob_id}/delete", data={"confirm": "1"}).status_code == 303
    assert "bob" not in accounts() and not photos_of(bob_id)
    assert not [path for path in data_files() if path.startswith("photos/uploaded")]


@pytest.mark.parametrize("action", ["disable", "delete"])
def test_an_admin_cannot_disable_or_delete_themselves(root, root_id, accounts, action):
    response = root.post(f"/admin/accounts/{root_id}/{action}", data={"confirm": "1"})
    assert response.status_code == 400
    assert f"You cannot {action} your own account" in page_text(response)
    assert not accounts()["root"].disabled


def test_the_command_line_cannot_delete_the_last_admin(runner, root_id, user_id, accounts):
    result = runner.invoke(args=["users", "delete", "root", "--yes"])
    assert result.exit_code == 1 and "last administrator" in result.output
    assert "root" in accounts()


def test_the_last_admin_rule_counts_only_admins_who_can_log_in(app, root, make_user, accounts):
    """With carol a disabled admin, dave (an admin) may still be disabled by root, then root is the last."""
    carol, dave = make_user("carol", is_admin=True), make_user("dave", is_admin=True)
    assert root.post(f"/admin/accounts/{carol}/disable").status_code == 303
    assert root.post(f"/admin/accounts/{dave}/disable").status_code == 303
    assert accounts()["dave"].disabled


def test_every_admin_route_is_not_found_for_anyone_else(app, client, root_id, bob_id, accounts):
    """alice, not an admin, gets the 404 of an unknown page from each, with her own id or another's."""
    routes = admin_routes(app)
    assert {path for _, path in routes} >= {"/admin/accounts", "/admin/accounts/{id}/delete",
                                             "/admin/accounts/{id}/disable", "/admin/accounts/{id}/password"}
    for method, path in routes:
        for account_id in (root_id, bob_id):
            response = client.open(path.format(id=account_id), method=method,
                                   data={"confirm": "1", "password": "x" * 12, "confirm_": "x"})
            assert response.status_code == 404, f"{method} {path}: {response.status_code}"
    assert set(accounts()) == {"alice", "root", "bob"} and not any(u.disabled for u in accounts().values())


def test_an_unknown_account_id_is_not_found_for_an_admin(root):
    assert root.get("/admin/accounts/999999/delete").status_code == 404
    assert root.post("/admin/accounts/999999/disable").status_code == 404


def test_the_header_links_the_accounts_page_for_admins_only(root, client):
    assert 'href="/admin/accounts"' in root.get("/account").get_data(as_text=True)
    assert 'href="/admin/accounts"' not in client.get("/account").get_data(as_text=True)


# --- the account page: display name and password ---------------------------------------------

def test_a_display_name_shows_in_the_header_instead_of_the_user_name(client, accounts):
    response = client.post("/account/name", data={"display_name": "  Alice   Liddell "})
    assert response.status_code == 303
    assert accounts()["alice"].display_name == "Alice Liddell"
    header = BeautifulSoup(client.get("/").get_data(as_text=True), "html.parser").select_one("header.site a.who")
    assert header.get_text() == "Alice Liddell"
    client.post("/account/name", data={"display_name": ""})
    assert accounts()["alice"].display_name is None


@pytest.mark.parametrize("name", ["x" * 65, "evil\u202egpj.exe"])
def test_a_refused_display_name_changes_nothing(client, accounts, name):
    response = client.post("/account/name", data={"display_name": name})
    assert response.status_code == 400
    assert accounts()["alice"].display_name is None


def test_a_password_change_ends_the_other_sessions_and_keeps_this_one(app, client, user_id, password):
    other = log_in(app.test_client(), user_id)
    new = "a brand new password"
    response = client.post("/account/password", data={"current_password": password, "new_password": new,
                                                       "confirm": new})
    assert response.status_code == 302
    assert signed_in(client) and not signed_in(other)
    assert sign_in(app.test_client(), "alice", new).status_code == 302


def test_a_users_shown_name(app):
    assert User(username="ann").shown_name == "ann"
    assert User(username="ann", display_name="Ann B.").shown_name == "Ann B."
