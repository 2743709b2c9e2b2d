"""A photo's page at scale: 100,000 photos organised as bench_library.py's (1,000 albums, 5,000 tags),
indexed for search; one photo in the middle of the large album and the large tag, opened from the grid,
from that album, from that tag and from a search for the tag's word (its arrows step through each), as
a first visit (the way back worked out by the statement) and as one from the grid page that shows it;
and one in the middle of a small tag, opened from that tag and from a search for its name (what a
large tag's or a common word's shortcut must not make slow).

Statements per page (benchapp's X-Bench-SQL; the goal, at most 3), CPU ms per request in-process, and
wrk's latencies (shown, not judged), cached (as configured) and uncached (NullCache).

  python tests/benchmarks/bench_photo_page.py [--count 100000] [--seconds 12]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[2])]

from benchlib import (  # noqa: E402
    BENCH_DIR,
    USERNAME,
    Instance,
    cookie_header,
    cpu_per_request,
    goal_table,
    gunicorn,
    header,
    login,
    print_table,
    run_wrk,
    workdir,
)
from bench_grid import VARIANTS, app_spec, statements  # noqa: E402

GOAL_STATEMENTS = 3  # the goal; wrk's latencies are shown, not judged

# The photo: in the large album and the large tag, half way down the album by date taken; and the grid
# page cursor (newest first) that shows it, as a link from that page carries it.
PHOTO_CODE = """
import json
from sqlalchemy import select
from app import create_app
from app.extensions import db
from app.models import AlbumPhoto, Photo, PhotoTag, Tag, User
from app.services.photos import encode_cursor
app = create_app()
album, tag = json.loads(__import__("sys").argv[1])
with app.app_context():
    owner = db.session.scalar(select(User.id).where(User.username == %r))
    query = (select(Photo).where(Photo.owner_id == owner, Photo.trashed_at.is_(None),
                                 Photo.id.in_(select(AlbumPhoto.photo_id).where(AlbumPhoto.album_id == album)),
                                 Photo.id.in_(select(PhotoTag.photo_id).where(PhotoTag.tag_id == tag)))
             .order_by(Photo.sorted_at.desc(), Photo.id.desc()))
    total = db.session.scalar(select(db.func.count()).select_from(query.subquery()))
    photo = db.session.scalars(query.offset(total // 2).limit(1)).one()
    newer = db.session.scalars(select(Photo).where(Photo.owner_id == owner, Photo.trashed_at.is_(None),
                                                   db.tuple_(Photo.sorted_at, Photo.id) > (photo.sorted_at, photo.id))
                               .order_by(Photo.sorted_at.asc(), Photo.id.asc()).limit(1)).one()
    # A small tag (5 to 60 photos) and a photo in the middle of it, for a tag's and a rare word's cost.
    small_tag = db.session.scalar(select(Tag.id).where(Tag.owner_id == owner, Tag.name_key == %r))
    small = (select(Photo.id).where(Photo.owner_id == owner, Photo.trashed_at.is_(None),
                                    Photo.id.in_(select(PhotoTag.photo_id).where(PhotoTag.tag_id == small_tag)))
             .order_by(Photo.sorted_at.desc(), Photo.id.desc()))
    small_ids = db.session.scalars(small).all()
    print(json.dumps({"id": photo.id, "cursor": encode_cursor(newer), "small_tag_id": small_tag,
                      "small_id": small_ids[len(small_ids) // 2], "small_count": len(small_ids)}))
"""
SMALL_TAG = "tag 0001"  # seed_library.py's tags besides the large one: "tag 0001" ... on 5 to 60 photos each
SMALL_WORDS = '%22tag+0001%22'  # the phrase "tag 0001": only that tag's photos (each word alone is on many)


def seed(instance: Instance, count: int) -> dict:
    for script, extra in (("seed_grid.py", ["--count", str(count)]), ("seed_library.py", [])):
        done = subprocess.run([sys.executable, str(BENCH_DIR / script), "--user", USERNAME, *extra],
                              env=instance.env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(done.stderr)
        print(" ", done.stdout.strip())
    seeded = {name: int(value) for name, value in (part.split("=", 1) for part in done.stdout.split() if "=" in part)}
    print(" ", instance.flask("search", "rebuild").strip())
    return seeded


def the_photo(instance: Instance, seeded: dict) -> dict:
    result = subprocess.run([sys.executable, "-c", PHOTO_CODE % (USERNAME, SMALL_TAG),
                             json.dumps([seeded["large_album_id"], seeded["large_tag_id"]])],
                            env=instance.env, capture_output=True, text=True, cwd=instance.workdir)
    if result.returncode != 0:
        raise RuntimeError(result.stderr)
    return json.loads(result.stdout.strip().splitlines()[-1])


def measure(instance: Instance, options: dict, urls: dict[str, str], seconds: int) -> dict:
    figures = {"cpu": cpu_per_request(instance, options, list(urls.values()))}
    with gunicorn(instance, app_spec=app_spec(options)) as server:
        session = login(server.base)
        for name, url in urls.items():
            figures[f"{name} statements"] = statements(login(server.base), server.base + url)
            figures[name] = run_wrk(server.base + url, cookie_header(session), seconds=seconds)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=6)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args()
    header(f"A photo's page: {args.count} photos, 1,000 albums, 5,000 tags; from the grid, an album, a tag, a search")
    with workdir("photo_page") as tmp:
        instance = Instance(tmp).setup()
        seeded = seed(instance, args.count)
        photo = the_photo(instance, seeded)
        path = f"/photos/{photo['id']}"
        urls = {"grid": path, "grid, from its page": f"{path}?older={photo['cursor']}",
                "large album": f"{path}?album_id={seeded['large_album_id']}",
                "large tag": f"{path}?tag_id={seeded['large_tag_id']}",
                "search (the tag's word)": f"{path}?search=1&q=holiday",
                f"small tag ({photo['small_count']} photos)": f"/photos/{photo['small_id']}?tag_id={photo['small_tag_id']}",
                "search (the small tag's words)": f"/photos/{photo['small_id']}?search=1&q={SMALL_WORDS}"}
        results = {mode: measure(instance, VARIANTS[mode][0], urls, args.seconds)
                   for mode in args.variants.split(",")}
    rows, goals = [], []
    for mode, figures in results.items():
        for name, url in urls.items():
            f, count = figures[name], figures[f"{name} statements"]
            rows.append([mode, name, f"{figures['cpu'][url]:.2f}", f"{f['requests_per_s']:.0f}", f"{f['p50']:.1f}",
                         f"{f['p99']:.1f}", f["errors"], count])
            goals.append((f"{mode}: {name} SQL statements", str(count), f"≤ {GOAL_STATEMENTS}",
                          count <= GOAL_STATEMENTS))
    print_table("photo page", ["cache", "opened from", "CPU ms/req", "req/s", "p50 ms", "p99 ms", "errors",
                               "statements"], rows)
    return 0 if all(goal_table("photo page goals", goals)) else 1


if __name__ == "__main__":
    sys.exit(main())
