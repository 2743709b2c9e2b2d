"""InvokeAI graphs: one plain builder per model base and mode, wired as InvokeAI's own UI wires them.

Each base is a *family*: what its form asks for (negative prompt, CFG scale or guidance, its sizes,
steps and schedulers) and the builders that turn those values into a graph (API.md §2.1, §8). A
builder takes the checked parameters, the model and the first seed, and answers a `Graph`: the nodes
and edges, which node's image is the output, and the node fields a batch's seeds go into. Image to
image is one more builder per base under its own mode: the text-to-image graph with the starting image
(already on InvokeAI, by its name) encoded by the base's VAE into the denoise node's latents, which
starts part-way, at 1 - strength, as InvokeAI's UI builds img2img.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from .generation import Parameters

TEXT_TO_IMAGE = "txt2img"
IMAGE_TO_IMAGE = "img2img"
SD_SCHEDULERS = ("ddim ddpm deis deis_k lms lms_k pndm heun heun_k euler euler_k euler_a kdpm_2 kdpm_2_k kdpm_2_a "
                 "kdpm_2_a_k dpmpp_2s dpmpp_2s_k dpmpp_2m dpmpp_2m_k dpmpp_2m_sde dpmpp_2m_sde_k dpmpp_3m "
                 "dpmpp_3m_k dpmpp_sde dpmpp_sde_k er_sde unipc unipc_k lcm tcd").split()
FLUX_SCHEDULERS = ("euler", "heun", "lcm")  # flux_denoise and flux2_denoise take these only


@dataclass(frozen=True)
class Family:
    """What one model base asks of the generate form, and what it does without."""

    base: str
    label: str
    size: int  # default width and height: the size the base was trained at
    grid: int  # width and height are multiples of this (the latent's patch in pixels)
    steps: tuple[int, int]  # least and most
    default_steps: int
    schedulers: tuple[str, ...]
    negative: bool  # takes a negative prompt
    cfg: bool  # classifier-free guidance: cfg_scale
    guidance: bool  # distilled guidance (FLUX.1 dev): guidance
    default_cfg: float | None = None
    default_guidance: float | None = None

    @property
    def fields(self) -> list[str]:
        """The form's fields this base uses beyond prompt, model, size, steps, scheduler, seed and count."""
        return [name for name, used in (("negative_prompt", self.negative), ("cfg_scale", self.cfg),
                                        ("guidance", self.guidance)) if used]


FAMILIES = {family.base: family for family in (
    Family("sd-1", "Stable Diffusion 1", 512, 8, (1, 150), 30, tuple(SD_SCHEDULERS), True, True, False, 7.5),
    Family("sd-2", "Stable Diffusion 2", 768, 8, (1, 150), 30, tuple(SD_SCHEDULERS), True, True, False, 7.5),
    Family("sdxl", "Stable Diffusion XL", 1024, 8, (1, 150), 30, tuple(SD_SCHEDULERS), True, True, False, 7.5),
    Family("flux", "FLUX.1", 1024, 16, (1, 100), 30, FLUX_SCHEDULERS, False, False, True, None, 4.0),
    Family("flux2", "FLUX.2 Klein", 1024, 16, (1, 100), 4, FLUX_SCHEDULERS, False, False, False),
)}


@dataclass
class Graph:
    """A graph as InvokeAI's enqueue takes it, and where in it the gallery finds what it needs."""

    id: str
    nodes: dict[str, dict]
    edges: list[dict]
    output: str  # the node whose image is the result
    seed_fields: list[tuple[str, str]]  # (node id, field): every field a queue item's seed goes into

    def body(self) -> dict:
        return {"id": self.id, "nodes": self.nodes, "edges": self.edges}


def node(node_id: str, kind: str, **fields) -> dict:
    """A node; a field given as None is left out, for InvokeAI's default (guidance of a schnell model)."""
    return {"id": node_id, "type": kind, **{name: value for name, value in fields.items() if value is not None}}


