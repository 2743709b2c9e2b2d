"""Accounts: first-run setup, login and logout, throttling, safe redirects, password hashes,
private libraries, and the `flask users` commands."""
from __future__ import annotations

import io
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from bs4 import BeautifulSoup
from PIL import Image
from sqlalchemy import insert, select

from testapp import csrf_token, page_text, sign_in

from app.extensions import db
from app.models import LoginSession, Photo, User
from app.services import users as user_service

NEW_PASSWORD = "a brand new passphrase"


# --- helpers ------------------------------------------------------------------------------

def login_next(response) -> str | None:
    """The `next` of a redirect to the login page; None when it leads elsewhere."""
    location = urlsplit(response.headers.get("Location", ""))
    if location.path != "/login":
        return None
    return parse_qs(location.query).get("next", [""])[0]


def jpeg(colour: tuple[int, int, int]) -> bytes:
    """A small real JPEG; a different colour makes different bytes."""
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(buffer, "JPEG")
    return buffer.getvalue()


def upload_as(client, content: bytes, name: str) -> int:
    """Upload one small file with `client`; returns the stored photo's id."""
    response = client.post("/upload", data={"photos": (io.BytesIO(content), name)},
                           headers={"Accept": "application/json"})
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()["files"][0]["photo_id"]


def grid(client) -> tuple[str, set[int]]:
    """The grid's heading ("2 photos") and the ids of the photos it links to."""
    page = BeautifulSoup(client.get("/").get_data(as_text=True), "html.parser")
    ids = {int(a["href"].split("?")[0].rsplit("/", 1)[1]) for a in page.select("ul.grid li a")}
    return page.h1.get_text(strip=True), ids


@pytest.fixture
def accounts(app):
    """accounts() -> {username: User} as the database holds them now."""
    def read() -> dict[str, User]:
        with app.app_context():
            found = {user.username: user for user in db.session.scalars(select(User))}
            db.session.expunge_all()
            return found
    return read


@pytest.fixture
def photos_of(app):
    """photos_of(user_id) -> the original paths of that user's photos."""
    def read(owner_id: int) -> set[str]:
        with app.app_context():
            return set(db.session.scalars(select(Photo.original_path).where(Photo.owner_id == owner_id)))
    return read


@pytest.fixture
def bob_id(make_user) -> int:
    return make_user("bob")


@pytest.fixture
def bob(app, bob_id, password):
    """A client signed in as bob through the login form."""
    browser = app.test_client()
    assert sign_in(browser, "bob", password).status_code == 302
    return browser


def assert_hashed(stored: str, password: str) -> None:
    assert stored.startswith(("scrypt:", "pbkdf2:"))
    assert password not in stored


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


@pytest.fixture
def login_sessions(app):
    """login_sessions(user_id) -> (user agent, address) of each of the user's sessions in the database."""
    def read(user_id: int) -> list[tuple[str, str]]:
        with app.app_context():
            return [(row.user_agent, row.address) for row in db.session.scalars(
                select(LoginSession).where(LoginSession.user_id == user_id).order_by(LoginSession.id))]
    return read


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


# --- private libraries --------------------------------------------------------------------

def test_each_account_sees_only_its_own_photos(client, bob):
    alices = {upload_as(client, jpeg((255, 0, 0)), "a1.jpg"), upload_as(client, jpeg((0, 255, 0)), "a2.jpg")}
    bobs = {upload_as(bob, jpeg((0, 0, 255)), "b1.jpg")}

    assert grid(client) == ("2 photos", alices)
    assert grid(bob) == ("1 photo", bobs)
    assert grid(client) == ("2 photos", alices)  # the cached count is per owner


def test_another_accounts_photo_is_as_unknown_as_a_missing_one(client, bob, photos_of, user_id):
    photo_id = upload_as(client, jpeg((255, 0, 0)), "mine.jpg")

    for path in [f"/photos/{photo_id}", f"/photos/{photo_id}/original", f"/thumbnails/{photo_id}/grid",
                 f"/photos/{photo_id}/delete"]:
        assert bob.get(path).status_code == 404
    assert bob.post(f"/photos/{photo_id}/delete").status_code == 404
    assert len(photos_of(user_id)) == 1


