"""Writes the AI-output samples beside this script: tiny images carrying each generator's metadata in the
exact place and layout the tool itself writes it (no real output can be shipped). Run it again only
to change a sample; the tests read the committed files.

- InvokeAI 4+: PngInfo text "invokeai_metadata" (and "invokeai_graph"), the JSON its API returns.
- InvokeAI 3.x: the same chunk, the model as {"model_name", "base_model", "model_type"}.
- InvokeAI 2.x: "Dream" ('"prompt [negative]" -s -S -W -H -C -A') and "sd-metadata" JSON chunks.
- AUTOMATIC1111 / Forge (modules/images.py save_image_with_geninfo): PNG text "parameters"; JPEG and
  WebP get piexif.dump({"Exif": {UserComment: UserComment.dump(infotext, encoding="unicode")}}):
  a big-endian TIFF whose Exif IFD holds b"UNICODE\\0" + the text in UTF-16-BE.
- ComfyUI (nodes.py SaveImage): PngInfo text "prompt" = json.dumps(API graph) and "workflow" =
  json.dumps(the editor's graph).

    .venv/bin/python tests/files/ai/make_files.py
"""
from __future__ import annotations

import json
import struct
from pathlib import Path

from PIL import Image, PngImagePlugin

HERE = Path(__file__).resolve().parent
SIZE = (16, 24)

INVOKEAI_5 = {
    "generation_mode": "txt2img", "positive_prompt": "a lighthouse on a cliff at sunset, oil painting",
    "negative_prompt": "blurry, low quality", "width": 512, "height": 768, "seed": 3735928559,
    "rand_device": "cpu", "cfg_scale": 7.5, "cfg_rescale_multiplier": 0, "steps": 30, "scheduler": "dpmpp_2m_k",
    "clip_skip": 0, "model": {"key": "4a1b2c3d-0000-4000-8000-000000000001", "hash": "blake3:9f8e7d",
                               "name": "Dreamshaper 8", "base": "sd-1", "type": "main"},
    "app_version": "5.6.0",
}
INVOKEAI_3 = {
    "app_version": "3.3.0post3", "generation_mode": "txt2img", "positive_prompt": "landscape, mountains",
    "negative_prompt": "low quality", "width": 768, "height": 432, "seed": 356120443, "rand_device": "cpu",
    "cfg_scale": 7.5, "steps": 50, "scheduler": "dpmpp_2m_sde_k", "clip_skip": 0,
    "model": {"model_name": "amixx_3Prunedfp16", "base_model": "sd-1", "model_type": "main"},
    "controlnets": [], "ipAdapters": [], "t2iAdapters": [], "loras": [],
    "vae": {"model_name": "sd-vae-ft-mse", "base_model": "sd-1"},
}
INVOKEAI_2 = {
    "model": "stable diffusion", "model_weights": "stable-diffusion-1.5", "model_hash": "cc6cb27103",
    "app_id": "invoke-ai/InvokeAI", "app_version": "2.3.5",
    "image": {"prompt": [{"prompt": "a tabby cat on a windowsill [dog, blurry]", "weight": 1.0}],
              "steps": 50, "cfg_scale": 7.5, "threshold": 0, "perlin": 0, "height": 512, "width": 512,
              "seed": 42, "seamless": False, "hires_fix": False, "type": "txt2img", "postprocessing": None,
              "sampler": "k_lms", "variations": []},
}
INVOKEAI_2_DREAM = '"a tabby cat on a windowsill [dog, blurry]" -s 50 -S 42 -W 512 -H 512 -C 7.5 -A k_lms'

A1111 = (
    "a lighthouse on a cliff at sunset, (dramatic sky:1.2), [oil painting]\n"
    "highly detailed\n"
    "Negative prompt: blurry, (low quality:1.4)\n"
    "Steps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 3735928559, Size: 512x768, "
    "Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Denoising strength: 0.4, Hires upscale: 2, "
    'Lora hashes: "detail: 1a2b3c4d, style: 5e6f7a8b", Version: v1.10.1'
)
FORGE_FLUX = (
    "a red fox in fresh snow, golden hour\n"
    "Steps: 20, Sampler: Euler, Schedule type: Simple, CFG scale: 1, Distilled CFG Scale: 3.5, Seed: 1234567890, "
    "Size: 896x1152, Model hash: bea01d51bd, Model: flux1-dev-bnb-nf4-v2, Version: f2.0.1v1.10.1-previous-313-g8a042934, "
    "Module 1: ae"
)

