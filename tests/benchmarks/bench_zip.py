"""Zip downloads: an album of originals streamed as a zip by gunicorn, against `cat` of the same files.

The originals are random bytes of photo size (a zip stores them, it never decodes them), written under
the instance's data/photos with their rows and one album inserted directly, so the setup costs seconds,
not an upload of every file. One gunicorn worker; curl fetches the album's zip to /dev/null; `cat` reads
the same files to /dev/null; the two take turns, ROUNDS times, and the medians are compared. The peak RSS
(VmHWM) of the worker after a warm-up request is its baseline; the peak after the downloads is compared
with it. The zip is checked: its end record names every file, and its size is the files' and the headers'.

  python tests/benchmarks/bench_zip.py [--megabytes 2048] [--file-mb 8]
"""
from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[2])]

from benchlib import ROOT, Instance, cookie_header, goal_table, gunicorn, header, login, median, print_table, workdir  # noqa: E402,E501

GOAL_RATIO = 0.8
GOAL_MEMORY_MB = 50
GOAL_FIRST_BYTE_S = 1.0
ROUNDS = 3

# Run inside the instance's environment: N photo rows of the benchmark user, their files, one album.
SEED = """
import json, os, sys
from datetime import datetime, timedelta
from app import create_app
from app.extensions import db
from app.models import Album, AlbumPhoto, Photo, User
count, size = int(sys.argv[1]), int(sys.argv[2])
app = create_app()
with app.app_context():
    owner = db.session.query(User).one()
    root = os.path.join(app.config["DATA_DIR"], "photos", "uploaded", "2026-01-01")
    os.makedirs(root, exist_ok=True)
    album = Album(owner_id=owner.id, name="Benchmark", path="")
    db.session.add(album)
    db.session.flush()
    album.path = f"/{album.id}/"
    files = []
    for i in range(count):
        relative = f"uploaded/2026-01-01/bench{i:05}.jpg"
        with open(os.path.join(root, f"bench{i:05}.jpg"), "wb") as out:
            out.write(os.urandom(size))
        when = datetime(2026, 1, 1) + timedelta(seconds=i)
        photo = Photo(owner_id=owner.id, original_path=relative, thumbnail_ext="jpg", original_name=f"IMG_{i:04}.jpg",
                      sha256=f"{i:064}", format="JPEG", mime_type="image/jpeg", file_size=size, width=1, height=1,
                      sorted_at=when)
        db.session.add(photo)
        db.session.flush()
        db.session.add(AlbumPhoto(album_id=album.id, photo_id=photo.id, sorted_at=when))
        files.append(os.path.join(root, f"bench{i:05}.jpg"))
    db.session.commit()
    print(json.dumps({"album_id": album.id, "files": files}))
"""


def seed(instance: Instance, count: int, size: int) -> tuple[int, list[str]]:
    result = subprocess.run([sys.executable, "-c", SEED, str(count), str(size)], env=instance.env, cwd=ROOT,
                            capture_output=True, text=True, check=True)
    seeded = json.loads(result.stdout.strip().splitlines()[-1])
    return seeded["album_id"], seeded["files"]


def cat_seconds(files: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(["cat", *files], stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def fetch_zip(url: str, cookie: str) -> tuple[float, float, int]:
    """(seconds to the first byte, seconds in all, bytes) of a curl of `url` to /dev/null."""
    figures = subprocess.run(["curl", "-sS", "--fail", "-H", f"Cookie: {cookie}", "-o", "/dev/null", "-w",
                              "%{time_starttransfer} %{time_total} %{size_download}", url],
                             capture_output=True, text=True, check=True).stdout
    first, whole, size = figures.split()
    return float(first), float(whole), int(size)


def zip_tail(url: str, cookie: str) -> bytes:
    """The last 64 KB of the zip, from one more download (not timed) read through a pipe."""
    curl = subprocess.Popen(["curl", "-sS", "--fail", "-H", f"Cookie: {cookie}", url], stdout=subprocess.PIPE)
    tail = b""
    while chunk := curl.stdout.read(1 << 20):
        tail = (tail[-(1 << 16):] + chunk)[-(1 << 16):]
    if curl.wait() != 0:
        raise RuntimeError("curl of the zip failed")
    return tail


def members_in_end_record(tail: bytes) -> int:
    """The member count of the zip's end record (the ZIP64 one when there is one)."""
    at = tail.rfind(b"PK\x06\x06")  # ZIP64 end of central directory
    if at >= 0:
        return struct.unpack("<Q", tail[at + 32:at + 40])[0]
    at = tail.rfind(b"PK\x05\x06")
    return struct.unpack("<H", tail[at + 10:at + 12])[0]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--megabytes", type=int, default=2048, help="of originals in the album")
    parser.add_argument("--file-mb", type=float, default=8, help="size of each original")
    args = parser.parse_args()
    size = int(args.file_mb * 1024 * 1024)
    count = max(1, args.megabytes * 1024 * 1024 // size)
    header(f"Zip download of an album of {count} originals of {args.file_mb:g} MB ({count * size / 2**20:.0f} MB), "
           f"one gunicorn worker, curl to /dev/null, against cat of the same files; {ROUNDS} rounds each")
    with workdir("zip") as tmp:
        instance = Instance(tmp).setup()
        album_id, files = seed(instance, count, size)
        with gunicorn(instance, workers=1) as server:
            session = login(server.base)
            session.get(f"{server.base}/albums/{album_id}", timeout=30).raise_for_status()  # warm-up
            baseline = max(server.worker_peaks_mb())
            cookie, url = cookie_header(session), f"{server.base}/albums/{album_id}/download"
            cats, zips, firsts = [], [], []
            for _ in range(ROUNDS):
                cats.append(cat_seconds(files))
                first, whole, downloaded = fetch_zip(url, cookie)
                firsts.append(first)
                zips.append(whole)
            members = members_in_end_record(zip_tail(url, cookie))
            peak = max(server.worker_peaks_mb())
    total = count * size
    cat_rate, zip_rate = total / median(cats) / 2**20, total / median(zips) / 2**20
    print_table("Throughput (MB of originals per second)", ["round", "cat", "zip", "first byte"],
                [[i + 1, f"{total / c / 2**20:.0f}", f"{total / z / 2**20:.0f}", f"{f * 1000:.0f} ms"]
                 for i, (c, z, f) in enumerate(zip(cats, zips, firsts))])
    verdicts = goal_table("Zip goals", [
        ("zip throughput / cat throughput", f"{zip_rate / cat_rate:.2f}×", f"≥ {GOAL_RATIO}×",
         zip_rate / cat_rate >= GOAL_RATIO),
        ("worker peak RSS over its baseline", f"{peak - baseline:.1f} MB (baseline {baseline:.0f} MB)",
         f"≤ {GOAL_MEMORY_MB} MB", peak - baseline <= GOAL_MEMORY_MB),
        ("first byte (median)", f"{median(firsts) * 1000:.0f} ms", f"≤ {GOAL_FIRST_BYTE_S * 1000:.0f} ms",
         median(firsts) <= GOAL_FIRST_BYTE_S),
        ("members named in the zip's end record", str(members), str(count), members == count),
        ("bytes sent ≥ bytes of the originals", f"{downloaded}", f"≥ {total}", downloaded >= total),
    ])
    return 0 if all(verdicts) else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
