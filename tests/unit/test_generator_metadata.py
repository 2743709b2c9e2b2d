"""generator_metadata: the parameters InvokeAI, A1111 / Forge and ComfyUI write into their images, read from
samples in each tool's own layout (tests/files/ai/make_files.py), and from metadata broken on purpose."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from PIL import Image

from app.services import generator_metadata as gm
from app.services import imaging, metadata, metadata_values, processing

SAMPLES = Path(__file__).resolve().parents[1] / "files" / "ai"

EXPECTED = {
    "invokeai-5.png": {
        "prompt": "a lighthouse on a cliff at sunset, oil painting", "negative_prompt": "blurry, low quality",
        "seed": 3735928559, "model_name": "Dreamshaper 8", "model_key": "4a1b2c3d-0000-4000-8000-000000000001",
        "steps": 30, "cfg_scale": 7.5, "scheduler": "dpmpp_2m_k", "generation_width": 512, "generation_height": 768},
    "invokeai-3.png": {
        "prompt": "landscape, mountains", "negative_prompt": "low quality", "seed": 356120443,
        "model_name": "amixx_3Prunedfp16", "model_key": None, "steps": 50, "cfg_scale": 7.5,
        "scheduler": "dpmpp_2m_sde_k", "generation_width": 768, "generation_height": 432},
    "invokeai-2.png": {
        "prompt": "a tabby cat on a windowsill", "negative_prompt": "dog, blurry", "seed": 42,
        "model_name": "stable-diffusion-1.5", "model_key": None, "steps": 50, "cfg_scale": 7.5, "scheduler": "k_lms",
        "generation_width": 512, "generation_height": 512},
    "a1111.png": {
        "prompt": "a lighthouse on a cliff at sunset, (dramatic sky:1.2), [oil painting]\nhighly detailed",
        "negative_prompt": "blurry, (low quality:1.4)", "seed": 3735928559, "model_name": "v1-5-pruned-emaonly",
        "model_key": None, "steps": 28, "cfg_scale": 6.5, "scheduler": "DPM++ 2M Karras", "generation_width": 512,
        "generation_height": 768},
    "forge-flux.webp": {
        "prompt": "a red fox in fresh snow, golden hour", "negative_prompt": None, "seed": 1234567890,
        "model_name": "flux1-dev-bnb-nf4-v2", "model_key": None, "steps": 20, "cfg_scale": 1.0,
        "scheduler": "Euler Simple", "generation_width": 896, "generation_height": 1152},
    "comfyui.png": {
        "prompt": "beautiful scenery nature glass bottle landscape, purple galaxy bottle,",
        "negative_prompt": "text, watermark", "seed": 156680208700286, "model_name": "v1-5-pruned-emaonly.safetensors",
        "model_key": None, "steps": 20, "cfg_scale": 8.0, "scheduler": "euler", "generation_width": 512,
        "generation_height": 512},
    "comfyui-workflow-only.png": {
        "prompt": "beautiful scenery nature glass bottle landscape, purple galaxy bottle,",
        "negative_prompt": "text, watermark", "seed": 156680208700286, "model_name": "v1-5-pruned-emaonly.safetensors",
        "model_key": None, "steps": 20, "cfg_scale": 8.0, "scheduler": "euler", "generation_width": None,
        "generation_height": None},
    "comfyui-flux.png": {
        "prompt": "a cozy cabin in a snowy forest at night, warm windows", "negative_prompt": None,
        "seed": 219670278747233, "model_name": "flux1-dev.safetensors", "model_key": None, "steps": 20,
        "cfg_scale": None, "scheduler": "euler simple", "generation_width": 1024, "generation_height": 1024},
}
EXPECTED["a1111.jpg"] = EXPECTED["a1111.png"]  # the same infotext, in EXIF UserComment as piexif writes it


def decoded(path: Path) -> imaging.DecodedImage:
    return imaging.decode(path, 100_000_000, {"grid": 8})


def columns_of(path: Path) -> dict:
    image = decoded(path)
    return gm.generation_columns(image.text, image.exif)


@pytest.mark.parametrize("name", EXPECTED)
def test_each_generators_file_gives_its_parameters(name):
    assert columns_of(SAMPLES / name) == EXPECTED[name]


def test_the_samples_stay_tiny():
    sizes = {path.name: path.stat().st_size for path in SAMPLES.iterdir() if path.suffix != ".py"}
    assert sizes.keys() >= EXPECTED.keys() and max(sizes.values()) < 8_000


def test_a_file_without_a_generators_metadata_gives_nothing():
    assert columns_of(SAMPLES / "no-metadata.png") == {}
    assert metadata.photo_columns(decoded(SAMPLES / "no-metadata.png").exif, {}).get("prompt") is None


def test_the_photo_columns_carry_the_generation_beside_the_camera_columns():
    image = decoded(SAMPLES / "a1111.jpg")
    columns = metadata.photo_columns(image.exif, image.text)
    assert columns["seed"] == 3735928559 and columns["camera_make"] is None


# --- A1111 infotext -------------------------------------------------------------------------------

PARAMS = "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 5, Size: 640x480, Model: sd15"


def test_a_megabyte_prompt_is_cut_to_the_cap_and_the_parameters_still_read():
    started = time.perf_counter()
    columns = gm.generation_columns({"parameters": "a cat, " * 150_000 + "\n" + PARAMS})
    assert len(columns["prompt"]) == metadata_values.MAX_PROMPT and columns["prompt"].startswith("a cat, a cat")
    assert (columns["seed"], columns["steps"], columns["generation_width"]) == (5, 20, 640)
    assert time.perf_counter() - started < 5


def test_a_megabyte_line_without_parameters_is_read_in_linear_time():
    started = time.perf_counter()
    columns = gm.generation_columns({"parameters": "word " * 200_000})
    assert columns["prompt"].startswith("word word") and columns["seed"] is None
    assert time.perf_counter() - started < 5


def test_unbalanced_parentheses_and_quotes_are_stored_as_written():
    raw = "((a cat:1.2), [dog\nNegative prompt: (((ugly\n" + 'Steps: 20, Lora hashes: "unclosed, Seed: 7, Sampler: Euler'
    columns = gm.infotext_columns(raw)
    assert columns["prompt"] == "((a cat:1.2), [dog" and columns["negative_prompt"] == "(((ugly"
    assert columns["steps"] == 20 and columns["seed"] == 7


def test_a_quoted_value_is_unquoted_as_a_json_string():
    params = gm.parse_params('Steps: 20, Hashes: "{\\"model\\": \\"abc\\"}", Seed: 3')
    assert params["Hashes"] == '{"model": "abc"}' and params["Seed"] == "3"


@pytest.mark.parametrize("seed", ["-1", "18446744073709551615", "9" * 30, "0x1f", "1e5", "9" * 5000])
def test_a_seed_out_of_the_columns_range_or_not_a_number_is_left_empty(seed):
    columns = gm.infotext_columns(f"a cat\nSteps: 20, Sampler: Euler, Seed: {seed}")
    assert columns["seed"] is None and columns["steps"] == 20


@pytest.mark.parametrize("size", ["0x512", "512", "512x", "99999999x2", "axb"])
def test_a_size_that_is_not_two_sizes_leaves_both_empty(size):
    columns = gm.infotext_columns(f"a cat\nSteps: 20, Sampler: Euler, Size: {size}")
    assert columns["generation_width"] is None or columns["generation_height"] is None


def test_a_parameters_chunk_with_only_a_prompt_is_a_prompt():
    assert gm.generation_columns({"parameters": "just a prompt, no settings"})["prompt"] == "just a prompt, no settings"


def test_nul_control_characters_and_lone_surrogates_are_dropped_from_a_prompt():
    raw = json.dumps({"positive_prompt": "a\x00 cat\x07\ud800 on\ta mat\nsecond line", "seed": 1})
    assert gm.invokeai_columns(raw)["prompt"] == "a cat on a mat\nsecond line"  # a tab is a space


# --- EXIF UserComment -------------------------------------------------------------------------------

class FakeExif:
    def __init__(self, comment):
        self.comment = comment

    def get_ifd(self, which):
        return {gm.USER_COMMENT: self.comment}


def test_a_little_endian_utf16_comment_is_read_too():
    comment = b"UNICODE\x00" + ("a cat\n" + PARAMS).encode("utf-16-le")
    assert gm.generation_columns({}, FakeExif(comment))["seed"] == 5


@pytest.mark.parametrize("comment", [b"ASCII\x00\x00\x00Holiday at the sea", b"UNICODE\x00" + "Holiday".encode("utf-16-be"),
                                     b"\x00" * 8 + b"\xff\xfe\xfa not utf-8", b"UNICODE\x00\x00", b"short", None, 42])
def test_a_cameras_user_comment_or_garbage_is_no_generation(comment):
    assert gm.generation_columns({}, FakeExif(comment)) == {}


def test_an_ascii_comment_with_infotext_counts():
    assert gm.generation_columns({}, FakeExif(b"ASCII\x00\x00\x00a cat\n" + PARAMS.encode()))["steps"] == 20


# --- InvokeAI and JSON ------------------------------------------------------------------------------

@pytest.mark.parametrize("chunk", ["invokeai_metadata", "sd-metadata", "prompt", "workflow"])
@pytest.mark.parametrize("raw", ["{not json", "[" * 100_000, "null", "[]", '"text"', "1e999", "\udcff"])
def test_malformed_json_in_any_chunk_gives_nothing(chunk, raw):
    assert gm.generation_columns({chunk: raw}) == {}


@pytest.mark.parametrize("value", [2**63, 2**64 - 1, 10**30, -1, -(2**63)])
def test_a_seed_beyond_a_signed_64_bit_integer_or_negative_is_left_empty(value):
    assert gm.invokeai_columns(json.dumps({"positive_prompt": "a", "seed": value}))["seed"] is None


def test_numbers_too_large_for_their_columns_are_left_empty():
    raw = '{"positive_prompt": "a", "steps": 1e30, "cfg_scale": 1e999, "width": 123456789, "height": -1}'
    columns = gm.invokeai_columns(raw)
    assert [columns[name] for name in ("steps", "cfg_scale", "generation_width", "generation_height")] == [None] * 4


def test_a_legacy_dream_chunk_alone_is_read():
    columns = gm.generation_columns({"Dream": '"a cat [dog]" -s 20 -S 9 -W 640 -H 480 -C 6 -A k_euler'})
    assert (columns["prompt"], columns["negative_prompt"], columns["seed"], columns["steps"]) == ("a cat", "dog", 9, 20)
    assert gm.generation_columns({"Dream": "no quotes at all"}) == {}


# --- ComfyUI --------------------------------------------------------------------------------------

def comfy(nodes: dict) -> dict:
    return gm.generation_columns({"prompt": json.dumps(nodes)})


SAMPLER = {"class_type": "KSampler", "inputs": {"seed": 3, "steps": 9, "cfg": 5, "sampler_name": "euler",
                                                "scheduler": "karras", "model": ["2", 0], "positive": ["3", 0],
                                                "negative": ["4", 0], "latent_image": ["5", 0]}}


def test_a_graph_whose_links_make_a_cycle_ends():
    nodes = {"1": SAMPLER, "2": {"class_type": "LoraLoader", "inputs": {"model": ["6", 0]}},
             "6": {"class_type": "LoraLoader", "inputs": {"model": ["2", 0]}},
             "3": {"class_type": "ConditioningCombine", "inputs": {"a": ["3", 0], "b": ["4", 0]}},
             "4": {"class_type": "ConditioningCombine", "inputs": {"a": ["3", 0]}}}
    columns = comfy(nodes)
    assert columns["prompt"] == "" and columns["model_name"] is None and columns["seed"] == 3
    assert columns["scheduler"] == "euler karras"


def test_links_to_missing_nodes_leave_their_columns_empty():
    columns = comfy({"1": SAMPLER})
    assert columns["prompt"] == "" and columns["negative_prompt"] is None and columns["generation_width"] is None
    assert (columns["steps"], columns["cfg_scale"]) == (9, 5.0)


def test_a_prompt_through_a_primitive_and_a_lora_chain_is_found():
    nodes = {"1": SAMPLER, "2": {"class_type": "LoraLoader", "inputs": {"lora_name": "x.safetensors", "model": ["7", 0]}},
             "7": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sdxl.safetensors"}},
             "3": {"class_type": "CLIPTextEncode", "inputs": {"text": ["8", 0], "clip": ["7", 1]}},
             "8": {"class_type": "PrimitiveString", "inputs": {"value": "a cat"}},
             "4": {"class_type": "ConditioningZeroOut", "inputs": {"conditioning": ["3", 0]}}}
    columns = comfy(nodes)
    assert (columns["prompt"], columns["negative_prompt"], columns["model_name"]) == ("a cat", None, "sdxl.safetensors")


@pytest.mark.parametrize("nodes", [
    {"1": {"class_type": "KSampler", "inputs": "not a dict"}},
    {"1": {"class_type": "KSampler", "inputs": {"seed": [[1], 0], "positive": [None, 0], "steps": "many"}}},
    {"1": {"class_type": "KSampler", "inputs": {"seed": float("inf"), "cfg": float("nan"), "positive": {"a": 1}}}},
    {"1": {"class_type": "KSampler", "inputs": {"seed": -5, "steps": 2**70}}},
    {str(n): {"class_type": "Note", "inputs": {"text": "x"}} for n in range(10_000)},
], ids=["inputs-not-an-object", "odd-links", "non-finite", "out-of-range", "no-sampler"])
def test_a_malformed_graph_never_raises(nodes):
    columns = comfy(nodes)
    assert columns == {} or (columns["seed"] is None and columns["steps"] is None)


def test_a_malformed_workflow_never_raises():
    for workflow in ({"nodes": "x"}, {"nodes": [{"id": [1], "type": "KSampler", "widgets_values": "x",
                                                 "inputs": [{"name": "positive", "link": [2]}]}], "links": [[[1], 2, 3]]}):
        columns = gm.generation_columns({"workflow": json.dumps(workflow)})
        assert columns == {} or columns["seed"] is None


# --- sidecars ---------------------------------------------------------------------------------------

def test_a_txt_sidecar_is_read_as_infotext_only_with_its_parameters():
    assert gm.sidecar_columns("a cat\n" + PARAMS + "\n", ".txt")["model_name"] == "sd15"
    assert gm.sidecar_columns("the second one is blurry\n", ".txt") == {}


@pytest.mark.parametrize("data, seed", [
    ({"positive_prompt": "a cat", "seed": 11}, 11),
    ({"prompt": {"1": SAMPLER}}, 3),
    ({"1": SAMPLER}, 3),
    ({"prompt": "a cat", "negativePrompt": "dog", "seed": "12", "steps": 20, "cfgScale": 7, "sampler": "Euler a"}, 12),
])
def test_a_json_sidecar_of_each_shape_is_read(data, seed):
    assert gm.sidecar_columns(json.dumps(data), ".json")["seed"] == seed


@pytest.mark.parametrize("raw", ['{"title": "IMG_0001.jpg", "description": "", "photoTakenTime": {}}',
                                 '{"prompt": "a caption with nothing else"}', "{broken", "[1, 2]"])
def test_a_json_sidecar_of_another_kind_gives_nothing(raw):
    assert gm.sidecar_columns(raw, ".json") == {}


def test_processing_reads_the_first_sidecar_that_holds_parameters(tmp_path):
    image = tmp_path / "cat.png"
    Image.new("RGB", (8, 8)).save(image)
    (tmp_path / "cat.json").write_text('{"title": "cat"}')
    (tmp_path / "cat.txt").write_bytes(b"a cat \xff\xfe\n" + PARAMS.encode())  # not UTF-8
    columns = processing.sidecar_columns(image)
    assert columns["prompt"] == "a cat \ufffd\ufffd" and columns["seed"] == 5


def test_processing_does_not_follow_a_sidecar_link_out_of_the_folder(tmp_path):
    outside, folder = tmp_path / "outside.txt", tmp_path / "in"
    folder.mkdir()
    outside.write_text("a cat\n" + PARAMS)
    Image.new("RGB", (8, 8)).save(folder / "cat.png")
    (folder / "cat.txt").symlink_to(outside)
    assert processing.sidecar_columns(folder / "cat.png") == {}


# --- another tool's names in InvokeAI's terms ------------------------------------------------------

INVOKEAI_SCHEDULERS = ("euler", "euler_a", "dpmpp_2m", "dpmpp_2m_k", "dpmpp_2m_sde_k", "dpmpp_3m", "kdpm_2_a", "unipc")


@pytest.mark.parametrize("name, scheduler", [
    ("DPM++ 2M Karras", "dpmpp_2m_k"), ("DPM++ 2M", "dpmpp_2m"), ("Euler a", "euler_a"), ("Euler Simple", "euler"),
    ("dpmpp_2m karras", "dpmpp_2m_k"), ("euler_ancestral normal", "euler_a"), ("DPM++ 2M SDE Karras", "dpmpp_2m_sde_k"),
    ("dpmpp_3m_sde exponential", "dpmpp_3m"), ("DPM2 a Karras", "kdpm_2_a"), ("uni_pc", "unipc"), ("dpmpp_2m_k", "dpmpp_2m_k"),
    ("Restart", None), ("", None), (None, None),
])
def test_a_samplers_name_becomes_invokeais_scheduler(name, scheduler):
    assert gm.invokeai_scheduler(name, INVOKEAI_SCHEDULERS) == scheduler


MODELS = [{"key": "k1", "name": "DreamShaper 8"}, {"key": "k2", "name": "sdxl-base-1.0"}, {"key": "k3", "name": None}]


@pytest.mark.parametrize("name, key", [
    ("dreamshaper_8", "k1"), ("Flux/DreamShaper-8.safetensors", "k1"), ("C:\\models\\sdxl_base_1.0.ckpt", "k2"),
    ("dreamshaper_7", None), ("", None), (None, None), (".safetensors", None),
])
def test_a_checkpoints_name_finds_the_installed_model(name, key):
    assert gm.model_key_matching(name, MODELS) == key


def test_a_png_chunk_that_is_not_utf8_leaves_the_file_readable_without_parameters(tmp_path):
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    Image.new("RGB", (8, 8)).save(tmp_path / "plain.png")
    plain = (tmp_path / "plain.png").read_bytes()
    itxt = chunk(b"iTXt", b"parameters\x00\x00\x00\x00\x00a cat \xff\xfe\n" + PARAMS.encode())  # iTXt must be UTF-8
    (tmp_path / "odd.png").write_bytes(plain[:33] + itxt + plain[33:])  # after IHDR
    assert columns_of(tmp_path / "odd.png") == {}
