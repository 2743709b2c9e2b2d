"""The real InvokeAI's habits the gallery must cope with, as the fake serves them: keep-alive connections
that uvicorn closes when idle, gzip-encoded answers, partial results of a canceled item (and items that
finished, unpolled, before the cancel), and a 422 for a model base it does not know.

Items finishing while nobody polls and items deleted by a prune are in test_generation_refresh.py.
"""
from __future__ import annotations

import hashlib
import time

import fake_invokeai
import pytest
from fake_invokeai import ENQUEUE, SDXL
from testapp import GENERATE_FORM as FORM, invokeai_settings, page_text

from app.models import GenerationImage, GenerationSession


@pytest.fixture
def app_config(fake_invokeai):
    return invokeai_settings(fake_invokeai)


def test_a_session_runs_over_kept_alive_gzip_connections_and_stores_the_images_bytes(
        client, fake, generate, poll_until_finished, stored_images, data_dir):
    fake.gzip_min_bytes = 100  # the images too (InvokeAI's middleware gzips anything of 1000 bytes and up)
    session_id = generate(seed=7, count=2)
    data = poll_until_finished(session_id)
    assert [image["state"] for image in data["images"]] == ["done", "done"]
    assert fake.gzipped >= 4  # models, items and both images came gzipped
    assert len(fake.connections) <= 2 < len(fake.requests)  # one pooled connection, not one per request
    for image in stored_images(session_id).values():
        stored = (data_dir / "photos" / image.file_path).read_bytes()
        assert stored == fake.images[image.image_name]["png"]  # decoded, not the gzip stream
        assert image.sha256 == hashlib.sha256(stored).hexdigest() and image.file_size == len(stored)


def test_a_connection_closed_while_idle_is_opened_again_without_a_problem(client, fake, generate, status):
    fake.idle_seconds = 0.3  # uvicorn's is 5 s
    fake.steps_to_finish = 1000
    session_id = generate(count=1)
    assert status(session_id).status_code == 200
    opened = len(fake.connections)
    time.sleep(0.6)  # the fake closes the idle connection (a real timeout, which only time can pass)
    response = status(session_id)
    assert response.status_code == 200 and response.get_json()["problem"] is None
    assert len(fake.connections) == opened + 1


def test_cancel_offers_what_finished_before_it_and_nothing_of_a_canceled_items_partial_results(
        client, app, fake, generate, status, stored_images):
    session_id = generate(seed=30, count=3)
    fake.advance(5)  # unpolled: the first item finished, the second runs, the third waits
    with fake.lock:
        assert sorted(item["status"] for item in fake.items.values()) == ["completed", "in_progress", "pending"]
    response = client.post(f"/generate/sessions/{session_id}/cancel")
    assert response.status_code == 303
    with fake.lock:
        canceled = [item for item in fake.items.values() if item["status"] == "canceled"]
        assert len(canceled) == 2 and any(item["_results"] for item in canceled)  # partial results, no image
    images = stored_images(session_id)
    assert {seed: image.state for seed, image in images.items()} == {30: "done", 31: "canceled", 32: "canceled"}
    assert images[30].file_path  # offered: downloaded, with its keep button
    page = client.get(f"/generate/sessions/{session_id}")
    assert "Keep" in page_text(page)
    kept = client.post(f"/generate/images/{images[30].id}/keep", data={"image_name": images[30].image_name})
    assert kept.status_code == 303
    assert stored_images(session_id)[30].decision == "kept"
    assert sum(fake.downloads(name) for name in fake.images) == 1  # nothing fetched for the canceled items


def test_a_422_for_a_base_invokeai_does_not_know_is_a_400_in_words_and_writes_nothing(
        client, fake, row_count, monkeypatch):
    monkeypatch.setattr(fake_invokeai, "BASES", tuple(b for b in fake_invokeai.BASES if b != "sdxl"))  # an older server
    response = client.post("/generate", data={**FORM, "model": SDXL, "width": 1024, "height": 1024, "count": 1})
    assert response.status_code == 400
    words = page_text(response)
    assert f"InvokeAI at {fake.url} refused {ENQUEUE}" in words and "base: Input should be" in words, words
    assert fake.count("POST", ENQUEUE) == 1
    assert row_count(GenerationSession) == row_count(GenerationImage) == 0
