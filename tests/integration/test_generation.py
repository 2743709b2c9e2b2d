"""Generating images through InvokeAI, over HTTP, against the fake InvokeAI on loopback.

The gallery's side is driven only through its routes (the test client); InvokeAI's side is
read from the fake's request log (`fake.requests`, `fake.count`). Each polling GET the gallery
makes is one tick of the fake's queue, so polling the session's status route moves the images
along without any sleep. Every test checks what is left behind: rows, and files under data/.
"""
from __future__ import annotations

import errno
import functools
import hashlib
import io
import json
import os
import re
import threading
import time
from urllib.parse import urlsplit

import pytest
from bs4 import BeautifulSoup
import testapp
from testapp import GENERATE_FORM as FORM, invokeai_settings, log_in, run_together
from fake_invokeai import SCHEDULERS, TINY_SD15
from PIL import Image
from sqlalchemy import func, select

from app.extensions import db
from app.models import GenerationImage, GenerationSession, Photo
from app.services import candidates, generation, photos, storage
from app.services.thumbnails import SIZES as THUMBNAIL_SIZES

ENQUEUE = "/api/v1/queue/default/enqueue_batch"
MODELS = "/api/v2/models/"
CANCEL = "/api/v1/queue/default/cancel_by_batch_ids"
LOGIN = "/api/v1/auth/login"
JSON = {"Accept": "application/json"}
DREAMSHAPER = "5b1c1d0e-6f6a-4d7e-9c62-3b9d2f0c7a11"  # the fake's other models (TINY_SD15: its first)
SD21 = "9e7f2c4a-1b3d-4e5f-8a6b-7c8d9e0f1a2b"
SDXL = "c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e6f"
VAE = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
EMAIL, PASSWORD = "artist@example.com", "paint-by-numbers"  # the fake's multi-user account
# API.md §2.1: the SD-1 txt2img graph, node types and edges.
NODE_TYPES = {"model_loader": "main_model_loader", "clip_skip": "clip_skip", "positive": "compel",
              "negative": "compel", "noise": "noise", "denoise": "denoise_latents", "l2i": "l2i",
              "metadata": "core_metadata"}
EDGES = {("model_loader.unet", "denoise.unet"), ("model_loader.clip", "clip_skip.clip"),
         ("clip_skip.clip", "positive.clip"), ("clip_skip.clip", "negative.clip"),
         ("positive.conditioning", "denoise.positive_conditioning"),
         ("negative.conditioning", "denoise.negative_conditioning"), ("noise.noise", "denoise.noise"),
         ("denoise.latents", "l2i.latents"), ("model_loader.vae", "l2i.vae"), ("metadata.metadata", "l2i.metadata")}
SESSION_FILE = re.compile(r"generated/sessions/(\d+)/[0-9a-f]{16}\.png")


@pytest.fixture
def app_config(fake_invokeai):
    return invokeai_settings(fake_invokeai)


@pytest.fixture
def fake(fake_invokeai):
    return fake_invokeai


@pytest.fixture
def generate(client):
    """generate(**form overrides) -> the new session's id (POST /generate, answered with a redirect)."""
    return functools.partial(testapp.generate, client)


@pytest.fixture
def status(client):
    """status(session_id, as_client=client) -> the response of the JSON status route the page polls."""
    def poll(session_id: int, as_client=None):
        return (as_client or client).post(f"/generate/sessions/{session_id}/status", headers=JSON)
    return poll


@pytest.fixture
def poll_until_finished(status):
    """poll_until_finished(session_id) -> the last status JSON; each poll ticks the fake, so no sleeping."""
    def poll(session_id: int, limit: int = 50) -> dict:
        for _ in range(limit):
            response = status(session_id)
            assert response.status_code == 200, response.get_json()
            data = response.get_json()
            if data["finished"]:
                return data
        raise AssertionError(f"session {session_id} not finished after {limit} polls: {data}")
    return poll


@pytest.fixture
def rows(app):
    """rows(Model) -> how many rows the table has."""
    def count(model) -> int:
        with app.app_context():
            return db.session.scalar(select(func.count()).select_from(model))
    return count


@pytest.fixture
def stored(app):
    """stored(session_id) -> {seed: GenerationImage} as the database has them (detached copies)."""
    def load(session_id: int) -> dict[int, GenerationImage]:
        with app.app_context():
            images = db.session.scalars(select(GenerationImage).where(GenerationImage.session_id == session_id))
            result = {image.seed: image for image in images}
            db.session.expunge_all()
            return result
    return load


def enqueued_batches(fake) -> list[dict]:
    return [r.json["batch"] for r in fake.requests if r.method == "POST" and r.path == ENQUEUE]


def text_of(response) -> str:
    return " ".join(BeautifulSoup(response.get_data(as_text=True), "html.parser").get_text(" ").split())


def downloads(fake, image_name: str) -> int:
    return fake.count("GET", f"/api/v1/images/i/{image_name}/full")


def shown(image) -> dict:
    """The keep / reject form's body for a downloaded image: the name of the picture the page showed."""
    return {"image_name": image.image_name}


def png_metadata(path) -> dict:
    with Image.open(path) as image:
        return json.loads(image.text["invokeai_metadata"])


def thumbnails_of(file_path: str, ext: str) -> set[str]:
    stem = file_path.removesuffix(".png")
    return {f"thumbnails/{stem}.{size}.{ext}" for size in THUMBNAIL_SIZES}


# --- the form ----------------------------------------------------------------------------

