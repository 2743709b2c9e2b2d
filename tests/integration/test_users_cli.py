"""The `flask users` commands: create, list, set-password and delete (with every row and file of the account).

The fixtures these share (`accounts`, `bob`, `bob_id`, `photos_of`, `login_sessions`) are in conftest.py,
the page readers (`sign_in`, `login_next`, `grid`, `page_text`) in testapp.py.
"""
from __future__ import annotations

import pytest
from sqlalchemy import insert
from testapp import NEW_PASSWORD, assert_hashed, grid, jpeg, sign_in, upload_as

from app.extensions import db
from app.models import User
from app.services import users as user_service


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
