"""Generating while InvokeAI is down, misbehaving, hung (answered within one timeout: defect 5) or in
multi-user mode.

Driven through the routes against the fake InvokeAI, with the generation fixtures of conftest.py (whose
comment says how); every test checks what is left behind: rows, and files under data/.
"""
from __future__ import annotations

import time

import pytest
from fake_invokeai import CANCEL, ENQUEUE
from sqlalchemy import select
from testapp import GENERATE_FORM as FORM, invokeai_settings, page_text

from app.extensions import db
from app.models import GenerationImage, GenerationSession

LOGIN = "/api/v1/auth/login"
EMAIL, PASSWORD = "artist@example.com", "paint-by-numbers"  # the fake's multi-user account


@pytest.fixture
def app_config(fake_invokeai):
    return invokeai_settings(fake_invokeai)


# --- InvokeAI down or misbehaving ----------------------------------------------------------

class Outage:
    """Break InvokeAI one way and mend it again (a fake fault, or the app pointed at a closed port)."""

    def __init__(self, kind: str, app, fake, closed_port_url: str):
        self.kind, self.app, self.fake, self.closed = kind, app, fake, closed_port_url

    @property
    def url(self) -> str:
        return self.closed if self.kind == "closed port" else self.fake.url

    def _point_at(self, url: str) -> None:
        self.app.config["INVOKEAI_URL"] = url
        existing = self.app.extensions.pop("invokeai", None)
        if existing is not None:
            existing.close()

    def start(self) -> None:
        if self.kind == "closed port":
            self._point_at(self.closed)
        else:
            self.fake.fault = self.kind

    def end(self) -> None:
        if self.kind == "closed port":
            self._point_at(self.fake.url)
        else:
            self.fake.fault = None


OUTAGES = {  # what the page must say went wrong
    "closed port": "cannot be reached: connection refused",
    "silent": "did not answer GET /api/v2/models/ within 1 s",
    "500": "failed with 500: Unexpected error while handling GET /api/v2/models/: boom",
    "html": "answered with text/html, not JSON",
    "invalid_json": "answered with broken JSON",
    "redirect": "answered with a redirect to",
}


@pytest.fixture(params=list(OUTAGES))
def outage(request, app, fake, closed_port_url):
    broken = Outage(request.param, app, fake, closed_port_url)
    yield broken
    broken.end()


def test_outage_answers_a_5xx_page_in_words_and_writes_nothing(client, outage, fake, row_count, data_files):
    outage.start()
    for attempt in ("GET", "POST"):
        started = time.monotonic()
        response = client.get("/generate") if attempt == "GET" else client.post("/generate", data=FORM)
        elapsed = time.monotonic() - started
        assert response.status_code in (502, 503, 504), (attempt, response.status_code)
        words = page_text(response)
        assert outage.url in words and OUTAGES[outage.kind] in words, words
        assert elapsed < 5, f"{attempt} /generate took {elapsed:.1f} s"
        assert client.get("/").status_code == 200  # the rest of the gallery works
    assert row_count(GenerationSession) == row_count(GenerationImage) == 0
    assert data_files() == set()


@pytest.mark.parametrize("outage", [kind for kind in OUTAGES if kind not in ("closed port", "silent")], indirect=True)
def test_outage_during_enqueue_answers_in_words_and_writes_nothing(client, outage, fake, row_count, data_files):
    assert client.get("/generate").status_code == 200  # the model list is now cached
    outage.start()
    started = time.monotonic()
    response = client.post("/generate", data=FORM)
    assert time.monotonic() - started < 5
    assert response.status_code in (502, 503, 504)
    words = page_text(response)
    assert f"{fake.url}" in words and ENQUEUE in words, words
    assert row_count(GenerationSession) == row_count(GenerationImage) == 0
    assert data_files() == set()


def post_unanswered_enqueue(client, fake, fault: str) -> tuple[str, str]:
    """POST the form while the fake holds the enqueue past the gallery's 1 s: (the page's words, the batch id)."""
    assert client.get("/generate").status_code == 200  # the model list is cached: only the enqueue is slow
    fake.fault = fault
    started = time.monotonic()
    response = client.post("/generate", data={**FORM, "seed": 50, "count": 2})
    assert time.monotonic() - started < 5
    assert response.status_code == 504
    [batch] = fake.enqueued_batches()
    return page_text(response), batch["batch_id"]


def assert_recorded_as_canceled(app, client, batch_id: str) -> None:
    """The gallery keeps the unanswered batch as a canceled session, saying why, so it can cancel it again."""
    with app.app_context():
        [session] = db.session.scalars(select(GenerationSession)).all()
        assert (session.batch_id, session.canceled, session.item_ids) == (batch_id, True, None)
        assert [(image.seed, image.state) for image in session.images] == [(50, "canceled"), (51, "canceled")]
        assert all("did not confirm" in image.error_message for image in session.images)
        session_id = session.id
    page = client.get(f"/generate/sessions/{session_id}")
    assert page.status_code == 200 and "did not confirm" in page_text(page)


def test_an_enqueue_answered_after_the_timeout_is_canceled_by_the_next_request(client, fake, app, generate):
    words, batch_id = post_unanswered_enqueue(client, fake, "late_answer")
    assert f"did not answer POST {ENQUEUE} within 1 s" in words and "cancels the batch" in words, words
    assert fake.batch_statuses(batch_id) == ["pending", "pending"]  # taken; the person was not kept waiting
    assert fake.count("PUT", CANCEL) == 0
    assert_recorded_as_canceled(app, client, batch_id)
    fake.fault = None
    generate(seed=60, count=1)
    assert fake.batch_statuses(batch_id) == ["canceled", "canceled"]
    assert [r.json for r in fake.requests if r.path == CANCEL] == [{"batch_ids": [batch_id]}]


