"""The sessions list: each session's status, kept count and thumbnails, read from its candidates' rows;
keyset pages newest first in a fixed few statements; nobody else's sessions.

Sessions are made as rows (the fake InvokeAI's path to them is tested in test_generation_*.py): the list
only reads what the database holds.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from bs4 import BeautifulSoup
from flask import url_for
from sqlalchemy import event, update

from app.extensions import cache, db
from app.models import GenerationImage, GenerationSession
from app.services import session_list
from app.services.session_list import SESSIONS_PER_PAGE

# the user (with its counts, joined to its login session), the page of sessions, their candidates
LIST_STATEMENTS = 3
NEWEST = datetime(2026, 11, 30, 12, 0, 0)


def add_session(owner_id: int, number: int, states: list[str], decisions: list[str] | None = None,
                canceled: bool = False) -> GenerationSession:
    """A session of `owner_id` with a candidate per state (decisions default to undecided)."""
    decisions = decisions or ["undecided"] * len(states)
    session = GenerationSession(
        owner_id=owner_id, batch_id=f"batch-{owner_id}-{number}", created_at=NEWEST - timedelta(minutes=number // 2),
        prompt=f"prompt {number}: a lighthouse at dusk", model_key="key", model_name=f"Model {number % 3}",
        model_hash="hash", model_base="sdxl", width=1024, height=1024, steps=30, cfg_scale=7.0,
        scheduler="euler", canceled=canceled)
    session.images = [GenerationImage(seed_index=i, seed=1000 + i, state=state, decision=decision,
                                      sha256=f"{number:04d}{i}".ljust(64, "a") if state == "done" else None,
                                      file_path=f"generated/sessions/{number}/{i}.png" if state == "done" else None,
                                      thumbnail_ext="jpg" if state == "done" else None)
                      for i, (state, decision) in enumerate(zip(states, decisions))]
    db.session.add(session)
    return session


def rows(response) -> dict[int, BeautifulSoup]:
    soup = BeautifulSoup(response.get_data(as_text=True), "html.parser")
    return {int(li["data-session-id"]): li for li in soup.select("li.gen-session")}


def link(response, rel: str) -> str | None:
    found = BeautifulSoup(response.get_data(as_text=True), "html.parser").select_one(f'nav.pager a[rel="{rel}"]')
    return found["href"] if found else None


@pytest.fixture
def three_sessions(app, user_id, bob_id) -> dict[str, int]:
    """A done session (two kept, one rejected, one failed), a running one and a failed one; and Bob's."""
    with app.app_context():
        done = add_session(user_id, 3, ["done", "done", "done", "failed"], ["kept", "rejected", "kept", "undecided"])
        running = add_session(user_id, 2, ["done", "in_progress", "queued", "queued"], ["kept", *["undecided"] * 3])
        failed = add_session(user_id, 1, ["failed", "failed"])
        bobs = add_session(bob_id, 0, ["done"], ["kept"])
        db.session.commit()
        return {"done": done.id, "running": running.id, "failed": failed.id, "bob": bobs.id,
                "done_images": [image.id for image in done.images]}


def test_each_session_shows_its_status_kept_count_and_thumbnails(app, client, three_sessions):
    response = client.get("/generate/sessions")
    assert response.status_code == 200
    shown = rows(response)
    # newest first; the running and the done one share a time, and the later id comes first
    assert list(shown) == [three_sessions["failed"], three_sessions["running"], three_sessions["done"]]
    done, running, failed = (shown[three_sessions[name]] for name in ("done", "running", "failed"))

    assert done.select_one(".gen-status").get_text() == "done, 3 of 4"
    assert done.select_one(".gen-kept").get_text() == "2 kept"
    kept_first = [three_sessions["done_images"][i] for i in (0, 2)]  # the rejected one is not shown
    assert [img["src"].split("/")[3] for img in done.select(".gen-thumbs img")] == [str(i) for i in kept_first]
    with app.test_request_context():
        image = db.session.get(GenerationImage, kept_first[0])
        assert done.select_one(".gen-thumbs img")["src"] == image.thumbnail_url("grid")
        assert done.select_one("a.gen-prompt")["href"] == url_for("generation.session", session_id=image.session_id)
    assert done.select_one(".gen-model").get_text() in ("Model 0", "Model 1", "Model 2")
    assert done.select_one(".gen-base").get_text() == "sdxl"

    assert running.select_one(".gen-status").get_text() == "running 1 of 4"
    assert running.select_one("progress")["value"] == "1" and running.select_one("progress")["max"] == "4"
    assert running.select_one(".gen-kept").get_text() == "1 kept"
    assert len(running.select(".gen-thumbs img")) == 1

    assert failed.select_one(".gen-status").get_text() == "failed"
    assert failed.select_one(".gen-kept").get_text() == "0 kept"
    assert failed.select(".gen-thumbs img") == [] and failed.select_one("progress") is None
    assert done.select_one("progress") is None


