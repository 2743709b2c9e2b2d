"""The generation parameters AI tools write into their images -> Photo columns, as plain dicts.

InvokeAI: the `invokeai_metadata` PNG chunk (JSON; 3.x names the model `model_name`, 4.x and later
`name` and `key`), and before 3.0 the `sd-metadata` JSON and `Dream` command-line chunks.
AUTOMATIC1111 and Forge: the infotext (prompt lines, "Negative prompt: ..." lines, then one line of
"Key: value, ...") in the `parameters` PNG chunk, or in EXIF UserComment for JPEG and WebP
(piexif's UNICODE prefix, then UTF-16). ComfyUI: the `prompt` chunk (the API graph, node id ->
{class_type, inputs}), else the `workflow` chunk (the editor's graph of nodes and links).

A file's metadata is untrusted: JSON is read with json.loads and text with bounded regular
expressions; nothing from a file is executed or evaluated. A value that does not parse leaves its
column empty and never fails the upload. Caps: MAX_RAW characters of a chunk or sidecar are read,
metadata_values.MAX_PROMPT characters of a prompt are kept (a longer one is cut there), and a
ComfyUI graph is read as far as comfyui_metadata's bounds (nodes looked at, nodes walked) allow.
"""
from __future__ import annotations

import json
import logging
import re

from .comfyui_metadata import MAX_NODES, comfyui_columns, comfyui_workflow_columns
from .metadata_values import MAX_SEED, number, parse_json, prompt_text, short_text, whole

log = logging.getLogger(__name__)

MAX_RAW = 2_000_000  # characters of one chunk or sidecar read; the rest is left unread
COLUMNS = ("prompt", "negative_prompt", "seed", "model_name", "model_key", "steps", "cfg_scale", "scheduler",
           "generation_width", "generation_height")
USER_COMMENT = 0x9286  # in the EXIF sub-IFD
EXIF_IFD = 0x8769


def generation_columns(text: dict[str, str], exif=None) -> dict:
    """The generation columns of a file from its PNG text chunks and EXIF, or {} when no generator's
    parameters are in it. A generated file's prompt is at least "" (what marks a photo generated)."""
    readers = [("invokeai_metadata", invokeai_columns), ("sd-metadata", legacy_invokeai_columns),
               ("Dream", dream_columns), ("parameters", infotext_columns), ("prompt", comfyui_columns),
               ("workflow", comfyui_workflow_columns)]
    for chunk, reader in readers:
        if isinstance(text.get(chunk), str):
            columns = _read(reader, text[chunk][:MAX_RAW], chunk)
            if columns:
                return complete(columns)
    comment = user_comment(exif)
    if comment:
        columns = _read(infotext_columns, comment, "EXIF UserComment", strict=True)
        if columns:
            return complete(columns)
    return {}


def sidecar_columns(raw: str, suffix: str) -> dict:
    """The generation columns a sidecar file (.json or .txt beside an image) holds, or {}.

    A .txt is A1111's infotext (its "save text information" option); it counts only with its
    parameters line, so a note beside a photo is not taken for one. A .json is InvokeAI's metadata,
    a ComfyUI graph, or a flat object of the usual names (prompt, seed, steps, ...)."""
    raw = raw[:MAX_RAW]
    if suffix == ".txt":
        columns = _read(infotext_columns, raw, "a .txt sidecar", strict=True)
    else:
        data = parse_json(raw)
        columns = _read(_json_sidecar_columns, data, "a .json sidecar") if isinstance(data, dict) else {}
    return complete(columns) if columns else {}


def _read(reader, raw: str, where: str, **options) -> dict:
    """reader(raw), or {} should a shape no parser foresaw trip it: the upload goes on without them."""
    try:
        return reader(raw, **options)
    except (TypeError, ValueError, AttributeError, KeyError, IndexError, RecursionError) as exc:
        log.warning("generation parameters in %s left unread: %r", where, exc)
        return {}


def complete(columns: dict) -> dict:
    """Every generation column, None where unknown, the prompt at least ""."""
    full = {name: columns.get(name) for name in COLUMNS}
    if full["prompt"] is None:
        full["prompt"] = ""
    return full


# --- InvokeAI -----------------------------------------------------------------------------------

def invokeai_columns(raw: str) -> dict:
    """From an `invokeai_metadata` chunk (InvokeAI API §4), or {} when it is not a JSON object."""
    data = parse_json(raw)
    return _invokeai_object_columns(data) if isinstance(data, dict) else {}


