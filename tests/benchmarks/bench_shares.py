"""A shared album page against its owner's: the same album of the organised library (seed_grid.py's 100 000
photos, seed_library.py's albums), the same pages (page 1 and the deepest up to 1000, cursor from the
data), the owner's URL signed in and the share link's URL as a visitor opens it (no account, no cookie),
cached as configured and uncached (NullCache).

The shared page costs what the owner's does (the grid's query and cache) plus the token's look-up and
the view count (services/shares.count_view: two cache calls, a row write at most once a minute). Figures:
wrk's requests/s and latencies (16 connections, the two URLs taking turns), CPU per request in-process
(cpu_probe.py: signed in for both, so the shared page's figure includes the session's check it would not
need), SQL statements per request (benchapp's X-Bench-SQL).

  python tests/benchmarks/bench_shares.py [--count 100000] [--seconds 12] [--variants cached,uncached]
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import requests

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[2])]

from bench_grid import VARIANTS, app_spec  # noqa: E402
from bench_library import deep_pages, with_cursor  # noqa: E402
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
    workdir,
    wrk_in_turns,
)

GOAL_RATIO, GOAL_STATEMENTS = 1.10, 3
ROUNDS = 3

SHARE_CODE = """
from sqlalchemy import select
from app import create_app
from app.extensions import db
from app.models import User
from app.services import shares
app = create_app()
with app.app_context():
    owner = db.session.scalar(select(User).where(User.username == %r))
    link, token = shares.share_album(owner, %d, False, shares.ShareOptions())
    print(token)
"""


def first_photo_id(html: str) -> int:
    """The first tile's photo id, on the owner's grid (/photos/ID) and the shared one (/s/TOKEN/photos/ID)."""
    match = re.search(r'<ul class="grid[^"]*"[^>]*>.*?href="[^"]*/photos/(\d+)', html, re.S)
    return int(match.group(1)) if match else -1


def share_album(instance: Instance, album_id: int) -> str:
    """A token of a new link to the album (no password, nothing stripped but the default)."""
    result = subprocess.run([sys.executable, "-c", SHARE_CODE % (USERNAME, album_id)], env=instance.env,
                            capture_output=True, text=True, cwd=instance.workdir)
    if result.returncode != 0:
        raise RuntimeError(result.stderr)
    return result.stdout.strip().splitlines()[-1]


def statements(session: requests.Session, url: str) -> tuple[int, int]:
    """SQL statements of the URL's first request and of the least of four after it (cold, warm)."""
    counts = []
    for _ in range(5):
        response = session.get(url, timeout=30)
        response.raise_for_status()
        counts.append(int(response.headers["X-Bench-SQL"]))
    return counts[0], min(counts[1:])


def measure(instance: Instance, options: dict, urls: dict[str, tuple[str, bool]], expected_first: dict,
            seconds: int) -> dict:
    """urls: name -> (path, signed in). CPU, first photo checked, statements, then wrk in turns."""
    figures = {"cpu": cpu_per_request(instance, options, [path for path, _ in urls.values()])}
    with gunicorn(instance, app_spec=app_spec(options)) as server:
        owner = login(server.base)
        for name, (path, signed_in) in urls.items():
            session = login(server.base) if signed_in else requests.Session()
            figures[f"{name} first ok"] = first_photo_id(session.get(server.base + path, timeout=30).text) == \
                expected_first[name]
            figures[f"{name} statements"] = statements(session, server.base + path)
        cookie = cookie_header(owner)
        figures |= wrk_in_turns({name: server.base + path for name, (path, _) in urls.items()}, ROUNDS, seconds,
                                cookie, anonymous=tuple(name for name, (_, signed_in) in urls.items() if not signed_in))
        for name in urls:
            print(f"  {name}: {figures[name]['requests_per_s']:.0f} requests/s", file=sys.stderr, flush=True)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=12)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args()
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]

    header(f"A shared album page against its owner's: {args.count} photos, the large album of seed_library.py, "
           f"page 1 and a deep page, wrk 16 connections, gunicorn 2 workers")
    with workdir("shares") as tmp:
        instance = Instance(tmp).setup()
        for script, extra in (("seed_grid.py", ["--count", str(args.count)]), ("seed_library.py", ["--trash", "0"])):
            done = subprocess.run([sys.executable, str(BENCH_DIR / script), "--user", USERNAME, *extra],
                                  env=instance.env, capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(done.stderr)
            print(" ", done.stdout.strip())
        seeded = {name: int(value) for name, value in (part.split("=", 1) for part in done.stdout.split() if "=" in part)}
        album_id = seeded["large_album_id"]
        first, cursor, deep_first, page, total = deep_pages(instance, {"album": {"album_id": album_id}})["album"]
        token = share_album(instance, album_id)
        print(f"  album {album_id}: {total} photos, deepest page measured {page}")
        urls, expected_first = {}, {}
        for label, cursor_of, first_id in (("p1", None, first), (f"p{page}", cursor, deep_first)):
            urls[f"owner {label}"] = (with_cursor(f"/albums/{album_id}", cursor_of), True)
            urls[f"shared {label}"] = (with_cursor(f"/s/{token}", cursor_of), False)
            expected_first[f"owner {label}"] = expected_first[f"shared {label}"] = first_id
        results = {mode: measure(instance, VARIANTS[mode][0], urls, expected_first, args.seconds) for mode in variants}

    rows, goals = [], []
    for mode, figures in results.items():
        for name, (path, _) in urls.items():
            f = figures[name]
            cold, warm = figures[f"{name} statements"]
            rows.append([mode, name, f"{figures['cpu'][path]:.2f}", f"{f['requests_per_s']:.0f}", f"{f['p50']:.1f}",
                         f"{f['p99']:.1f}", f["errors"], f"{cold} / {warm}"])
            goals.append((f"{mode}: {name} starts at the expected photo", "yes" if figures[f"{name} first ok"] else "no",
                          "yes", figures[f"{name} first ok"]))
            goals.append((f"{mode}: {name} errors", str(f["errors"]), "0", f["errors"] == 0))
        for label in {name.split()[1] for name in urls}:
            owner, shared = f"owner {label}", f"shared {label}"
            cpu_ratio = figures["cpu"][urls[shared][0]] / figures["cpu"][urls[owner][0]]
            p99_ratio = figures[shared]["p99"] / figures[owner]["p99"]
            judged = mode == "cached"
            goals.append((f"{mode}: {label} shared / owner CPU per request", f"{cpu_ratio:.2f}×",
                          f"≤ {GOAL_RATIO:.2f}×" if judged else "(info)", cpu_ratio <= GOAL_RATIO or not judged))
            goals.append((f"{mode}: {label} shared / owner p99", f"{p99_ratio:.2f}×",
                          f"≤ {GOAL_RATIO:.2f}×" if judged else "(info)", p99_ratio <= GOAL_RATIO or not judged))
            # warm: a page as it is served but for the first view of a minute, which writes the view count
            # (and, in a worker's first request, reads the grid's rows): the cold figure, shown in the table
            warm = figures[f"{shared} statements"][1]
            goals.append((f"{mode}: {label} shared page SQL statements (warm)", str(warm),
                          f"≤ {GOAL_STATEMENTS}" if judged else "(info)", warm <= GOAL_STATEMENTS or not judged))
    print_table("Owner's album page and its share link's page (latency in ms; p99 the worse of the rounds)",
                ["variant", "page", "CPU ms/request in-process", "requests/s", "p50", "p99", "errors",
                 "SQL statements cold / warm"], rows)
    verdicts = goal_table("Shared page goals", goals)
    return 0 if all(verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
