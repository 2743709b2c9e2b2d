"""A fake InvokeAI 6.14.2 server (../shared/invokeai/API.md): real paths, methods, status codes, JSON shapes.

Plain Werkzeug WSGI on 127.0.0.1:<free port>. Tests steer it through `FakeInvokeAI` attributes:
* Progress: every polling GET (queue item, batch status, queue status) is one processor tick, applied before
  answering. A tick goes to the queue head (the in-progress item, else the first pending by priority, item_id),
  so one item runs at a time. The head's 1st tick leaves it `pending`, ticks 2..N make it `in_progress`, tick
  N+1 ends it, N = `steps_to_finish` (default 2: a lone item reads pending, in_progress, completed; 0: the
  first tick ends it). `advance(n)` ticks from a test.
* `fault`: None or one of FAULTS; acts on every /api request while set, except `truncated_png`/`oversized`
  (image downloads only), `item_fails` (items fail when they end) and `late_accept`/`late_answer` (the enqueue
  only). A `silent` request is answered only once the fault is cleared or `silent_seconds` pass (then handled
  normally, like a slow server), or never if the server stops. `late_accept` holds the enqueue the same way and
  then takes the batch (a server busy past the client's timeout); `late_answer` takes the batch at once and holds
  only the answer. `wait_idle()` returns once no request is being answered, a held one included.
  `fail_seeds`: items with these seeds (noise's, or a FLUX denoise node's) fail. Unknown model keys, missing
  required connections and a loader given a model of another base (an SD-1 loader with an SDXL model) fail
  items as on the real server; a model identifier whose base InvokeAI does not know is a 422 at enqueue.
* `models`: main models of every base the gallery meets (SD-1, SD-2, SDXL, an SDXL refiner, FLUX.1 dev and
  Fill, FLUX.2 Klein in diffusers and GGUF form, with their `variant`s), an SD VAE, and the T5 encoder, CLIP
  embed model and FLUX VAE a FLUX.1 graph needs. SDXL and FLUX nodes are modelled beside SD-1's.
* `max_queue_size` (default 10000, as InvokeAI's config): an enqueue takes only as many items, in data order, as
  fit beside the pending ones; still a 200, with `enqueued` < `requested` and only the taken items' ids.
* Forgetting: `PUT .../prune` deletes finished items and `PUT .../clear` every item (canceling the running
  one), as InvokeAI's Prune and Clear buttons do; a forgotten item answers 404 "Queue item with id N not found"
  while its image stays listed by `GET /api/v1/images/` (newest first). `reset()` is InvokeAI's database
  wiped: no items, no images, item ids from 1 again.
* `POST /api/v1/images/upload` keeps the file as an image (`uploads`: their names, in order; `images[name]`
  has the bytes, `is_intermediate`, `category`); an encoder node (i2l, flux_vae_encode, flux2_vae_encode) whose
  image the server does not have fails its item, as the real one does.
* `break_downloads`: the next N image downloads send half their bytes and drop the connection.
* `multiuser` + `users` {email: password}: Bearer tokens from /api/v1/auth/login needed everywhere but
  version, auth/status and login; `expire_tokens()` revokes them all.
* `requests`: one `Logged(method, path (+"?query"), json body or None, headers subset)` per request;
  `count(method, path)` counts them by path; `enqueued_batches()`, `downloads(image_name)` and
  `batch_statuses(batch_id)` read what the gallery sent and asked. `errors`: tracebacks of bugs in the fake
  (fail the fixture).
"""
from __future__ import annotations

import copy
import gzip
import hashlib
import io
import itertools
import json
import secrets
import socket
import threading
import time
import traceback
import uuid
from datetime import datetime, timezone
from typing import NamedTuple

import pytest
from PIL import Image, ImageDraw
from PIL.PngImagePlugin import PngInfo
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, RequestRedirect, Rule
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response
from werkzeug.wsgi import ClosingIterator

VERSION = "6.14.2"
QUEUE = "/api/v1/queue/default"  # the paths a test counts in the request log
ENQUEUE = f"{QUEUE}/enqueue_batch"
CANCEL = f"{QUEUE}/cancel_by_batch_ids"
TINY_SD15 = "237868a8-9909-488c-aad6-ecd4bf74ad4e"  # the key of the fake's first SD-1 main model
SDXL = "c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e6f"
FLUX_DEV = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"  # FLUX.1 dev, beside its T5 encoder, CLIP embed and FLUX VAE
FLUX2_KLEIN = "3c4d5e6f-7a8b-4c9d-9e0f-1a2b3c4d5e6f"  # FLUX.2 Klein 4B, diffusers (its encoder and VAE inside)
FAULTS = ("500", "html", "invalid_json", "redirect", "silent", "truncated_png", "oversized", "item_fails",
          "late_accept", "late_answer")
OVERSIZED_BYTES = 60 * 1024 * 1024
SCHEDULERS = ("ddim ddpm deis deis_k lms lms_k pndm heun heun_k euler euler_k euler_a kdpm_2 kdpm_2_k kdpm_2_a "
              "kdpm_2_a_k dpmpp_2s dpmpp_2s_k dpmpp_2m dpmpp_2m_k dpmpp_2m_sde dpmpp_2m_sde_k dpmpp_3m dpmpp_3m_k "
              "dpmpp_sde dpmpp_sde_k er_sde unipc unipc_k lcm tcd").split()
