"""Seed a gallery with many photos of one user, for the grid benchmark: rows and tiny thumbnails.

Rows go in with bulk inserts through the app's own engine and table (any backend); the thumbnails
are hard links to one 8x8 JPEG (one grid and one preview per photo), so 100 000 photos take seconds
and a few MB. Taken times are spread over years and shuffled against the ids, and every tenth photo
shares its taken time with another, so the keyset's id tie-break is exercised.

  GALLERY_DATA_DIR=... GALLERY_DATABASE_URL=... python tests/benchmarks/seed_grid.py --user NAME [--count 100000]
"""
from __future__ import annotations

import argparse
import io
import os
import random
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[2])]

CHUNK = 5000
LINKS_PER_FILE = 50_000


def tiny_jpeg() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (120, 140, 160)).save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def seed(username: str, count: int, files: bool = True) -> dict:
    from sqlalchemy import insert, select

    from app import create_app
    from app.extensions import db
    from app.models import Photo, User
    from app.services import storage, thumbnails
    from app.services.photos import recount_photos

    app = create_app()
    rng = random.Random(20261121)
    started = time.perf_counter()
    with app.app_context():
        owner_id = db.session.scalar(select(User.id).where(User.username == username))
        if owner_id is None:
            raise SystemExit(f"no user named {username}: create it first (flask users create)")
        newest = datetime(2026, 11, 1, 12, 0, 0)
        taken = []
        for i in range(count):
            when = newest - timedelta(seconds=i * 937 + rng.randrange(0, 600))
            taken.append(taken[-1] if i % 10 == 9 else when)  # every tenth shares a time: ties broken by id
        rng.shuffle(taken)  # ids are not in taken order, as when old photos are uploaded late
        uploaded_at = datetime(2026, 11, 15, 9, 0, 0)
        rows, paths = [], []
        for i, when in enumerate(taken):
            day = (uploaded_at.date() - timedelta(days=i // 200)).isoformat()
            original = f"uploaded/{day}/{i:08x}{rng.getrandbits(32):08x}.jpg"
            paths.append(original)
            rows.append({
                "owner_id": owner_id, "source": "uploaded", "original_path": original, "thumbnail_ext": "jpg",
                "original_name": f"IMG_{i:06d}.JPG", "sha256": f"{rng.getrandbits(256):064x}", "format": "JPEG",
                "mime_type": "image/jpeg", "file_size": 3_000_000 + i, "width": 4000, "height": 3000,
                "uploaded_at": uploaded_at - timedelta(seconds=i), "taken_at": when, "sorted_at": when,
                "camera_make": "Bench", "camera_model": "Seeder",
            })
        for start in range(0, count, CHUNK):
            db.session.execute(insert(Photo.__table__), rows[start:start + CHUNK])
        db.session.commit()
        recount_photos()  # a Core insert passes the ORM events that keep the users' photo counts
        rows_seconds = time.perf_counter() - started

        linked = 0
        if files:
            root = storage.photos_root(app.config["DATA_DIR"])
            content = tiny_jpeg()
            made_dirs = set()
            for original in paths:
                for size in ("grid", "preview"):
                    if linked % LINKS_PER_FILE == 0:  # ext4 allows 65 000 links to one inode
                        source = root / "thumbnails" / f".bench-tiny-{linked // LINKS_PER_FILE}.jpg"
                        source.parent.mkdir(parents=True, exist_ok=True)
                        source.write_bytes(content)
                    target = root / thumbnails.thumbnail_path(original, size, "jpg")
                    if target.parent not in made_dirs:
                        target.parent.mkdir(parents=True, exist_ok=True)
                        made_dirs.add(target.parent)
                    os.link(source, target)
                    linked += 1
        db.session.remove()
        db.engine.dispose()
    return {"rows": count, "rows_seconds": rows_seconds, "links": linked,
            "seconds": time.perf_counter() - started, "owner_id": owner_id}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--user", required=True)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--no-files", action="store_true", help="rows only, no thumbnail files")
    args = parser.parse_args()
    result = seed(args.user, args.count, files=not args.no_files)
    print(f"seeded {result['rows']} photos in {result['rows_seconds']:.1f} s, "
          f"{result['links']} thumbnail links, {result['seconds']:.1f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