def edge(source: str, output: str, destination: str, field: str) -> dict:
    return {"source": {"node_id": source, "field": output}, "destination": {"node_id": destination, "field": field}}


def identifier(model: dict) -> dict:
    """The model reference nodes take: exactly these five fields of the record (API.md §2.1)."""
    return {name: model.get(name) or "" for name in ("key", "hash", "name", "base", "type")}


# --- text to image -----------------------------------------------------------------------

def sd_text_to_image(params: Parameters, model: dict, seed: int) -> Graph:
    """SD-1 and SD-2: API.md §2.1."""
    common = {"width": params.width, "height": params.height, "steps": params.steps,
              "cfg_scale": params.cfg_scale, "scheduler": params.scheduler}
    nodes = [
        node("model_loader", "main_model_loader", model=identifier(model)),
        node("clip_skip", "clip_skip", skipped_layers=0),
        node("positive", "compel", prompt=params.prompt),
        node("negative", "compel", prompt=params.negative_prompt),
        node("noise", "noise", seed=seed, width=params.width, height=params.height, use_cpu=True),
        node("denoise", "denoise_latents", steps=params.steps, cfg_scale=params.cfg_scale,
             scheduler=params.scheduler, denoising_start=0.0, denoising_end=1.0),
        node("l2i", "l2i", fp32=True, is_intermediate=False, use_cache=False),
        node("metadata", "core_metadata", generation_mode="txt2img", positive_prompt=params.prompt,
             negative_prompt=params.negative_prompt, seed=seed, clip_skip=0, rand_device="cpu",
             model=identifier(model), **common),
    ]
    edges = [
        edge("model_loader", "unet", "denoise", "unet"), edge("model_loader", "clip", "clip_skip", "clip"),
        edge("clip_skip", "clip", "positive", "clip"), edge("clip_skip", "clip", "negative", "clip"),
        edge("positive", "conditioning", "denoise", "positive_conditioning"),
        edge("negative", "conditioning", "denoise", "negative_conditioning"),
        edge("noise", "noise", "denoise", "noise"), edge("denoise", "latents", "l2i", "latents"),
        edge("model_loader", "vae", "l2i", "vae"), edge("metadata", "metadata", "l2i", "metadata"),
    ]
    return Graph("txt2img", {n["id"]: n for n in nodes}, edges, "l2i", [("noise", "seed"), ("metadata", "seed")])


def sdxl_text_to_image(params: Parameters, model: dict, seed: int) -> Graph:
    """SDXL: two text encoders and no CLIP skip (API.md §8.1); the same text is prompt and style, as the UI does."""
    nodes = [
        node("model_loader", "sdxl_model_loader", model=identifier(model)),
        node("positive", "sdxl_compel_prompt", prompt=params.prompt, style=params.prompt),
        node("negative", "sdxl_compel_prompt", prompt=params.negative_prompt, style=params.negative_prompt),
        node("noise", "noise", seed=seed, width=params.width, height=params.height, use_cpu=True),
        node("denoise", "denoise_latents", steps=params.steps, cfg_scale=params.cfg_scale, cfg_rescale_multiplier=0,
             scheduler=params.scheduler, denoising_start=0.0, denoising_end=1.0),
        node("l2i", "l2i", fp32=True, is_intermediate=False, use_cache=False),
        node("metadata", "core_metadata", generation_mode="sdxl_txt2img", positive_prompt=params.prompt,
             negative_prompt=params.negative_prompt, width=params.width, height=params.height, seed=seed,
             steps=params.steps, cfg_scale=params.cfg_scale, cfg_rescale_multiplier=0, scheduler=params.scheduler,
             rand_device="cpu", model=identifier(model)),
    ]
    edges = [
        edge("model_loader", "unet", "denoise", "unet"),
        edge("model_loader", "clip", "positive", "clip"), edge("model_loader", "clip", "negative", "clip"),
        edge("model_loader", "clip2", "positive", "clip2"), edge("model_loader", "clip2", "negative", "clip2"),
        edge("noise", "noise", "denoise", "noise"), edge("denoise", "latents", "l2i", "latents"),
        edge("model_loader", "vae", "l2i", "vae"), edge("metadata", "metadata", "l2i", "metadata"),
        edge("positive", "conditioning", "denoise", "positive_conditioning"),
        edge("negative", "conditioning", "denoise", "negative_conditioning"),
    ]
    return Graph("sdxl_txt2img", {n["id"]: n for n in nodes}, edges, "l2i", [("noise", "seed"), ("metadata", "seed")])