# Node types the fake knows: type -> (defaults of its direct fields, its connection-only inputs).
# None: every field is kept unchecked (core_metadata keeps extra keys; the others are not modelled).
SPECS = {
    "main_model_loader": ({"model": None}, ()),
    "clip_skip": ({"skipped_layers": 0}, ("clip",)),
    "compel": ({"prompt": "", "clip": None, "mask": None}, ()),
    "noise": ({"noise_type": "SD", "seed": 0, "width": 512, "height": 512, "use_cpu": True}, ()),
    "denoise_latents": ({"steps": 10, "cfg_scale": 7.5, "denoising_start": 0.0, "denoising_end": 1.0,
                         "scheduler": "euler", "cfg_rescale_multiplier": 0.0, "hidiffusion": False,
                         "hidiffusion_raunet": True, "hidiffusion_window_attn": True, "hidiffusion_t1_ratio": 0.4,
                         "hidiffusion_t2_ratio": 0.0},
                        ("positive_conditioning", "negative_conditioning", "noise", "unet", "control", "ip_adapter",
                         "t2i_adapter", "latents", "denoise_mask")),
    "l2i": ({"board": None, "tiled": False, "tile_size": 0, "fp32": False}, ("metadata", "latents", "vae")),
    "sdxl_model_loader": ({"model": None}, ()),
    "sdxl_compel_prompt": ({"prompt": "", "style": "", "original_width": 1024, "original_height": 1024,
                            "crop_top": 0, "crop_left": 0, "target_width": 1024, "target_height": 1024,
                            "mask": None}, ("clip", "clip2")),
    "flux_model_loader": ({"model": None, "t5_encoder_model": None, "clip_embed_model": None, "vae_model": None}, ()),
    "flux_text_encoder": ({"prompt": None, "t5_max_seq_len": None, "mask": None}, ("clip", "t5_encoder")),
    "flux_denoise": ({"denoising_start": 0.0, "denoising_end": 1.0, "add_noise": True, "cfg_scale": 1.0,
                      "width": 1024, "height": 1024, "num_steps": 4, "scheduler": "euler", "guidance": 4.0, "seed": 0},
                     ("transformer", "positive_text_conditioning", "negative_text_conditioning", "controlnet_vae",
                      "latents", "noise", "denoise_mask", "control", "ip_adapter")),
    "flux_vae_decode": ({"board": None}, ("metadata", "latents", "vae")),
    "flux2_klein_model_loader": ({"model": None, "vae_model": None, "qwen3_encoder_model": None,
                                  "qwen3_source_model": None, "max_seq_len": 512}, ()),
    "flux2_klein_text_encoder": ({"prompt": None, "max_seq_len": 512, "mask": None}, ("qwen3_encoder",)),
    "flux2_denoise": ({"denoising_start": 0.0, "denoising_end": 1.0, "add_noise": True, "guidance": 4.0,
                       "cfg_scale": 1.0, "width": 1024, "height": 1024, "num_steps": 4, "scheduler": "euler", "seed": 0},
                      ("transformer", "positive_text_conditioning", "negative_text_conditioning", "vae", "latents",
                       "noise", "denoise_mask")),
    "flux2_vae_decode": ({"board": None}, ("metadata", "latents", "vae")),
    "i2l": ({"image": None, "tiled": False, "tile_size": 0, "fp32": False, "color_compensation": "None"}, ("vae",)),
    "flux_vae_encode": ({"image": None}, ("vae",)),
    "flux2_vae_encode": ({"image": None}, ("vae",)),
    **{kind: (None, ()) for kind in ("core_metadata", "integer", "float", "string", "boolean", "collect", "iterate",
                                      "img_resize", "vae_loader", "lora_loader", "metadata_item", "merge_metadata")},
}
REQUIRED_CONNECTIONS = {"denoise_latents": ("unet", "positive_conditioning", "negative_conditioning"),
                        "l2i": ("latents", "vae"), "clip_skip": ("clip",), "compel": ("clip",),
                        "sdxl_compel_prompt": ("clip", "clip2"), "flux_text_encoder": ("clip", "t5_encoder"),
                        "flux_denoise": ("transformer", "positive_text_conditioning"),
                        "flux_vae_decode": ("latents", "vae"), "flux2_klein_text_encoder": ("qwen3_encoder",),
                        "flux2_denoise": ("transformer", "positive_text_conditioning", "vae"),
                        "flux2_vae_decode": ("latents", "vae"), "i2l": ("vae",), "flux_vae_encode": ("vae",),
                        "flux2_vae_encode": ("vae",)}
ENCODERS = ("i2l", "flux_vae_encode", "flux2_vae_encode")  # their `image` must name an image the server has
# BaseModelType of 6.14.2: a model identifier with another base is a 422 (the enum is checked at enqueue).
BASES = ("any", "sd-1", "sd-2", "sd-3", "sdxl", "sdxl-refiner", "flux", "flux2", "cogview4", "z-image", "ernie-image",
         "ideogram-4", "external", "qwen-image", "anima", "krea-2", "wan", "unknown")
# Which bases each model loader runs, and how the real server's item fails with another (API.md §8).
LOADERS = {"main_model_loader": (("sd-1", "sd-2"), "TypeError", "argument of type 'NoneType' is not iterable"),
           "sdxl_model_loader": (("sdxl",), "ValueError",
                                 'The "SubModelType.TextEncoder2" submodel is not available for this model.'),
           "flux_model_loader": (("flux",), "ValueError", "Unexpected model base for the FLUX loader"),
           "flux2_klein_model_loader": (("flux2",), "ValueError", "Expected a FLUX.2 Klein model")}
OUTPUT_TYPES = ("l2i", "flux_vae_decode", "flux2_vae_decode")
FLUX_SCHEDULERS = ("euler", "heun", "lcm")
ITEM_FIELDS = ("item_id", "status", "status_sequence", "priority", "batch_id", "origin", "destination", "session_id",
               "error_type", "error_message", "error_traceback", "created_at", "updated_at", "started_at",
               "completed_at", "queue_id", "user_id", "user_display_name", "user_email", "field_values", "device")
UNFINISHED = ("pending", "in_progress", "waiting")
SYSTEM_USER = {"user_id": "system", "display_name": "System", "email": "system@system.invokeai"}
SPA_HTML = ('<!doctype html>\n<html lang="en"><head><meta charset="UTF-8" /><title>Invoke - Community Edition'
            '</title></head><body><div id="root"></div></body></html>\n')


class Logged(NamedTuple):
    method: str
    path: str  # with "?query" when there is one
    json: object  # the parsed JSON body, or None
    headers: dict  # Authorization, Content-Type, Accept, User-Agent when sent


class Invalid(Exception):
    """A FastAPI/Pydantic validation failure, answered 422 {"detail": errors}."""

    def __init__(self, *errors):
        super().__init__(errors)
        self.errors = list(errors)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _err(kind, loc, msg, value, ctx=None) -> dict:
    return {"type": kind, "loc": list(loc), "msg": msg, "input": value, **({"ctx": ctx} if ctx else {})}


def _value_error(loc, msg, value) -> Invalid:
    return Invalid(_err("value_error", loc, f"Value error, {msg}", value, {"error": {}}))


def _json(data, status=200, headers=None) -> Response:
    return Response(json.dumps(data), status=status, mimetype="application/json", headers=headers)


def _int(value, loc, errors, gt=None, ge=None, multiple_of=None):
    """Pydantic's int checks (integral floats and digit strings pass); appends errors, returns the int or None."""
    if isinstance(value, (float, str)) and str(value).removesuffix(".0").lstrip("-").isdigit():
        value = int(float(value))
    if isinstance(value, bool) or not isinstance(value, int):
        errors.append(_err("int_parsing", loc, "Input should be a valid integer", value))
    elif multiple_of and value % multiple_of:
        errors.append(_err("multiple_of", loc, f"Input should be a multiple of {multiple_of}", value,
                           {"multiple_of": multiple_of}))
    elif gt is not None and value <= gt:
        errors.append(_err("greater_than", loc, f"Input should be greater than {gt}", value, {"gt": gt}))
    elif ge is not None and value < ge:
        errors.append(_err("greater_than_equal", loc, f"Input should be greater than or equal to {ge}", value,
                           {"ge": ge}))
    else:
        return value
    return None


