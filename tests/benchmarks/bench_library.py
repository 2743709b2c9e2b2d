"""An organised library at scale: 100,000 photos with 1,000 albums, 5,000 tags, 10 % favourites and
ratings; album, tag, favourites and rating pages, a selection of 1,000 photos, and purge-trash of
10,000 photos while the grid is being read.

Seeded by seed_grid.py and seed_library.py, served by gunicorn (2 workers), loaded with wrk (16
connections), signed in through the login form. Deep pages are reached by the keyset cursor computed
from the data with the gallery's own query, and checked against the page the server sends.

  python tests/benchmarks/bench_library.py [--count 100000] [--seconds 12] [--trash 11000]
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[2])]

from benchlib import (  # noqa: E402
    BENCH_DIR,
    USERNAME,
    Instance,
    cookie_header,
    cpu_per_request,
    csrf_token,
    goal_table,
    gunicorn,
    header,
    login,
    median,
    print_table,
    run_wrk,
    wrk_in_turns,
    workdir,
)
from bench_grid import VARIANTS, app_spec, first_photo_id, statements  # noqa: E402

GOAL_P99_MS, GOAL_STATEMENTS, GOAL_SELECTION_S = 50.0, 3, 1.0
DEEP_PAGE = 1000
ROUNDS = 3
SELECTED = 1000

# Each page: (name, path, GridOptions keyword arguments it shows, query arguments). Filled in by pages().
PAGE_CODE = """
import json, sys
from sqlalchemy import select
from app import create_app
from app.extensions import db
from app.models import User
from app.services.photos import GridOptions, SORTS, encode_cursor, grid_photos
from app.models import Photo
app = create_app()
size = app.config["PAGE_SIZE"]
wanted = json.loads(sys.argv[1])
out = {}
with app.app_context():
    owner = db.session.scalar(select(User.id).where(User.username == %r))
    for name, options in wanted.items():
        grid = GridOptions(**options)
        column = SORTS[grid.sort]
        query = grid_photos(owner, grid).with_only_columns(column, Photo.id).order_by(column.desc(), Photo.id.desc())
        total = db.session.scalar(grid_photos(owner, grid).with_only_columns(db.func.count()))
        page = min(%d, max(1, -(-total // size)))
        first = db.session.execute(query.limit(1)).first()
        if first is None:
            raise SystemExit(f"{name}: no photos: {options}")
        first = first[1]
        if page == 1:
            out[name] = [first, None, None, page, total]
            continue
        before = db.session.execute(query.offset((page - 1) * size - 1).limit(2)).all()
        out[name] = [first, encode_cursor(before[0], grid.sort), before[1][1], page, total]
print(json.dumps(out))
"""


def deep_pages(instance: Instance, wanted: dict[str, dict]) -> dict[str, list]:
    """name -> [page 1's first photo id, cursor of the deepest page up to DEEP_PAGE and its first
    photo's id (None, None when that is page 1), that page's number, photos shown in all]."""
    result = subprocess.run([sys.executable, "-c", PAGE_CODE % (USERNAME, DEEP_PAGE), json.dumps(wanted)],
                            env=instance.env, capture_output=True, text=True, cwd=instance.workdir)
    if result.returncode != 0:
        raise RuntimeError(result.stderr)
    return json.loads(result.stdout.strip().splitlines()[-1])


def pages(seeded: dict) -> dict[str, tuple[str, dict]]:
    """name -> (path and query of page 1, GridOptions keyword arguments)."""
    large, small = seeded["large_tag_id"], seeded["small_tag_id"]
    found = {
        "large tag": (f"/tags/{large}", {"tag_id": large}),
        "small tag": (f"/tags/{small}", {"tag_id": small}),
        "favourites": ("/?favourites=1", {"favourites": True}),
        "rating ≥ 1": ("/?rating=1", {"rating": 1}),
        "rating ≥ 4": ("/?rating=4", {"rating": 4}),
    }
    for size in ("large", "small"):
        album_id = seeded[f"{size}_album_id"]
        found[f"{size} album"] = (f"/albums/{album_id}", {"album_id": album_id})
    return found


def with_cursor(path: str, cursor: str | None) -> str:
    if cursor is None:
        return path
    return f"{path}{'&' if '?' in path else '?'}older={cursor}"


def measure_pages(instance, options, urls, expected_first, args) -> dict:
    figures = {"cpu": cpu_per_request(instance, options, list(urls.values()))}
    with gunicorn(instance, app_spec=app_spec(options)) as server:
        session = login(server.base)
        for name, url in urls.items():
            figures[f"{name} first ok"] = first_photo_id(session.get(server.base + url, timeout=30).text) == \
                expected_first[name]
            fresh = login(server.base)
            figures[f"{name} statements"] = (statements(fresh, server.base + url),
                                             min(statements(fresh, server.base + url) for _ in range(3)))
        cookie = cookie_header(session)
        figures |= wrk_in_turns({name: server.base + url for name, url in urls.items()}, ROUNDS, args.seconds, cookie)
    return figures


def selection_actions(instance: Instance, seeded: dict) -> dict[str, list[float]]:
    """Seconds per request of each action on SELECTED photos, each way, 5 times (client-side on loopback,
    so the form's parsing and the redirect are in it)."""
    ids = [str(i) for i in json.loads(subprocess.run(
        [sys.executable, "-c", f"""
import json
import re
from sqlalchemy import select
from app import create_app
from app.extensions import db
from app.models import Photo, User
app = create_app()
with app.app_context():
    owner = db.session.scalar(select(User.id).where(User.username == {USERNAME!r}))
    ids = list(db.session.scalars(select(Photo.id).where(Photo.owner_id == owner, Photo.trashed_at.is_(None))
                                  .order_by(Photo.id)))
    print(json.dumps(ids[::max(1, len(ids) // {SELECTED})][:{SELECTED}]))  # spread over the library
"""], env=instance.env, capture_output=True, text=True, check=True, cwd=instance.workdir).stdout)]
    pairs = [({"action": "favourite"}, {"action": "unfavourite"}),
             ({"action": "rate", "rating": "3"}, {"action": "rate", "rating": "0"}),
             ({"action": "trash"}, {"action": "restore"})]
    album = str(seeded["small_album_id"])
    pairs.append(({"action": "add_to_album", "album_id": album}, {"action": "remove_from_album", "from_album": album}))
    timings: dict[str, list[float]] = {}
    with gunicorn(instance) as server:
        session = login(server.base)
        token = csrf_token(session.get(server.base + "/", timeout=30).text)
        for there, back in pairs:
            for form in (there, back) * 5:
                started = time.perf_counter()
                response = session.post(server.base + "/selection", data={**form, "ids": ids, "csrf_token": token},
                                        headers={"Accept": "application/json"}, timeout=60)
                elapsed = time.perf_counter() - started
                if response.status_code != 200 or response.json()["selected"] != SELECTED:
                    raise RuntimeError(f"{form}: {response.status_code} {response.text[:300]}")
                name = f"{form['action']} {form.get('rating', '')}".strip()
                timings.setdefault(name, []).append(elapsed)
    return timings


# `flask gallery purge-trash` as cron runs it, printing its peak RSS as it exits; limited to `limit`
# photos by HOLD_CODE, which makes every trashed photo due and then moves all but `limit` of them to now.
PURGE_CODE = """
import atexit, re, sys, time
from flask.cli import main
started = time.perf_counter()
atexit.register(lambda: print("PURGED", time.perf_counter() - started,
                              int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1)) / 1024))
sys.argv = ["flask", "--app", "app", "gallery", "purge-trash"]
main()
"""

HOLD_CODE = """
import sys
from sqlalchemy import select, update
from app import create_app
from app.extensions import db
from datetime import timedelta
from app.models import Photo, utcnow
app = create_app()
with app.app_context():
    long_ago = utcnow() - timedelta(days=app.config["TRASH_DAYS"] + 1)
    db.session.execute(update(Photo).where(Photo.trashed_at.is_not(None)).values(trashed_at=long_ago))
    due = select(Photo.id).where(Photo.trashed_at.is_not(None), Photo.trashed_at < utcnow()).order_by(
        Photo.trashed_at, Photo.id).offset(int(sys.argv[1])).scalar_subquery()
    held = db.session.execute(update(Photo).where(Photo.id.in_(due)).values(trashed_at=utcnow())).rowcount
    db.session.commit()
    print(held)
"""


def purge(instance: Instance, limit: int) -> tuple[int, float, float]:
    """(photos deleted, seconds, peak RSS MB) of `flask gallery purge-trash` in a process of its own, with
    at most `limit` photos due (the rest are held back)."""
    subprocess.run([sys.executable, "-c", HOLD_CODE, str(limit)], env=instance.env, check=True,
                   capture_output=True, cwd=instance.workdir)
    result = subprocess.run([sys.executable, "-c", PURGE_CODE], env=instance.env,
                            capture_output=True, text=True, cwd=instance.workdir)
    if result.returncode != 0:
        raise RuntimeError(result.stderr)
    deleted = int(re.search(r"Deleted (\d+) photo", result.stdout).group(1))
    seconds, peak = re.search(r"PURGED (\S+) (\S+)", result.stdout).groups()
    return deleted, float(seconds), float(peak)


def purge_under_load(instance: Instance, limit: int, seconds: int) -> dict:
    """The grid's page 1 under wrk before and while purge-trash deletes `limit` photos."""
    with gunicorn(instance) as server:
        cookie = cookie_header(login(server.base))
        before = run_wrk(server.base + "/", cookie, seconds=seconds)
        outcome: dict = {}
        worker = threading.Thread(target=lambda: outcome.update(zip(("deleted", "seconds", "peak"),
                                                                    purge(instance, limit))))
        worker.start()
        time.sleep(0.5)  # the purge's start-up is not the purge
        during = run_wrk(server.base + "/", cookie, seconds=seconds)
        worker.join()
    return {"before": before, "during": during, **outcome}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=12)
    parser.add_argument("--trash", type=int, default=11_000, help="1,000 purged alone, the rest under load")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args()
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]

    header(f"4. An organised library: {args.count} photos, tags, favourites, ratings; pages, a selection of "
           f"{SELECTED}, purge-trash of {args.trash - 1000} under load")
    with workdir("library") as tmp:
        instance = Instance(tmp).setup()
        for script, extra in (("seed_grid.py", ["--count", str(args.count)]),
                              ("seed_library.py", ["--trash", str(args.trash)])):
            done = subprocess.run([sys.executable, str(BENCH_DIR / script), "--user", USERNAME, *extra],
                                  env=instance.env, capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(done.stderr)
            print(" ", done.stdout.strip())
        seeded = dict(part.split("=", 1) for part in done.stdout.split() if "=" in part)
        seeded = {name: int(value) for name, value in seeded.items()}
        found = pages(seeded)
        deep = deep_pages(instance, {name: options for name, (_, options) in found.items()})
        urls, expected_first = {}, {}
        for name, (path, _) in found.items():
            first, cursor, deep_first, page, total = deep[name]
            urls[f"{name} p1"], expected_first[f"{name} p1"] = path, first
            if cursor is not None:
                urls[f"{name} p{page}"], expected_first[f"{name} p{page}"] = with_cursor(path, cursor), deep_first
            print(f"  {name}: {total} photos, deepest page measured {page}")
        results = {mode: measure_pages(instance, VARIANTS[mode][0], urls, expected_first, args) for mode in variants}
        timings = selection_actions(instance, seeded)
        alone = purge(instance, 1000)
        loaded = purge_under_load(instance, args.trash - 1000, args.seconds)

    rows, goals = [], []
    for mode, figures in results.items():
        for name, url in urls.items():
            f = figures[name]
            cold, warm = figures[f"{name} statements"]
            rows.append([mode, name, f"{figures['cpu'][url]:.2f}", f"{f['requests_per_s']:.0f}", f"{f['p50']:.1f}",
                         f"{f['p99']:.1f}", f["errors"], f"{cold} / {warm}"])
            if mode == "cached":
                goals.append((f"{name} p99", f"{f['p99']:.1f} ms", f"≤ {GOAL_P99_MS:g} ms", f["p99"] <= GOAL_P99_MS))
            worst = max(cold, warm)
            goals.append((f"{mode}: {name} SQL statements", str(worst), f"≤ {GOAL_STATEMENTS}",
                          worst <= GOAL_STATEMENTS))
            ok = figures[f"{name} first ok"]
            goals.append((f"{mode}: {name} starts at the expected photo", "yes" if ok else "no", "yes", ok))
    print_table("Library pages (latency in ms; p99 the worse of the rounds)",
                ["variant", "page", "CPU ms/request in-process", "requests/s", "p50", "p99", "errors",
                 "SQL statements cold / warm"], rows)
    print_table(f"A selection of {SELECTED} photos (seconds a request, 5 each)",
                ["action", "median", "worst"], [[name, f"{median(t):.3f}", f"{max(t):.3f}"]
                                                for name, t in timings.items()])
    for name, t in timings.items():
        goals.append((f"selection of {SELECTED}: {name}, worst", f"{max(t):.3f} s", f"≤ {GOAL_SELECTION_S:g} s",
                      max(t) <= GOAL_SELECTION_S))
    print_table("purge-trash", ["photos", "seconds", "peak RSS MB"],
                [[alone[0], f"{alone[1]:.1f}", f"{alone[2]:.0f}"],
                 [loaded["deleted"], f"{loaded['seconds']:.1f}", f"{loaded['peak']:.0f}"]])
    before, during = loaded["before"], loaded["during"]
    print_table("The grid's page 1 before and while purge-trash runs", ["when", "requests/s", "p50", "p99", "errors"],
                [[w, f"{r['requests_per_s']:.0f}", f"{r['p50']:.1f}", f"{r['p99']:.1f}", r["errors"]]
                 for w, r in (("before", before), ("during", during))])
    growth = loaded["peak"] - alone[2]
    goals += [
        (f"purge-trash: peak RSS of {loaded['deleted']} over {alone[0]} photos", f"+{growth:.0f} MB", "≤ +10 MB",
         growth <= 10),
        ("grid page 1 p99 while purging", f"{during['p99']:.1f} ms", f"≤ {GOAL_P99_MS:g} ms",
         during["p99"] <= GOAL_P99_MS),
        ("grid errors while purging", str(during["errors"]), "0", during["errors"] == 0),
    ]
    verdicts = goal_table("Library goals", goals)
    return 0 if all(verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