def test_form_lists_sd1_and_sd2_main_models_cached_for_a_minute(client, fake, monkeypatch):
    response = client.get("/generate")
    assert response.status_code == 200
    page = BeautifulSoup(response.get_data(as_text=True), "html.parser")
    offered = {option["value"]: option.get_text() for option in page.select("select[name=model] option")}
    assert set(offered) == {TINY_SD15, DREAMSHAPER, SD21}  # not sdxl, not the VAE
    assert offered[SD21] == "sd-2-1-base (sd-2)"
    schedulers = [option["value"] for option in page.select("select[name=scheduler] option")]
    assert set(schedulers) == set(SCHEDULERS) and "euler" in schedulers
    assert page.select_one("select[name=scheduler] option[selected]")["value"] == "euler"
    assert fake.count("GET", MODELS) == 1

    assert client.get("/generate").status_code == 200
    assert fake.count("GET", MODELS) == 1  # from the cache

    import cachelib.simple
    later = time.time() + 61
    monkeypatch.setattr(cachelib.simple, "time", lambda: later)
    assert client.get("/generate").status_code == 200
    assert fake.count("GET", MODELS) == 2  # a minute later it asks again


@pytest.mark.parametrize("field, value, message", [
    ("width", 65, "Must be a multiple of 8."),
    ("steps", 0, "Number must be between 1 and 150."),
    ("cfg_scale", 0.5, "Number must be between 1 and 30."),
    ("count", 9, "Between 1 and 8 images."),
    ("prompt", "", "This field is required."),
    ("model", "does-not-exist", "Not a valid choice."),
])
def test_invalid_form_is_shown_again_and_nothing_is_enqueued(client, fake, rows, data_files, field, value, message):
    response = client.post("/generate", data={**FORM, field: value})
    assert response.status_code == 400
    page = BeautifulSoup(response.get_data(as_text=True), "html.parser")
    label = page.select_one(f"[name={field}]").find_parent("label")
    assert [e.get_text() for e in label.select(".field-error")] == [message]
    assert page.select_one("textarea[name=negative_prompt]").get_text().strip() == FORM["negative_prompt"]  # kept
    assert fake.count("POST", ENQUEUE) == 0
    assert rows(GenerationSession) == rows(GenerationImage) == 0
    assert data_files() == set()


# --- submitting --------------------------------------------------------------------------

def test_submit_enqueues_one_batch_and_redirects_at_once(client, fake, generate, app, stored):
    session_id = generate(seed="")
    assert [(r.method, r.path.split("?")[0]) for r in fake.requests] == [("GET", MODELS), ("POST", ENQUEUE)]
    assert fake.count("GET", "/api/v1/queue/default/i/1") == 0  # the redirect did not wait for InvokeAI

    [batch] = enqueued_batches(fake)
    with app.app_context():
        session = db.session.get(GenerationSession, session_id)
        assert batch["batch_id"] == session.batch_id  # chosen by the gallery, not by InvokeAI
        assert (session.prompt, session.negative_prompt, session.model_key, session.model_name) == \
            (FORM["prompt"], FORM["negative_prompt"], TINY_SD15, "tiny-sd15")
        assert session.item_ids == [3, 2, 1]
    nodes, edges = batch["graph"]["nodes"], batch["graph"]["edges"]
    assert {key: node["type"] for key, node in nodes.items()} == NODE_TYPES
    assert all(node["id"] == key for key, node in nodes.items())
    assert {(f"{e['source']['node_id']}.{e['source']['field']}",
             f"{e['destination']['node_id']}.{e['destination']['field']}") for e in edges} == EDGES
    assert len(edges) == len(EDGES)
    model = next(m for m in fake.models if m["key"] == TINY_SD15)
    assert nodes["model_loader"]["model"] == {k: model[k] for k in ("key", "hash", "name", "base", "type")}
    assert nodes["positive"]["prompt"] == FORM["prompt"] and nodes["negative"]["prompt"] == FORM["negative_prompt"]
    assert (nodes["noise"]["width"], nodes["noise"]["height"]) == (64, 72)
    assert (nodes["denoise"]["steps"], nodes["denoise"]["cfg_scale"], nodes["denoise"]["scheduler"]) == \
        (2, 7.5, "dpmpp_2m")
    assert nodes["l2i"]["is_intermediate"] is False and nodes["l2i"]["use_cache"] is False

    [group] = batch["data"]  # one group: seeds zipped into noise and metadata
    assert [(d["node_path"], d["field_name"]) for d in group] == [("noise", "seed"), ("metadata", "seed")]
    seeds = group[0]["items"]
    assert group[1]["items"] == seeds and len(seeds) == 3
    assert seeds == [seeds[0], seeds[0] + 1, seeds[0] + 2]  # a random first seed, then consecutive
    assert sorted(stored(session_id)) == seeds

    page = client.get(f"/generate/sessions/{session_id}")
    assert page.status_code == 200
    states = [li["data-state"] for li in BeautifulSoup(page.get_data(as_text=True), "html.parser")
              .select("li.candidate")]
    assert states == ["queued"] * 3
    listing = client.get("/generate/sessions")
    assert f"/generate/sessions/{session_id}" in listing.get_data(as_text=True) and "tiny-sd15" in text_of(listing)


def test_given_seed_makes_consecutive_seeds_and_blank_seeds_differ(generate, fake):
    generate(seed=4294967294, count=2)
    generate(seed=1000, count=4)
    generate(seed="", count=1)
    generate(seed="", count=1)
    seeds = [batch["data"][0][0]["items"] for batch in enqueued_batches(fake)]
    assert seeds[0] == [4294967294, 4294967295]
    assert seeds[1] == [1000, 1001, 1002, 1003]
    assert seeds[2] != seeds[3]


# --- InvokeAI's queue at its max_queue_size ------------------------------------------------

QUEUE_WAS_FULL = ("InvokeAI's queue was full: it took 2 of the 3 images, not this one. Generate it again when the "
                  "queue has room.")


def test_a_full_queue_is_said_in_words_and_writes_nothing(client, fake, generate, rows, data_files):
    """InvokeAI answers the enqueue 200 having taken none of it: no session is left waiting for items that
    do not exist, and the person reads why."""
    fake.max_queue_size = 2
    generate(seed=1, count=2)  # the queue is full now
    response = client.post("/generate", data={**FORM, "seed": 10, "count": 3})
    assert response.status_code == 503
    assert (f"InvokeAI's queue at {fake.url} is full (2 items waiting): it took none of the 3 images. Try again "
            "when it has room.") in text_of(response)
    assert rows(GenerationSession) == 1 and rows(GenerationImage) == 2  # the first session only
    assert fake.count("POST", ENQUEUE) == 2 and fake.count("PUT", CANCEL) == 0
    assert data_files() == set()


