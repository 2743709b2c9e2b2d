"""InvokeAI's installed models as the generate form offers them: which the gallery can drive, with each
one's defaults, or why not; and the person's parameters checked against the chosen model's base.

A model the gallery cannot drive is still listed, with the reason (an SDXL refiner, FLUX Fill, a base
without a graph here, a FLUX.1 model whose encoders are not installed), so nobody wonders where it went.
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from ..errors import GalleryError
from .graphs import FAMILIES, IMAGE_TO_IMAGE, Family, problem_without_graph

if TYPE_CHECKING:
    from .generation import Parameters

# FLUX.1's loader takes these separately installed models beside the transformer: (field, type, base, words).
FLUX_COMPANIONS = (("t5_encoder_model", "t5_encoder", None, "a T5 encoder"),
                   ("clip_embed_model", "clip_embed", None, "a CLIP embed model"),
                   ("vae_model", "vae", "flux", "a FLUX VAE"))
DISTILLED_STEPS = {"schnell": 4, "klein_4b": 4, "klein_9b": 4}  # the few-step variants; their bases take more
BASE_ORDER = list(FAMILIES)
OTHER_BASES = {"sdxl-refiner": "SDXL refiner", "sd-3": "Stable Diffusion 3", "cogview4": "CogView4",
               "z-image": "Z-Image", "qwen-image": "Qwen-Image", "external": "external API"}  # named, not driven


class InvalidParameter(GalleryError):
    """A value the chosen model's base does not take; `field` names the form field."""

    status = 400

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def describe_models(records: list[dict]) -> list[dict]:
    """Every installed main model, in base order then by name, as the form shows it."""
    companions = flux_companions(records)
    mains = [describe(record, companions) for record in records if record.get("type") == "main" and record.get("key")]
    return sorted(mains, key=lambda m: (BASE_ORDER.index(m["base"]) if m["base"] in BASE_ORDER else len(BASE_ORDER),
                                        m["base"], m["name"].lower()))


def flux_companions(records: list[dict]) -> dict[str, dict]:
    """The first installed model (by name) for each FLUX.1 companion field, as InvokeAI's UI picks one."""
    found = {}
    for field, kind, base, _words in FLUX_COMPANIONS:
        fitting = sorted((r for r in records if r.get("type") == kind and (base is None or r.get("base") == base)
                          and r.get("key")), key=lambda r: str(r.get("name", "")).lower())
        if fitting:
            found[field] = {name: fitting[0].get(name) for name in ("key", "hash", "name", "base", "type")}
    return found


def describe(record: dict, companions: dict[str, dict]) -> dict:
    """One model record as the form needs it: identifier, family label, fields, defaults, or `problem`."""
    base = str(record.get("base", ""))
    family = FAMILIES.get(base)
    model = {name: record.get(name) for name in ("key", "hash", "name", "base", "type")}
    model.update(name=str(model["name"] or model["key"]), variant=record.get("variant"),
                 format=record.get("format"), label=family.label if family else OTHER_BASES.get(base, base), problem=problem_of(record),
                 companions={}, fields=[], defaults={})
    if base == "flux":
        model["companions"] = companions
        missing = [words for field, _kind, _base, words in FLUX_COMPANIONS if field not in companions]
        if missing and not model["problem"]:
            words = " and ".join([", ".join(missing[:-1]), missing[-1]] if len(missing) > 1 else missing)
            model["problem"] = (f"FLUX.1 needs {words} installed on InvokeAI beside the model; "
                                "install them there (InvokeAI's starter models have them).")
    if family and not model["problem"]:
        model["fields"] = [f for f in family.fields if not (f == "guidance" and record.get("variant") == "schnell")]
        model["defaults"] = defaults_of(family, record, model["fields"])
    return model