def _invokeai_object_columns(data: dict) -> dict:
    model = data.get("model") if isinstance(data.get("model"), dict) else {}
    columns = {
        "prompt": prompt_text(data.get("positive_prompt")),
        "negative_prompt": prompt_text(data.get("negative_prompt")),
        "seed": whole(data.get("seed"), 0, MAX_SEED),
        "model_name": short_text(model.get("name") or model.get("model_name"), 255),
        "model_key": short_text(model.get("key"), 255),
        "steps": whole(data.get("steps"), 1, 10_000),
        "cfg_scale": number(data.get("cfg_scale")),
        "scheduler": short_text(data.get("scheduler"), 64),
        "generation_width": whole(data.get("width"), 1, 100_000),
        "generation_height": whole(data.get("height"), 1, 100_000),
    }
    if columns["prompt"] is None and data.get("positive_prompt") == "":
        columns["prompt"] = ""
    return columns


def legacy_invokeai_columns(raw: str) -> dict:
    """From InvokeAI 2.x's `sd-metadata` chunk: {"model_weights", "image": {"prompt": [{"prompt"}],
    "seed", "steps", "cfg_scale", "sampler", "width", "height"}}; the negative prompt is the
    prompt's [bracketed] part, as that version wrote it."""
    data = parse_json(raw)
    image = data.get("image") if isinstance(data, dict) else None
    if not isinstance(image, dict):
        return {}
    prompt = image.get("prompt")
    if isinstance(prompt, list) and prompt and isinstance(prompt[0], dict):
        prompt = prompt[0].get("prompt")
    positive, negative = split_bracketed_negative(prompt if isinstance(prompt, str) else "")
    return {"prompt": prompt_text(positive), "negative_prompt": prompt_text(negative),
            "seed": whole(image.get("seed"), 0, MAX_SEED), "model_name": short_text(data.get("model_weights"), 255),
            "steps": whole(image.get("steps"), 1, 10_000), "cfg_scale": number(image.get("cfg_scale")),
            "scheduler": short_text(image.get("sampler"), 64),
            "generation_width": whole(image.get("width"), 1, 100_000),
            "generation_height": whole(image.get("height"), 1, 100_000)}


DREAM_OPTION = re.compile(r"-(\w)\s+([^\s-]\S{0,63})")


def dream_columns(raw: str) -> dict:
    """From InvokeAI 2.x's `Dream` chunk: '"a prompt [negative]" -s 50 -S 42 -W 512 -H 512 -C 7.5 -A k_lms'."""
    quoted, _, options = raw.rpartition('"')
    if not quoted.lstrip().startswith('"'):
        return {}
    positive, negative = split_bracketed_negative(quoted.lstrip()[1:])
    found = dict(DREAM_OPTION.findall(options[:4096]))
    return {"prompt": prompt_text(positive), "negative_prompt": prompt_text(negative),
            "seed": whole(found.get("S"), 0, MAX_SEED, text=True), "steps": whole(found.get("s"), 1, 10_000, text=True),
            "cfg_scale": number(found.get("C"), text=True), "scheduler": short_text(found.get("A"), 64),
            "generation_width": whole(found.get("W"), 1, 100_000, text=True),
            "generation_height": whole(found.get("H"), 1, 100_000, text=True)}


def split_bracketed_negative(prompt: str) -> tuple[str, str | None]:
    """'a cat [blurry, dark]' -> ('a cat', 'blurry, dark'): InvokeAI 2.x's negative prompt."""
    if prompt.rstrip().endswith("]") and "[" in prompt:
        start = prompt.rfind("[")
        return prompt[:start].strip(), prompt[start + 1:prompt.rstrip().rfind("]")].strip()
    return prompt, None


# --- AUTOMATIC1111 and Forge infotext -------------------------------------------------------------

# One "Key: value" of the parameters line; a value may be "quoted, with \"escapes\"". The key is at most
# 64 characters, so a long line with no colon costs linear time, not quadratic.
INFOTEXT_PARAM = re.compile(r'\s*(\w[\w \-/]{0,63}):\s*("(?:\\.|[^\\"])*"|[^,]*)(?:,|$)')
SIZE = re.compile(r"^(\d{1,6})x(\d{1,6})$")
MIN_PARAMS = 3  # as A1111's own parser: a last line with fewer is part of the prompt
KNOWN_PARAMS = {"Steps", "Sampler", "Seed", "CFG scale", "Size", "Model", "Model hash"}