def test_a_queue_with_room_for_some_seeds_keeps_those_and_fails_the_rest(client, fake, generate, app, stored,
                                                                         poll_until_finished):
    fake.max_queue_size = 2
    session_id = generate(seed=500, count=3)
    with app.app_context():
        session = db.session.get(GenerationSession, session_id)
        batch_id, item_ids = session.batch_id, session.item_ids
    assert sorted(item_ids) == [1, 2]
    images = stored(session_id)
    assert {seed: (image.state, image.item_id, image.error_message) for seed, image in images.items()} == {
        500: ("queued", 1, None), 501: ("queued", 2, None), 502: ("failed", None, QUEUE_WAS_FULL)}
    page = BeautifulSoup(client.get(f"/generate/sessions/{session_id}").get_data(as_text=True), "html.parser")
    [failed] = page.select('li.candidate[data-state="failed"]')
    assert failed.select_one(".problem").get_text() == QUEUE_WAS_FULL

    data = poll_until_finished(session_id)
    assert {image["seed"]: (image["state"], image["error"]) for image in data["images"]} == {
        500: ("done", None), 501: ("done", None), 502: ("failed", QUEUE_WAS_FULL)}
    assert batch_statuses(fake, batch_id) == ["completed", "completed"]


# --- watching ----------------------------------------------------------------------------

def test_polling_moves_images_along_and_downloads_each_from_its_own_seed(
        client, fake, generate, status, stored, data_dir, data_files):
    fake.steps_to_finish = 4
    session_id = generate(seed=700, count=3)
    seen: dict[int, list[str]] = {}
    places = []
    for _ in range(30):
        data = status(session_id).get_json()
        assert data["problem"] is None
        for image in data["images"]:
            history = seen.setdefault(image["seed"], [])
            if not history or history[-1] != image["state"]:
                history.append(image["state"])
            if image["state"] == "queued":
                places.append(image["place"])
        if data["finished"]:
            break
    assert data["finished"] and {image["state"] for image in data["images"]} == {"done"}
    for history in seen.values():  # in order, never backwards
        order = ["queued", "in_progress", "done"]
        assert history == sorted(history, key=order.index) and history[-1] == "done"
    assert {state for history in seen.values() for state in history} == {"queued", "in_progress", "done"}
    assert places and all(isinstance(place, int) and place >= 1 for place in places)
    assert 2 in places  # the third image waited behind two others

    images = stored(session_id)
    assert sorted(images) == [700, 701, 702]
    assert {seed: image.item_id for seed, image in images.items()} == {700: 1, 701: 2, 702: 3}  # not [3, 2, 1]
    expected = set()
    for seed, image in images.items():
        assert SESSION_FILE.fullmatch(image.file_path)[1] == str(session_id)
        original = data_dir / "photos" / image.file_path
        assert png_metadata(original)["seed"] == seed  # the file made from ITS seed
        assert original.read_bytes() == fake.images[image.image_name]["png"]
        assert fake.images[image.image_name]["metadata"]["seed"] == seed
        assert (image.image_width, image.image_height, image.format) == (64, 72, "PNG")
        thumbnails = {f"photos/{p}" for p in thumbnails_of(image.file_path, image.thumbnail_ext)}
        assert all(p.startswith(f"photos/thumbnails/generated/sessions/{session_id}/") for p in thumbnails)
        expected |= {f"photos/{image.file_path}"} | thumbnails
    assert data_files() == expected

    for image in data["images"]:
        thumbnail = client.get(image["grid_url"], buffered=True)
        assert thumbnail.status_code == 200 and thumbnail.mimetype.startswith("image/")
        with Image.open(io.BytesIO(thumbnail.data)) as decoded:
            decoded.load()
        assert client.get(image["preview_url"], buffered=True).status_code == 200

    for _ in range(10):
        assert status(session_id).status_code == 200
    assert all(downloads(fake, image.image_name) == 1 for image in images.values())

    page = client.get(f"/generate/sessions/{session_id}")
    soup = BeautifulSoup(page.get_data(as_text=True), "html.parser")
    assert [li["data-state"] for li in soup.select("li.candidate")] == ["done"] * 3
    assert len(soup.select("li.candidate img")) == 3


def test_a_download_is_hashed_as_it_streams_and_not_read_again(fake, generate, poll_until_finished, stored,
                                                               monkeypatch):
    def read_again(path):
        raise AssertionError(f"{path} was read a second time to hash it")

    monkeypatch.setattr(storage, "sha256_of", read_again)
    session_id = generate(seed=800, count=2)
    assert {image["state"] for image in poll_until_finished(session_id)["images"]} == {"done"}
    for image in stored(session_id).values():
        served = fake.images[image.image_name]["png"]
        assert (image.sha256, image.file_size) == (hashlib.sha256(served).hexdigest(), len(served))


def test_two_pollers_at_the_same_moment_download_each_image_once(app, user_id, fake, generate, stored, data_files):
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

    images = stored(session_id)
    assert all(image.state == "done" for image in images.values())
    assert all(downloads(fake, image.image_name) == 1 for image in images.values())
    assert fake.count("GET", "/api/v1/images/i/") == 0
    originals = {f for f in data_files() if f.startswith("photos/generated/")}
    assert originals == {f"photos/{image.file_path}" for image in images.values()}  # no second copy


# --- failures ----------------------------------------------------------------------------

