"""Import of a folder of AI outputs: `photos import` with one worker against the default workers.

Makes FILES PNGs (default 1000) in a temp folder: 512 to 1024 px a side, pictures with texture (a
gradient under noise, so zlib works as on a real render), each carrying one generator's parameters
as the tool writes them (InvokeAI's invokeai_metadata, A1111's parameters, ComfyUI's prompt and
workflow; tests/files/ai/make_files.py), a third of each. Then, for 1 worker and for the default
(one per CPU), a fresh data folder and SQLite database, and batch.import_folder in a process of its own
that reports its wall time, its own CPU (the writer's: moves, rows, commits) and its workers' CPU
(hash, decode, thumbnails and the metadata parsing). Every photo must come out generated with every
parameter: its own prompt, seed and size, and a negative prompt, steps, CFG, scheduler and model.

  python tests/benchmarks/bench_ai_import.py [--files N] [--workers N]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[2] / "tests" / "files" / "ai")]

from benchlib import ROOT, VENV_BIN, Instance, goal_table, header, print_table, workdir  # noqa: E402

GOAL_SPEEDUP = 1.5
GENERATORS = ("invokeai", "a1111", "comfyui")

# Runs in the import's own process: the app, then one import, then its figures as JSON on stdout.
IMPORT = """
import json, resource, sys, time
from pathlib import Path
from app import create_app
from app.services import batch
app = create_app()
with app.app_context():
    owner = batch.import_owner(None)
    started = time.perf_counter()
    report = batch.import_folder(Path(sys.argv[1]), owner, workers=int(sys.argv[2]) or None)
    wall = time.perf_counter() - started
self_, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"wall": wall, "imported": report.imported, "failed": len(report.failed) + len(report.rejected),
                  "writer_cpu": self_.ru_utime + self_.ru_stime, "workers_cpu": children.ru_utime + children.ru_stime,
                  "workers": int(sys.argv[2]) or batch.default_workers()}))
"""


def make_outputs(folder: Path, count: int) -> dict[str, tuple]:
    """`count` PNGs of the three generators, sizes mixed, each with its own seed and prompt; for each
    file name, what it carries: (prompt, seed, width, height)."""
    from make_files import A1111, COMFYUI_PROMPT, COMFYUI_WORKFLOW, INVOKEAI_5
    from PIL import Image, PngImagePlugin

    rng = random.Random(15)
    noise, carried = {}, {}
    for index in range(count):
        width, height = rng.choice([(512, 512), (512, 768), (768, 512), (768, 768), (832, 1216), (1024, 1024)])
        if (width, height) not in noise:
            noise[(width, height)] = Image.effect_noise((width, height), 40)
        gradient = Image.linear_gradient("L").resize((width, height))
        shade = Image.new("L", (width, height), index % 256)
        image = Image.merge("RGB", (gradient, noise[(width, height)], shade))
        seed, prompt = rng.randrange(2**32), f"picture {index}, " + rng.choice(["a lighthouse", "a fox", "a cabin"])
        kind = GENERATORS[index % 3]
        info = PngImagePlugin.PngInfo()
        if kind == "invokeai":
            info.add_text("invokeai_metadata", json.dumps({**INVOKEAI_5, "positive_prompt": prompt, "seed": seed,
                                                           "width": width, "height": height}))
        elif kind == "a1111":
            infotext = A1111.replace("Seed: 3735928559", f"Seed: {seed}").replace("Size: 512x768", f"Size: {width}x{height}")
            info.add_text("parameters", prompt + "\n" + infotext.split("\n", 2)[2])
        else:
            graph = json.loads(json.dumps(COMFYUI_PROMPT))
            graph["3"]["inputs"]["seed"], graph["6"]["inputs"]["text"] = seed, prompt
            graph["5"]["inputs"].update(width=width, height=height)
            info.add_text("prompt", json.dumps(graph))
            info.add_text("workflow", json.dumps(COMFYUI_WORKFLOW))
        image.save(folder / f"{kind}-{index:05}.png", pnginfo=info, compress_level=4)
        carried[f"{kind}-{index:05}.png"] = (prompt, seed, width, height)
    return carried


def run_import(folder: Path, workers: int, place: Path, carried: dict[str, tuple]) -> dict:
    instance = Instance(place).setup()
    result = subprocess.run([str(VENV_BIN / "python"), "-c", IMPORT, str(folder), str(workers)], cwd=ROOT,
                            env=instance.env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"the import failed:\n{result.stdout}\n{result.stderr}")
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    with sqlite3.connect(place / "gallery.db") as connection:
        rows = connection.execute(
            "SELECT original_name, prompt, seed, generation_width, generation_height FROM photos WHERE source = 'generated'"
            " AND negative_prompt IS NOT NULL AND steps IS NOT NULL AND cfg_scale IS NOT NULL AND scheduler IS NOT NULL"
            " AND model_name IS NOT NULL").fetchall()
    figures["complete"] = sum(carried.get(name) == (prompt, seed, width, height) for name, prompt, seed, width, height in rows)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=0, help="the many-worker run's workers (default: one per CPU)")
    args = parser.parse_args()
    header(f"AI-output import: {args.files} PNGs, 1 worker against {args.workers or 'the default'} workers")
    load_before = os.getloadavg()[0]
    with workdir("ai-import") as work:
        folder = work / "outputs"
        folder.mkdir()
        started = time.perf_counter()
        carried = make_outputs(folder, args.files)
        size = sum(path.stat().st_size for path in folder.iterdir()) / 1e6
        print(f"made {args.files} PNGs ({size:.0f} MB) in {time.perf_counter() - started:.1f} s")
        runs = {label: run_import(folder, workers, work / label, carried) for label, workers in (("one", 1), ("many", args.workers))}
    rows = [[f"{run['workers']} worker{'s' if run['workers'] > 1 else ''}", f"{run['wall']:.1f} s",
             f"{run['imported'] / run['wall']:.1f} /s", f"{run['writer_cpu']:.1f} s", f"{run['workers_cpu']:.1f} s",
             f"{run['complete']} / {args.files}"] for run in runs.values()]
    print_table("Import", ["run", "wall", "files/s", "writer CPU", "workers' CPU", "generated with parameters"], rows)
    one, many = runs["one"], runs["many"]
    speedup = (many["imported"] / many["wall"]) / (one["imported"] / one["wall"])
    verdicts = goal_table("Goals", [
        ("default workers / 1 worker, files/s", f"{speedup:.2f}×", f"≥ {GOAL_SPEEDUP}×", speedup >= GOAL_SPEEDUP),
        ("every file imported with its parameters", f"{min(one['complete'], many['complete'])} / {args.files}",
         f"{args.files}", one["complete"] == many["complete"] == args.files and not one["failed"] + many["failed"]),
    ])
    print(f"(load average before: {load_before:.2f}, after: {os.getloadavg()[0]:.2f}; this machine has {os.cpu_count()} CPUs)")
    return 0 if all(verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