def _node(key, node, errors):
    """A node as the server echoes it (defaults filled, unknown fields dropped), its fields checked."""
    loc = ("body", "batch", "graph", "nodes", key)
    kind = node.get("type") if isinstance(node, dict) else None
    if kind not in SPECS:
        tags = ", ".join(f"'{t}'" for t in sorted(SPECS))
        errors.append(_err("union_tag_invalid", loc, f"Input tag '{kind}' found using 'type' does not match any of "
                           f"the expected tags: {tags}", node, {"discriminator": "'type'", "tag": kind,
                                                                "expected_tags": tags}))
        return None
    loc += (kind,)
    if "id" not in node:
        errors.append(_err("missing", loc + ("id",), "Field required", node))
    defaults, connections = SPECS[kind]
    fields = {k: v for k, v in node.items() if k not in ("id", "type", "is_intermediate", "use_cache")}
    if defaults is not None:
        fields = {**defaults, **{k: v for k, v in fields.items() if k in defaults or k in connections}}
    if kind == "noise":
        seed = _int(fields["seed"], loc + ("seed",), errors, ge=0)
        fields["seed"] = fields["seed"] if seed is None else seed % 2**32
        for name in ("width", "height"):
            _int(fields[name], loc + (name,), errors, gt=0, multiple_of=8)
    elif kind == "denoise_latents":
        _int(fields["steps"], loc + ("steps",), errors, gt=0)
        scales = fields["cfg_scale"] if isinstance(fields["cfg_scale"], list) else [fields["cfg_scale"]]
        if any(not isinstance(s, (int, float)) or s < 1 for s in scales):
            errors.append(_err("value_error", loc + ("cfg_scale",), "Value error, cfg_scale must be greater than 1",
                               fields["cfg_scale"], {"error": {}}))
        if fields["scheduler"] not in SCHEDULERS:
            expected = ", ".join(f"'{s}'" for s in SCHEDULERS[:-1]) + f" or '{SCHEDULERS[-1]}'"
            errors.append(_err("literal_error", loc + ("scheduler",), f"Input should be {expected}",
                               fields["scheduler"], {"expected": expected}))
    elif kind in ("flux_denoise", "flux2_denoise"):
        for name in ("width", "height"):
            _int(fields[name], loc + (name,), errors, multiple_of=16)
        _int(fields["num_steps"], loc + ("num_steps",), errors)
        if fields["scheduler"] not in FLUX_SCHEDULERS:
            errors.append(_err("literal_error", loc + ("scheduler",), "Input should be 'euler', 'heun' or 'lcm'",
                               fields["scheduler"], {"expected": "'euler', 'heun' or 'lcm'"}))
    elif kind == "clip_skip":
        _int(fields["skipped_layers"], loc + ("skipped_layers",), errors, ge=0)
    elif kind == "compel" and isinstance(fields["prompt"], (int, float)):
        fields["prompt"] = str(fields["prompt"])
    for field, model in fields.items():
        if (kind in LOADERS or kind == "core_metadata") and field.endswith("model") and isinstance(model, dict):
            errors.extend(_err("missing", loc + (field, name), "Field required", model)
                          for name in ("key", "hash", "name", "base", "type") if name not in model)
            if "base" in model and model["base"] not in BASES:
                expected = ", ".join(f"'{b}'" for b in BASES)
                errors.append(_err("enum", loc + (field, "base"), f"Input should be {expected}", model["base"],
                                   {"expected": expected}))
    fields = {k: v for k, v in fields.items() if v is not None}
    return {"id": node.get("id"), "is_intermediate": node.get("is_intermediate", False),
            "use_cache": node.get("use_cache", True), **fields, "type": kind}


def _validate_batch(body):
    """-> (the batch as echoed back, one tuple of (node, field, value) substitutions per queue item)."""
    if not isinstance(body, dict) or not isinstance(body.get("batch"), dict):
        raise Invalid(_err("missing", ("body", "batch"), "Field required", body))
    batch, errors = body["batch"], []
    graph = batch.get("graph")
    if not isinstance(graph, dict) or not isinstance(graph.get("nodes", {}), dict) \
            or not isinstance(graph.get("edges", []), list):
        errors.append(_err("missing", ("body", "batch", "graph"), "Field required", batch))
        graph = {}
    runs = _int(batch.get("runs", 1), ("body", "batch", "runs"), errors, ge=1)
    nodes = {key: _node(key, node, errors) for key, node in graph.get("nodes", {}).items()}
    edges = graph.get("edges", [])
    for i, edge in enumerate(edges):
        for end in ("source", "destination"):
            part = edge.get(end) if isinstance(edge, dict) else None
            if not isinstance(part, dict) or not all(isinstance(part.get(f), str) for f in ("node_id", "field")):
                errors.append(_err("missing", ("body", "batch", "graph", "edges", i, end), "Field required", part))
    data = batch.get("data") or []
    if not all(isinstance(g, list) and all(isinstance(d, dict) and isinstance(d.get("node_path"), str) and
                                           isinstance(d.get("field_name"), str) and isinstance(d.get("items"), list)
                                           for d in g) for g in data):
        errors.append(_err("list_type", ("body", "batch", "data"), "Input should be a valid list", data))
    if errors:
        raise Invalid(*errors)
    loc = ("body", "batch", "graph")  # Graph.validate_self, then the Batch validators
    for key, node in nodes.items():
        if key != node["id"]:
            raise _value_error(loc, f"Node ids must match, got {key} and {node['id']}", graph)
    for edge in edges:
        for end in ("source", "destination"):
            if edge[end]["node_id"] not in nodes:
                raise _value_error(loc, f"Edge {end} node {edge[end]['node_id']} does not exist in the graph", graph)
    for group in data:
        if len({len(d["items"]) for d in group}) > 1:
            raise _value_error(("body", "batch", "data"), "Zipped batch items must all have the same length", data)
    pairs = [(d["node_path"], d["field_name"]) for group in data for d in group]
    if len(pairs) != len(set(pairs)):
        raise _value_error(("body", "batch", "data"), "Each batch data must have unique node_id and field_name", data)
    for path, field in pairs:
        if path not in nodes:
            raise _value_error(("body", "batch"), f"Node {path} not found in graph", batch)
        defaults, connections = SPECS[nodes[path]["type"]]
        if defaults is not None and field not in defaults and field not in connections:
            raise _value_error(("body", "batch"), f"Field {field} not found in node {path}", batch)
    # zipped inside a group, cartesian product across groups, the whole repeated `runs` times
    zipped = [list(zip(*[[(d["node_path"], d["field_name"], v) for v in d["items"]] for d in g])) for g in data]
    combos = [sum(combo, ()) for combo in itertools.product(*zipped)] * runs
    echoed = {"batch_id": batch.get("batch_id") or str(uuid.uuid4()), "origin": batch.get("origin"),
              "destination": batch.get("destination"), "data": batch.get("data"),
              "graph": {"id": graph.get("id") or str(uuid.uuid4()), "nodes": nodes, "edges": edges},
              "workflow": batch.get("workflow"), "runs": runs}
    return echoed, combos