@pytest.mark.parametrize("how, message", [
    ("fail_seeds", "Unknown model does-not-exist"),
    ("item_fails", "CUDA out of memory. Tried to allocate 2.00 GiB"),
])
def test_failed_item_shows_invokeais_error(client, fake, generate, poll_until_finished, data_files, how, message):
    if how == "fail_seeds":
        fake.fail_seeds = {301}
    else:
        fake.fault = "item_fails"
    session_id = generate(seed=300, count=2)
    data = poll_until_finished(session_id)
    states = {image["seed"]: (image["state"], image["error"]) for image in data["images"]}
    if how == "fail_seeds":
        assert states == {300: ("done", None), 301: ("failed", message)}
    else:
        assert states == {300: ("failed", message), 301: ("failed", message)}
        assert not any(f.startswith("photos/generated/") for f in data_files())
    page = client.get(f"/generate/sessions/{session_id}")
    soup = BeautifulSoup(page.get_data(as_text=True), "html.parser")
    failed = soup.select('li.candidate[data-state="failed"]')
    assert failed and all(li.select_one(".problem").get_text() == message for li in failed)


def test_truncated_download_fails_that_image_and_leaves_nothing(client, fake, generate, poll_until_finished,
                                                                stored, data_files):
    fake.fault = "truncated_png"
    session_id = generate(seed=11, count=1)
    [image] = poll_until_finished(session_id)["images"]
    assert image["state"] == "failed"
    assert image["error"] == ("InvokeAI's image could not be kept: the image is damaged or truncated and cannot be "
                              "decoded")
    assert stored(session_id)[11].file_path is None
    assert data_files() == set()  # no original, thumbnail or temp file
    assert "damaged or truncated" in text_of(client.get(f"/generate/sessions/{session_id}"))


def test_a_full_disk_during_the_download_fails_that_image_in_words_and_leaves_nothing(
        client, fake, generate, poll_until_finished, stored, data_files, monkeypatch):
    real_fsync = os.fsync

    def fsync(fd):
        if "download" in os.readlink(f"/proc/self/fd/{fd}"):  # the temp file the download streams into
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    session_id = generate(seed=13, count=1)
    [image] = poll_until_finished(session_id)["images"]
    assert image["state"] == "failed"
    assert image["error"] == "InvokeAI's image could not be kept: Could not download the image: the disk is full."
    assert stored(session_id)[13].file_path is None
    assert data_files() == set()  # not even the partial download under photos/.tmp


class TestOversizedDownload:
    @pytest.fixture
    def app_config(self, fake_invokeai):
        # The fake's oversized image is 60 MB, under the 64 MiB default cap: lower the cap below it.
        return {**invokeai_settings(fake_invokeai), "INVOKEAI_MAX_IMAGE_BYTES": 1024 * 1024}

    def test_is_stopped_and_leaves_no_partial_file(self, client, fake, generate, poll_until_finished, data_files):
        fake.fault = "oversized"
        session_id = generate(seed=12, count=1)
        [image] = poll_until_finished(session_id)["images"]
        assert image["state"] == "failed"
        assert "is 62914560 bytes; the gallery takes at most 1048576" in image["error"]
        assert fake.url in image["error"]
        assert data_files() == set()  # not even under photos/.tmp
        assert "the gallery takes at most" in text_of(client.get(f"/generate/sessions/{session_id}"))


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


# --- keep, reject, discard ---------------------------------------------------------------

def test_keep_reject_discard_and_generate_again(client, app, fake, generate, poll_until_finished, stored,
                                                data_files, user_id):
    session_id = generate(seed=42, count=3)
    poll_until_finished(session_id)
    images = stored(session_id)
    kept, rejected = images[42], images[43]  # and images[44] stays undecided
    candidate_files = {f"photos/{p}" for image in images.values()
                       for p in {image.file_path} | thumbnails_of(image.file_path, image.thumbnail_ext)}
    assert data_files() == candidate_files

    response = client.post(f"/generate/images/{kept.id}/keep", data=shown(kept), headers=JSON)
    assert response.status_code == 200
    answer = response.get_json()
    assert answer["problem"] is None and answer["image"]["decision"] == "kept"
    photo_id = int(answer["image"]["photo_url"].rsplit("/", 1)[1])

    name = kept.file_path.rsplit("/", 1)[1]
    completed = {f"photos/generated/completed/{name}"} | {
        f"photos/{p}" for p in thumbnails_of(f"generated/completed/{name}", kept.thumbnail_ext)}
    kept_before = {f"photos/{p}" for p in {kept.file_path} | thumbnails_of(kept.file_path, kept.thumbnail_ext)}
    assert data_files() == (candidate_files - kept_before) | completed
    with app.app_context():
        photo = db.session.get(Photo, photo_id)
        assert (photo.source, photo.owner_id, photo.original_path) == ("generated", user_id, f"generated/completed/{name}")
        assert (photo.prompt, photo.negative_prompt, photo.seed) == (FORM["prompt"], FORM["negative_prompt"], 42)
        assert (photo.model_name, photo.model_key, photo.steps, photo.cfg_scale, photo.scheduler) == \
            ("tiny-sd15", TINY_SD15, 2, 7.5, "dpmpp_2m")
        assert (photo.generation_width, photo.generation_height, photo.width, photo.height) == (64, 72, 64, 72)
        assert photo.sha256 == kept.sha256
    assert client.post(f"/generate/images/{kept.id}/keep", data=shown(kept), headers=JSON).status_code == 409

    grid = client.get("/?source=generated")
    assert grid.status_code == 200 and f"/photos/{photo_id}" in grid.get_data(as_text=True)
    assert f"/photos/{photo_id}" not in client.get("/?source=uploaded").get_data(as_text=True)
    detail = client.get(f"/photos/{photo_id}")
    assert detail.status_code == 200 and FORM["prompt"] in text_of(detail)
    assert client.get(f"/thumbnails/{photo_id}/grid", buffered=True).status_code == 200

    # "Use these settings" pre-fills the form
    form = BeautifulSoup(client.get(f"/generate?from_photo={photo_id}").get_data(as_text=True), "html.parser")
    assert form.select_one("textarea[name=prompt]").get_text().strip() == FORM["prompt"]
    assert form.select_one("textarea[name=negative_prompt]").get_text().strip() == FORM["negative_prompt"]
    assert form.select_one("select[name=model] option[selected]")["value"] == TINY_SD15
    assert form.select_one("select[name=scheduler] option[selected]")["value"] == "dpmpp_2m"
    values = {name: form.select_one(f"input[name={name}]").get("value") for name in
              ("width", "height", "steps", "cfg_scale", "seed", "count")}
    assert values == {"width": "64", "height": "72", "steps": "2", "cfg_scale": "7.5", "seed": "", "count": "1"}

    # "Generate again": the same parameters, a new seed
    again = client.post(f"/generate/again/{photo_id}")
    assert again.status_code == 302 and re.fullmatch(r"/generate/sessions/\d+", urlsplit(again.location).path)
    first, second = enqueued_batches(fake)
    assert second["data"][0][0]["items"] != [42] and len(second["data"][0][0]["items"]) == 1
    for node in ("model_loader", "positive", "negative", "denoise"):
        assert first["graph"]["nodes"][node] == second["graph"]["nodes"][node]
    assert {k: v for k, v in first["graph"]["nodes"]["noise"].items() if k != "seed"} == \
        {k: v for k, v in second["graph"]["nodes"]["noise"].items() if k != "seed"}

    # reject one, leave one undecided, discard: both go, files and rows; the kept photo stays
    assert client.post(f"/generate/images/{rejected.id}/reject", data=shown(rejected)).status_code == 303
    assert stored(session_id)[43].decision == "rejected"
    response = client.post(f"/generate/sessions/{session_id}/discard")
    assert response.status_code == 303 and urlsplit(response.location).path == "/generate/sessions"
    assert set(stored(session_id)) == {42}
    assert data_files() == completed  # (the "again" session is not polled yet: no files)
    assert client.get(f"/photos/{photo_id}").status_code == 200
    assert client.get(f"/generate/sessions/{session_id}").status_code == 200  # it still holds the kept image
    with app.app_context():
        assert db.session.get(Photo, photo_id) is not None