def test_the_same_bytes_are_stored_for_each_owner(client, bob, bob_id, photos_of, user_id, data_dir):
    content = jpeg((10, 20, 30))

    alices, bobs = upload_as(client, content, "same.jpg"), upload_as(bob, content, "same.jpg")

    assert alices != bobs
    (alice_path,), (bob_path,) = photos_of(user_id), photos_of(bob_id)
    assert alice_path != bob_path
    assert (data_dir / "photos" / alice_path).read_bytes() == (data_dir / "photos" / bob_path).read_bytes() == content
    # Each has one copy: sending it again is a duplicate for that owner only.
    again = client.post("/upload", data={"photos": (io.BytesIO(content), "again.jpg")},
                        headers={"Accept": "application/json"})
    outcome = again.get_json()["files"][0]
    assert (outcome["result"], outcome["photo_id"]) == ("duplicate", alices)


# --- flask users ... ----------------------------------------------------------------------

def test_create_asks_for_the_password_twice(runner, accounts):
    result = runner.invoke(args=["users", "create", "--admin", "carol"],
                           input="first try here\nsecond try here\ns3cret passphrase\ns3cret passphrase\n")

    assert result.exit_code == 0, result.output
    assert "do not match" in result.output
    assert "Created admin carol." in result.output
    carol = accounts()["carol"]
    assert carol.is_admin
    assert_hashed(carol.password_hash, "s3cret passphrase")


def test_create_takes_the_password_as_an_option_and_can_log_in(runner, app, accounts):
    result = runner.invoke(args=["users", "create", "dave", "--password", "s3cret passphrase"])

    assert result.exit_code == 0, result.output
    assert "Created user dave." in result.output
    assert not accounts()["dave"].is_admin
    assert sign_in(app.test_client(), "dave", "s3cret passphrase").status_code == 302


@pytest.mark.parametrize("username, password, message", [
    ("alice", "s3cret passphrase", "is taken"),
    ("ALICE", "s3cret passphrase", "is taken"),
    ("eve", "short", "at least 8 characters"),
    ("e/ve", "s3cret passphrase", "A user name is"),
])
def test_create_refuses_a_bad_account(runner, user_id, accounts, username, password, message):
    result = runner.invoke(args=["users", "create", username, "--password", password])

    assert result.exit_code == 1
    assert message in result.output
    assert list(accounts()) == ["alice"]


@pytest.mark.parametrize("other_name", ["carol", "Carol"])
def test_create_racing_another_create_of_the_name_says_it_is_taken(runner, accounts, monkeypatch, other_name):
    """Two `flask users create carol` at once (or carol and Carol): the other one's INSERT commits
    between this one's name check and its own INSERT. The unique constraint on the lower-case name
    stops this one, which says so in the check's words."""
    real_find_user = user_service.find_user
    checks = []

    def checked_just_before_the_other(username: str):
        found = real_find_user(username)
        if not checks:
            with db.engine.begin() as other:  # the other command, on a connection of its own
                other.execute(insert(User).values(username=other_name, password_hash="!"))
        checks.append(found)
        return found

    monkeypatch.setattr(user_service, "find_user", checked_just_before_the_other)
    result = runner.invoke(args=["users", "create", "carol", "--password", "s3cret passphrase"])

    assert checks[0] is None  # this one's check saw no carol
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception
    assert "Error: The user name carol is taken." in result.output
    assert "Traceback" not in result.output and "IntegrityError" not in result.output
    assert [(user.username, user.password_hash) for user in accounts().values()] == [(other_name, "!")]


def test_two_accounts_with_one_password_have_different_hashes(runner, accounts):
    for name in ("erin", "frank"):
        assert runner.invoke(args=["users", "create", name, "--password", "the same passphrase"]).exit_code == 0

    found = accounts()
    assert found["erin"].password_hash != found["frank"].password_hash
    for user in found.values():
        assert_hashed(user.password_hash, "the same passphrase")


def test_list_shows_every_account_with_its_role_and_photo_count(runner, client, bob_id, make_user):
    upload_as(client, jpeg((1, 2, 3)), "one.jpg")
    upload_as(client, jpeg((4, 5, 6)), "two.jpg")
    make_user("root", is_admin=True)

    result = runner.invoke(args=["users", "list"])

    assert result.exit_code == 0
    rows = [line.split("\t")[:3] for line in result.output.splitlines()]
    assert rows == [["alice", "user", "2 photos"], ["bob", "user", "0 photos"], ["root", "admin", "0 photos"]]


