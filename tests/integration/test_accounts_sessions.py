"""Accounts, a session ends for good: logout, a password change, `users set-password` and "log out
everywhere" make every earlier cookie of the session useless (defect 2), and the account page lists them.

The fixtures these share (`accounts`, `bob`, `bob_id`, `photos_of`, `login_sessions`) are in conftest.py,
the page readers (`sign_in`, `login_next`, `grid`, `page_text`) in testapp.py.
"""
from __future__ import annotations

import pytest
from bs4 import BeautifulSoup
from testapp import NEW_PASSWORD, login_next, page_text, sign_in


# --- a session ends for good ----------------------------------------------------------------
# What a thief has who copied a session cookie (from a shared computer, a backup, a proxy's log):
# the cookie's bytes, replayed from another client after its owner has ended the session.

def copy_of(browser):
    """Another client with a copy of `browser`'s session cookie."""
    thief = browser.application.test_client()
    thief.set_cookie("session", browser.get_cookie("session").value)
    return thief


def signed_in(client) -> bool:
    """Whether the client sees the grid; what it gets otherwise must be the way to the login page."""
    page, data = client.get("/"), client.get("/", headers={"Accept": "application/json"})
    if page.status_code == 200:
        return True
    assert login_next(page) == "/" and data.status_code == 401, (page.status_code, data.status_code)
    return False


def test_a_cookie_copied_before_logout_is_refused_after_it(anonymous, user_id, password):
    assert sign_in(anonymous, "alice", password).status_code == 302
    thief = copy_of(anonymous)
    assert signed_in(thief)  # the copy works while the session lasts: the refusal below is not vacuous

    assert anonymous.post("/logout").status_code == 302

    assert not signed_in(thief)
    assert not signed_in(anonymous)


def test_a_plain_logout_leaves_another_browsers_session(app, user_id, password, login_sessions):
    laptop, phone = app.test_client(), app.test_client()
    assert sign_in(laptop, "alice", password).status_code == 302
    assert phone.post("/login", data={"username": "alice", "password": password},
                      headers={"User-Agent": "Phone browser/1.0"},
                      environ_base={"REMOTE_ADDR": "192.0.2.7"}).status_code == 302
    assert login_sessions(user_id)[1] == ("Phone browser/1.0", "192.0.2.7")

    assert laptop.post("/logout").status_code == 302

    assert signed_in(phone) and not signed_in(laptop)
    assert login_sessions(user_id) == [("Phone browser/1.0", "192.0.2.7")]


def test_a_cookie_copied_before_set_password_is_refused_after_it(runner, anonymous, user_id, password,
                                                                 login_sessions):
    assert sign_in(anonymous, "alice", password).status_code == 302
    thief = copy_of(anonymous)

    result = runner.invoke(args=["users", "set-password", "alice", "--password", NEW_PASSWORD])

    assert result.exit_code == 0, result.output
    assert not signed_in(thief) and not signed_in(anonymous)
    assert login_sessions(user_id) == []


def test_logging_in_again_ends_the_browsers_previous_session(anonymous, user_id, password, login_sessions):
    assert sign_in(anonymous, "alice", password).status_code == 302
    thief = copy_of(anonymous)

    assert sign_in(anonymous, "alice", password).status_code == 302

    assert signed_in(anonymous) and not signed_in(thief)
    assert len(login_sessions(user_id)) == 1


def test_the_account_page_shows_the_name_and_every_session(app, client, user_id, password):
    other = app.test_client()
    firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"
    other.post("/login", data={"username": "alice", "password": password}, headers={"User-Agent": firefox})

    page = BeautifulSoup(client.get("/").data, "html.parser").select_one("header.site a[href='/account']")
    assert page is not None and page.get_text(strip=True) == "alice"
    account = client.get("/account")

    assert account.status_code == 200
    soup = BeautifulSoup(account.data, "html.parser")
    assert soup.h1.get_text(strip=True) == "alice"
    assert soup.select_one("form input[name=current_password]") is not None
    assert len(soup.select(".sessions li")) == 2
    assert [agent.get_text() for agent in soup.select(".sessions .agent")] == ["Firefox on Linux", "test client"]
    assert soup.select_one(".sessions li.current .agent").get_text() == "test client"  # testapp.log_in's
    assert len(soup.select(".sessions li.current")) == 1
    assert soup.find("button", string="Log out everywhere") is not None


def test_log_out_everywhere_from_another_client_ends_every_session(app, user_id, password, login_sessions):
    laptop, phone = app.test_client(), app.test_client()
    assert sign_in(laptop, "alice", password).status_code == 302
    thief = copy_of(laptop)
    assert sign_in(phone, "alice", password).status_code == 302
    bob = app.test_client()
    app.test_cli_runner().invoke(args=["users", "create", "bob", "--password", password])
    assert sign_in(bob, "bob", password).status_code == 302

    response = phone.post("/account/logout-everywhere")

    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert not signed_in(laptop) and not signed_in(thief) and not signed_in(phone)
    assert login_sessions(user_id) == []
    assert signed_in(bob)  # another account's sessions are its own


def change_password(client, current: str, new: str, confirm: str | None = None):
    return client.post("/account/password", data={"current_password": current, "new_password": new,
                                                  "confirm": new if confirm is None else confirm})


def test_a_password_change_keeps_this_browser_and_ends_the_others(app, anonymous, user_id, password,
                                                                  login_sessions):
    assert sign_in(anonymous, "alice", password).status_code == 302
    thief = copy_of(anonymous)
    phone = app.test_client()
    assert sign_in(phone, "alice", password).status_code == 302

    response = change_password(anonymous, password, NEW_PASSWORD)

    assert response.status_code == 302 and response.headers["Location"] == "/account"
    assert "Your password is changed" in page_text(anonymous.get("/account"))
    assert signed_in(anonymous)  # with a fresh session: the copy of its old cookie is refused
    assert not signed_in(thief) and not signed_in(phone)
    assert len(login_sessions(user_id)) == 1
    assert sign_in(app.test_client(), "alice", password).status_code == 401
    assert sign_in(app.test_client(), "alice", NEW_PASSWORD).status_code == 302


@pytest.mark.parametrize("current, new, confirm, message", [
    ("not the password", NEW_PASSWORD, NEW_PASSWORD, "That is not your current password."),
    (None, "short", "short", "at least 8 characters"),
    (None, NEW_PASSWORD, NEW_PASSWORD + "x", "The passwords differ."),
])
def test_a_refused_password_change_changes_nothing(app, client, user_id, password, accounts, login_sessions,
                                                   current, new, confirm, message):
    phone = app.test_client()
    assert sign_in(phone, "alice", password).status_code == 302
    before = accounts()["alice"].password_hash

    response = change_password(client, password if current is None else current, new, confirm)

    assert response.status_code == 400
    assert message in page_text(response)
    assert accounts()["alice"].password_hash == before
    assert signed_in(client) and signed_in(phone)
    assert len(login_sessions(user_id)) == 2