COMFYUI_PROMPT = {
    "3": {"inputs": {"seed": 156680208700286, "steps": 20, "cfg": 8, "sampler_name": "euler", "scheduler": "normal",
                     "denoise": 1, "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0],
                     "latent_image": ["5", 0]}, "class_type": "KSampler", "_meta": {"title": "KSampler"}},
    "4": {"inputs": {"ckpt_name": "v1-5-pruned-emaonly.safetensors"}, "class_type": "CheckpointLoaderSimple",
          "_meta": {"title": "Load Checkpoint"}},
    "5": {"inputs": {"width": 512, "height": 512, "batch_size": 1}, "class_type": "EmptyLatentImage",
          "_meta": {"title": "Empty Latent Image"}},
    "6": {"inputs": {"text": "beautiful scenery nature glass bottle landscape, purple galaxy bottle,",
                     "clip": ["4", 1]}, "class_type": "CLIPTextEncode", "_meta": {"title": "CLIP Text Encode (Prompt)"}},
    "7": {"inputs": {"text": "text, watermark", "clip": ["4", 1]}, "class_type": "CLIPTextEncode",
          "_meta": {"title": "CLIP Text Encode (Prompt)"}},
    "8": {"inputs": {"samples": ["3", 0], "vae": ["4", 2]}, "class_type": "VAEDecode", "_meta": {"title": "VAE Decode"}},
    "9": {"inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]}, "class_type": "SaveImage",
          "_meta": {"title": "Save Image"}},
}


def _node(node_id, kind, widgets, inputs=(), outputs=()):
    return {"id": node_id, "type": kind, "pos": [0, 0], "size": [300, 100], "flags": {}, "order": node_id, "mode": 0,
            "inputs": [{"name": name, "type": kind_, "link": link} for name, kind_, link in inputs],
            "outputs": [{"name": name, "type": kind_, "links": links} for name, kind_, links in outputs],
            "properties": {"Node name for S&R": kind}, "widgets_values": widgets}


COMFYUI_WORKFLOW = {
    "last_node_id": 9, "last_link_id": 9,
    "nodes": [
        _node(3, "KSampler", [156680208700286, "randomize", 20, 8, "euler", "normal", 1],
              [("model", "MODEL", 1), ("positive", "CONDITIONING", 4), ("negative", "CONDITIONING", 6),
               ("latent_image", "LATENT", 2)], [("LATENT", "LATENT", [7])]),
        _node(4, "CheckpointLoaderSimple", ["v1-5-pruned-emaonly.safetensors"], (),
              [("MODEL", "MODEL", [1]), ("CLIP", "CLIP", [3, 5]), ("VAE", "VAE", [8])]),
        _node(5, "EmptyLatentImage", [512, 512, 1], (), [("LATENT", "LATENT", [2])]),
        _node(6, "CLIPTextEncode", [COMFYUI_PROMPT["6"]["inputs"]["text"]], [("clip", "CLIP", 3)],
              [("CONDITIONING", "CONDITIONING", [4])]),
        _node(7, "CLIPTextEncode", ["text, watermark"], [("clip", "CLIP", 5)], [("CONDITIONING", "CONDITIONING", [6])]),
        _node(8, "VAEDecode", [], [("samples", "LATENT", 7), ("vae", "VAE", 8)], [("IMAGE", "IMAGE", [9])]),
        _node(9, "SaveImage", ["ComfyUI"], [("images", "IMAGE", 9)]),
    ],
    "links": [[1, 4, 0, 3, 0, "MODEL"], [2, 5, 0, 3, 3, "LATENT"], [3, 4, 1, 6, 0, "CLIP"], [4, 6, 0, 3, 1, "CONDITIONING"],
              [5, 4, 1, 7, 0, "CLIP"], [6, 7, 0, 3, 2, "CONDITIONING"], [7, 3, 0, 8, 0, "LATENT"], [8, 4, 2, 8, 1, "VAE"],
              [9, 8, 0, 9, 0, "IMAGE"]],
    "groups": [], "config": {}, "extra": {}, "version": 0.4,
}