@pytest.fixture
def keep_at_once(app, user_id, monkeypatch):
    """keep_at_once(image ids) -> [(status, JSON)] of keeping them from two tabs at the same moment.

    Each tab is its own client and database session. Both requests have read their image as undecided
    before either writes (they wait for each other where keep_image first reaches for the data folder),
    which is the interleaving that two tabs can hit by chance.
    """
    def keep(image_ids: list[int]) -> list[tuple[int, dict]]:
        together = threading.Barrier(len(image_ids))
        waited = threading.local()
        real_root = photos.photos_root

        def root_once_both_have_read():
            if not getattr(waited, "done", False):
                waited.done = True
                together.wait(timeout=10)
            return real_root()

        monkeypatch.setattr(photos, "photos_root", root_once_both_have_read)
        tabs = [log_in(app.test_client(), user_id) for _ in image_ids]
        with app.app_context():
            names = {image_id: shown(db.session.get(GenerationImage, image_id)) for image_id in image_ids}

        def post(tab, image_id: int):
            with app.app_context():
                response = tab.post(f"/generate/images/{image_id}/keep", data=names[image_id], headers=JSON)
                return response.status_code, response.get_json()

        answers = run_together([lambda tab=tab, image_id=image_id: post(tab, image_id)
                                for tab, image_id in zip(tabs, image_ids)])
        monkeypatch.setattr(photos, "photos_root", real_root)
        return answers
    return keep


def test_two_tabs_keeping_one_image_at_once_make_one_photo(app, generate, poll_until_finished, stored, rows,
                                                            data_files, keep_at_once):
    session_id = generate(seed=42, count=1)
    poll_until_finished(session_id)
    [image] = stored(session_id).values()

    answers = sorted(keep_at_once([image.id, image.id]), key=lambda answer: answer[0])

    assert [status for status, _ in answers] == [200, 409], answers
    (_, kept), (_, again) = answers
    assert again["problem"] == "This image is already kept in the gallery."
    assert kept["image"]["decision"] == again["image"]["decision"] == "kept"
    assert kept["image"]["photo_url"] == again["image"]["photo_url"]  # the same photo
    assert rows(Photo) == 1
    name = image.file_path.rsplit("/", 1)[1]
    assert data_files() == {f"photos/generated/completed/{name}"} | {
        f"photos/{p}" for p in thumbnails_of(f"generated/completed/{name}", image.thumbnail_ext)}
    with app.app_context():
        photo = db.session.scalar(select(Photo))
        assert stored(session_id)[42].photo_id == photo.id and photo.original_path == f"generated/completed/{name}"


def test_two_images_of_the_same_bytes_kept_at_once_make_one_photo(generate, poll_until_finished, stored, rows,
                                                                  data_files, keep_at_once):
    """Two sessions with one seed and the same form make the same file: the second keep finds the
    (owner, sha256) constraint taken and says so, its candidate left as it was."""
    first, second = generate(seed=42, count=1), generate(seed=42, count=1)
    poll_until_finished(first)
    poll_until_finished(second)
    [one], [other] = stored(first).values(), stored(second).values()
    assert one.sha256 == other.sha256
    before = data_files()

    answers = keep_at_once([one.id, other.id])

    assert sorted(status for status, _ in answers) == [200, 409], answers
    [(_, lost)] = [answer for answer in answers if answer[0] == 409]
    assert lost["problem"] == "This image is already in the gallery."
    assert lost["image"]["decision"] == "undecided" and lost["image"]["photo_url"] is None
    assert rows(Photo) == 1
    [loser] = [image for image in (one, other) if image.id == lost["image"]["id"]]
    winner = one if loser is other else other
    assert stored(loser.session_id)[42].file_path == loser.file_path  # still a candidate, files and all
    won = {f"photos/{p}" for p in {winner.file_path} | thumbnails_of(winner.file_path, winner.thumbnail_ext)}
    name = winner.file_path.rsplit("/", 1)[1]
    completed = {f"photos/generated/completed/{name}"} | {
        f"photos/{p}" for p in thumbnails_of(f"generated/completed/{name}", winner.thumbnail_ext)}
    assert data_files() == (before - won) | completed


