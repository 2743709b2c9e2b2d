"""ComfyUI's generation parameters -> Photo columns: its SaveImage node writes the `prompt` PNG chunk
(the API graph it ran: node id -> {"class_type", "inputs"}, an input from another node being
[node id, output index]) and the `workflow` chunk (the editor's graph of nodes, widgets and links).

A graph is untrusted: at most MAX_NODES of its nodes are looked at, and a walk up its links stops
after MAX_HOPS nodes, so cycles, missing nodes and odd shapes end with the column left empty.
"""
from __future__ import annotations

import math
from collections import deque

from .metadata_values import MAX_SEED, number, parse_json, prompt_text, short_text, whole

MAX_NODES = 5_000  # nodes of a graph looked at
MAX_HOPS = 200  # nodes one walk up a graph visits
MAX_INPUTS = 64  # inputs of one node followed

SAMPLERS = ("KSampler", "KSamplerAdvanced", "SamplerCustom", "SamplerCustomAdvanced")
SAMPLER_INPUTS = ("latent_image", "model", "guider")  # a custom node with these is taken for a sampler
# A node that stands for "no prompt": a walk up from a negative input stops there rather than find the
# positive prompt it was made from (FLUX graphs zero the negative out).
DEAD_ENDS = ("ConditioningZeroOut",)
PROMPT_INPUTS = ("text", "text_g", "t5xxl", "clip_l", "prompt", "string", "value", "text_l")
MODEL_INPUTS = ("ckpt_name", "unet_name", "model_name", "gguf_name")


def comfyui_columns(raw: str) -> dict:
    """From ComfyUI's `prompt` chunk, the graph its SaveImage node was run with: {node id:
    {"class_type", "inputs"}}, an input that comes from another node being [node id, output index].

    The first sampler node (KSampler, KSamplerAdvanced, SamplerCustom...) is read, and each value
    it takes from elsewhere is found by walking up the links (through LoRA loaders, conditioning
    combiners, guiders, primitives), MAX_HOPS nodes at most, so cycles and missing nodes end it."""
    graph = parse_json(raw)
    if not isinstance(graph, dict):
        return {}
    nodes = {str(key): node for key, node in list(graph.items())[:MAX_NODES]
             if isinstance(node, dict) and isinstance(node.get("inputs"), dict)}
    sampler = next((node for node in nodes.values() if node.get("class_type") in SAMPLERS), None) or \
        next((node for node in nodes.values() if "latent_image" in node["inputs"]
              and any(name in node["inputs"] for name in SAMPLER_INPUTS[1:])), None)
    if sampler is None:
        return {}
    inputs = sampler["inputs"]
    guider = _linked(nodes, inputs.get("guider")) or {}
    width = _find(nodes, inputs.get("latent_image"), ("width",), int)
    height = _find(nodes, inputs.get("latent_image"), ("height",), int)
    sampler_name = _find(nodes, inputs.get("sampler_name", inputs.get("sampler")), ("sampler_name",), str)
    schedule = _find(nodes, inputs.get("scheduler", inputs.get("sigmas")), ("scheduler",), str)
    if sampler_name and schedule and schedule != "normal":
        sampler_name = f"{sampler_name} {schedule}"
    positive = inputs.get("positive", guider.get("positive", guider.get("conditioning")))
    return {
        "prompt": prompt_text(_find(nodes, positive, PROMPT_INPUTS, str)) or "",
        "negative_prompt": prompt_text(_find(nodes, inputs.get("negative", guider.get("negative")),
                                             PROMPT_INPUTS, str)),
        "seed": whole(_find(nodes, inputs.get("seed", inputs.get("noise_seed", inputs.get("noise"))),
                            ("seed", "noise_seed", "value"), int), 0, MAX_SEED),
        "model_name": short_text(_find(nodes, inputs.get("model", guider.get("model")), MODEL_INPUTS, str), 255),
        "steps": whole(_find(nodes, inputs.get("steps", inputs.get("sigmas")), ("steps", "value"), int), 1, 10_000),
        "cfg_scale": number(_find(nodes, inputs.get("cfg", guider.get("cfg")), ("cfg", "value"), float)),
        "scheduler": short_text(sampler_name, 64),
        "generation_width": whole(width, 1, 100_000), "generation_height": whole(height, 1, 100_000),
    }


