"""Watching a generation session: polling moves the images along and downloads each once, Cancel, and
queue items InvokeAI forgot (Prune, Clear: defect 4) or that belong to another batch (defect 6).

Driven through the routes against the fake InvokeAI, with the generation fixtures of conftest.py (whose
comment says how); every test checks what is left behind: rows, and files under data/.
"""
from __future__ import annotations

import hashlib
import io
import json
import re

import pytest
import requests
from bs4 import BeautifulSoup
from fake_invokeai import CANCEL, ENQUEUE, QUEUE
from PIL import Image
from testapp import JSON, invokeai_settings, log_in, run_together, thumbnails_of

from app.extensions import db
from app.models import GenerationSession
from app.services import storage

SESSION_FILE = re.compile(r"generated/sessions/(\d+)/[0-9a-f]{16}\.png")


@pytest.fixture
def app_config(fake_invokeai):
    return invokeai_settings(fake_invokeai)


def png_metadata(path) -> dict:
    with Image.open(path) as image:
        return json.loads(image.text["invokeai_metadata"])


# --- watching ----------------------------------------------------------------------------

def test_polling_moves_images_along_and_downloads_each_from_its_own_seed(
        client, fake, generate, status, stored_images, data_dir, data_files):
    fake.steps_to_finish = 4
    session_id = generate(seed=700, count=3)
    seen: dict[int, list[str]] = {}
    places = []
    for _ in range(30):
        data = status(session_id).get_json()
        assert data["problem"] is None, f"while polling: {data['problem']}"
        for image in data["images"]:
            history = seen.setdefault(image["seed"], [])
            if not history or history[-1] != image["state"]:
                history.append(image["state"])
            if image["state"] == "queued":
                places.append(image["place"])
        if data["finished"]:
            break
    assert data["finished"] and {image["state"] for image in data["images"]} == {"done"}, f"after 30 polls: {seen}"
    for seed, history in seen.items():  # in order, never backwards
        order = ["queued", "in_progress", "done"]
        assert history == sorted(history, key=order.index) and history[-1] == "done", f"seed {seed}: {history}"
    assert {state for history in seen.values() for state in history} == {"queued", "in_progress", "done"}, seen
    assert places and all(isinstance(place, int) and place >= 1 for place in places), f"queue places: {places}"
    assert 2 in places, f"queue places: {places}"  # the third image waited behind two others

    images = stored_images(session_id)
    assert sorted(images) == [700, 701, 702]
    assert {seed: image.item_id for seed, image in images.items()} == {700: 1, 701: 2, 702: 3}  # not [3, 2, 1]
    expected = set()
    for seed, image in images.items():
        assert SESSION_FILE.fullmatch(image.file_path)[1] == str(session_id), f"seed {seed}: {image.file_path}"
        original = data_dir / "photos" / image.file_path
        assert png_metadata(original)["seed"] == seed, f"seed {seed}'s file"  # the file made from ITS seed
        assert original.read_bytes() == fake.images[image.image_name]["png"], f"seed {seed}'s file"
        assert fake.images[image.image_name]["metadata"]["seed"] == seed, f"seed {seed}'s InvokeAI image"
        assert (image.image_width, image.image_height, image.format) == (64, 72, "PNG"), f"seed {seed}"
        thumbnails = {f"photos/{p}" for p in thumbnails_of(image.file_path, image.thumbnail_ext)}
        assert all(p.startswith(f"photos/thumbnails/generated/sessions/{session_id}/") for p in thumbnails), \
            thumbnails
        expected |= {f"photos/{image.file_path}"} | thumbnails
    assert data_files() == expected

    for image in data["images"]:
        thumbnail = client.get(image["grid_url"], buffered=True)
        assert thumbnail.status_code == 200 and thumbnail.mimetype.startswith("image/"), image["grid_url"]
        with Image.open(io.BytesIO(thumbnail.data)) as decoded:
            decoded.load()
        assert client.get(image["preview_url"], buffered=True).status_code == 200, image["preview_url"]

    for _ in range(10):
        assert status(session_id).status_code == 200, "a poll after the session finished"
    downloads = {seed: fake.downloads(image.image_name) for seed, image in images.items()}
    assert downloads == {700: 1, 701: 1, 702: 1}, "downloads by seed, after ten more polls"

    page = client.get(f"/generate/sessions/{session_id}")
    soup = BeautifulSoup(page.get_data(as_text=True), "html.parser")
    assert [li["data-state"] for li in soup.select("li.candidate")] == ["done"] * 3
    assert len(soup.select("li.candidate img")) == 3


def test_a_download_is_hashed_as_it_streams_and_not_read_again(fake, generate, poll_until_finished, stored_images,
                                                               monkeypatch):
    def read_again(path):
        raise AssertionError(f"{path} was read a second time to hash it")

    monkeypatch.setattr(storage, "sha256_of", read_again)
    session_id = generate(seed=800, count=2)
    assert {image["state"] for image in poll_until_finished(session_id)["images"]} == {"done"}
    for image in stored_images(session_id).values():
        served = fake.images[image.image_name]["png"]
        assert (image.sha256, image.file_size) == (hashlib.sha256(served).hexdigest(), len(served))