def test_a_reject_that_read_the_image_before_another_tab_kept_it_leaves_it_kept(
        app, client, user_id, generate, poll_until_finished, stored, data_files):
    session_id = generate(seed=42, count=1)
    poll_until_finished(session_id)
    [image] = stored(session_id).values()
    kept = []
    other_tab = threading.Thread(target=lambda: kept.append(
        client.post(f"/generate/images/{image.id}/keep", data=shown(image), headers=JSON).status_code))
    with app.app_context():
        stale = generation.find_image(user_id, image.id)  # this request read it undecided...
        assert stale.decision == "undecided"
        other_tab.start()  # ...then the other tab's keep commits
        other_tab.join(timeout=30)
        assert kept == [200]
        with pytest.raises(generation.GenerationRefused, match="is kept in the gallery"):
            candidates.reject_image(stale, image.image_name)
    assert stored(session_id)[42].decision == "kept"
    assert client.post(f"/generate/sessions/{session_id}/discard").status_code == 303
    name = image.file_path.rsplit("/", 1)[1]
    assert data_files() == {f"photos/generated/completed/{name}"} | {
        f"photos/{p}" for p in thumbnails_of(f"generated/completed/{name}", image.thumbnail_ext)}  # the photo's


def test_a_discard_that_read_the_session_before_another_tab_kept_an_image_leaves_that_image_kept(
        app, client, user_id, generate, poll_until_finished, stored, data_files, rows):
    session_id = generate(seed=42, count=2)
    poll_until_finished(session_id)
    keeping, other = stored(session_id)[42], stored(session_id)[43]
    kept = []
    other_tab = threading.Thread(target=lambda: kept.append(
        client.post(f"/generate/images/{keeping.id}/keep", data=shown(keeping), headers=JSON).status_code))
    with app.app_context():
        stale = generation.find_session(user_id, session_id)  # this request read both undecided...
        assert [image.decision for image in stale.images] == ["undecided", "undecided"]
        other_tab.start()  # ...then the other tab's keep commits
        other_tab.join(timeout=30)
        assert kept == [200]
        assert candidates.discard_session(stale) == 1  # the other image only

    assert {seed: image.decision for seed, image in stored(session_id).items()} == {42: "kept"}
    assert rows(Photo) == 1
    name = keeping.file_path.rsplit("/", 1)[1]
    assert data_files() == {f"photos/generated/completed/{name}"} | {
        f"photos/{p}" for p in thumbnails_of(f"generated/completed/{name}", keeping.thumbnail_ext)}
    assert client.get(f"/generate/sessions/{session_id}").status_code == 200  # it still holds the kept image


@pytest.mark.parametrize("decide", ["keep", "reject"])
def test_deciding_an_image_another_tab_discarded_meanwhile_is_a_404_and_changes_nothing(
        app, client, user_id, generate, poll_until_finished, stored, data_files, rows, monkeypatch, decide):
    session_id = generate(seed=42, count=2)
    poll_until_finished(session_id)
    first = stored(session_id)[42]
    assert client.post(f"/generate/images/{first.id}/keep", data=shown(first), headers=JSON).status_code == 200
    undecided = stored(session_id)[43]
    before = data_files()
    other_tab = log_in(app.test_client(), user_id)
    real_decide = getattr(candidates, f"{decide}_image")

    def decide_after_the_other_tab_discarded(image, shown):  # this request has found the image undecided
        discarded = []
        thread = threading.Thread(target=lambda: discarded.append(
            other_tab.post(f"/generate/sessions/{session_id}/discard").status_code))
        thread.start()
        thread.join(timeout=30)
        assert discarded == [303]
        return real_decide(image, shown)

    monkeypatch.setattr(candidates, f"{decide}_image", decide_after_the_other_tab_discarded)
    response = client.post(f"/generate/images/{undecided.id}/{decide}", data=shown(undecided), headers=JSON)
    assert response.status_code == 404

    assert set(stored(session_id)) == {42} and rows(Photo) == 1
    assert data_files() == before - {f"photos/{p}" for p in {undecided.file_path} | thumbnails_of(
        undecided.file_path, undecided.thumbnail_ext)}


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


def test_outage_answers_a_5xx_page_in_words_and_writes_nothing(client, outage, fake, rows, data_files):
    outage.start()
    for attempt in ("GET", "POST"):
        started = time.monotonic()
        response = client.get("/generate") if attempt == "GET" else client.post("/generate", data=FORM)
        elapsed = time.monotonic() - started
        assert response.status_code in (502, 503, 504), (attempt, response.status_code)
        words = text_of(response)
        assert outage.url in words and OUTAGES[outage.kind] in words, words
        assert elapsed < 5, f"{attempt} /generate took {elapsed:.1f} s"
        assert client.get("/").status_code == 200  # the rest of the gallery works
    assert rows(GenerationSession) == rows(GenerationImage) == 0
    assert data_files() == set()


@pytest.mark.parametrize("outage", [kind for kind in OUTAGES if kind not in ("closed port", "silent")], indirect=True)
def test_outage_during_enqueue_answers_in_words_and_writes_nothing(client, outage, fake, rows, data_files):
    assert client.get("/generate").status_code == 200  # the model list is now cached
    outage.start()
    started = time.monotonic()
    response = client.post("/generate", data=FORM)
    assert time.monotonic() - started < 5
    assert response.status_code in (502, 503, 504)
    words = text_of(response)
    assert f"{fake.url}" in words and ENQUEUE in words, words
    assert rows(GenerationSession) == rows(GenerationImage) == 0
    assert data_files() == set()


def batch_statuses(fake, batch_id: str) -> list[str]:
    """The statuses of a batch's queue items on the fake InvokeAI, in item order."""
    with fake.lock:
        return [item["status"] for item in fake.items.values() if item["batch_id"] == batch_id]


