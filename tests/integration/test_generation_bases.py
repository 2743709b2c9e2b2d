"""Generating with every model base the gallery drives: SDXL and FLUX end to end through the fake InvokeAI
(form, enqueue, poll, keep), the values each base refuses, and blanks taking the model's defaults.

Driven through the routes with the generation fixtures of conftest.py; every test checks what InvokeAI
received and what is left behind (rows, files).
"""
from __future__ import annotations

import pytest
from bs4 import BeautifulSoup
from fake_invokeai import ENQUEUE, FLUX2_KLEIN, FLUX_DEV, SDXL
from testapp import GENERATE_FORM, JSON, invokeai_settings

from app.extensions import db
from app.models import GenerationImage, GenerationSession, Photo

REFINER = "7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d"
# The form as a browser without the page's script sends it for a FLUX model: the SD-only fields emptied.
FLUX_FORM = {**GENERATE_FORM, "model": FLUX_DEV, "negative_prompt": "", "cfg_scale": "", "guidance": 3.5,
             "width": 64, "height": 80, "steps": 3, "scheduler": "heun"}


@pytest.fixture
def app_config(fake_invokeai):
    return invokeai_settings(fake_invokeai)


def keep(client, stored_images, session_id: int, seed: int, app) -> Photo:
    image = stored_images(session_id)[seed]
    response = client.post(f"/generate/images/{image.id}/keep", data={"image_name": image.image_name}, headers=JSON)
    assert response.status_code == 200, response.get_json()
    with app.app_context():
        photo = db.session.get(Photo, int(response.get_json()["image"]["photo_url"].rsplit("/", 1)[1]))
        db.session.expunge(photo)
        return photo


def test_an_sdxl_model_gets_the_sdxl_graph_and_its_photo_keeps_the_base(client, fake, generate, app,
                                                                          poll_until_finished, stored_images):
    session_id = generate(model=SDXL, width=64, height=64, seed=1234, count=2)
    [batch] = fake.enqueued_batches()
    nodes = batch["graph"]["nodes"]
    assert nodes["model_loader"]["type"] == "sdxl_model_loader" and nodes["model_loader"]["model"]["base"] == "sdxl"
    assert (nodes["positive"]["type"], nodes["positive"]["prompt"], nodes["positive"]["style"]) == \
        ("sdxl_compel_prompt", GENERATE_FORM["prompt"], GENERATE_FORM["prompt"])
    assert nodes["negative"]["prompt"] == GENERATE_FORM["negative_prompt"] and "clip_skip" not in nodes
    assert nodes["metadata"]["generation_mode"] == "sdxl_txt2img"
    assert batch["data"] == [[{"node_path": "noise", "field_name": "seed", "items": [1234, 1235]},
                              {"node_path": "metadata", "field_name": "seed", "items": [1234, 1235]}]]

    data = poll_until_finished(session_id)
    assert [image["state"] for image in data["images"]] == ["done", "done"]  # the fake ran it: the right loader
    photo = keep(client, stored_images, session_id, 1235, app)
    assert (photo.model_name, photo.model_base, photo.seed, photo.cfg_scale, photo.guidance) == \
        ("sdxl-base-1.0", "sdxl", 1235, 7.5, None)
    assert (photo.width, photo.height) == (64, 64)


