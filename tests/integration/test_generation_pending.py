"""A generation asked for while InvokeAI is down: saved as pending on the person's say-so, sent by the
first later request that finds the server up, never twice (two racing requests, a sender that died).

The fake InvokeAI is stopped and started again on the same port: the gallery's URL stays the same, and
nothing listens there meanwhile (connection refused, as a server that is off).
"""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from fake_invokeai import ENQUEUE
from sqlalchemy import select, update
from testapp import GENERATE_FORM as FORM, invokeai_settings, page_text

from app.extensions import cache, db
from app.models import GenerationImage, GenerationSession, utcnow
from app.services import cache as gallery_cache, generation

SAVE = {"when_back": "1"}  # the form's "Save and send when InvokeAI is back" button
WAITING = "Waiting for InvokeAI at {url}: it will be sent when the server answers."


@pytest.fixture
def app_config(fake_invokeai):
    return invokeai_settings(fake_invokeai)


@pytest.fixture
def down(client, fake):
    """InvokeAI off after the form listed its models once; started again (same URL) at teardown if still off."""
    assert client.get("/generate").status_code == 200
    fake.stop()
    yield fake
    if not fake.running:
        fake.restart()


def session_row(app, session_id: int) -> dict:
    with app.app_context():
        session = db.session.get(GenerationSession, session_id)
        return {"send_state": session.send_state, "item_ids": session.item_ids, "batch_id": session.batch_id,
                "canceled": session.canceled, "states": [image.state for image in session.images]}


def save_pending(client, **form) -> int:
    response = client.post("/generate", data={**FORM, **SAVE, **form})
    assert response.status_code == 302, page_text(response)
    return int(response.location.rsplit("/", 1)[1])


def test_a_generation_saved_while_invokeai_is_down_is_sent_once_it_answers(app, client, down, fake, row_count,
                                                                           poll_until_finished):
    response = client.post("/generate", data=FORM)  # the plain button: told in words, offered to save
    assert response.status_code == 503
    page = BeautifulSoup(response.get_data(as_text=True), "html.parser")
    assert "cannot be reached: connection refused" in page_text(response)
    assert page.select_one('button[name="when_back"]').get_text(strip=True) == "Save and send when InvokeAI is back"
    assert row_count(GenerationSession) == 0

    with app.app_context():  # a minute later the fresh list has expired: the form lists the last one known
        cache.delete(gallery_cache.models_key(fake.url))
    form_page = client.get("/generate")
    assert form_page.status_code == 503 and "cannot be reached" in page_text(form_page)
    offered = BeautifulSoup(form_page.get_data(as_text=True), "html.parser")
    assert offered.select('select[name="model"] option') and offered.select_one('button[name="when_back"]')

    session_id = save_pending(client, seed=70, count=2)
    assert session_row(app, session_id) == {**session_row(app, session_id), "send_state": "pending",
                                            "item_ids": None, "states": ["queued", "queued"]}
    waiting = client.get(f"/generate/sessions/{session_id}")
    assert WAITING.format(url=fake.url) in page_text(waiting)
    listed = BeautifulSoup(client.get("/generate/sessions").get_data(as_text=True), "html.parser")
    assert listed.select_one(f'li[data-session-id="{session_id}"] .gen-status').get_text() == "waiting for InvokeAI"
    assert client.post(f"/generate/sessions/{session_id}/status").get_json()["finished"] is False

    fake.restart()
    assert client.get("/generate").status_code == 200  # the first request that finds it up sends it
    row = session_row(app, session_id)
    assert row["send_state"] == "sent" and len(row["item_ids"]) == 2
    assert [batch["batch_id"] for batch in fake.enqueued_batches()] == [row["batch_id"]]
    assert sorted(field["items"] for field in fake.enqueued_batches()[0]["data"][0])[0] == [70, 71]
    assert "Waiting for InvokeAI" not in page_text(client.get(f"/generate/sessions/{session_id}"))
    data = poll_until_finished(session_id)
    assert [image["state"] for image in data["images"]] == ["done", "done"]
    client.get("/generate"), client.get("/generate/sessions")
    assert fake.count("POST", ENQUEUE) == 1  # never again


def test_a_pending_session_can_be_canceled_and_is_then_never_sent(app, client, down, fake):
    session_id = save_pending(client)
    response = client.post(f"/generate/sessions/{session_id}/cancel")
    assert response.status_code == 303
    row = session_row(app, session_id)
    assert row["canceled"] and row["send_state"] == "sent" and set(row["states"]) == {"canceled"}
    assert "Canceled before it was sent to InvokeAI." in page_text(client.get(f"/generate/sessions/{session_id}"))
    fake.restart()
    assert client.get("/generate").status_code == 200
    assert fake.count("POST", ENQUEUE) == 0


