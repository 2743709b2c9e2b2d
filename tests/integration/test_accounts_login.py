"""Accounts, logging in and out: the login form, throttling of failed logins, where a login leads, and
the same with CSRF on, behind a proxy, and with the cache down.

The fixtures these share (`accounts`, `bob`, `bob_id`, `photos_of`, `login_sessions`) are in conftest.py,
the page readers (`sign_in`, `login_next`, `grid`, `page_text`) in testapp.py.
"""
from __future__ import annotations

import time

import pytest
from bs4 import BeautifulSoup
from testapp import csrf_token, jpeg, login_next, page_text, sign_in


# --- login and logout ---------------------------------------------------------------------

def test_the_right_password_opens_the_library(anonymous, user_id, password):
    assert anonymous.get("/").status_code == 302

    response = sign_in(anonymous, "alice", password)

    assert response.status_code == 302 and response.headers["Location"] == "/"
    home = anonymous.get("/")
    assert home.status_code == 200
    assert BeautifulSoup(home.data, "html.parser").select_one("header .who").get_text() == "alice"


def test_the_user_name_is_not_case_sensitive(anonymous, user_id, password):
    assert sign_in(anonymous, "ALICE", password).status_code == 302
    assert anonymous.get("/").status_code == 200


def test_an_unknown_user_and_a_wrong_password_get_the_same_answer(app, user_id, password):
    wrong_password = sign_in(app.test_client(), "alice", "not the password")
    unknown_user = sign_in(app.test_client(), "nobody", password)

    assert wrong_password.status_code == unknown_user.status_code == 401
    assert page_text(wrong_password) == page_text(unknown_user)
    assert "Unknown user name or wrong password." in page_text(unknown_user)


@pytest.mark.parametrize("form", [{"username": "alice"}, {"password": "x"}, {}])
def test_a_half_filled_login_form_signs_nobody_in(anonymous, user_id, form):
    response = anonymous.post("/login", data=form)

    assert response.status_code == 200
    assert anonymous.get("/").status_code == 302


def test_login_starts_a_new_session(anonymous, user_id, password):
    with anonymous.session_transaction() as session:
        session["planted"] = "by an attacker before the login"

    assert sign_in(anonymous, "alice", password).status_code == 302

    with anonymous.session_transaction() as session:
        assert "planted" not in session
        assert session["_user_id"] == str(user_id)


def test_logout_is_post_only_and_closes_the_library(client, upload):
    photo_id = upload(jpeg((200, 30, 30)), "red.jpg").get_json()["files"][0]["photo_id"]

    assert client.get("/logout").status_code == 405
    assert client.get("/").status_code == 200  # the GET did nothing

    response = client.post("/logout")

    assert response.status_code == 302 and response.headers["Location"] == "/login"
    for path in ["/", f"/photos/{photo_id}", f"/photos/{photo_id}/original", f"/thumbnails/{photo_id}/grid"]:
        assert login_next(client.get(path)) == path
    assert client.get("/", headers={"Accept": "application/json"}).status_code == 401
    assert client.post(f"/photos/{photo_id}/delete").status_code == 401
    with client.session_transaction() as session:
        assert "_user_id" not in session


# --- throttling ---------------------------------------------------------------------------

def fail_logins(client, username: str, times: int, address: str = "127.0.0.1") -> list[int]:
    return [sign_in(client, username, "not the password", address=address).status_code for _ in range(times)]


def test_the_eleventh_failure_in_a_minute_is_refused_even_with_the_right_password(anonymous, user_id, password):
    assert fail_logins(anonymous, "alice", 10) == [401] * 10

    locked = sign_in(anonymous, "alice", password)

    assert locked.status_code == 429
    assert "Too many failed logins" in page_text(locked)
    assert anonymous.get("/").status_code == 302  # not signed in
    assert fail_logins(anonymous, "Alice", 1) == [429]  # the same account whatever the case


def test_the_lock_is_per_account_and_address(app, make_user, user_id, password):
    make_user("bob")
    attacker = app.test_client()
    assert fail_logins(attacker, "alice", 10, "203.0.113.7") == [401] * 10
    assert sign_in(attacker, "alice", password, address="203.0.113.7").status_code == 429

    assert sign_in(app.test_client(), "alice", password, address="198.51.100.2").status_code == 302
    assert sign_in(app.test_client(), "bob", password, address="203.0.113.7").status_code == 302


def test_a_good_login_forgets_the_failures_before_it(anonymous, user_id, password):
    assert fail_logins(anonymous, "alice", 9) == [401] * 9
    assert sign_in(anonymous, "alice", password).status_code == 302

    assert fail_logins(anonymous, "alice", 9) == [401] * 9
    assert sign_in(anonymous, "alice", password).status_code == 302


