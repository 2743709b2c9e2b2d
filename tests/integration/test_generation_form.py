"""Generating images, the form and its submit: the model list, refused fields, the batch sent to InvokeAI,
and InvokeAI's queue when it is full.

Driven through the routes against the fake InvokeAI, with the generation fixtures of conftest.py (whose
comment says how); every test checks what is left behind: rows, and files under data/.
"""
from __future__ import annotations

import time

import pytest
from bs4 import BeautifulSoup
from fake_invokeai import CANCEL, ENQUEUE, SCHEDULERS, TINY_SD15
from testapp import GENERATE_FORM as FORM, invokeai_settings, page_text

from app.extensions import db
from app.models import GenerationImage, GenerationSession

MODELS = "/api/v2/models/"
DREAMSHAPER = "5b1c1d0e-6f6a-4d7e-9c62-3b9d2f0c7a11"  # the fake's other models (TINY_SD15: its first)
SD21 = "9e7f2c4a-1b3d-4e5f-8a6b-7c8d9e0f1a2b"
VAE = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
# API.md §2.1: the SD-1 txt2img graph, node types and edges.
NODE_TYPES = {"model_loader": "main_model_loader", "clip_skip": "clip_skip", "positive": "compel",
              "negative": "compel", "noise": "noise", "denoise": "denoise_latents", "l2i": "l2i",
              "metadata": "core_metadata"}
EDGES = {("model_loader.unet", "denoise.unet"), ("model_loader.clip", "clip_skip.clip"),
         ("clip_skip.clip", "positive.clip"), ("clip_skip.clip", "negative.clip"),
         ("positive.conditioning", "denoise.positive_conditioning"),
         ("negative.conditioning", "denoise.negative_conditioning"), ("noise.noise", "denoise.noise"),
         ("denoise.latents", "l2i.latents"), ("model_loader.vae", "l2i.vae"), ("metadata.metadata", "l2i.metadata")}


@pytest.fixture
def app_config(fake_invokeai):
    return invokeai_settings(fake_invokeai)


# --- the form ----------------------------------------------------------------------------

def test_form_lists_every_drivable_model_under_its_base_and_the_others_with_why(client, fake, monkeypatch):
    response = client.get("/generate")
    assert response.status_code == 200
    page = BeautifulSoup(response.get_data(as_text=True), "html.parser")
    offered = {group["label"]: [option.get_text() for option in group.select("option")]
               for group in page.select("select[name=model] optgroup")}
    assert offered == {"Stable Diffusion 1": ["dreamshaper-8", "tiny-sd15"], "Stable Diffusion 2": ["sd-2-1-base"],
                       "Stable Diffusion XL": ["sdxl-base-1.0"], "FLUX.1": ["flux1-dev"],
                       "FLUX.2 Klein": ["flux2-klein-4b"]}  # in base order; no VAE, encoder or refiner
    unusable = {item.select_one("strong").get_text(): item.select_one(".hint").get_text()
                for item in page.select(".unusable-models li")}
    assert set(unusable) == {"sdxl-refiner-1.0", "flux1-fill-dev", "flux2-klein-9b-gguf"}
    assert "refiner" in unusable["sdxl-refiner-1.0"] and "cannot start an image" in unusable["sdxl-refiner-1.0"]
    assert "Qwen3 encoder" in unusable["flux2-klein-9b-gguf"]
    schedulers = [option["value"] for option in page.select("select[name=scheduler] option")]
    assert set(schedulers) == set(SCHEDULERS) and "euler" in schedulers
    assert page.select_one("select[name=scheduler] option[selected]")["value"] == "euler"
    # The first model (dreamshaper-8, SD-1) is chosen, its base's defaults filled in.
    assert page.select_one("select[name=model] option[selected]")["value"] == DREAMSHAPER
    assert [page.select_one(f"input[name={name}]").get("value") for name in ("width", "height", "steps",
                                                                             "cfg_scale", "guidance")] == \
        ["512", "512", "30", "7.5", ""]
    # Without the page's script every field shows, with a note on which bases take which.
    assert not page.select("[data-field][hidden]")
    assert "FLUX.1 guidance instead" in page.select_one("[data-base-note]").get_text()
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
def test_invalid_form_is_shown_again_and_nothing_is_enqueued(client, fake, row_count, data_files, field, value, message):
    response = client.post("/generate", data={**FORM, field: value})
    assert response.status_code == 400
    page = BeautifulSoup(response.get_data(as_text=True), "html.parser")
    label = page.select_one(f"[name={field}]").find_parent("label")
    assert [e.get_text() for e in label.select(".field-error")] == [message]
    assert page.select_one("textarea[name=negative_prompt]").get_text().strip() == FORM["negative_prompt"]  # kept
    assert fake.count("POST", ENQUEUE) == 0
    assert row_count(GenerationSession) == row_count(GenerationImage) == 0
    assert data_files() == set()


# --- submitting --------------------------------------------------------------------------