def infotext_columns(raw: str, strict: bool = False) -> dict:
    """From A1111 / Forge infotext: prompt lines, then "Negative prompt:" lines, then the parameters.

    With `strict` (EXIF comments and .txt sidecars, which cameras and people also write), text
    without a parameters line naming at least one known parameter gives {}.
    """
    lines = raw.strip().split("\n")
    params = parse_params(lines[-1]) if lines else {}
    if len(params) >= MIN_PARAMS:
        lines = lines[:-1]
    else:
        params = {}
    if strict and not KNOWN_PARAMS & params.keys():
        return {}
    prompt, negative, in_negative = [], [], False
    for line in lines:
        line = line.strip()
        if line.startswith("Negative prompt:"):
            in_negative, line = True, line[len("Negative prompt:"):].strip()
        (negative if in_negative else prompt).append(line)
    width, height = _size(params.get("Size"))
    sampler = short_text(params.get("Sampler"), 64)
    schedule = params.get("Schedule type")
    if sampler and isinstance(schedule, str) and schedule not in ("", "Automatic"):
        sampler = short_text(f"{sampler} {schedule}", 64)
    return {"prompt": prompt_text("\n".join(prompt)) or "",
            "negative_prompt": prompt_text("\n".join(negative)) if in_negative else None,
            "seed": whole(params.get("Seed"), 0, MAX_SEED, text=True),
            "model_name": short_text(params.get("Model") or params.get("Model hash"), 255),
            "steps": whole(params.get("Steps"), 1, 10_000, text=True),
            "cfg_scale": number(params.get("CFG scale"), text=True),
            "scheduler": sampler, "generation_width": width, "generation_height": height}


def parse_params(line: str) -> dict[str, str]:
    """'Steps: 20, Sampler: Euler a, Size: 512x768' -> {name: value}; quoted values unquoted as JSON
    strings (never evaluated)."""
    params = {}
    for key, value in INFOTEXT_PARAM.findall(line[:MAX_RAW]):
        if len(value) >= 2 and value[0] == value[-1] == '"':
            decoded = parse_json(value)
            value = decoded if isinstance(decoded, str) else value[1:-1]
        params[key.strip()] = value.strip()
    return params


def _size(value) -> tuple[int | None, int | None]:
    match = SIZE.match(value) if isinstance(value, str) else None
    if not match:
        return None, None
    return whole(match.group(1), 1, 100_000, text=True), whole(match.group(2), 1, 100_000, text=True)


def user_comment(exif) -> str | None:
    """EXIF UserComment as text: an 8-byte charset prefix ("UNICODE\\0" for UTF-16, as piexif writes
    A1111's, "ASCII\\0\\0\\0", or none), then the bytes."""
    try:
        value = exif.get_ifd(EXIF_IFD).get(USER_COMMENT) if exif is not None else None
    except Exception as exc:  # Pillow's many errors for a broken IFD: the comment is merely missing
        log.info("unreadable EXIF sub-IFD: %s", exc)
        return None
    if isinstance(value, str):
        return value[:MAX_RAW]
    if not isinstance(value, bytes) or len(value) < 8:
        return None
    prefix, body = value[:8], value[8:2 * MAX_RAW + 8]
    if prefix == b"UNICODE\x00":
        return body.decode(_utf16_order(body), errors="replace")
    return body.decode("utf-8", errors="replace").strip("\x00")


