"""Ingest: both thumbnails (1600 px and 400 px, JPEG q85) of each photo, three ways, each in a fresh process.

  gallery   app.services.imaging.decode + processing.encode_thumbnail (the code an upload runs), in a
            process tuned as every ingesting process is (imaging.tune_process_for_ingest)
  pyvips    pyvips.Image.thumbnail(path, 1600) (shrink-on-load), held in memory, thumbnail_image(400)
            from it, both written Q=85 keeping only the ICC profile (as the gallery does);
            libvips' default threads (one per CPU), and again with VIPS_CONCURRENCY=1
  naive     Pillow: open, ImageOps.exif_transpose, thumbnail to 1600, save, thumbnail to 400, save
  gallery-lanczos  the gallery's code with its resize as it was before the benchmarks (Lanczos,
            reducing_gap 3), to show in the same run what the bicubic resize saves
  gallery-hamming  the gallery's code with a Hamming resize (reducing_gap 2): a what-if, cheaper
            and a little softer than bicubic

Every (photo, pipeline) runs in a process of its own that imports its libraries, then runs the
pipeline REPEATS times: the time is the median of those runs (wall and CPU), the memory the
process's peak RSS (VmHWM in /proc/self/status) and that peak above the RSS it had before the first run.

  python tests/benchmarks/bench_ingest.py [--repeats N]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[2])]

SIZES = {"preview": 1600, "grid": 400}
QUALITY = 85
MAX_PIXELS = 100_000_000
PIPELINES = ["gallery", "pyvips", "pyvips-1t", "naive", "gallery-lanczos", "gallery-hamming"]
OTHER_FILTERS = {"gallery-lanczos": ("LANCZOS", 3.0), "gallery-hamming": ("HAMMING", 2.0)}
GOAL_RATIO, GOAL_RSS_MB, GOAL_MEDIAN_MS = 1.0, 120, 200


# --- the worker: one pipeline, one photo, in this fresh process ----------------------------------

def rss_mb(field: str) -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(field)


def worker(pipeline: str, path: Path, repeats: int) -> dict:
    if pipeline.startswith("gallery"):
        from app.services import imaging, processing

        imaging.tune_process_for_ingest()  # what create_app and each import worker do at their start

        if pipeline in OTHER_FILTERS:
            from PIL import Image

            resample, gap = getattr(Image.Resampling, OTHER_FILTERS[pipeline][0]), OTHER_FILTERS[pipeline][1]

            def other_resize_to_fit(image, edge, in_bands=True):
                size = imaging.fitted_size(image.size, edge)
                return image if size == image.size else image.resize(size, resample, reducing_gap=gap)
            imaging.resize_to_fit = other_resize_to_fit

        def run(out: Path):
            decoded = imaging.decode(path, MAX_PIXELS, SIZES)
            ext = "webp" if decoded.has_alpha else "jpg"
            for name, image in decoded.thumbnails.items():
                processing.encode_thumbnail(image, out / f"{name}.{ext}", ext, QUALITY, decoded.thumbnail_profile)
    elif pipeline.startswith("pyvips"):
        import pyvips

        def run(out: Path):
            preview = pyvips.Image.thumbnail(str(path), SIZES["preview"],  # one decode, never upscaled
                                             size=pyvips.enums.Size.DOWN).copy_memory()
            preview.write_to_file(str(out / "preview.jpg"), Q=QUALITY, keep=pyvips.enums.ForeignKeep.ICC)
            grid = preview.thumbnail_image(SIZES["grid"], size=pyvips.enums.Size.DOWN)
            grid.write_to_file(str(out / "grid.jpg"), Q=QUALITY, keep=pyvips.enums.ForeignKeep.ICC)
    elif pipeline == "naive":
        import pillow_heif
        from PIL import Image, ImageOps

        pillow_heif.register_heif_opener()
        Image.MAX_IMAGE_PIXELS = MAX_PIXELS

        def run(out: Path):
            with Image.open(path) as image:
                upright = ImageOps.exif_transpose(image)
                if upright.mode not in ("RGB", "L"):
                    upright = upright.convert("RGB")
                upright.thumbnail((SIZES["preview"], SIZES["preview"]))
                upright.save(out / "preview.jpg", "JPEG", quality=QUALITY)
                upright.thumbnail((SIZES["grid"], SIZES["grid"]))
                upright.save(out / "grid.jpg", "JPEG", quality=QUALITY)
    else:
        raise SystemExit(f"unknown pipeline {pipeline}")

    baseline = rss_mb("VmRSS")
    walls, cpus, sizes = [], [], {}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for _ in range(repeats):
            usage = resource.getrusage(resource.RUSAGE_SELF)
            start = time.perf_counter()
            run(out)
            walls.append((time.perf_counter() - start) * 1000)
            after = resource.getrusage(resource.RUSAGE_SELF)
            cpus.append((after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime) * 1000)
        sizes = {p.name: p.stat().st_size for p in out.iterdir()}
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so a child's ru_maxrss starts at its
    # parent's RSS when it was spawned (a 300 MB driver made every child read 300 MB).
    peak = rss_mb("VmHWM")
    return {"walls": walls, "cpus": cpus, "baseline_mb": baseline, "peak_mb": peak, "bytes": sizes}


# --- the driver ---------------------------------------------------------------------------------

def measure(pipeline: str, path: Path, repeats: int) -> dict:
    env = dict(os.environ)
    if pipeline == "pyvips-1t":
        env["VIPS_CONCURRENCY"] = "1"
    result = subprocess.run([sys.executable, __file__, "--worker", pipeline, str(path), "--repeats", str(repeats)],
                            capture_output=True, text=True, env=env)
    if result.returncode != 0:
        return {"error": (result.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(result.stdout.strip().splitlines()[-1])


def megapixels(path: Path) -> float:
    import pillow_heif
    from PIL import Image

    pillow_heif.register_heif_opener()
    with Image.open(path) as image:
        return image.width * image.height / 1e6


def run_set(title: str, paths: list[Path], repeats: int) -> dict[str, list[dict]]:
    from benchlib import median, print_table

    results: dict[str, list[dict]] = {p: [] for p in PIPELINES}
    times, memory = [], []
    for path in paths:
        for pipeline in PIPELINES:  # interleaved, so any drift hits every pipeline alike
            figures = measure(pipeline, path, repeats)
            figures["photo"] = path.name
            results[pipeline].append(figures)
        latest = {p: results[p][-1] for p in PIPELINES}
        ok = {p: f for p, f in latest.items() if "error" not in f}
        mp = f"{megapixels(path):.1f}"
        times.append([path.name, mp] + [f"{median(ok[p]['walls']):.0f}" if p in ok else "error" for p in PIPELINES]
                     + [f"{median(ok['gallery']['walls']) / median(ok['pyvips']['walls']):.2f}×"
                        if "gallery" in ok and "pyvips" in ok else "-"])
        memory.append([path.name, mp] + [f"{ok[p]['peak_mb']:.0f} ({ok[p]['peak_mb'] - ok[p]['baseline_mb']:.0f})"
                                         if p in ok else "error" for p in PIPELINES])
        print(f"  {path.name}: done", file=sys.stderr, flush=True)
    print_table(f"{title}: wall ms per photo for both thumbnails (median of {repeats} runs in one fresh process)",
                ["photo", "MP"] + PIPELINES + ["gallery/pyvips"], times)
    print_table(f"{title}: peak RSS MB per photo (process VmHWM; in brackets: above the RSS after imports)",
                ["photo", "MP"] + PIPELINES, memory)
    errors = [f"{p}: {f['photo']}: {f['error']}" for p in PIPELINES for f in results[p] if "error" in f]
    for error in errors:
        print("  error:", error)
    return results


def summary(title: str, results: dict[str, list[dict]]) -> dict[str, dict]:
    from benchlib import median, print_table

    rows, figures = [], {}
    for pipeline in PIPELINES:
        ok = [f for f in results[pipeline] if "error" not in f]
        if not ok:
            rows.append([pipeline, "error", "", "", "", "", "", ""])
            continue
        walls = [median(f["walls"]) for f in ok]
        cpus = [median(f["cpus"]) for f in ok]
        peaks = [f["peak_mb"] for f in ok]
        above = [f["peak_mb"] - f["baseline_mb"] for f in ok]
        figures[pipeline] = {"wall": median(walls), "cpu": median(cpus), "peak_max": max(peaks),
                             "peak_median": median(peaks), "above_max": max(above)}
        rows.append([pipeline, f"{median(walls):.0f}", f"{max(walls):.0f}", f"{median(cpus):.0f}",
                     f"{median(peaks):.0f}", f"{max(peaks):.0f}", f"{max(above):.0f}",
                     f"{median([f['baseline_mb'] for f in ok]):.0f}"])
    print_table(f"{title}: medians over the photos", ["pipeline", "median ms", "max ms", "median CPU ms",
                                                       "median peak MB", "max peak MB", "max above baseline MB",
                                                       "baseline MB"], rows)
    return figures


def psnr(a, b) -> float:
    import math

    from PIL import ImageChops, ImageStat

    if a.size != b.size:
        b = b.resize(a.size)
    squares = ImageStat.Stat(ImageChops.difference(a.convert("RGB"), b.convert("RGB"))).sum2
    mse = sum(squares) / (3 * a.size[0] * a.size[1])
    return 10 * math.log10(255 ** 2 / mse) if mse else 99.0


def quality(paths: list[Path]) -> None:
    """PSNR of each pipeline's 1600 px thumbnail against the gallery's former Lanczos one."""
    import pyvips
    from benchlib import median, print_table
    from PIL import Image

    from app.services import imaging

    current = imaging.resize_to_fit
    filters = {name: (getattr(Image.Resampling, f), gap) for name, (f, gap) in OTHER_FILTERS.items()}

    def thumbnail(path, name):
        if name in filters:
            resample, gap = filters[name]
            imaging.resize_to_fit = lambda image, edge, in_bands=True: (
                image if imaging.fitted_size(image.size, edge) == image.size
                else image.resize(imaging.fitted_size(image.size, edge), resample, reducing_gap=gap))
        try:
            return imaging.decode(path, MAX_PIXELS, SIZES).thumbnails["preview"]
        finally:
            imaging.resize_to_fit = current

    scores: dict[str, list[float]] = {"gallery": [], "gallery-hamming": [], "pyvips": []}
    for path in paths:
        reference = thumbnail(path, "gallery-lanczos")
        scores["gallery"].append(psnr(reference, thumbnail(path, "gallery")))
        scores["gallery-hamming"].append(psnr(reference, thumbnail(path, "gallery-hamming")))
        vips = pyvips.Image.thumbnail(str(path), SIZES["preview"], size=pyvips.enums.Size.DOWN)
        scores["pyvips"].append(psnr(reference, Image.frombytes("RGB", (vips.width, vips.height),
                                                                vips.colourspace("srgb")[:3].write_to_memory())))
    print_table("1600 px thumbnail against the former Lanczos one: PSNR dB "
                "(above about 40 dB, differences are commonly taken as invisible)",
                ["pipeline", "worst photo", "median photo"],
                [[name, f"{min(v):.1f}", f"{median(v):.1f}"] for name, v in scores.items()])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker")
    parser.add_argument("path", nargs="?")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, Path(args.path), args.repeats)))
        return 0

    from benchlib import PHOTOS, goal_table, header, median, workdir

    header("1. Ingest: 1600 px + 400 px JPEG q85 thumbnails, each pipeline in a fresh process")
    large = sorted((PHOTOS / "large").glob("*.jpg"))
    if not large:
        raise SystemExit(f"no photos in {PHOTOS / 'large'}")
    results = run_set("Large JPEGs (12–24 MP)", large, args.repeats)
    figures = summary("Large JPEGs", results)
    quality(large)

    gallery, vips = figures["gallery"], figures["pyvips"]
    ratio = gallery["wall"] / vips["wall"]
    paired = median([median(g["walls"]) / median(v["walls"]) for g, v in zip(results["gallery"], results["pyvips"])
                     if "error" not in g and "error" not in v])
    ratio_1t = gallery["wall"] / figures["pyvips-1t"]["wall"]
    cpu_ratio = gallery["cpu"] / vips["cpu"]
    naive_ratio = figures["naive"]["wall"] / gallery["wall"]
    before_ratio = figures["gallery-lanczos"]["wall"] / gallery["wall"]
    hamming_ratio = figures["gallery-hamming"]["wall"] / vips["wall"]
    hamming_cpu = figures["gallery-hamming"]["cpu"] / vips["cpu"]
    verdicts = goal_table("Ingest goals (large JPEGs)", [
        ("gallery / pyvips time (ratio of medians)", f"{ratio:.2f}×", f"≤ {GOAL_RATIO:.1f}×", ratio <= GOAL_RATIO),
        ("gallery / pyvips time (median of per-photo ratios)", f"{paired:.2f}×", "(info)", True),
        ("gallery / pyvips with VIPS_CONCURRENCY=1", f"{ratio_1t:.2f}×", "(info)", True),
        ("gallery / pyvips CPU time", f"{cpu_ratio:.2f}×", "(info)", True),
        ("naive Pillow / gallery time", f"{naive_ratio:.2f}×", "(info)", True),
        ("gallery before (Lanczos) / gallery time", f"{before_ratio:.2f}×", "(info)", True),
        ("what-if Hamming resize / pyvips time", f"{hamming_ratio:.2f}×", f"≤ {GOAL_RATIO:.1f}×",
         hamming_ratio <= GOAL_RATIO),
        ("what-if Hamming resize / pyvips CPU time", f"{hamming_cpu:.2f}×", "(info)", True),
        ("gallery peak RSS, worst photo", f"{gallery['peak_max']:.0f} MB", f"≤ {GOAL_RSS_MB} MB",
         gallery["peak_max"] <= GOAL_RSS_MB),
        ("gallery peak RSS, median photo", f"{gallery['peak_median']:.0f} MB", "(info)", True),
        ("gallery peak above its import baseline, worst", f"{gallery['above_max']:.0f} MB", "(info)", True),
        ("gallery median time per photo", f"{gallery['wall']:.0f} ms", f"≤ {GOAL_MEDIAN_MS} ms",
         gallery["wall"] <= GOAL_MEDIAN_MS),
    ])

    heic = sorted((PHOTOS / "formats").glob("*.heic"))
    summary("HEIC (reported separately, no goal)", run_set("HEIC", heic, args.repeats))
    with workdir("png") as tmp:
        from PIL import Image
        big_png = tmp / "nikon-d90_12mp.png"  # the corpus has only small PNGs: make a 12 MP one
        with Image.open(PHOTOS / "large" / "nikon-d90_12mp_bigexif.jpg") as image:
            image.save(big_png, "PNG")
        pngs = [big_png] + sorted((PHOTOS / "formats").glob("*.png"))
        summary("PNG (reported separately, no goal)", run_set("PNG (first: a 12 MP PNG made from a large JPEG)",
                                                                pngs, args.repeats))
    return 0 if all(verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