def test_set_password_changes_it_and_ends_the_accounts_sessions(runner, app, accounts, user_id, password):
    browser = app.test_client()
    assert sign_in(browser, "alice", password).status_code == 302

    result = runner.invoke(args=["users", "set-password", "alice"], input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n")

    assert result.exit_code == 0, result.output
    assert "Password of alice changed." in result.output
    assert_hashed(accounts()["alice"].password_hash, NEW_PASSWORD)
    assert browser.get("/").headers["Location"].startswith("/login")  # signed in with the old password
    assert sign_in(app.test_client(), "alice", password).status_code == 401
    assert sign_in(app.test_client(), "alice", NEW_PASSWORD).status_code == 302


@pytest.mark.parametrize("args, message", [
    (["users", "set-password", "nobody", "--password", NEW_PASSWORD], "No user named nobody."),
    (["users", "set-password", "alice", "--password", "short"], "at least 8 characters"),
    (["users", "delete", "nobody", "--yes"], "No user named nobody."),
])
def test_commands_on_a_missing_account_or_with_a_bad_password_fail(runner, user_id, accounts, args, message):
    before = accounts()["alice"].password_hash

    result = runner.invoke(args=args)

    assert result.exit_code == 1
    assert message in result.output
    assert accounts()["alice"].password_hash == before


@pytest.fixture
def two_libraries(client, bob, data_files):
    """alice has three photos (one with the same bytes as bob's), bob has two.

    Returns the files under data/ that are bob's alone.
    """
    shared = jpeg((9, 9, 9))
    upload_as(bob, shared, "shared.jpg")
    upload_as(bob, jpeg((0, 0, 200)), "bob.jpg")
    bobs_files = data_files()
    for content, name in [(shared, "shared.jpg"), (jpeg((200, 0, 0)), "a.jpg"), (jpeg((0, 200, 0)), "b.jpg")]:
        upload_as(client, content, name)
    assert (len(bobs_files), len(data_files())) == (2 * 3, 5 * 3)  # an original and two thumbnails each
    return bobs_files


def test_delete_says_what_goes_and_stops_unless_confirmed(runner, two_libraries, photos_of, user_id, accounts):
    result = runner.invoke(args=["users", "delete", "alice"], input="n\n")

    assert result.exit_code == 1
    assert "Delete alice and their 3 photos" in result.output
    assert "alice" in accounts() and len(photos_of(user_id)) == 3


def test_delete_removes_the_account_its_rows_and_every_file(runner, two_libraries, data_files, photos_of,
                                                            user_id, bob, accounts):
    result = runner.invoke(args=["users", "delete", "alice"], input="y\n")

    assert result.exit_code == 0, result.output
    assert "Deleted alice and 3 photos." in result.output
    assert list(accounts()) == ["bob"]
    assert photos_of(user_id) == set()
    assert data_files() == two_libraries  # nothing of alice's is left, not even a temp file
    assert grid(bob)[0] == "2 photos"
    for photo_id in grid(bob)[1]:
        for path in [f"/photos/{photo_id}/original", f"/thumbnails/{photo_id}/grid",
                     f"/thumbnails/{photo_id}/preview"]:
            assert bob.get(path, buffered=True).status_code == 200


def test_delete_with_yes_does_not_ask(runner, two_libraries, client, accounts, user_id, login_sessions):
    assert len(login_sessions(user_id)) == 1
    result = runner.invoke(args=["users", "delete", "--yes", "alice"])

    assert result.exit_code == 0, result.output
    assert "[y/N]" not in result.output
    assert "alice" not in accounts()
    assert client.get("/").headers["Location"].startswith("/login")  # alice's session went with her
    assert login_sessions(user_id) == []


def test_a_deleted_accounts_session_does_not_open_a_new_account(runner, app, make_user, password):
    make_user("alice")
    make_user("bob")
    old_browser = app.test_client()
    assert sign_in(old_browser, "bob", password).status_code == 302
    assert runner.invoke(args=["users", "delete", "--yes", "bob"]).exit_code == 0

    # SQLite may hand the deleted id out again to the next account.
    assert runner.invoke(args=["users", "create", "carol", "--password", "s3cret passphrase"]).exit_code == 0

    assert old_browser.get("/").headers["Location"].startswith("/login")


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