def flux_text_to_image(params: Parameters, model: dict, seed: int) -> Graph:
    """FLUX.1: the transformer with its separately installed T5 encoder, CLIP embedder and VAE (API.md §8.2).

    No negative prompt and no CFG: distilled guidance instead (a schnell model ignores it). The seed is a
    field of flux_denoise, which makes its own noise."""
    companions = {field: identifier(model["companions"][field])
                  for field in ("t5_encoder_model", "clip_embed_model", "vae_model")}
    nodes = [
        node("model_loader", "flux_model_loader", model=identifier(model), **companions),
        node("positive", "flux_text_encoder", prompt=params.prompt),
        node("denoise", "flux_denoise", num_steps=params.steps, guidance=params.guidance, scheduler=params.scheduler,
             seed=seed, width=params.width, height=params.height, denoising_start=0.0, denoising_end=1.0),
        node("decode", "flux_vae_decode", is_intermediate=False, use_cache=False),
        node("metadata", "core_metadata", generation_mode="flux_txt2img", positive_prompt=params.prompt,
             width=params.width, height=params.height, seed=seed, steps=params.steps, guidance=params.guidance,
             scheduler=params.scheduler, model=identifier(model), vae=companions["vae_model"],
             t5_encoder=companions["t5_encoder_model"], clip_embed_model=companions["clip_embed_model"]),
    ]
    edges = [
        edge("model_loader", "transformer", "denoise", "transformer"),
        edge("model_loader", "vae", "denoise", "controlnet_vae"), edge("model_loader", "vae", "decode", "vae"),
        edge("model_loader", "clip", "positive", "clip"), edge("model_loader", "t5_encoder", "positive", "t5_encoder"),
        edge("model_loader", "max_seq_len", "positive", "t5_max_seq_len"),
        edge("positive", "conditioning", "denoise", "positive_text_conditioning"),
        edge("denoise", "latents", "decode", "latents"), edge("metadata", "metadata", "decode", "metadata"),
    ]
    return Graph("flux_txt2img", {n["id"]: n for n in nodes}, edges, "decode",
                 [("denoise", "seed"), ("metadata", "seed")])


def flux2_text_to_image(params: Parameters, model: dict, seed: int) -> Graph:
    """FLUX.2 Klein: the main model carries its Qwen3 encoder and VAE (API.md §8.2); no negative, no CFG,
    no guidance (inert for every Klein variant)."""
    nodes = [
        node("model_loader", "flux2_klein_model_loader", model=identifier(model)),
        node("positive", "flux2_klein_text_encoder", prompt=params.prompt),
        node("denoise", "flux2_denoise", num_steps=params.steps, scheduler=params.scheduler, seed=seed,
             width=params.width, height=params.height, denoising_start=0.0, denoising_end=1.0),
        node("decode", "flux2_vae_decode", is_intermediate=False, use_cache=False),
        node("metadata", "core_metadata", generation_mode="flux2_txt2img", positive_prompt=params.prompt,
             width=params.width, height=params.height, seed=seed, steps=params.steps, scheduler=params.scheduler,
             model=identifier(model)),
    ]
    edges = [
        edge("model_loader", "qwen3_encoder", "positive", "qwen3_encoder"),
        edge("model_loader", "max_seq_len", "positive", "max_seq_len"),
        edge("model_loader", "transformer", "denoise", "transformer"),
        edge("model_loader", "vae", "denoise", "vae"), edge("model_loader", "vae", "decode", "vae"),
        edge("positive", "conditioning", "denoise", "positive_text_conditioning"),
        edge("denoise", "latents", "decode", "latents"), edge("metadata", "metadata", "decode", "metadata"),
    ]
    return Graph("flux2_txt2img", {n["id"]: n for n in nodes}, edges, "decode",
                 [("denoise", "seed"), ("metadata", "seed")])