def _model(key, name, base, kind="main", fmt="diffusers", variant="normal"):
    record = {"key": key, "hash": "blake3:" + hashlib.sha256(name.encode()).hexdigest(), "name": name, "base": base,
              "type": kind, "format": fmt, "path": f"{base}/{kind}/{name}", "file_size": 17165979,
              "description": f"{name} ({base} {kind})", "source": f"/srv/models/{name}", "source_type": "path",
              "source_api_response": None, "source_url": None, "cover_image": None}
    if kind in ("vae", "t5_encoder", "clip_embed"):
        return {**record, "repo_variant": "", "cpu_only": None}
    size = {"sd-2": 768, "sd-1": 512}.get(base, 1024)
    if base in ("flux", "flux2"):  # FLUX records have no prediction_type; their variant is their own kind
        return {**record, "variant": variant, "trigger_phrases": None, "repo_variant": "",
                "default_settings": {"vae": None, "vae_precision": None, "scheduler": None, "steps": None,
                                     "cfg_scale": None, "cfg_rescale_multiplier": None, "width": size, "height": size,
                                     "guidance": None, "cpu_only": None, "fp8_storage": None}}
    return {**record, "variant": variant, "prediction_type": "epsilon", "trigger_phrases": None,
            **({"config_path": None} if fmt == "checkpoint" else {"repo_variant": ""}),
            "default_settings": {"vae": None, "vae_precision": None, "scheduler": None, "steps": None,
                                 "cfg_scale": None, "cfg_rescale_multiplier": None, "width": size, "height": size,
                                 "guidance": None, "cpu_only": None, "fp8_storage": None}}