def test_submit_enqueues_one_batch_and_redirects_at_once(client, fake, generate, app, stored_images):
    session_id = generate(seed="")
    assert [(r.method, r.path.split("?")[0]) for r in fake.requests] == [("GET", MODELS), ("POST", ENQUEUE)]
    assert fake.count("GET", "/api/v1/queue/default/i/1") == 0  # the redirect did not wait for InvokeAI

    [batch] = fake.enqueued_batches()
    with app.app_context():
        session = db.session.get(GenerationSession, session_id)
        assert batch["batch_id"] == session.batch_id  # chosen by the gallery, not by InvokeAI
        assert (session.prompt, session.negative_prompt, session.model_key, session.model_name) == \
            (FORM["prompt"], FORM["negative_prompt"], TINY_SD15, "tiny-sd15")
        assert session.item_ids == [3, 2, 1]
    nodes, edges = batch["graph"]["nodes"], batch["graph"]["edges"]
    assert {key: node["type"] for key, node in nodes.items()} == NODE_TYPES
    assert all(node["id"] == key for key, node in nodes.items()), {key: node["id"] for key, node in nodes.items()}
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
    assert sorted(stored_images(session_id)) == seeds

    page = client.get(f"/generate/sessions/{session_id}")
    assert page.status_code == 200
    states = [li["data-state"] for li in BeautifulSoup(page.get_data(as_text=True), "html.parser")
              .select("li.candidate")]
    assert states == ["queued"] * 3
    listing = client.get("/generate/sessions")
    assert f"/generate/sessions/{session_id}" in listing.get_data(as_text=True) and "tiny-sd15" in page_text(listing)


def test_given_seed_makes_consecutive_seeds_and_blank_seeds_differ(generate, fake):
    generate(seed=4294967294, count=2)
    generate(seed=1000, count=4)
    generate(seed="", count=1)
    generate(seed="", count=1)
    seeds = [batch["data"][0][0]["items"] for batch in fake.enqueued_batches()]
    assert seeds[0] == [4294967294, 4294967295]
    assert seeds[1] == [1000, 1001, 1002, 1003]
    assert seeds[2] != seeds[3]


# --- InvokeAI's queue at its max_queue_size ------------------------------------------------

QUEUE_WAS_FULL = ("InvokeAI's queue was full: it took 2 of the 3 images, not this one. Generate it again when the "
                  "queue has room.")


def test_a_full_queue_is_said_in_words_and_writes_nothing(client, fake, generate, row_count, data_files):
    """InvokeAI answers the enqueue 200 having taken none of it: no session is left waiting for items that
    do not exist, and the person reads why."""
    fake.max_queue_size = 2
    generate(seed=1, count=2)  # the queue is full now
    response = client.post("/generate", data={**FORM, "seed": 10, "count": 3})
    assert response.status_code == 503
    assert (f"InvokeAI's queue at {fake.url} is full (2 items waiting): it took none of the 3 images. Try again "
            "when it has room.") in page_text(response)
    assert row_count(GenerationSession) == 1 and row_count(GenerationImage) == 2  # the first session only
    assert fake.count("POST", ENQUEUE) == 2 and fake.count("PUT", CANCEL) == 0
    assert data_files() == set()


def test_a_queue_with_room_for_some_seeds_keeps_those_and_fails_the_rest(client, fake, generate, app, stored_images,
                                                                         poll_until_finished):
    fake.max_queue_size = 2
    session_id = generate(seed=500, count=3)
    with app.app_context():
        session = db.session.get(GenerationSession, session_id)
        batch_id, item_ids = session.batch_id, session.item_ids
    assert sorted(item_ids) == [1, 2]
    images = stored_images(session_id)
    assert {seed: (image.state, image.item_id, image.error_message) for seed, image in images.items()} == {
        500: ("queued", 1, None), 501: ("queued", 2, None), 502: ("failed", None, QUEUE_WAS_FULL)}
    page = BeautifulSoup(client.get(f"/generate/sessions/{session_id}").get_data(as_text=True), "html.parser")
    [failed] = page.select('li.candidate[data-state="failed"]')
    assert failed.select_one(".problem").get_text() == QUEUE_WAS_FULL

    data = poll_until_finished(session_id)
    assert {image["seed"]: (image["state"], image["error"]) for image in data["images"]} == {
        500: ("done", None), 501: ("done", None), 502: ("failed", QUEUE_WAS_FULL)}
    assert fake.batch_statuses(batch_id) == ["completed", "completed"]


def test_no_drivable_model_is_said_and_the_form_cannot_be_sent(client, fake):
    fake.models = [m for m in fake.models if m["type"] != "main" or m["base"] == "sdxl-refiner"]
    response = client.get("/generate")
    assert response.status_code == 503
    assert "InvokeAI has no model installed that the gallery can make images with." in page_text(response)
    page = BeautifulSoup(response.get_data(as_text=True), "html.parser")
    assert page.select_one("form.generate button[type=submit]").has_attr("disabled")
    assert [item.select_one("strong").get_text() for item in page.select(".unusable-models li")] == \
        ["sdxl-refiner-1.0"]


class TestSwitchedOff:
    @pytest.fixture
    def app_config(self):
        return {"INVOKEAI_URL": None}

    def test_generate_page_says_generation_is_off(self, client, row_count):
        for response in (client.get("/generate"), client.post("/generate", data=FORM)):
            assert response.status_code == 503
            assert "Generation is switched off" in page_text(response)
        assert row_count(GenerationSession) == 0