def problem_of(record: dict) -> str | None:
    """Why the gallery cannot make an image from text with this model, or None."""
    base, variant, form = record.get("base"), record.get("variant"), record.get("format")
    if base == "sdxl-refiner":
        return "An SDXL refiner only refines what an SDXL model made; it cannot start an image."
    if base not in FAMILIES:
        return f"The gallery has no graph for {base or 'unknown'} models yet."
    if base == "flux" and variant == "dev_fill":
        return "FLUX Fill paints into a masked part of an image; it cannot make one from text."
    if base == "flux2" and variant == "dev":
        return "FLUX.2 dev needs its own Mistral text encoder, which the gallery does not drive: only FLUX.2 Klein."
    if base == "flux2" and form != "diffusers":
        return (f"This FLUX.2 Klein model is a single {form} file without its Qwen3 encoder and VAE; the gallery "
                "drives the diffusers format, which carries them.")
    if base in ("sd-1", "sd-2", "sdxl") and variant not in (None, "normal"):
        return f"An {variant} model needs a picture to work on; it cannot make one from text."
    return None


def defaults_of(family: Family, record: dict, fields: list[str]) -> dict:
    """The form's values for this model: its own default settings where InvokeAI has them, else its base's."""
    own = record.get("default_settings") or {}
    steps = own.get("steps") or DISTILLED_STEPS.get(record.get("variant"), family.default_steps)
    scheduler = own.get("scheduler") if own.get("scheduler") in family.schedulers else "euler"
    defaults = {"width": own.get("width") or family.size, "height": own.get("height") or family.size,
                "steps": min(max(int(steps), family.steps[0]), family.steps[1]), "scheduler": scheduler}
    if "cfg_scale" in fields:
        defaults["cfg_scale"] = own.get("cfg_scale") or family.default_cfg
    if "guidance" in fields:
        defaults["guidance"] = own.get("guidance") or family.default_guidance
    return defaults


def check_parameters(params: Parameters, model: dict) -> Parameters:
    """The parameters with blanks filled from the model's defaults, checked against its base; raises
    InvalidParameter naming the first field its base does not take. With a source photo they are image
    to image's: a strength from 0 to 1, and a base the gallery has that graph for."""
    if model["problem"]:
        raise InvalidParameter("model", model["problem"])
    family = FAMILIES[model["base"]]
    name = f"{family.label} models"
    if params.source_photo_id is not None:
        problem = problem_without_graph(IMAGE_TO_IMAGE, model["base"])
        if problem:
            raise InvalidParameter("model", problem)
        if params.strength is None or not 0 <= params.strength <= 1:
            raise InvalidParameter("strength", "The strength is a number from 0 (keep the photo) to 1 (repaint it "
                                               "all).")
    elif params.strength is not None:
        raise InvalidParameter("strength", "A strength is for starting from a photo: leave it empty.")
    if params.negative_prompt and "negative_prompt" not in model["fields"]:
        raise InvalidParameter("negative_prompt", f"{name} take no negative prompt: leave it empty.")
    if params.cfg_scale is not None and "cfg_scale" not in model["fields"]:
        instead = "guidance" if "guidance" in model["fields"] else "neither"
        raise InvalidParameter("cfg_scale", f"{name} take no CFG scale (they use {instead}): leave it empty.")
    if params.guidance is not None and "guidance" not in model["fields"]:
        instead = "a CFG scale" if family.cfg else "no guidance either"
        raise InvalidParameter("guidance", f"This model takes no guidance ({instead}): leave it empty.")
    filled = dataclasses.replace(params, **{field: model["defaults"][field] for field in model["defaults"]
                                            if getattr(params, field) is None})
    least, most = family.steps
    if not least <= filled.steps <= most:
        raise InvalidParameter("steps", f"{name} take {least} to {most} steps.")
    for field in ("width", "height"):
        if getattr(filled, field) % family.grid:
            raise InvalidParameter(field, f"{name} need a {field} that is a multiple of {family.grid}.")
    if filled.scheduler not in family.schedulers:
        raise InvalidParameter("scheduler", f"{name} take the {', '.join(family.schedulers)} schedulers.")
    return filled