def test_another_accounts_sessions_never_show(client, bob, three_sessions):
    assert three_sessions["bob"] not in rows(client.get("/generate/sessions"))
    assert list(rows(bob.get("/generate/sessions"))) == [three_sessions["bob"]]


def test_the_header_links_to_the_sessions(client, three_sessions):
    soup = BeautifulSoup(client.get("/generate/sessions").get_data(as_text=True), "html.parser")
    current = soup.select_one('nav.sections a[aria-current="page"]')
    assert current.get_text() == "Sessions" and current["href"] == "/generate/sessions"


def test_a_canceled_and_a_queued_session_say_so(app, client, user_id):
    with app.app_context():
        made = add_session(user_id, 1, ["canceled", "canceled"], canceled=True), add_session(user_id, 2, ["queued"] * 2)
        db.session.commit()
        canceled, queued = (session.id for session in made)
    shown = rows(client.get("/generate/sessions"))
    assert shown[canceled].select_one(".gen-status").get_text() == "canceled"
    assert shown[queued].select_one(".gen-status").get_text() == "queued"


@pytest.fixture
def many_sessions(app, user_id, bob_id) -> list[int]:
    """A page and a half of the user's sessions, pairs sharing a time; ids newest first."""
    with app.app_context():
        add_session(bob_id, 9999, ["done"])
        made = [add_session(user_id, n, ["done", "done", "failed", "queued"][: 1 + n % 4], ["kept"] + ["undecided"] * 3)
                for n in range(SESSIONS_PER_PAGE + SESSIONS_PER_PAGE // 2)]
        db.session.commit()
        return [s.id for s in sorted(made, key=lambda s: (s.created_at, s.id), reverse=True)]


@pytest.fixture
def counted(app, client):
    """counted(url) -> (response, statements) of a GET with the cache cleared first."""
    seen: list[str] = []

    def record(connection, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    with app.app_context():
        engine = db.engine
    client.get("/upload")  # the connection is open and the session settled before counting
    event.listen(engine, "before_cursor_execute", record)

    def get(url: str):
        with app.app_context():
            cache.clear()
        seen.clear()
        response = client.get(url)
        return response, list(seen)

    yield get
    event.remove(engine, "before_cursor_execute", record)


def test_pages_walk_every_session_once_in_a_few_statements_each(counted, many_sessions):
    url, shown, pages = "/generate/sessions", [], 0
    while url:
        response, statements = counted(url)
        assert response.status_code == 200
        assert len(statements) <= LIST_STATEMENTS, statements
        page = rows(response)
        assert all(li.select_one(".gen-kept").get_text() == "1 kept" for li in page.values())
        shown += list(page)
        pages += 1
        url = link(response, "next")
    assert pages == 2
    assert shown == many_sessions

    back, _ = counted(link(response, "prev"))
    assert list(rows(back)) == many_sessions[:SESSIONS_PER_PAGE]


def test_a_forged_page_link_is_a_400(client):
    response = client.get("/generate/sessions?older=trashed.20260101T000000.5")
    assert response.status_code == 400
    assert "not valid" in response.get_data(as_text=True)


def test_a_cached_list_shows_every_change_to_its_sessions_at_once(app, client, three_sessions, monkeypatch):
    """The list's HTML is cached under a digest of what it shows: a page whose rows did not change is not
    rendered again, and a candidate's change (by any process: here straight in the database) shows."""
    first = client.get("/generate/sessions")
    assert rows(first)[three_sessions["running"]].select_one(".gen-status").get_text() == "running 1 of 4"

    def not_again(page):
        raise AssertionError("the list was built again though nothing in it changed")
    monkeypatch.setattr(session_list.SessionsPage, "sessions", property(not_again))
    assert client.get("/generate/sessions").get_data() == first.get_data()
    monkeypatch.undo()

    with app.app_context():
        db.session.execute(update(GenerationImage).where(GenerationImage.session_id == three_sessions["running"])
                           .values(state="done", sha256="f" * 64, file_path="generated/sessions/2/x.png",
                                   thumbnail_ext="jpg"))
        db.session.commit()
    shown = rows(client.get("/generate/sessions"))[three_sessions["running"]]
    assert shown.select_one(".gen-status").get_text() == "done"
    assert len(shown.select(".gen-thumbs img")) == 4
