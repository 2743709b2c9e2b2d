"""Uploads over HTTP: gunicorn (2 workers) on a fresh gallery, 4 clients uploading the large JPEGs for 30 s.

Each upload is a unique variant of a large JPEG (random bytes after its end-of-image marker, which
every decoder ignores), so none is a duplicate and every one is fully ingested. One photo per
POST /upload, as the browser's JavaScript sends them, with Accept: application/json.

  python tests/benchmarks/bench_uploads.py [--clients 4] [--seconds 30] [--workers 2]
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import threading
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[2])]

from benchlib import (  # noqa: E402
    PHOTOS,
    Instance,
    cookie_header,
    csrf_token,
    goal_table,
    gunicorn,
    header,
    login,
    median,
    percentile,
    print_table,
    workdir,
)

GOAL_RATE = 4.0


def client(base: str, cookie: str, token: str, photos: list[tuple[str, bytes]], start_at: int, deadline: float,
           results: list, lock: threading.Lock) -> None:
    import requests

    session = requests.Session()
    session.headers.update({"Cookie": cookie, "X-CSRFToken": token, "Accept": "application/json"})
    index = start_at
    while time.monotonic() < deadline:
        name, data = photos[index % len(photos)]
        index += 1
        body = data + os.urandom(16)  # after the JPEG's end: still decodable, never a duplicate
        started = time.perf_counter()
        try:
            response = session.post(f"{base}/upload", files={"photos": (name, body, "image/jpeg")}, timeout=120)
            status = response.status_code
            result = response.json()["files"][0]["result"] if status < 500 else response.text[:200]
        except Exception as exc:  # a refused or dropped connection is an error, not a crash of the benchmark
            status, result = 0, repr(exc)
        elapsed = time.perf_counter() - started
        with lock:
            results.append((time.perf_counter(), elapsed * 1000, status, result, name))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    header(f"2. Uploads over HTTP: gunicorn {args.workers} workers, {args.clients} clients, {args.seconds:g} s, "
           "unique variants of the 12–24 MP JPEGs")
    photos = [(p.name, p.read_bytes()) for p in sorted((PHOTOS / "large").glob("*.jpg"))]
    with workdir("uploads") as tmp:
        instance = Instance(tmp).setup()
        with gunicorn(instance, workers=args.workers) as server:
            session = login(server.base)
            token = csrf_token(session.get(f"{server.base}/upload", timeout=30).text)
            cookie = cookie_header(session)
            results: list = []
            lock = threading.Lock()
            started = time.perf_counter()
            deadline = time.monotonic() + args.seconds
            threads = [threading.Thread(target=client, args=(server.base, cookie, token, photos,
                                                             i * len(photos) // args.clients, deadline, results, lock))
                       for i in range(args.clients)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            finished = time.perf_counter()
            peaks = server.worker_peaks_mb()
            page = session.get(f"{server.base}/", timeout=30).text
        stored_files = sum(1 for _ in (instance.data_dir / "photos" / "uploaded").rglob("*.jpg"))
        thumbnails = sum(1 for _ in (instance.data_dir / "photos" / "thumbnails").rglob("*.jpg"))

    ok = [r for r in results if r[2] == 201 and r[3] == "stored"]
    errors = [r for r in results if not (r[2] == 201 and r[3] == "stored")]
    wall = finished - started
    rate = len(ok) / wall
    latencies = [r[1] for r in ok]
    total = re.search(r"<h1>(\d+) photos?</h1>", page)
    shown = int(total.group(1)) if total else -1

    print_table("Uploads", ["measure", "figure"], [
        ["uploads stored", len(ok)],
        ["wall time (until the last upload begun before the deadline ended)", f"{wall:.1f} s"],
        ["uploads/s", f"{rate:.2f}"],
        ["latency p50", f"{median(latencies):.0f} ms"],
        ["latency p95", f"{percentile(latencies, 95):.0f} ms"],
        ["latency max", f"{max(latencies, default=0):.0f} ms"],
        ["MB uploaded/s", f"{sum(len(dict(photos)[r[4]]) for r in ok) / wall / 1e6:.1f}"],
        ["errors (anything but 201 stored)", len(errors)],
        ["photos the grid counts / originals on disk / thumbnails on disk", f"{shown} / {stored_files} / {thumbnails}"],
        ["gunicorn workers' peak RSS", " / ".join(f"{p:.0f} MB" for p in peaks)],
    ])
    for error in errors[:5]:
        print("  error:", error[2], error[3])
    consistent = shown == len(ok) == stored_files and thumbnails == 2 * len(ok)
    verdicts = goal_table("Upload goals", [
        ("uploads/s", f"{rate:.2f}", f"≥ {GOAL_RATE:g}", rate >= GOAL_RATE),
        ("errors", str(len(errors)), "0", not errors),
        ("rows = originals = thumbnails / 2 = 201s", "yes" if consistent else "no", "yes", consistent),
    ])
    return 0 if all(verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