COMFYUI_FLUX_PROMPT = {  # ComfyUI's FLUX dev example: the custom sampler, a guider, no negative prompt
    "6": {"inputs": {"text": "a cozy cabin in a snowy forest at night, warm windows", "clip": ["11", 0]},
          "class_type": "CLIPTextEncode"},
    "8": {"inputs": {"samples": ["13", 0], "vae": ["10", 0]}, "class_type": "VAEDecode"},
    "9": {"inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]}, "class_type": "SaveImage"},
    "10": {"inputs": {"vae_name": "ae.safetensors"}, "class_type": "VAELoader"},
    "11": {"inputs": {"clip_name1": "t5xxl_fp16.safetensors", "clip_name2": "clip_l.safetensors", "type": "flux"},
           "class_type": "DualCLIPLoader"},
    "12": {"inputs": {"unet_name": "flux1-dev.safetensors", "weight_dtype": "default"}, "class_type": "UNETLoader"},
    "13": {"inputs": {"noise": ["25", 0], "guider": ["22", 0], "sampler": ["16", 0], "sigmas": ["17", 0],
                      "latent_image": ["27", 0]}, "class_type": "SamplerCustomAdvanced"},
    "16": {"inputs": {"sampler_name": "euler"}, "class_type": "KSamplerSelect"},
    "17": {"inputs": {"scheduler": "simple", "steps": 20, "denoise": 1, "model": ["30", 0]}, "class_type": "BasicScheduler"},
    "22": {"inputs": {"model": ["30", 0], "conditioning": ["26", 0]}, "class_type": "BasicGuider"},
    "25": {"inputs": {"noise_seed": 219670278747233}, "class_type": "RandomNoise"},
    "26": {"inputs": {"guidance": 3.5, "conditioning": ["6", 0]}, "class_type": "FluxGuidance"},
    "27": {"inputs": {"width": 1024, "height": 1024, "batch_size": 1}, "class_type": "EmptySD3LatentImage"},
    "30": {"inputs": {"max_shift": 1.15, "base_shift": 0.5, "width": 1024, "height": 1024, "model": ["12", 0]},
           "class_type": "ModelSamplingFlux"},
}


def png(name: str, chunks: dict[str, str], colour="teal") -> None:
    info = PngImagePlugin.PngInfo()
    for key, value in chunks.items():
        info.add_text(key, value)
    Image.new("RGB", SIZE, colour).save(HERE / name, pnginfo=info, optimize=True)


def piexif_user_comment(infotext: str) -> bytes:
    """What piexif.dump({"Exif": {UserComment: UserComment.dump(infotext, encoding="unicode")}}) makes:
    a big-endian TIFF, IFD0 holding only the Exif IFD's offset, the Exif IFD holding only UserComment."""
    comment = b"UNICODE\x00" + infotext.encode("utf-16-be")
    ifd0 = struct.pack(">H", 1) + struct.pack(">HHII", 0x8769, 4, 1, 26) + struct.pack(">I", 0)
    exif_ifd = struct.pack(">H", 1) + struct.pack(">HHII", 0x9286, 7, len(comment), 44) + struct.pack(">I", 0)
    return b"MM\x00\x2a" + struct.pack(">I", 8) + ifd0 + exif_ifd + comment


def main() -> None:
    png("invokeai-5.png", {"invokeai_metadata": json.dumps(INVOKEAI_5),
                           "invokeai_graph": json.dumps({"id": "graph", "nodes": {}, "edges": []})})
    png("invokeai-3.png", {"invokeai_metadata": json.dumps(INVOKEAI_3)}, "olive")
    png("invokeai-2.png", {"Dream": INVOKEAI_2_DREAM, "sd-metadata": json.dumps(INVOKEAI_2)}, "maroon")
    png("a1111.png", {"parameters": A1111}, "navy")
    tiff = piexif_user_comment(A1111)
    Image.new("RGB", SIZE, "navy").save(HERE / "a1111.jpg", quality=50, exif=b"Exif\x00\x00" + tiff)
    Image.new("RGB", SIZE, "orange").save(HERE / "forge-flux.webp", quality=50,
                                          exif=b"Exif\x00\x00" + piexif_user_comment(FORGE_FLUX))
    png("comfyui.png", {"prompt": json.dumps(COMFYUI_PROMPT), "workflow": json.dumps(COMFYUI_WORKFLOW)}, "purple")
    png("comfyui-workflow-only.png", {"workflow": json.dumps(COMFYUI_WORKFLOW)}, "indigo")
    png("comfyui-flux.png", {"prompt": json.dumps(COMFYUI_FLUX_PROMPT)}, "gray")
    png("no-metadata.png", {}, "green")


if __name__ == "__main__":
    main()