def _is_link(value) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], (str, int))


def _linked(nodes: dict, value) -> dict | None:
    """The inputs of the node a link comes from; None for no link, a missing node or a dead end."""
    if not _is_link(value):
        return None
    node = nodes.get(str(value[0]))
    return node["inputs"] if node and node.get("class_type") not in DEAD_ENDS else None


def _find(nodes: dict, start, names: tuple[str, ...], kind: type):
    """The value `start` holds, or the first of `names` found walking up its links breadth first
    (every linked input of a node is followed); None when nothing fits within MAX_HOPS nodes."""
    if not _is_link(start):
        return start if _is_kind(start, kind) else None
    queue, seen = deque([start]), set()
    while queue and len(seen) < MAX_HOPS:
        link = queue.popleft()
        if str(link[0]) in seen:
            continue
        seen.add(str(link[0]))
        inputs = _linked(nodes, link) or {}
        for name in names:
            if _is_kind(inputs.get(name), kind):
                return inputs[name]
        queue.extend(value for value in list(inputs.values())[:MAX_INPUTS] if _is_link(value))
    return None


def _is_kind(value, kind: type) -> bool:
    if kind is str:
        return isinstance(value, str)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return False
    return kind is float or value == int(value)


# The editor's graph keeps a node's values as a list in the order of its widgets.
WORKFLOW_WIDGETS = {
    "KSampler": ("seed", None, "steps", "cfg", "sampler_name", "scheduler"),
    "KSamplerAdvanced": (None, "seed", None, "steps", "cfg", "sampler_name", "scheduler"),
}


def comfyui_workflow_columns(raw: str) -> dict:
    """From ComfyUI's `workflow` chunk alone (a file whose API graph is missing): the sampler's
    widget values, the checkpoint's name, and the texts wired to its positive and negative inputs."""
    data = parse_json(raw)
    nodes = data.get("nodes") if isinstance(data, dict) else None
    if not isinstance(nodes, list):
        return {}
    nodes = [node for node in nodes[:MAX_NODES] if isinstance(node, dict)]
    sampler = next((node for node in nodes if node.get("type") in WORKFLOW_WIDGETS), None)
    if sampler is None:
        return {}
    widgets = sampler.get("widgets_values") if isinstance(sampler.get("widgets_values"), list) else []
    values = {name: value for name, value in zip(WORKFLOW_WIDGETS[sampler["type"]], widgets) if name}
    links = data.get("links") if isinstance(data.get("links"), list) else []
    sources = {link[0]: link[1] for link in links[:MAX_NODES * 4]
               if isinstance(link, list) and len(link) > 2 and isinstance(link[0], int)}
    by_id = {node["id"]: node for node in nodes if isinstance(node.get("id"), int)}

    def text_into(input_name: str) -> str | None:
        slot = next((slot for slot in sampler.get("inputs") or []
                     if isinstance(slot, dict) and slot.get("name") == input_name), {})
        link = slot.get("link")
        node = by_id.get(sources.get(link) if isinstance(link, int) else None) or {}
        widgets = node.get("widgets_values")
        return widgets[0] if isinstance(widgets, list) and widgets and isinstance(widgets[0], str) else None

    loader = next((node for node in nodes if node.get("type") == "CheckpointLoaderSimple"), {})
    loader_widgets = loader.get("widgets_values") if isinstance(loader.get("widgets_values"), list) else [None]
    return {"prompt": prompt_text(text_into("positive")) or "", "negative_prompt": prompt_text(text_into("negative")),
            "seed": whole(values.get("seed"), 0, MAX_SEED), "steps": whole(values.get("steps"), 1, 10_000),
            "cfg_scale": number(values.get("cfg")), "scheduler": short_text(values.get("sampler_name"), 64),
            "model_name": short_text(loader_widgets[0] if loader_widgets else None, 255)}
