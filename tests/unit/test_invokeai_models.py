"""Which installed models the generate form offers, with which defaults, and why the others are not."""
from __future__ import annotations

import pytest

from app.services.generation import Parameters
from app.services.invokeai_models import InvalidParameter, check_parameters, describe_models


def record(key: str, base: str, kind: str = "main", **values) -> dict:
    return {"key": key, "hash": f"blake3:{key}", "name": key, "base": base, "type": kind, "format": "diffusers",
            **values}


ENCODERS = [record("t5", "any", "t5_encoder"), record("clip", "any", "clip_embed"), record("ae", "flux", "vae"),
            record("sd-vae", "sd-1", "vae")]


def test_flux1_without_its_encoders_is_listed_saying_what_is_missing():
    [alone] = describe_models([record("dev", "flux", variant="dev"), ENCODERS[0]])
    assert alone["problem"] == ("FLUX.1 needs a CLIP embed model and a FLUX VAE installed on InvokeAI beside the model; "
                                "install them there (InvokeAI's starter models have them).")
    [ready] = describe_models([record("dev", "flux", variant="dev"), *ENCODERS])
    assert ready["problem"] is None
    assert {field: model["key"] for field, model in ready["companions"].items()} == {
        "t5_encoder_model": "t5", "clip_embed_model": "clip", "vae_model": "ae"}  # not the SD VAE


def test_defaults_come_from_the_model_then_its_variant_then_its_base():
    models = {m["key"]: m for m in describe_models([
        record("schnell", "flux", variant="schnell"), *ENCODERS,
        record("sd2", "sd-2", variant="normal"),
        record("tuned", "sdxl", variant="normal", default_settings={"steps": 20, "cfg_scale": 5.0, "width": 896,
                                                                    "height": 1152, "scheduler": "dpmpp_2m_k"})])}
    assert models["schnell"]["fields"] == [] and models["schnell"]["defaults"]["steps"] == 4  # no guidance
    assert models["sd2"]["defaults"] == {"width": 768, "height": 768, "steps": 30, "scheduler": "euler",
                                         "cfg_scale": 7.5}
    assert models["tuned"]["defaults"] == {"width": 896, "height": 1152, "steps": 20, "scheduler": "dpmpp_2m_k",
                                           "cfg_scale": 5.0}
    assert [m["key"] for m in describe_models([record("b", "flux2", variant="klein_4b"), record("a", "sdxl"),
                                              record("c", "sd-3"), record("d", "sd-1")])] == ["d", "a", "b", "c"]


@pytest.mark.parametrize("base, variant, words", [
    ("sdxl-refiner", "normal", "cannot start an image"),
    ("sd-1", "inpaint", "An inpaint model needs a picture"),
    ("flux2", "dev", "Mistral text encoder"),
    ("cogview4", None, "no graph for cogview4 models"),
])
def test_models_the_gallery_cannot_drive_say_why(base, variant, words):
    [model] = describe_models([record("m", base, variant=variant)])
    assert words in model["problem"] and model["fields"] == []


def test_check_fills_blanks_and_keeps_what_was_typed():
    [model] = describe_models([record("sdxl", "sdxl")])
    blank = Parameters("p", "", "sdxl", None, 832, None, None, None, None, 1)
    filled = check_parameters(blank, model)
    assert (filled.width, filled.height, filled.steps, filled.cfg_scale, filled.scheduler, filled.guidance) == \
        (1024, 832, 30, 7.5, "euler", None)
    with pytest.raises(InvalidParameter) as refused:
        check_parameters(Parameters("p", "", "sdxl", 1028, None, None, None, None, None, 1), model)
    assert (refused.value.field, refused.value.status) == ("width", 400)