def test_a_flux_model_gets_guidance_its_encoders_and_no_negative(client, fake, app, poll_until_finished,
                                                                 stored_images, data_files):
    response = client.post("/generate", data={**FLUX_FORM, "seed": 77, "count": 1})
    assert response.status_code == 302, response.get_data(as_text=True)
    session_id = int(response.location.rsplit("/", 1)[1])
    [batch] = fake.enqueued_batches()
    nodes = batch["graph"]["nodes"]
    assert {key: node["type"] for key, node in nodes.items()} == {
        "model_loader": "flux_model_loader", "positive": "flux_text_encoder", "denoise": "flux_denoise",
        "decode": "flux_vae_decode", "metadata": "core_metadata"}
    loader = nodes["model_loader"]
    assert [loader[f]["name"] for f in ("model", "t5_encoder_model", "clip_embed_model", "vae_model")] == \
        ["flux1-dev", "t5-xxl-bf16", "clip-vit-l", "flux-vae"]
    denoise = nodes["denoise"]
    assert (denoise["guidance"], denoise["num_steps"], denoise["scheduler"], denoise["width"], denoise["height"]) == \
        (3.5, 3, "heun", 64, 80)
    assert "cfg_scale" not in denoise and "negative_text_conditioning" not in str(batch["graph"]["edges"])
    assert batch["data"] == [[{"node_path": "denoise", "field_name": "seed", "items": [77]},
                              {"node_path": "metadata", "field_name": "seed", "items": [77]}]]
    with app.app_context():
        session = db.session.get(GenerationSession, session_id)
        assert (session.model_base, session.cfg_scale, session.guidance, session.negative_prompt) == \
            ("flux", None, 3.5, "")

    assert poll_until_finished(session_id)["images"][0]["state"] == "done"
    photo = keep(client, stored_images, session_id, 77, app)
    assert (photo.model_base, photo.guidance, photo.cfg_scale, photo.steps, photo.scheduler, photo.negative_prompt) == \
        ("flux", 3.5, None, 3, "heun", "")
    assert (photo.width, photo.height) == (64, 80)
    assert any(path.startswith("photos/generated/completed/") for path in data_files())

    again = client.get(f"/generate?from_photo={photo.id}")  # "use these settings" keeps guidance, not CFG
    page = BeautifulSoup(again.get_data(as_text=True), "html.parser")
    assert page.select_one("select[name=model] option[selected]")["value"] == FLUX_DEV
    assert page.select_one("input[name=guidance]")["value"] == "3.5"
    assert page.select_one("input[name=cfg_scale]").get("value") in (None, "")


def test_flux2_klein_blanks_take_the_models_defaults(client, fake, app):
    response = client.post("/generate", data={**FLUX_FORM, "model": FLUX2_KLEIN, "guidance": "", "width": "",
                                              "height": "", "steps": "", "scheduler": "euler", "count": 1})
    assert response.status_code == 302, response.get_data(as_text=True)
    [batch] = fake.enqueued_batches()
    denoise = batch["graph"]["nodes"]["denoise"]
    assert denoise["type"] == "flux2_denoise"
    assert (denoise["width"], denoise["height"], denoise["num_steps"]) == (1024, 1024, 4)  # Klein 4B: 4 steps
    assert batch["graph"]["nodes"]["decode"]["type"] == "flux2_vae_decode"


@pytest.mark.parametrize("overrides, field, message", [
    ({"negative_prompt": "blurry"}, "negative_prompt", "FLUX.1 models take no negative prompt: leave it empty."),
    ({"cfg_scale": 7.5}, "cfg_scale", "FLUX.1 models take no CFG scale (they use guidance): leave it empty."),
    ({"model": SDXL, "cfg_scale": 7.5}, "guidance",
     "This model takes no guidance (a CFG scale): leave it empty."),
    ({"model": FLUX2_KLEIN, "guidance": 4}, "guidance",
     "This model takes no guidance (no guidance either): leave it empty."),
    ({"steps": 120}, "steps", "FLUX.1 models take 1 to 100 steps."),
    ({"width": 72}, "width", "FLUX.1 models need a width that is a multiple of 16."),
    ({"height": 1000}, "height", "FLUX.1 models need a height that is a multiple of 16."),
    ({"scheduler": "dpmpp_2m"}, "scheduler", "FLUX.1 models take the euler, heun, lcm schedulers."),
    ({"model": REFINER}, "model", "Not a valid choice."),
])
def test_a_value_the_models_base_does_not_take_is_a_400_beside_its_field(client, fake, row_count, overrides, field,
                                                                         message):
    response = client.post("/generate", data={**FLUX_FORM, **overrides})
    assert response.status_code == 400
    page = BeautifulSoup(response.get_data(as_text=True), "html.parser")
    label = page.select_one(f"[name={field}]").find_parent("label")
    assert [e.get_text() for e in label.select(".field-error")] == [message]
    assert page.select_one("textarea[name=prompt]").get_text().strip() == FLUX_FORM["prompt"]  # kept
    assert fake.count("POST", ENQUEUE) == 0
    assert row_count(GenerationSession) == row_count(GenerationImage) == 0