def test_the_session_page_and_list_send_pending_sessions_when_invokeai_answers(app, client, down, fake,
                                                                               monkeypatch):
    first, second = save_pending(client, count=1), save_pending(client, count=1)
    client.get(f"/generate/sessions/{first}")  # still down: tried, still pending, nothing sent
    assert session_row(app, first)["send_state"] == "pending"
    monkeypatch.setattr(generation, "SEND_AGAIN_EVERY", 0.0)  # not wait out this worker's pause after a failure
    fake.restart()
    assert client.get("/generate/sessions").status_code == 200
    assert [session_row(app, i)["send_state"] for i in (first, second)] == ["sent", "sent"]
    assert fake.count("POST", ENQUEUE) == 2


def test_two_requests_racing_for_a_pending_session_enqueue_it_once(app, client, down, fake, user_id):
    session_id = save_pending(client)
    fake.restart()
    start = threading.Barrier(4)
    problems = []

    def send():
        try:
            with app.app_context():
                start.wait(timeout=10)
                generation.send_pending_sessions(user_id)
        except Exception as exc:  # noqa: BLE001 (reported by the assertion below)
            problems.append(repr(exc))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert problems == []
    assert fake.count("POST", ENQUEUE) == 1
    assert session_row(app, session_id)["send_state"] == "sent"


@pytest.mark.parametrize("enqueued", [True, False], ids=["died after the enqueue", "died before the enqueue"])
def test_a_sender_that_died_after_its_claim_is_taken_over_without_sending_twice(app, client, down, fake, enqueued,
                                                                                poll_until_finished):
    session_id = save_pending(client, seed=90, count=2)
    fake.restart()
    with app.app_context():  # a request claimed it (and maybe sent it), then its worker was killed
        db.session.execute(update(GenerationSession).where(GenerationSession.id == session_id)
                           .values(send_state="sending", send_claimed_at=utcnow() - timedelta(minutes=2)))
        db.session.commit()
        if enqueued:
            generation.enqueue_pending(db.session.get(GenerationSession, session_id))
    assert client.get("/generate").status_code == 200  # claimed 2 minutes ago: not stale yet, left alone
    assert session_row(app, session_id)["send_state"] == "sending"
    with app.app_context():
        db.session.execute(update(GenerationSession).where(GenerationSession.id == session_id)
                           .values(send_claimed_at=utcnow() - generation.STALE_CLAIM - timedelta(seconds=1)))
        db.session.commit()
    assert client.get("/generate").status_code == 200
    row = session_row(app, session_id)
    assert row["send_state"] == "sent" and len(row["item_ids"]) == 2
    assert fake.count("POST", ENQUEUE) == 1
    data = poll_until_finished(session_id)
    assert sorted((image["seed"], image["state"]) for image in data["images"]) == [(90, "done"), (91, "done")]


def test_a_pending_session_whose_model_is_gone_fails_in_words_when_sent(app, client, down, fake):
    session_id = save_pending(client)
    fake.models = [model for model in fake.models if model["key"] != FORM["model"]]
    fake.restart()
    with app.app_context():
        cache.delete(gallery_cache.models_key(fake.url))
    assert client.get("/generate").status_code == 200
    with app.app_context():
        images = db.session.scalars(select(GenerationImage).where(GenerationImage.session_id == session_id)).all()
        assert {image.state for image in images} == {"failed"}
        assert "could not be sent: That model is not installed on InvokeAI" in images[0].error_message
    assert fake.count("POST", ENQUEUE) == 0


@pytest.mark.parametrize("fault", ["late_answer", "500"])
def test_only_a_server_that_cannot_be_reached_is_saved_for_later(app, client, fake, fault, row_count):
    """A server that answered (an error) or may have taken the batch (no answer in time) is not "down":
    the save button changes nothing there, so a batch is never both enqueued and kept pending."""
    assert client.get("/generate").status_code == 200
    fake.fault = fault
    response = client.post("/generate", data={**FORM, **SAVE})
    fake.fault = None
    fake.wait_idle()
    assert response.status_code in (502, 504)
    assert BeautifulSoup(response.get_data(as_text=True), "html.parser").select_one('button[name="when_back"]') is None
    with app.app_context():
        states = db.session.scalars(select(GenerationSession.send_state)).all()
    assert "pending" not in states and len(states) == (1 if fault == "late_answer" else 0)  # the unconfirmed one
