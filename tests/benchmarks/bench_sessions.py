"""Generation sessions list at scale: 10 000 sessions of one user, 4 candidates each; page 1 and a deep
page under 16 concurrent connections.

Rows go in by bulk insert (no thumbnail files: the page only links them). Served by gunicorn (2 workers),
loaded with wrk, signed in with a real login's cookie; statements per page from benchapp's X-Bench-SQL
header; CPU ms per request in-process (cpu_probe.py, the figure load disturbs least), with the list's
HTML cache as configured and without it (NullCache: every page's list made again). The deep page is reached by the keyset cursor of the row just before it, computed from the data.

  python tests/benchmarks/bench_sessions.py [--count 10000] [--seconds 12] [--connections 16]
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[2])]

from benchlib import (  # noqa: E402
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

GOAL_P99_MS, GOAL_STATEMENTS = 50.0, 3
CANDIDATES = 4

# Run in the instance's environment: seeds `count` sessions and prints the deep page's cursor and first id.
SEED = """
import random, sys
from datetime import datetime, timedelta
from sqlalchemy import insert, select
from app import create_app
from app.extensions import db
from app.models import GenerationImage, GenerationSession, User
from app.services.session_list import SESSIONS_PER_PAGE
from app.services.photos import _cursor
count, deep_page = int(sys.argv[1]), int(sys.argv[2])
STATES = ["done"] * 8 + ["failed", "canceled", "queued", "in_progress"]
app = create_app()
rng = random.Random(20261205)
with app.app_context():
    owner = db.session.scalar(select(User.id).where(User.username == "%s"))
    newest = datetime(2026, 12, 1, 12, 0, 0)
    for start in range(0, count, 2000):
        ids = range(start + 1, min(count, start + 2000) + 1)
        db.session.execute(insert(GenerationSession), [dict(
            id=i, owner_id=owner, batch_id=f"bench-{i}", created_at=newest - timedelta(minutes=(count - i) // 2),
            prompt=f"session {i}: a lighthouse on a rocky coast at dusk, volumetric light, " * 3, negative_prompt="",
            model_key="key", model_name="Juggernaut XL v9", model_hash="hash", model_base="sdxl", width=1024,
            height=1024, steps=30, cfg_scale=7.0, scheduler="euler", canceled=False) for i in ids])
        db.session.execute(insert(GenerationImage), [dict(
            session_id=i, seed_index=k, seed=k, state=(state := rng.choice(STATES)),
            decision="kept" if state == "done" and rng.random() < .3 else "undecided",
            sha256=f"{i:08d}{k}".ljust(64, "0") if state == "done" else None,
            file_path=f"generated/sessions/{i}/{k}.png" if state == "done" else None,
            thumbnail_ext="jpg" if state == "done" else None) for i in ids for k in range(%d)])
        db.session.commit()
    order = select(GenerationSession.created_at, GenerationSession.id).where(
        GenerationSession.owner_id == owner).order_by(GenerationSession.created_at.desc(), GenerationSession.id.desc())
    before = db.session.execute(order.offset((deep_page - 1) * SESSIONS_PER_PAGE - 1).limit(1)).one()
    first = db.session.execute(order.offset((deep_page - 1) * SESSIONS_PER_PAGE).limit(1)).one()
    print(_cursor("session", before.created_at, before.id), first.id)
""" % (USERNAME, CANDIDATES)


def statements(session, url: str) -> int:
    response = session.get(url, timeout=30)
    response.raise_for_status()
    return int(response.headers["X-Bench-SQL"])


def first_session_id(html: str) -> int:
    match = re.search(r'data-session-id="(\d+)"', html)
    return int(match.group(1)) if match else -1


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=12)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    deep_page = max(2, args.count // 30 - 1)  # 30 a page (session_list.SESSIONS_PER_PAGE): near the end
    header(f"Generation sessions list: {args.count} sessions of one user ({CANDIDATES} candidates each), "
           f"page 1 and page {deep_page}, {args.connections} connections for {args.seconds} s each (wrk)")
    with workdir("sessions") as tmp:
        instance = Instance(tmp).setup()
        started = time.perf_counter()
        seeded = subprocess.run([sys.executable, "-c", SEED, str(args.count), str(deep_page)], env=instance.env,
                                capture_output=True, text=True, cwd=tmp)
        if seeded.returncode != 0:
            raise RuntimeError(seeded.stderr)
        cursor, deep_first = seeded.stdout.split()[-2:]
        print(f"  seeded in {time.perf_counter() - started:.1f} s")
        urls = {"page 1": "/generate/sessions", f"page {deep_page}": f"/generate/sessions?older={cursor}"}
        figures = {name: {} for name in urls}
        for label, options in (("cpu", {}), ("cpu_uncached", {"cache": "NullCache"})):
            for name, ms in zip(urls, cpu_per_request(instance, options, list(urls.values())).values()):
                figures[name][label] = ms
        with gunicorn(instance) as server:
            session = login(server.base)
            deep_ok = first_session_id(session.get(server.base + urls[f"page {deep_page}"]).text) == int(deep_first)
            for name, url in urls.items():
                counts = [statements(session, server.base + url) for _ in range(3)]
                figures[name]["statements"] = max(counts)
            cookie = cookie_header(session)
            for name, url in urls.items():
                figures[name].update(run_wrk(server.base + url, cookie, connections=args.connections,
                                             seconds=args.seconds))
    print_table("Sessions list (30 a page; latency in ms)",
                ["page", "requests/s", "p50", "p90", "p99", "errors", "SQL statements", "CPU ms", "CPU ms, no cache"],
                [[name, f"{f['requests_per_s']:.0f}", f"{f['p50']:.1f}", f"{f['p90']:.1f}", f"{f['p99']:.1f}",
                  f["errors"], f["statements"], f"{f['cpu']:.2f}", f"{f['cpu_uncached']:.2f}"]
                 for name, f in figures.items()])
    goals = []
    for name, f in figures.items():
        goals += [(f"{name} p99", f"{f['p99']:.1f} ms", f"≤ {GOAL_P99_MS:g} ms", f["p99"] <= GOAL_P99_MS),
                  (f"{name} SQL statements", str(f["statements"]), f"≤ {GOAL_STATEMENTS}",
                   f["statements"] <= GOAL_STATEMENTS),
                  (f"{name} errors", str(f["errors"]), "0", not f["errors"])]
    goals.append((f"page {deep_page} starts at the expected session", "yes" if deep_ok else "no", "yes", deep_ok))
    return 0 if all(goal_table("Sessions list goals", goals)) else 1


if __name__ == "__main__":
    sys.exit(main())