def post_unanswered_enqueue(client, fake, fault: str) -> tuple[str, str]:
    """POST the form while the fake holds the enqueue past the gallery's 1 s: (the page's words, the batch id)."""
    assert client.get("/generate").status_code == 200  # the model list is cached: only the enqueue is slow
    fake.fault = fault
    started = time.monotonic()
    response = client.post("/generate", data={**FORM, "seed": 50, "count": 2})
    assert time.monotonic() - started < 5
    assert response.status_code == 504
    [batch] = enqueued_batches(fake)
    return text_of(response), batch["batch_id"]


def assert_recorded_as_canceled(app, client, batch_id: str) -> None:
    """The gallery keeps the unanswered batch as a canceled session, saying why, so it can cancel it again."""
    with app.app_context():
        [session] = db.session.scalars(select(GenerationSession)).all()
        assert (session.batch_id, session.canceled, session.item_ids) == (batch_id, True, None)
        assert [(image.seed, image.state) for image in session.images] == [(50, "canceled"), (51, "canceled")]
        assert all("did not confirm" in image.error_message for image in session.images)
        session_id = session.id
    page = client.get(f"/generate/sessions/{session_id}")
    assert page.status_code == 200 and "did not confirm" in text_of(page)


def test_an_enqueue_answered_after_the_timeout_is_canceled_by_the_next_request(client, fake, app, generate):
    words, batch_id = post_unanswered_enqueue(client, fake, "late_answer")
    assert f"did not answer POST {ENQUEUE} within 1 s" in words and "cancels the batch" in words, words
    assert batch_statuses(fake, batch_id) == ["pending", "pending"]  # taken; the person was not kept waiting
    assert fake.count("PUT", CANCEL) == 0
    assert_recorded_as_canceled(app, client, batch_id)
    fake.fault = None
    generate(seed=60, count=1)
    assert batch_statuses(fake, batch_id) == ["canceled", "canceled"]
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
    assert batch_statuses(fake, batch_id) == []  # not taken yet
    assert_recorded_as_canceled(app, client, batch_id)

    fake.fault = None  # InvokeAI now takes the held batch
    fake.wait_idle()
    assert batch_statuses(fake, batch_id) == ["pending", "pending"]
    session_id = generate(seed=60, count=1)
    assert batch_statuses(fake, batch_id) == ["canceled", "canceled"]
    with app.app_context():
        new_batch = db.session.get(GenerationSession, session_id).batch_id
    assert batch_statuses(fake, new_batch) == ["pending"]  # the new one is untouched
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


def test_no_sd1_or_sd2_model_is_said_and_the_form_cannot_be_sent(client, fake):
    fake.models = [m for m in fake.models if m["base"] not in ("sd-1", "sd-2") or m["type"] != "main"]
    response = client.get("/generate")
    assert response.status_code == 503
    assert "InvokeAI has no SD-1 or SD-2 main model installed." in text_of(response)
    page = BeautifulSoup(response.get_data(as_text=True), "html.parser")
    assert page.select_one("form.generate button[type=submit]").has_attr("disabled")


class TestSwitchedOff:
    @pytest.fixture
    def app_config(self):
        return {"INVOKEAI_URL": None}

    def test_generate_page_says_generation_is_off(self, client, rows):
        for response in (client.get("/generate"), client.post("/generate", data=FORM)):
            assert response.status_code == 503
            assert "Generation is switched off" in text_of(response)
        assert rows(GenerationSession) == 0


# --- privacy -----------------------------------------------------------------------------

def test_bob_cannot_touch_alices_session(app, client, make_user, generate, poll_until_finished, stored, fake):
    session_id = generate(seed=1, count=2)
    data = poll_until_finished(session_id)
    image_id = data["images"][0]["id"]
    bob = log_in(app.test_client(), make_user("bob"))
    attempts = [("GET", f"/generate/sessions/{session_id}"), ("POST", f"/generate/sessions/{session_id}/status"),
                ("POST", f"/generate/sessions/{session_id}/refresh"),
                ("POST", f"/generate/sessions/{session_id}/cancel"),
                ("POST", f"/generate/sessions/{session_id}/discard"), ("POST", f"/generate/images/{image_id}/keep"),
                ("POST", f"/generate/images/{image_id}/reject"), ("GET", f"/thumbnails/candidates/{image_id}/grid")]
    for method, path in attempts:
        assert bob.open(path, method=method, headers=JSON).status_code == 404, path
    assert "a lighthouse" not in bob.get("/generate/sessions").get_data(as_text=True)
    assert fake.count("PUT", CANCEL) == 0
    assert {image.decision for image in stored(session_id).values()} == {"undecided"}
    assert client.get(f"/generate/sessions/{session_id}").status_code == 200


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
        assert len(enqueued_batches(fake)[-1]["data"][0][0]["items"]) == 1

    def test_wrong_credentials_are_named(self, app, client, fake):
        fake.users = {EMAIL: "something else"}
        response = client.get("/generate")
        assert response.status_code == 502  # InvokeAI answered, refusing the login: a bad gateway, not a down one
        assert "refused the configured login" in text_of(response)


# --- ids name one thing for good, and a keep / reject names the picture shown (defect 3) --------

def shown_name(client, image_id: int) -> str | None:
    """The image name the session page's keep form carries for this image."""
    page = BeautifulSoup(client.get(f"/generate/sessions/{stored_session_of(client, image_id)}").get_data(
        as_text=True), "html.parser")
    return page.select_one(f'li[data-image-id="{image_id}"] form[data-decide="keep"] input[name=image_name]')["value"]


def stored_session_of(client, image_id: int) -> int:
    with client.application.app_context():
        return db.session.get(GenerationImage, image_id).session_id