def test_the_lock_ends_a_minute_after_the_first_failure(monkeypatch, anonymous, user_id, password):
    """No sleeping: the cache's clock is moved on instead."""
    import cachelib.simple

    now = time.time()
    monkeypatch.setattr(cachelib.simple, "time", lambda: now)
    assert fail_logins(anonymous, "alice", 10) == [401] * 10
    monkeypatch.setattr(cachelib.simple, "time", lambda: now + 50)
    assert sign_in(anonymous, "alice", password).status_code == 429

    monkeypatch.setattr(cachelib.simple, "time", lambda: now + 62)
    assert sign_in(anonymous, "alice", password).status_code == 302


@pytest.mark.parametrize("app_config", [{"LOGIN_ATTEMPTS_PER_MINUTE": 3}])
def test_the_limit_is_a_setting(anonymous, user_id, password, app_config):
    assert fail_logins(anonymous, "alice", 4) == [401, 401, 401, 429]


# --- where a login leads ------------------------------------------------------------------

@pytest.mark.parametrize("target", [
    "//evil.example", "//evil.example/photos", "/\\evil.example", "\\\\evil.example",
    "javascript:alert(1)", "http://evil.example", "https://evil.example/", "https:evil.example", "evil.example",
    "/\r\nLocation: //evil.example", "/photos/1\n", "/\t/evil.example", "",
])
def test_a_next_that_could_leave_the_site_is_ignored(anonymous, user_id, password, target):
    response = sign_in(anonymous, "alice", password, next=target)

    assert response.status_code == 302
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("target", ["/photos/1?source=uploaded", "/upload", "/?source=generated&older=x"])
def test_a_local_next_is_honoured(anonymous, user_id, password, target):
    response = sign_in(anonymous, "alice", password, next=target)

    assert response.headers["Location"] == target


def test_the_page_asked_for_is_shown_after_logging_in(anonymous, user_id, password):
    asked = anonymous.get("/photos/1?source=uploaded")
    assert login_next(asked) == "/photos/1?source=uploaded"

    form = BeautifulSoup(anonymous.get(asked.headers["Location"]).data, "html.parser")
    carried = form.select_one("form input[name=next]")["value"]
    assert carried == "/photos/1?source=uploaded"

    assert sign_in(anonymous, "alice", password, next=carried).headers["Location"] == "/photos/1?source=uploaded"


# --- with CSRF protection on, as in production ---------------------------------------------

class TestWithCsrf:
    @pytest.fixture
    def app_config(self):
        return {"WTF_CSRF_ENABLED": True}

    def test_a_login_without_the_forms_token_is_refused(self, anonymous, user_id, password):
        assert sign_in(anonymous, "alice", password).status_code == 400
        assert anonymous.get("/").status_code == 302

        token = csrf_token(anonymous.get("/login").text)
        response = anonymous.post("/login", data={"username": "alice", "password": password, "csrf_token": token})
        assert response.status_code == 302
        assert anonymous.get("/").status_code == 200

    def test_a_logout_without_the_token_is_refused(self, client):
        assert client.post("/logout").status_code == 400
        page = client.get("/")
        assert page.status_code == 200

        assert client.post("/logout", data={"csrf_token": csrf_token(page.text)}).status_code == 302
        assert client.get("/").status_code == 302

    def test_setup_needs_the_token_too(self, anonymous, accounts):
        form = {"username": "admin", "password": "s3cret passphrase", "confirm": "s3cret passphrase"}
        assert anonymous.post("/setup", data=form).status_code == 400
        assert accounts() == {}

        form["csrf_token"] = csrf_token(anonymous.get("/setup").text)
        assert anonymous.post("/setup", data=form).status_code == 302
        assert list(accounts()) == ["admin"]


class TestBehindAProxy:
    """With GALLERY_PROXY_COUNT=1 the client's address is nginx's X-Forwarded-For, not 127.0.0.1."""

    @pytest.fixture
    def app_config(self):
        return {"PROXY_COUNT": 1}

    def test_the_lock_follows_the_forwarded_address(self, app, user_id, password):
        client = app.test_client()

        def sign_in_from(address: str, secret: str):
            return client.post("/login", data={"username": "alice", "password": secret},
                               headers={"X-Forwarded-For": address})

        assert [sign_in_from("198.51.100.1", "wrong").status_code for _ in range(10)] == [401] * 10
        assert sign_in_from("198.51.100.1", password).status_code == 429
        assert sign_in_from("198.51.100.2", password).status_code == 302  # another person behind the same nginx


class TestWithTheCacheDown:
    """Redis unreachable: logins still answer (throttling is off and logged), never a 500."""

    @pytest.fixture
    def app_config(self, closed_port_url):
        return {"CACHE_REDIS_URL": closed_port_url.replace("http://", "redis://") + "/0"}

    def test_a_wrong_password_is_still_refused_and_a_right_one_accepted(self, anonymous, user_id, password, caplog):
        assert fail_logins(anonymous, "alice", 2) == [401, 401]
        assert sign_in(anonymous, "alice", password).status_code == 302
        assert any("throttling is off" in record.message for record in caplog.records)