def _png(seed, width, height, metadata, graph) -> bytes:
    """A real PNG coloured by the seed, with InvokeAI's text chunks."""
    base = ((seed * 97) % 256, (seed * 57 + 85) % 256, (seed * 29 + 170) % 256)
    image = Image.new("RGB", (width, height), base)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, width // 2 - 1, height // 2 - 1), fill=tuple(255 - c for c in base))
    draw.line((0, height - 1, width - 1, 0), fill=(seed % 256, 255 - seed % 256, 128), width=max(1, width // 16))
    info = PngInfo()
    if metadata is not None:
        info.add_text("invokeai_metadata", json.dumps(metadata))
    info.add_text("invokeai_graph", json.dumps(graph))
    buffer = io.BytesIO()
    image.save(buffer, "PNG", pnginfo=info)
    return buffer.getvalue()


class _RequestReader:
    """The connection's input. Werkzeug, after each answer, reads whatever the socket holds to discard an
    unread body; on a kept-alive connection that would swallow the client's next request. Once the fake
    has read the whole body (`body_read`), there is nothing to discard: reads answer b"" until the next
    request begins."""

    def __init__(self, raw):
        self.raw, self.body_read = raw, False

    def read(self, *args):
        return b"" if self.body_read else self.raw.read(*args)

    def __getattr__(self, name):
        return getattr(self.raw, name)


class _QuietHandler(WSGIRequestHandler):
    """HTTP/1.1 with keep-alive, as uvicorn serves InvokeAI: a connection stays open between requests and is
    closed after `idle_seconds` without one (uvicorn's 5 s), and by stop() (a server shutting down). Werkzeug
    closes every connection after one answer; the fake reads each request's whole body, so the next request
    line is where the stream stands and keep-alive is safe."""

    protocol_version = "HTTP/1.1"

    def setup(self):
        fake = self.server.app
        self.timeout = fake.idle_seconds  # also how long a send to a client that stopped reading may take
        super().setup()
        self.rfile = _RequestReader(self.rfile)
        with fake.lock:
            fake.connections.add(self.client_address[1])
            fake._open_sockets.add(self.connection)  # noqa: SLF001

    def handle_one_request(self):
        self.rfile.body_read = False  # a new request line and body to read
        super().handle_one_request()

    def make_environ(self):
        environ = super().make_environ()
        environ["fake.reader"] = self.rfile  # the fake marks the body read once it has it all
        return environ

    def finish(self):
        with self.server.app.lock:
            self.server.app._open_sockets.discard(self.connection)  # noqa: SLF001
        super().finish()

    def send_header(self, keyword, value):
        if keyword.lower() == "connection" and value.lower() == "close" and self.server.app.keep_alive:
            return  # werkzeug's blanket "close"; a client's own "Connection: close" still closes
        super().send_header(keyword, value)

    def log_request(self, *args, **kwargs):
        pass


class FakeInvokeAI:
    def __init__(self):
        self.lock = threading.RLock()
        self.version = VERSION
        self.models = [_model(TINY_SD15, "tiny-sd15", "sd-1"),
                       _model("5b1c1d0e-6f6a-4d7e-9c62-3b9d2f0c7a11", "dreamshaper-8", "sd-1", fmt="checkpoint"),
                       _model("9e7f2c4a-1b3d-4e5f-8a6b-7c8d9e0f1a2b", "sd-2-1-base", "sd-2"),
                       _model(SDXL, "sdxl-base-1.0", "sdxl"),
                       _model("0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0", "sd-vae-ft-mse", "sd-1", kind="vae"),
                       _model("7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d", "sdxl-refiner-1.0", "sdxl-refiner"),
                       _model(FLUX_DEV, "flux1-dev", "flux", fmt="checkpoint", variant="dev"),
                       _model("2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e", "flux1-fill-dev", "flux", fmt="checkpoint",
                              variant="dev_fill"),
                       _model(FLUX2_KLEIN, "flux2-klein-4b", "flux2", variant="klein_4b"),
                       _model("4d5e6f7a-8b9c-4d0e-8f1a-2b3c4d5e6f7a", "flux2-klein-9b-gguf", "flux2",
                              fmt="gguf_quantized", variant="klein_9b"),
                       _model("5e6f7a8b-9c0d-4e1f-9a2b-3c4d5e6f7a8b", "t5-xxl-bf16", "any", kind="t5_encoder"),
                       _model("6f7a8b9c-0d1e-4f2a-8b3c-4d5e6f7a8b9c", "clip-vit-l", "any", kind="clip_embed"),
                       _model("8b9c0d1e-2f3a-4b4c-9d5e-6f7a8b9c0d1e", "flux-vae", "flux", kind="vae")]
        self.items: dict[int, dict] = {}  # item_id -> the item's JSON fields plus private "_" keys
        self.images: dict[str, dict] = {}  # image_name -> {"png", "width", "height", "metadata", ...}
        self.steps_to_finish = 2
        self.fail_seeds: set[int] = set()
        self.max_queue_size = 10000
        self.break_downloads = 0
        self.silent_seconds = 30.0
        self.multiuser = False
        self.users = {"artist@example.com": "paint-by-numbers"}
        self.tokens: dict[str, dict] = {}  # token -> user
        self.requests: list[Logged] = []
        self.uploads: list[str] = []  # names of the images uploaded, in order
        self.errors: list[str] = []
        self.url = None
        self._fault = None
        self._next_id = 1
        self._stop = threading.Event()
        self.running = False
        self.keep_alive = True
        self.idle_seconds = 5.0
        self.connections: set[int] = set()  # client ports seen: one per TCP connection the gallery opened
        self._open_sockets: set = set()
        self.gzip_min_bytes = 1000  # InvokeAI's GZipMiddleware(minimum_size=1000)
        self.gzipped = 0  # answers sent gzip-encoded
        self._active = 0  # requests being answered
        self._server = self._thread = None
        q, i = "/api/v1/queue/<queue_id>", "/api/v1/images/i/<image_name>"
        self._map = Map([Rule(path, endpoint=endpoint, methods=[method]) for method, path, endpoint in (
            ("GET", "/api/v1/app/version", "version"), ("GET", "/api/v1/auth/status", "auth_status"),
            ("POST", "/api/v1/auth/login", "login"), ("GET", "/api/v2/models/", "models"),
            ("POST", f"{q}/enqueue_batch", "enqueue"), ("GET", f"{q}/i/<item_id>", "item"),
            ("PUT", f"{q}/i/<item_id>/cancel", "item"), ("PUT", f"{q}/cancel_by_batch_ids", "cancel_batches"),
            ("GET", f"{q}/b/<batch_id>/status", "batch_status"), ("GET", f"{q}/list_all", "list_all"), ("GET", f"{q}/status", "queue_status"),
            ("PUT", f"{q}/prune", "prune"), ("PUT", f"{q}/clear", "clear"),
            ("GET", "/api/v1/images/", "images"), ("POST", "/api/v1/images/upload", "upload"), ("GET", i, "image_dto"), ("GET", f"{i}/full", "image_full"),
            ("GET", f"{i}/metadata", "image_metadata"))])

    # ---- for tests
    @property
    def fault(self):
        return self._fault

    @fault.setter
    def fault(self, value):
        if value is not None and value not in FAULTS:
            raise ValueError(f"unknown fault {value!r}; expected None or one of {FAULTS}")
        self._fault = value

    def start(self, port: int = 0) -> "FakeInvokeAI":
        """Serve on `port` (0: a free one); after stop(), start(same port) is the server back, state kept."""
        self._stop.clear()
        self._server = make_server("127.0.0.1", port, self, threaded=True, request_handler=_QuietHandler)
        self.url = f"http://127.0.0.1:{self._server.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-invokeai", daemon=True)
        self._thread.start()
        self.running = True
        return self

    def stop(self) -> None:
        self.running = False
        self._stop.set()  # wakes silent handlers and ends oversized bodies
        self._server.shutdown()
        self._server.server_close()
        with self.lock:  # kept-alive connections end with the server, as uvicorn's do at shutdown
            for connection in list(self._open_sockets):
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        self._thread.join(timeout=5)
        deadline = time.monotonic() + 2
        while self._active and time.monotonic() < deadline:
            time.sleep(0.01)

    def restart(self) -> None:
        """The server back where it was after stop(): same URL, same queue and images."""
        self.start(self._server.port)

    def advance(self, ticks: int = 1) -> None:
        with self.lock:
            for _ in range(ticks):
                self._tick()

    def item(self, item_id: int) -> dict:
        """The item as GET .../i/{item_id} shows it, without a tick."""
        with self.lock:
            return self._item_json(self.items[item_id])

    def count(self, method: str, path: str) -> int:
        with self.lock:
            return sum(r.method == method and r.path.split("?")[0] == path for r in self.requests)

    def enqueued_batches(self) -> list[dict]:
        """The `batch` of every enqueue request received, in order."""
        with self.lock:
            return [r.json["batch"] for r in self.requests if r.method == "POST" and r.path == ENQUEUE]

    def downloads(self, image_name: str) -> int:
        """How many times the image's full PNG was asked for."""
        return self.count("GET", f"/api/v1/images/i/{image_name}/full")

    def batch_statuses(self, batch_id: str) -> list[str]:
        """The statuses of a batch's queue items, in item order."""
        with self.lock:
            return [item["status"] for item in self.items.values() if item["batch_id"] == batch_id]

    def reset(self) -> None:
        """InvokeAI's database wiped (or the URL now names another server): no items, no images, ids from 1."""
        with self.lock:
            self.items.clear()
            self.images.clear()
            self._next_id = 1

    def expire_tokens(self) -> None:
        with self.lock:
            self.tokens.clear()

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Return once no request is being answered (a held enqueue has been handled to its end)."""
        deadline = time.monotonic() + timeout
        while self._active and time.monotonic() < deadline:
            time.sleep(0.01)
        if self._active:
            raise AssertionError(f"the fake InvokeAI is still answering {self._active} request(s)")

    # ---- WSGI
    def __call__(self, environ, start_response):
        with self.lock:
            self._active += 1
        try:
            request = Request(environ)
            response = self._gzip(request, self._handle(request))
        except Exception:
            self.errors.append(traceback.format_exc())
            response = _json({"detail": "Unexpected error while handling the request: bug in the fake"}, 500)
        return ClosingIterator(response(environ, start_response), self._request_done)

    def _gzip(self, request: Request, response: Response) -> Response:
        """gzip, as InvokeAI's GZipMiddleware: any answer of gzip_min_bytes or more to a client that accepts
        it (JSON, and whole images alike); streamed answers (faults) are left as they are."""
        if response.direct_passthrough or response.is_streamed or "Content-Encoding" in response.headers:
            return response
        if "gzip" not in request.headers.get("Accept-Encoding", "") or self.gzip_min_bytes is None:
            return response
        data = response.get_data()
        if len(data) < self.gzip_min_bytes:
            return response
        response.set_data(gzip.compress(data, compresslevel=5))
        response.headers["Content-Encoding"] = "gzip"
        response.headers["Vary"] = "Accept-Encoding"
        with self.lock:
            self.gzipped += 1
        return response

    def _request_done(self):
        with self.lock:
            self._active -= 1

    def _handle(self, request: Request) -> Response:
        data = request.get_data(cache=True)
        if "fake.reader" in request.environ:
            request.environ["fake.reader"].body_read = True
        try:
            body = json.loads(data or b"null")
        except ValueError:
            body = None
        query = request.query_string.decode("latin-1")
        headers = {k: request.headers[k] for k in ("Authorization", "Content-Type", "Accept", "User-Agent")
                   if k in request.headers}
        with self.lock:
            self.requests.append(Logged(request.method, request.path + (f"?{query}" if query else ""), body, headers))
        fault = self.fault if request.path.startswith("/api/") else None
        if fault == "500":
            return _json({"detail": f"Unexpected error while handling {request.method} {request.path}: boom"}, 500)
        if fault == "html":
            return Response(SPA_HTML.replace("Invoke - Community Edition", "Sign in"), mimetype="text/html")
        if fault == "invalid_json":
            return Response('{"queue_id": "default", "item_id": 1, "status": "compl', mimetype="application/json")
        if fault == "redirect":
            return Response("", 302, headers={"Location": f"{self.url}/elsewhere"})
        if fault == "silent" and not self._hold("silent"):
            return Response("", 503)
        try:
            endpoint, args = self._map.bind_to_environ(request.environ).match()
        except (NotFound, RequestRedirect):  # the web UI's SPA fallback answers any other GET
            return Response(SPA_HTML, mimetype="text/html") if request.method in ("GET", "HEAD") else \
                _json({"detail": "Not Found"}, 404)
        except MethodNotAllowed:
            return _json({"detail": "Method Not Allowed"}, 405)
        if self.multiuser and endpoint not in ("version", "auth_status", "login"):
            scheme, _, token = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not token or token not in self.tokens:
                detail = "Invalid or expired authentication token" if scheme.lower() == "bearer" and token \
                    else "Missing authentication credentials"
                return _json({"detail": detail}, 401, {"WWW-Authenticate": "Bearer"})
            request.user = self.tokens[token]
        if args.get("queue_id", "default") != "default":
            return _json({"detail": f"Queue item with id {args['item_id']} not found in queue {args['queue_id']}"
                          if "item_id" in args else f"Queue {args['queue_id']} not found"}, 404)
        if endpoint == "enqueue" and fault == "late_accept" and not self._hold("late_accept"):
            return Response("", 503)
        try:
            response = getattr(self, f"_ep_{endpoint}")(request, body, **args)
        except Invalid as invalid:
            return _json({"detail": invalid.errors}, 422)
        if endpoint == "enqueue" and fault == "late_answer" and not self._hold("late_answer"):
            return Response("", 503)
        return response

    def _hold(self, fault: str) -> bool:
        """Wait while `fault` stays set, at most silent_seconds; False if the server stopped meanwhile."""
        deadline = time.monotonic() + self.silent_seconds
        while self.fault == fault and time.monotonic() < deadline and not self._stop.wait(0.05):
            pass
        return not self._stop.is_set()

    # ---- queue processing (call with the lock held)
    def _tick(self):
        head = next((i for i in self.items.values() if i["status"] == "in_progress"), None) or min(
            (i for i in self.items.values() if i["status"] == "pending"),
            key=lambda i: (-i["priority"], i["item_id"]), default=None)
        if head is None:
            return
        head["_ticks"] += 1
        if head["_ticks"] > self.steps_to_finish:
            self._finish(head)
        elif head["_ticks"] >= 2 and head["status"] == "pending":
            self._set_status(head, "in_progress")

    def _set_status(self, item, status):
        if status == "canceled" and item["status"] == "in_progress":
            self._partial_results(item)
        now = _now()
        item.update(status=status, updated_at=now, status_sequence=item["status_sequence"] + 1)
        if item.get("started_at") is None and status != "canceled":
            item.update(started_at=now, device="cpu")
        if status not in UNFINISHED:
            item["completed_at"] = now

    def _failure(self, item):
        """(error_type, error_message, failing node) if the item must fail, else None."""
        nodes, edges = item["_graph"]["nodes"], item["_graph"]["edges"]
        connected = {(e["destination"]["node_id"], e["destination"]["field"]) for e in edges}
        installed = {m["key"]: m for m in self.models}
        for key, node in nodes.items():
            if node["type"] in LOADERS and "model" not in node and (key, "model") not in connected:
                return ("MissingInputException", f"Node {node['type']} missing value or connection for field model",
                        key)
            if node["type"] in LOADERS and node.get("model", {}).get("key") not in installed.keys() | {None}:
                return "Exception", f"Unknown model {node['model']['key']}", key
            if node["type"] in LOADERS and node.get("model"):
                bases, kind, message = LOADERS[node["type"]]
                if installed[node["model"]["key"]]["base"] not in bases:
                    return kind, message, key
            for field in REQUIRED_CONNECTIONS.get(node["type"], ()):
                if (key, field) not in connected and field not in node:
                    message = f"Node {node['type']} missing connections for field {field}"
                    return "RequiredConnectionException", message, key
        for key, node in nodes.items():
            name = (node.get("image") or {}).get("image_name") if node["type"] in ENCODERS else None
            if node["type"] in ENCODERS and name not in self.images:
                return "ImageFileNotFoundException", f"Image {name} not found", key
        denoise = next((k for k, n in nodes.items() if n["type"] in ("denoise_latents", "flux_denoise",
                                                                     "flux2_denoise")), None)
        if item["_seed"] in self.fail_seeds:
            return "Exception", "Unknown model does-not-exist", denoise
        if self.fault == "item_fails":
            return "OutOfMemoryError", "CUDA out of memory. Tried to allocate 2.00 GiB", denoise
        return None

    def _finish(self, item):
        graph, prepared = item["_graph"], item["_prepared"]
        failure = self._failure(item)
        if failure:
            kind, message, node = failure
            trace = ("Traceback (most recent call last):\n  File \"/opt/invokeai/invokeai/app/services/session_"
                     "processor/session_processor_default.py\", line 129, in run_node\n    output = invocation."
                     f"invoke_internal(context=context, services=self._services)\n{kind}: {message}\n")
            item.update(error_type=kind, error_message=message, error_traceback=trace,
                        _errors={prepared[node]: trace} if node else {})
            return self._set_status(item, "failed")
        noise = next((n for n in graph["nodes"].values() if n["type"] in ("noise", "flux_denoise", "flux2_denoise")),
                     {})
        size = {"width": noise.get("width", 512), "height": noise.get("height", 512)}
        metadata_from = {e["destination"]["node_id"]: e["source"]["node_id"] for e in graph["edges"]
                         if e["destination"]["field"] == "metadata"}
        for key, node in graph["nodes"].items():
            result = {"type": f"{node['type']}_output"}
            if node["type"] in OUTPUT_TYPES:
                source = graph["nodes"].get(metadata_from.get(key), {})
                metadata = self._metadata(source) if source.get("type") == "core_metadata" else None
                name = f"{uuid.uuid4()}.png"
                self.images[name] = {**size, "png": _png(item["_seed"], *size.values(), metadata, graph),
                                     "metadata": metadata, "node_id": prepared[key], "created_at": _now(),
                                     "session_id": item["session_id"], "is_intermediate": node["is_intermediate"],
                                     "board_id": (node.get("board") or {}).get("board_id")}
                result = {"image": {"image_name": name}, **size, "type": "image_output"}
            elif node["type"] in ("denoise_latents", "flux_denoise", "flux2_denoise"):
                result = {"latents": {"latents_name": f"Tensor_{uuid.uuid4()}"}, **size, "type": "latents_output"}
            elif node["type"] == "noise":
                result = {"noise": {"latents_name": f"Tensor_{uuid.uuid4()}", "seed": item["_seed"]}, **size,
                          "type": "noise_output"}
            elif node["type"] == "core_metadata":
                result = {"metadata": self._metadata(node), "type": "metadata_output"}
            item["_results"][prepared[key]] = result
        self._set_status(item, "completed")

    def _partial_results(self, item):
        """A running item canceled keeps, as InvokeAI's does, the results of the nodes that ran before the
        cancel (noise, denoise latents, metadata), never its output image: nothing to download."""
        graph, prepared = item["_graph"], item["_prepared"]
        for key, node in graph["nodes"].items():
            if node["type"] == "noise":
                item["_results"][prepared[key]] = {"noise": {"latents_name": f"Tensor_{uuid.uuid4()}",
                                                             "seed": item["_seed"]}, "type": "noise_output"}
            elif node["type"] in ("denoise_latents", "flux_denoise", "flux2_denoise"):
                item["_results"][prepared[key]] = {"latents": {"latents_name": f"Tensor_{uuid.uuid4()}"},
                                                   "type": "latents_output"}

    def _metadata(self, node):
        kept = {k: v for k, v in node.items() if k not in ("id", "type", "is_intermediate", "use_cache")}
        return {**kept, "app_version": self.version}

    def _item_json(self, item):
        graph = item["_graph"]
        prepared = item["_prepared"] if item.get("started_at") else {}  # prepared once it runs
        done = item["status"] == "completed"
        edges = [{end: {"node_id": prepared[e[end]["node_id"]], "field": e[end]["field"]}
                  for end in ("source", "destination")} for e in graph["edges"]] if prepared else []
        session = {
            "id": item["session_id"], "graph": graph,
            "execution_graph": {"id": item["_execution_graph_id"], "edges": edges,
                                "nodes": {p: {**graph["nodes"][k], "id": p} for k, p in prepared.items()}},
            "executed": [*prepared.values(), *prepared] if done else [],
            "executed_history": list(prepared) if done else [], "results": item["_results"],
            "errors": item["_errors"], "workflow_call_stack": [], "workflow_call_history": [],
            "max_workflow_call_depth": 4, "prepared_source_mapping": {p: k for k, p in prepared.items()},
            "source_prepared_mapping": {k: [p] for k, p in prepared.items()},
            "prepared_iteration_paths": {p: [] for p in prepared.values()}, "ready_order": [],
            "indegree": {p: 0 for p in prepared.values()}}
        return {**{k: item[k] for k in ITEM_FIELDS if item.get(k) is not None}, "session": session}

    def _counts(self, items):
        statuses = [i["status"] for i in items]
        return {**{s: statuses.count(s) for s in (*UNFINISHED, "completed", "failed", "canceled")},
                "total": len(statuses)}

    # ---- endpoints: (request, parsed JSON body, **path values) -> Response
    def _ep_version(self, request, body):
        return _json({"version": self.version})

    def _ep_auth_status(self, request, body):
        return _json({"setup_required": False, "multiuser_enabled": self.multiuser,
                      "strict_password_checking": False, "admin_email": None})

    def _ep_login(self, request, body):
        if not self.multiuser:
            return _json({"detail": "Multiuser mode is disabled. Authentication is not required in single-user "
                                    "mode."}, 403)
        missing = [f for f in ("email", "password") if not isinstance(body, dict) or f not in body]
        if missing:
            raise Invalid(*(_err("missing", ("body", f), "Field required", body) for f in missing))
        if self.users.get(body["email"]) != body["password"]:
            return _json({"detail": "Incorrect email or password"}, 401, {"WWW-Authenticate": "Bearer"})
        now = datetime.now(timezone.utc).isoformat()
        user = {"user_id": str(uuid.uuid5(uuid.NAMESPACE_URL, body["email"])), "email": body["email"],
                "display_name": body["email"].split("@")[0], "is_admin": False, "is_active": True,
                "created_at": "2026-11-01T09:00:00+00:00", "updated_at": now, "last_login_at": now, "token_epoch": 0}
        token = f"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.{secrets.token_urlsafe(48)}.{secrets.token_urlsafe(32)}"
        with self.lock:
            self.tokens[token] = user
        return _json({"token": token, "user": user, "expires_in": 604800 if body.get("remember_me") else 86400})

    def _ep_models(self, request, body):
        bases = request.args.getlist("base_models")
        wanted = {"type": request.args.get("model_type"), "name": request.args.get("model_name"),
                  "format": request.args.get("model_format")}
        models = [m for m in self.models if (not bases or m["base"] in bases)
                  and all(v is None or m[k] == v for k, v in wanted.items())]
        return _json({"models": sorted(models, key=lambda m: m["name"])})

    def _ep_enqueue(self, request, body, queue_id):
        if body is None and request.get_data():
            raise Invalid(_err("json_invalid", ("body", 0), "JSON decode error", {}, {"error": "Expecting value"}))
        batch, combos = _validate_batch(body)
        user = getattr(request, "user", SYSTEM_USER)
        with self.lock:
            pending = [i["priority"] for i in self.items.values() if i["status"] == "pending"]
            priority = max(pending, default=0) + 1 if body.get("prepend") is True else 0
            item_ids = []
            room = max(0, self.max_queue_size - sum(i["status"] == "pending" for i in self.items.values()))
            for combo in combos[:room]:  # made in data order up to the room left; the answer lists them reversed
                graph = copy.deepcopy(batch["graph"])
                for node_path, field_name, value in combo:
                    graph["nodes"][node_path][field_name] = value
                noise = next((n for n in graph["nodes"].values()
                              if n["type"] in ("noise", "flux_denoise", "flux2_denoise")), {})
                item_id, now = self._next_id, _now()
                self._next_id += 1
                self.items[item_id] = {
                    "item_id": item_id, "status": "pending", "status_sequence": 0, "priority": priority,
                    "batch_id": batch["batch_id"], "origin": batch["origin"], "destination": batch["destination"],
                    "session_id": str(uuid.uuid4()), "created_at": now, "updated_at": now, "queue_id": "default",
                    "user_id": user["user_id"], "user_display_name": user["display_name"],
                    "user_email": user["email"],
                    "field_values": [{"node_path": n, "field_name": f, "value": v} for n, f, v in combo],
                    "_graph": graph, "_prepared": {key: str(uuid.uuid4()) for key in graph["nodes"]},
                    "_execution_graph_id": str(uuid.uuid4()), "_seed": noise.get("seed", 0), "_ticks": 0,
                    "_results": {}, "_errors": {}}
                item_ids.append(item_id)
        return _json({"queue_id": "default", "enqueued": len(item_ids), "requested": len(combos),
                      "priority": priority, "item_ids": item_ids[::-1], "batch": batch})

    def _ep_item(self, request, body, queue_id, item_id):
        if not item_id.lstrip("-").isdigit():
            raise Invalid(_err("int_parsing", ("path", "item_id"), "Input should be a valid integer, unable to "
                               "parse string as an integer", item_id))
        with self.lock:
            item = self.items.get(int(item_id))
            if item is None:
                return _json({"detail": f"Queue item with id {item_id} not found in queue default"}, 404)
            if request.method == "PUT" and item["status"] in UNFINISHED:  # .../i/{item_id}/cancel
                self._set_status(item, "canceled")
            elif request.method != "PUT":
                self._tick()
            return _json(self._item_json(item))

    def _ep_cancel_batches(self, request, body, queue_id):
        if not isinstance(body, dict) or not isinstance(body.get("batch_ids"), list):
            raise Invalid(_err("missing", ("body", "batch_ids"), "Field required", body))
        with self.lock:
            doomed = [i for i in self.items.values()
                      if i["batch_id"] in body["batch_ids"] and i["status"] in UNFINISHED]
            for item in doomed:
                self._set_status(item, "canceled")
        return _json({"canceled": len(doomed)})

    def _ep_batch_status(self, request, body, queue_id, batch_id):
        with self.lock:
            self._tick()
            items = [i for i in self.items.values() if i["batch_id"] == batch_id]
            first = items[0] if items else {}
            return _json({"queue_id": "default", "batch_id": batch_id, "origin": first.get("origin"),
                          "destination": first.get("destination"), **self._counts(items)})

    def _ep_list_all(self, request, body, queue_id):
        """Every item (whole, session included), of one destination when given, as 6.14.2's list_all."""
        destination = request.args.get("destination")
        with self.lock:
            return _json([self._item_json(i) for i in self.items.values()
                          if destination is None or i.get("destination") == destination])

    def _ep_queue_status(self, request, body, queue_id):
        with self.lock:
            self._tick()
            current = next((i for i in self.items.values() if i["status"] == "in_progress"), {})
            queue = {"queue_id": "default", **{k: current.get(k) for k in ("item_id", "batch_id", "session_id")},
                     **self._counts(self.items.values()), "user_pending": None, "user_in_progress": None}
            return _json({"queue": queue, "processor": {"is_started": True, "is_processing": bool(current)}})

    def _ep_prune(self, request, body, queue_id):
        with self.lock:
            finished = [i for i, item in self.items.items() if item["status"] not in UNFINISHED]
            for item_id in finished:
                del self.items[item_id]
        return _json({"deleted": len(finished)})

    def _ep_clear(self, request, body, queue_id):
        with self.lock:
            deleted = len(self.items)
            self.items.clear()
        return _json({"deleted": deleted})

    def _ep_images(self, request, body):
        limit, offset = int(request.args.get("limit", 10)), int(request.args.get("offset", 0))
        intermediate = {"true": True, "false": False}.get(request.args.get("is_intermediate", ""))
        with self.lock:
            names = [name for name, image in self.images.items()
                     if intermediate is None or image["is_intermediate"] is intermediate]
        if request.args.get("order_dir", "DESC") == "DESC":
            names.reverse()  # made in order: the newest last
        return _json({"limit": limit, "offset": offset, "total": len(names),
                      "items": [self._dto(name, self.images[name]) for name in names[offset:offset + limit]]})

    def _ep_upload(self, request, body):
        """POST /api/v1/images/upload: multipart `file`, query image_category and is_intermediate (required)."""
        missing = [name for name in ("image_category", "is_intermediate") if name not in request.args]
        if "file" not in request.files:
            missing.append("file")
        if missing:
            raise Invalid(*(_err("missing", ("body" if n == "file" else "query", n), "Field required", None)
                            for n in missing))
        upload = request.files["file"]
        content, mime_type = upload.read(), upload.mimetype
        upload.close()  # its spooled temp file, closed now rather than by the collector
        try:
            with Image.open(io.BytesIO(content)) as opened:
                opened.load()
                width, height = opened.size
        except Exception:
            return _json({"detail": "Failed to create image"}, 415)
        name = f"{uuid.uuid4()}.png"  # InvokeAI stores every upload as a PNG under a name of its own
        with self.lock:
            self.images[name] = {"width": width, "height": height, "png": content, "metadata": None,
                                 "node_id": None, "created_at": _now(), "session_id": None,
                                 "is_intermediate": request.args["is_intermediate"] == "true", "board_id": None,
                                 "category": request.args["image_category"], "upload_type": mime_type}
            self.uploads.append(name)
        return _json({**self._dto(name, self.images[name]), "image_origin": "internal",
                      "image_category": request.args["image_category"]}, 201)

    def _ep_image_dto(self, request, body, image_name):
        image = self.images.get(image_name)
        if image is None:
            return _json({"detail": "Not Found"}, 404)
        return _json(self._dto(image_name, image))

    @staticmethod
    def _dto(image_name, image):
        return {"image_name": image_name, "image_url": f"api/v1/images/i/{image_name}/full",
                "thumbnail_url": f"api/v1/images/i/{image_name}/thumbnail", "image_origin": "internal",
                "image_category": "general", "width": image["width"], "height": image["height"],
                "created_at": image["created_at"], "updated_at": image["created_at"], "deleted_at": None,
                "is_intermediate": image["is_intermediate"], "session_id": image["session_id"],
                "node_id": image["node_id"], "starred": False, "has_workflow": True, "image_subfolder": "",
                "board_id": image["board_id"]}

    def _ep_image_metadata(self, request, body, image_name):
        image = self.images.get(image_name)
        return _json(image["metadata"]) if image else _json({"detail": "Not Found"}, 404)

    def _ep_image_full(self, request, body, image_name):
        image = self.images.get(image_name)
        if image is None:
            return _json({"detail": "Not Found"}, 404)
        png, headers = image["png"], {"Content-Disposition": f'inline; filename="{image_name}"',
                                      "Cache-Control": "max-age=31536000"}
        with self.lock:
            broken, self.break_downloads = self.break_downloads > 0, max(0, self.break_downloads - 1)
        if broken:
            headers["Content-Length"] = str(len(png))
            return Response(self._broken_off(png, request.environ["werkzeug.socket"]), mimetype="image/png",
                            headers=headers, direct_passthrough=True)
        if self.fault == "truncated_png":
            png = png[: len(png) // 2]
        elif self.fault == "oversized":  # streamed, never built in memory
            headers["Content-Length"] = str(OVERSIZED_BYTES)
            return Response(self._oversized(png), mimetype="image/png", headers=headers, direct_passthrough=True)
        return Response(png, mimetype="image/png", headers=headers)

    @staticmethod
    def _broken_off(png, connection):
        """Half the declared bytes, then the connection dropped (a restart or a network cut mid-transfer)."""
        yield png[: len(png) // 2]
        connection.shutdown(socket.SHUT_RDWR)

    def _oversized(self, png):
        yield png
        sent, zeros = len(png), bytes(64 * 1024)
        while sent < OVERSIZED_BYTES and not self._stop.is_set():
            yield zeros[: OVERSIZED_BYTES - sent]
            sent += len(zeros)


@pytest.fixture
def fake_invokeai():
    """A running FakeInvokeAI (`.url` = http://127.0.0.1:<port>), stopped at teardown."""
    fake = FakeInvokeAI().start()
    try:
        yield fake
    finally:
        fake.stop()
    if fake.errors:
        pytest.fail("the fake InvokeAI crashed (a bug in the fake):\n" + "\n".join(fake.errors))


@pytest.fixture
def closed_port_url():
    """http://127.0.0.1:<port> where nothing listens."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"