# --- image to image ----------------------------------------------------------------------

def from_starting_image(text_to_image: Callable[[Parameters, dict, int], Graph], encoder: str, mode: str):
    """The image-to-image builder of a base: its text-to-image graph, with the starting image encoded by
    `encoder` (from the loader's VAE) into the denoise node's latents and the denoising started at
    1 - strength; the image's own metadata says so (generation_mode, strength, init_image)."""
    def build(params: Parameters, model: dict, seed: int, image_name: str) -> Graph:
        graph = text_to_image(params, model, seed)
        graph.nodes["encode"] = node("encode", encoder, image={"image_name": image_name})
        graph.edges += [edge("model_loader", "vae", "encode", "vae"), edge("encode", "latents", "denoise", "latents")]
        graph.nodes["denoise"]["denoising_start"] = denoising_start(params.strength)
        graph.nodes["metadata"].update(generation_mode=mode, strength=params.strength, init_image=image_name)
        graph.id = mode
        return graph
    build.__doc__ = f"{text_to_image.__name__} from a starting image ({encoder})."
    return build


def denoising_start(strength: float) -> float:
    """Strength 1 repaints everything (start at 0), strength 0 keeps the image (start at the end)."""
    return round(1.0 - strength, 6)


BUILDERS: dict[tuple[str, str], Callable[..., Graph]] = {
    (TEXT_TO_IMAGE, "sd-1"): sd_text_to_image,
    (TEXT_TO_IMAGE, "sd-2"): sd_text_to_image,
    (TEXT_TO_IMAGE, "sdxl"): sdxl_text_to_image,
    (TEXT_TO_IMAGE, "flux"): flux_text_to_image,
    (TEXT_TO_IMAGE, "flux2"): flux2_text_to_image,
    (IMAGE_TO_IMAGE, "sd-1"): from_starting_image(sd_text_to_image, "i2l", "img2img"),
    (IMAGE_TO_IMAGE, "sd-2"): from_starting_image(sd_text_to_image, "i2l", "img2img"),
    (IMAGE_TO_IMAGE, "sdxl"): from_starting_image(sdxl_text_to_image, "i2l", "sdxl_img2img"),
    (IMAGE_TO_IMAGE, "flux"): from_starting_image(flux_text_to_image, "flux_vae_encode", "flux_img2img"),
    (IMAGE_TO_IMAGE, "flux2"): from_starting_image(flux2_text_to_image, "flux2_vae_encode", "flux2_img2img"),
}
OUTPUT_NODES = ("l2i", "decode")  # every builder's output node id, for finding a finished item's image


def problem_without_graph(mode: str, base: str) -> str | None:
    """Why the gallery cannot build `mode` for this base, in words, or None when it can."""
    if (mode, base) in BUILDERS:
        return None
    label = FAMILIES[base].label if base in FAMILIES else base
    doing = "start from a photo (image to image)" if mode == IMAGE_TO_IMAGE else "make an image from text"
    return f"The gallery cannot {doing} with {label} models yet."


def build_graph(mode: str, params: Parameters, model: dict, seed: int, image_name: str | None = None) -> Graph:
    """The graph of `mode` for the model's base; image to image takes the starting image's name on InvokeAI."""
    builder = BUILDERS[(mode, model["base"])]
    return builder(params, model, seed) if mode == TEXT_TO_IMAGE else builder(params, model, seed, image_name)