def test_an_enqueue_unanswered_by_a_silent_invokeai_is_said_in_time_and_kept_on_record(client, fake, app):
    """Everything hangs, the cancel too: the person still reads why within seconds, and the batch is on record."""
    words, batch_id = post_unanswered_enqueue(client, fake, "silent")
    assert f"did not answer POST {ENQUEUE} within 1 s" in words and "cancels the batch" in words, words
    assert fake.count("PUT", CANCEL) == 0  # not sent to a server that does not answer: a later request does
    assert_recorded_as_canceled(app, client, batch_id)


def test_an_enqueue_taken_after_the_timeout_is_canceled_by_the_next_generation(client, fake, app, generate):
    """InvokeAI takes the batch only after the gallery gave up and canceled it: a cancel cannot be sent ahead
    of it, so the gallery keeps the batch id and cancels it again until it is old (here: at the next enqueue)."""
    words, batch_id = post_unanswered_enqueue(client, fake, "late_accept")
    assert f"did not answer POST {ENQUEUE} within 1 s" in words and "cancels the batch" in words, words
    assert fake.batch_statuses(batch_id) == []  # not taken yet
    assert_recorded_as_canceled(app, client, batch_id)

    fake.fault = None  # InvokeAI now takes the held batch
    fake.wait_idle()
    assert fake.batch_statuses(batch_id) == ["pending", "pending"]
    session_id = generate(seed=60, count=1)
    assert fake.batch_statuses(batch_id) == ["canceled", "canceled"]
    with app.app_context():
        new_batch = db.session.get(GenerationSession, session_id).batch_id
    assert fake.batch_statuses(new_batch) == ["pending"]  # the new one is untouched
    assert {"batch_ids": [batch_id]} in [r.json for r in fake.requests if r.path == CANCEL]


def test_status_reports_an_outage_in_json_and_recovers(client, outage, fake, generate, status, poll_until_finished):
    session_id = generate(seed=90, count=2)
    assert status(session_id).status_code == 200
    outage.start()
    started = time.monotonic()
    response = status(session_id)
    assert time.monotonic() - started < 5
    assert response.status_code in (502, 503, 504) and response.is_json
    data = response.get_json()
    assert outage.url in data["problem"] and not data["finished"]
    assert sorted(image["seed"] for image in data["images"]) == [90, 91]
    page = client.get(f"/generate/sessions/{session_id}")
    assert page.status_code == 200
    outage.end()
    data = poll_until_finished(session_id)
    assert data["problem"] is None and {image["state"] for image in data["images"]} == {"done"}


# --- InvokeAI in multi-user mode -----------------------------------------------------------

class TestMultiUserInvokeAI:
    @pytest.fixture
    def app_config(self, fake_invokeai):
        fake_invokeai.multiuser = True
        return {**invokeai_settings(fake_invokeai), "INVOKEAI_EMAIL": EMAIL, "INVOKEAI_PASSWORD": PASSWORD}

    def test_logs_in_sends_bearer_and_logs_in_again_after_expiry(self, fake, generate, poll_until_finished):
        session_id = generate(seed=3, count=2)
        assert {image["state"] for image in poll_until_finished(session_id)["images"]} == {"done"}
        assert fake.count("POST", LOGIN) == 1
        assert [r.json for r in fake.requests if r.path == LOGIN] == [
            {"email": EMAIL, "password": PASSWORD, "remember_me": False}]
        calls = [r for r in fake.requests if r.path != LOGIN]
        assert calls and all(r.headers.get("Authorization", "").startswith("Bearer ") for r in calls)

        fake.expire_tokens()
        session_id = generate(seed=9, count=1)  # the models are cached: the enqueue meets the 401
        assert {image["state"] for image in poll_until_finished(session_id)["images"]} == {"done"}
        assert fake.count("POST", LOGIN) == 2
        assert fake.count("POST", ENQUEUE) == 3  # the refused one, sent again after the login, once
        assert len(fake.enqueued_batches()[-1]["data"][0][0]["items"]) == 1

    def test_wrong_credentials_are_named(self, app, client, fake):
        fake.users = {EMAIL: "something else"}
        response = client.get("/generate")
        assert response.status_code == 502  # InvokeAI answered, refusing the login: a bad gateway, not a down one
        assert "refused the configured login" in page_text(response)


# --- a hung InvokeAI answers within one timeout (defect 5) -------------------------------------

class TestHungInvokeAI:
    @pytest.fixture
    def app_config(self, fake_invokeai):
        return {**invokeai_settings(fake_invokeai), "INVOKEAI_READ_TIMEOUT": 2.0}

    def test_a_hung_enqueue_is_answered_within_one_timeout_and_canceled_by_a_later_request(
            self, client, fake, generate, status, app):
        earlier = generate(seed=1, count=1)
        fake.fault = "silent"
        started = time.monotonic()
        response = client.post("/generate", data={**FORM, "seed": 50, "count": 2})
        elapsed = time.monotonic() - started
        assert response.status_code == 504
        assert elapsed < 3.5, f"answered after {elapsed:.1f} s; the read timeout is 2 s"
        assert fake.count("PUT", CANCEL) == 0  # not waited for: a later request cancels it
        batch_id = fake.enqueued_batches()[-1]["batch_id"]

        fake.fault = None  # InvokeAI wakes up and takes the held batch
        fake.wait_idle()
        assert fake.batch_statuses(batch_id) == ["pending", "pending"]
        assert status(earlier).status_code == 200  # the next request that reaches InvokeAI...
        assert fake.batch_statuses(batch_id) == ["canceled", "canceled"]  # ...cancels it
        assert {"batch_ids": [batch_id]} in [r.json for r in fake.requests if r.path == CANCEL]