def test_a_discarded_sessions_ids_are_never_given_again(client, generate, poll_until_finished, stored):
    first = generate(seed=42, count=2)
    poll_until_finished(first)
    old_images = {image.id for image in stored(first).values()}
    assert client.post(f"/generate/sessions/{first}/discard").status_code == 303

    second = generate(seed=7, count=2)
    poll_until_finished(second)
    assert second > first
    assert min(image.id for image in stored(second).values()) > max(old_images)
    for image_id in old_images:  # a stale tab's keep finds nothing, rather than another picture
        assert client.post(f"/generate/images/{image_id}/keep", headers=JSON).status_code == 404


def test_a_keep_or_reject_naming_another_picture_is_refused_and_changes_nothing(
        client, generate, poll_until_finished, stored, data_files, rows):
    session_id = generate(seed=42, count=1)
    poll_until_finished(session_id)
    [image] = stored(session_id).values()
    assert shown_name(client, image.id) == image.image_name  # the page names the picture it shows
    before = data_files()
    for decide in ("keep", "reject"):
        for name in ("0b8c0c4e-0000-4000-8000-000000000000.png", ""):
            response = client.post(f"/generate/images/{image.id}/{decide}", data={"image_name": name}, headers=JSON)
            assert response.status_code == 409, (decide, name)
            assert response.get_json()["problem"].startswith("This page is out of date: reload it")
    assert stored(session_id)[42].decision == "undecided" and rows(Photo) == 0
    assert data_files() == before

    page = client.post(f"/generate/images/{image.id}/keep", data={"image_name": "other.png"})
    assert page.status_code == 303  # without JavaScript: the session page again, saying why
    assert "This page is out of date: reload it" in text_of(client.get(f"/generate/sessions/{session_id}"))

    answer = client.post(f"/generate/images/{image.id}/keep", data={"image_name": image.image_name}, headers=JSON)
    assert answer.status_code == 200 and answer.get_json()["image"]["decision"] == "kept"



# --- InvokeAI forgets queue items: Prune, Clear, its history limit (defect 4) --------------------

QUEUE = "/api/v1/queue/default"


def test_items_pruned_after_they_finished_are_downloaded_from_invokeais_images(
        fake, generate, status, poll_until_finished, stored, data_dir):
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
    for image in stored(session_id).values():
        assert (data_dir / "photos" / image.file_path).read_bytes() == fake.images[image.image_name]["png"]
        assert png_metadata(data_dir / "photos" / image.file_path)["seed"] == image.seed
    assert stored(session_id)[42].item_id == finished


def test_items_cleared_before_they_ran_end_failed_in_words_and_polling_stops(
        client, fake, generate, status, stored, data_files):
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
    import requests
    return requests.put(fake.url + path, timeout=5).json()


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
        batch_id = enqueued_batches(fake)[-1]["batch_id"]

        fake.fault = None  # InvokeAI wakes up and takes the held batch
        fake.wait_idle()
        assert batch_statuses(fake, batch_id) == ["pending", "pending"]
        assert status(earlier).status_code == 200  # the next request that reaches InvokeAI...
        assert batch_statuses(fake, batch_id) == ["canceled", "canceled"]  # ...cancels it
        assert {"batch_ids": [batch_id]} in [r.json for r in fake.requests if r.path == CANCEL]


# --- queue items of another batch are not taken (defect 6) ---------------------------------------

def test_items_of_another_batch_are_not_downloaded(fake, generate, poll_until_finished, stored, data_files):
    """InvokeAI's database was reset (or the URL now names another server): the same item ids now belong to
    someone else's batch, even with the same seeds."""
    session_id = generate(seed=42, count=2)
    fake.reset()
    import requests
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


# --- a download broken off mid-transfer is tried again (defect 7) --------------------------------

def test_a_download_broken_off_is_tried_again_on_the_next_refresh(fake, generate, status, stored, data_files,
                                                                  data_dir):
    fake.steps_to_finish = 0
    fake.break_downloads = 1
    session_id = generate(seed=42, count=1)
    [image] = status(session_id).get_json()["images"]  # finished on InvokeAI; the download broke off
    assert image["state"] == "in_progress" and "broke off" in image["error"], image
    assert data_files() == set()  # nothing half-written stays

    [image] = status(session_id).get_json()["images"]
    assert image["state"] == "done" and image["error"] is None
    [row] = stored(session_id).values()
    assert downloads(fake, row.image_name) == 2
    assert (data_dir / "photos" / row.file_path).read_bytes() == fake.images[row.image_name]["png"]


def test_a_download_that_keeps_breaking_fails_after_three_attempts(fake, generate, status, stored, data_files):
    fake.steps_to_finish = 0
    fake.break_downloads = 10
    session_id = generate(seed=42, count=1)
    for _ in range(2):
        [image] = status(session_id).get_json()["images"]
        assert image["state"] == "in_progress"
    data = status(session_id).get_json()
    [image] = data["images"]
    assert data["finished"] and image["state"] == "failed"
    assert image["error"].startswith("InvokeAI's image could not be downloaded in 3 attempts"), image["error"]
    assert "broke off" in image["error"]
    assert downloads(fake, stored(session_id)[42].image_name) == 3
    assert data_files() == set()


def test_a_download_left_claimed_by_a_request_that_died_is_taken_over(app, fake, generate, poll_until_finished,
                                                                        stored, data_dir):
    """A worker killed mid-download leaves its claim behind; once it is stale, a poll downloads the image."""
    from datetime import timedelta
    from sqlalchemy import update
    from app.models import utcnow

    fake.steps_to_finish = 0
    session_id = generate(seed=42, count=1)
    with app.app_context():
        db.session.execute(update(GenerationImage).where(GenerationImage.session_id == session_id).values(
            item_id=1, state="downloading", claimed_at=utcnow() - generation.STALE_CLAIM - timedelta(seconds=1)))
        db.session.commit()
    [image] = poll_until_finished(session_id)["images"]
    assert image["state"] == "done"
    [row] = stored(session_id).values()
    assert (data_dir / "photos" / row.file_path).read_bytes() == fake.images[row.image_name]["png"]