def _utf16_order(body: bytes) -> str:
    """piexif writes big-endian; some tools write little-endian: mostly-Latin text has its zero bytes
    on the even offsets in one and the odd in the other."""
    if body[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return "utf-16"
    sample = body[:2048]
    return "utf-16-le" if sample[1::2].count(0) > sample[0::2].count(0) else "utf-16-be"


# --- sidecars -------------------------------------------------------------------------------------

FLAT_NAMES = {
    "prompt": ("prompt", "positive_prompt", "Prompt"),
    "negative_prompt": ("negative_prompt", "negativePrompt", "negativeprompt", "Negative prompt"),
    "seed": ("seed", "Seed"), "steps": ("steps", "Steps"), "cfg_scale": ("cfg_scale", "cfgScale", "cfgscale", "cfg"),
    "scheduler": ("sampler", "sampler_name", "scheduler", "Sampler"), "model_name": ("model", "model_name", "Model"),
    "generation_width": ("width",), "generation_height": ("height",),
}


def _json_sidecar_columns(data: dict) -> dict:
    if "positive_prompt" in data:
        return _invokeai_object_columns(data)
    if isinstance(data.get("prompt"), dict):  # {"prompt": API graph, "workflow": ...}, as some nodes save
        return comfyui_columns(json.dumps(data["prompt"]))
    if any(isinstance(node, dict) and "class_type" in node for node in list(data.values())[:MAX_NODES]):
        return comfyui_columns(json.dumps(data))
    flat = {column: next((data[name] for name in names if name in data), None) for column, names in FLAT_NAMES.items()}
    if not isinstance(flat["prompt"], str) or all(flat[name] is None for name in ("seed", "steps", "model_name")):
        return {}  # a photo's sidecar of another kind (Google Takeout's title and description)
    return {"prompt": prompt_text(flat["prompt"]) or "", "negative_prompt": prompt_text(flat["negative_prompt"]),
            "seed": whole(flat["seed"], 0, MAX_SEED, text=True), "steps": whole(flat["steps"], 1, 10_000, text=True),
            "cfg_scale": number(flat["cfg_scale"], text=True), "scheduler": short_text(flat["scheduler"], 64),
            "model_name": short_text(flat["model_name"], 255),
            "generation_width": whole(flat["generation_width"], 1, 100_000, text=True),
            "generation_height": whole(flat["generation_height"], 1, 100_000, text=True)}


# --- for "Generate again": another tool's names in InvokeAI's terms --------------------------------

# A1111's sampler names and ComfyUI's, lower case, -> InvokeAI's scheduler names; "Karras" (A1111's
# schedule type, ComfyUI's scheduler) picks InvokeAI's _k variant where there is one.
SAMPLER_NAMES = {
    "euler": "euler", "euler a": "euler_a", "euler_ancestral": "euler_a", "lms": "lms", "heun": "heun",
    "dpm2": "kdpm_2", "dpm_2": "kdpm_2", "dpm2 a": "kdpm_2_a", "dpm_2_ancestral": "kdpm_2_a",
    "dpm++ 2s a": "dpmpp_2s", "dpmpp_2s_ancestral": "dpmpp_2s", "dpm++ 2m": "dpmpp_2m", "dpmpp_2m": "dpmpp_2m",
    "dpm++ sde": "dpmpp_sde", "dpmpp_sde": "dpmpp_sde", "dpm++ 2m sde": "dpmpp_2m_sde", "dpmpp_2m_sde": "dpmpp_2m_sde",
    "dpm++ 3m sde": "dpmpp_3m", "dpmpp_3m_sde": "dpmpp_3m", "ddim": "ddim", "ddpm": "ddpm", "deis": "deis",
    "unipc": "unipc", "uni_pc": "unipc", "lcm": "lcm", "tcd": "tcd",
}
SCHEDULE_WORDS = ("karras", "automatic", "normal", "simple", "exponential", "sgm uniform", "sgm_uniform", "uniform",
                  "beta", "ddim_uniform", "polyexponential", "align your steps")


def invokeai_scheduler(name: str | None, known) -> str | None:
    """InvokeAI's scheduler (one of `known`) for a stored sampler name: InvokeAI's own, A1111's
    ("DPM++ 2M Karras") or ComfyUI's ("dpmpp_2m karras"); None when there is no counterpart."""
    if not name:
        return None
    if name in known:
        return name
    words = name.lower().strip()
    karras = "karras" in words
    for word in SCHEDULE_WORDS:
        words = words.replace(word, " ")
    base = SAMPLER_NAMES.get(" ".join(words.split()))
    if base and karras and f"{base}_k" in known:
        return f"{base}_k"
    return base if base in known else None


def model_key_matching(name: str | None, models: list[dict]) -> str | None:
    """The key of the model in `models` (InvokeAI's: key, name) named as `name`, a checkpoint's file
    name ("Flux/dreamshaper_8.safetensors" matches "DreamShaper 8"); None when none is."""
    wanted = _model_words(name)
    return next((model.get("key") for model in models if wanted and _model_words(model.get("name")) == wanted), None)


def _model_words(name) -> str:
    if not isinstance(name, str):
        return ""
    name = re.split(r"[\\/]", name)[-1]
    name = re.sub(r"\.(safetensors|ckpt|pt|pth|bin|gguf|sft)$", "", name, flags=re.IGNORECASE)
    return "".join(ch for ch in name.casefold() if ch.isalnum())