def test_two_pollers_at_the_same_moment_download_each_image_once(app, user_id, fake, generate, stored_images, data_files):
    fake.steps_to_finish = 0
    session_id = generate(seed=5, count=4)
    fake.advance(4)  # every item has finished on InvokeAI; none is downloaded yet
    assert all(item["status"] == "completed" for item in map(fake.item, (1, 2, 3, 4)))

    clients = [log_in(app.test_client(), user_id) for _ in range(2)]

    def poll(client):
        with app.app_context():
            response = client.post(f"/generate/sessions/{session_id}/status", headers=JSON)
            return response.status_code, response.get_json()

    answers = run_together([lambda client=client: poll(client) for client in clients])
    assert [answer[0] for answer in answers] == [200, 200], answers

    images = stored_images(session_id)
    assert all(image.state == "done" for image in images.values())
    assert all(fake.downloads(image.image_name) == 1 for image in images.values())
    assert fake.count("GET", "/api/v1/images/i/") == 0
    originals = {f for f in data_files() if f.startswith("photos/generated/")}
    assert originals == {f"photos/{image.file_path}" for image in images.values()}  # no second copy


def test_cancel_sends_cancel_by_batch_ids_and_cancels_unfinished_images(client, fake, generate, status, app):
    fake.steps_to_finish = 1
    session_id = generate(seed=20, count=3)
    for _ in range(10):
        images = status(session_id).get_json()["images"]
        if any(image["state"] == "done" for image in images):
            break
    response = client.post(f"/generate/sessions/{session_id}/cancel")
    assert response.status_code == 303
    with app.app_context():
        batch_id = db.session.get(GenerationSession, session_id).batch_id
    cancels = [r for r in fake.requests if r.method == "PUT" and r.path == CANCEL]
    assert [r.json for r in cancels] == [{"batch_ids": [batch_id]}]

    data = status(session_id).get_json()
    assert data["finished"]
    states = {image["seed"]: image["state"] for image in data["images"]}
    assert states[20] == "done" and states[22] == "canceled"
    assert set(states.values()) <= {"done", "canceled"}
    assert all(fake.item(i)["status"] in ("completed", "canceled") for i in (1, 2, 3))
    page = BeautifulSoup(client.get(f"/generate/sessions/{session_id}").get_data(as_text=True), "html.parser")
    assert [li["data-state"] for li in page.select("li.candidate")] == [states[s] for s in (20, 21, 22)]


# --- InvokeAI forgets queue items: Prune, Clear, its history limit (defect 4) --------------------


def test_items_pruned_after_they_finished_are_downloaded_from_invokeais_images(
        fake, generate, status, poll_until_finished, stored_images, data_dir):
    fake.steps_to_finish = 1000  # running while the page polls once, then finished while nobody looks
    session_id = generate(seed=42, count=2)
    assert {image["state"] for image in status(session_id).get_json()["images"]} <= {"queued", "in_progress"}
    fake.steps_to_finish = 0
    fake.advance(1)  # the running item finishes; the other still waits
    with fake.lock:
        [finished] = [item_id for item_id, item in fake.items.items() if item["status"] == "completed"]
    assert requests_put(fake, f"{QUEUE}/prune") == {"deleted": 1}

    data = poll_until_finished(session_id)
    assert data["problem"] is None
    assert {image["seed"]: image["state"] for image in data["images"]} == {42: "done", 43: "done"}
    for image in stored_images(session_id).values():
        assert (data_dir / "photos" / image.file_path).read_bytes() == fake.images[image.image_name]["png"]
        assert png_metadata(data_dir / "photos" / image.file_path)["seed"] == image.seed
    assert stored_images(session_id)[42].item_id == finished


def test_items_cleared_before_they_ran_end_failed_in_words_and_polling_stops(
        client, fake, generate, status, stored_images, data_files):
    session_id = generate(seed=42, count=2)
    assert requests_put(fake, f"{QUEUE}/clear") == {"deleted": 2}

    response = status(session_id)
    assert response.status_code == 200
    data = response.get_json()
    assert data["finished"] and data["problem"] is None  # the page stops polling
    for image in data["images"]:
        assert image["state"] == "failed"
        assert image["error"].startswith("InvokeAI no longer has this image's queue item"), image["error"]
    assert data_files() == set()
    asked = len(fake.requests)
    assert status(session_id).status_code == 200 and len(fake.requests) == asked  # nothing left to ask


def requests_put(fake, path: str) -> dict:
    return requests.put(fake.url + path, timeout=5).json()


# --- queue items of another batch are not taken (defect 6) ---------------------------------------

def test_items_of_another_batch_are_not_downloaded(fake, generate, poll_until_finished, stored_images, data_files):
    """InvokeAI's database was reset (or the URL now names another server): the same item ids now belong to
    someone else's batch, even with the same seeds."""
    session_id = generate(seed=42, count=2)
    fake.reset()
    from test_fake_invokeai import model, sd1_body
    body = sd1_body(model(fake), seeds=(42, 43))
    assert requests.post(fake.url + ENQUEUE, json=body, timeout=5).json()["item_ids"] == [2, 1]

    data = poll_until_finished(session_id)
    for image in data["images"]:
        assert image["state"] == "failed"
        assert image["error"].startswith("InvokeAI's queue item"), image["error"]
        assert "belongs to another batch" in image["error"]
    assert fake.count("GET", "/api/v1/images/i/") == 0 and not any("/full" in r.path for r in fake.requests)
    assert data_files() == set()
