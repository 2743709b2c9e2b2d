"""The API's photo list at scale: GET /api/v1/photos, page 1 and page 1000 (--deep-page) of 100 000 photos of one
user, under 16 concurrent connections, signed in by a personal API token (Authorization: Bearer).

Seeded, served and loaded as bench_grid.py does (seed_grid.py, gunicorn with 2 workers, wrk), with
the token made by `flask tokens create`. The list reads the grid's own page through its cache
(services/photos.grid_page), so its figures should be the grid's: the statements are the token's
look-up plus the grid's 0 (warm) or 1 (cold) reads. Measured as configured (cached) and with every
cached read a miss (uncached, p99 shown, not judged, as in bench_grid.py).

  python tests/benchmarks/bench_api.py [--count 100000] [--deep-page 1000] [--seconds 20] [--connections 16]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import requests

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[2])]

from bench_grid import DEEP_PAGE, VARIANTS, app_spec, deep_cursor  # noqa: E402
from benchlib import (  # noqa: E402
    BENCH_DIR,
    USERNAME,
    Instance,
    cpu_per_request,
    goal_table,
    gunicorn,
    header,
    print_table,
    workdir,
    wrk_in_turns,
)

GOAL_P99_MS, GOAL_STATEMENTS = 50.0, 3
ROUNDS = 4
DEEP = "deep page"


def statements(session: requests.Session, url: str) -> tuple[int, dict]:
    response = session.get(url, timeout=30)
    response.raise_for_status()
    return int(response.headers["X-Bench-SQL"]), response.json()


def measure(instance: Instance, label: str, options: dict, args, token: str, urls: dict[str, str],
            deep_first_id: int) -> dict:
    figures: dict = {"cpu": cpu_per_request(instance, options, list(urls.values()))}  # (by its session cookie)
    auth = {"Authorization": f"Bearer {token}"}
    with gunicorn(instance, app_spec=app_spec(options)) as server:
        for name, url in urls.items():
            session = requests.Session()
            session.headers.update(auth)
            cold, page = statements(session, server.base + url)
            warm = min(statements(session, server.base + url)[0] for _ in range(4))  # both workers served it
            figures[f"{name} statements"] = (cold, warm)
            figures[f"{name} photos"] = len(page["photos"])
            if name == DEEP:
                figures["deep_first_ok"] = bool(page["photos"]) and page["photos"][0]["id"] == deep_first_id
        figures |= wrk_in_turns({name: server.base + url for name, url in urls.items()}, ROUNDS, args.seconds,
                                connections=args.connections, headers=auth)
        for name in urls:
            print(f"  {label} {name}: {figures[name]['requests_per_s']:.0f} requests/s", file=sys.stderr, flush=True)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--deep-page", type=int, default=DEEP_PAGE, help="needs --count of at least this many pages")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated: " + ", ".join(VARIANTS))
    args = parser.parse_args()
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]

    header(f"API photo list at scale: {args.count} photos of one user, GET /api/v1/photos page 1 and page "
           f"{args.deep_page}, {args.connections} connections for {args.seconds} s each (wrk), gunicorn 2 workers")
    with workdir("api") as tmp:
        instance = Instance(tmp).setup()
        started = time.perf_counter()
        seeded = subprocess.run([sys.executable, str(BENCH_DIR / "seed_grid.py"), "--user", USERNAME,
                                 "--count", str(args.count)], env=instance.env, capture_output=True, text=True)
        if seeded.returncode != 0:
            raise RuntimeError(seeded.stderr)
        print(" ", seeded.stdout.strip(), f"(with start-up: {time.perf_counter() - started:.1f} s)")
        token = instance.flask("tokens", "create", "benchmark", "--user", USERNAME).strip().splitlines()[-1]
        cursor, deep_first_id, page_size = deep_cursor(instance, args.deep_page)
        urls = {"page 1": "/api/v1/photos", DEEP: f"/api/v1/photos?older={cursor}"}
        results = {name: measure(instance, name, VARIANTS[name][0], args, token, urls, deep_first_id)
                   for name in variants}

    rows = []
    for mode, figures in results.items():
        for name in urls:
            f = figures[name]
            cold, warm = figures[f"{name} statements"]
            rows.append([mode, name, f"{figures['cpu'][urls[name]]:.2f}", f"{f['requests_per_s']:.0f}", f"{f['p50']:.1f}", f"{f['p90']:.1f}",
                         f"{f['p99']:.1f}", f["errors"], f"{cold} / {warm}"])
    print_table(f"GET /api/v1/photos ({page_size} photos a page, the deep page is page {args.deep_page}; latency in ms, p99 the worse of {ROUNDS} rounds)",
                ["variant", "page", "CPU ms/request in-process", "requests/s", "p50", "p90", "p99", "errors", "SQL statements cold / warm"], rows)

    goals = []
    for mode, figures in results.items():
        judged = mode == "cached"  # as bench_grid.py: the latency goal is the gallery's as configured
        latency_goal = f"≤ {GOAL_P99_MS:g} ms" if judged else "(info)"
        worst = max(max(figures[f"{name} statements"]) for name in urls)
        errors = sum(figures[name]["errors"] for name in urls)
        goals += [(f"{mode}: {name} p99", f"{figures[name]['p99']:.1f} ms", latency_goal,
                   figures[name]["p99"] <= GOAL_P99_MS or not judged) for name in urls]
        goals += [
            (f"{mode}: SQL statements per page, worst", str(worst), f"≤ {GOAL_STATEMENTS}", worst <= GOAL_STATEMENTS),
            (f"{mode}: errors", str(errors), "0", not errors),
            (f"{mode}: {DEEP} starts at the expected photo", "yes" if figures["deep_first_ok"] else "no", "yes",
             figures["deep_first_ok"]),
            (f"{mode}: full pages", "yes" if all(figures[f"{n} photos"] == page_size for n in urls) else "no", "yes",
             all(figures[f"{n} photos"] == page_size for n in urls)),
        ]
    verdicts = goal_table("API list goals", goals)
    return 0 if all(verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
