"""Thumbnail serving: the gallery's thumbnail route against a bare Flask send_file of the same file.

One gunicorn (2 workers) serves both; the bare routes exist only in the benchmark's app instance
(benchapp.py): /_bench/file/<path> behind the login gate like every route of the app, and
/_bench/public/<path> outside it. wrk, 16 connections, the URLs taking turns. Also checked:
a conditional request answers 304, the URL carries the image's SHA-256 prefix (?v=) so it changes
when the image does, and Cache-Control says immutable.

  python tests/benchmarks/bench_serving.py [--seconds 20] [--connections 16]
"""
from __future__ import annotations

import argparse
import hashlib
import re
import sys
from pathlib import Path

import requests

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[2])]

from benchlib import (  # noqa: E402
    PHOTOS,
    Instance,
    cookie_header,
    cpu_per_request,
    csrf_token,
    goal_table,
    gunicorn,
    header,
    login,
    print_table,
    run_wrk,
    workdir,
)

GOAL_RATIO = 0.8
ROUNDS = 4
UPLOADS = ["large/nikon-d90_12mp_bigexif.jpg", "large/samsung-galaxy-s7-edge_12mp.jpg"]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=20, help="per URL, split over the rounds")
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()

    header(f"4. Thumbnail serving: gallery route vs bare send_file in the same gunicorn (2 workers), "
           f"{args.connections} connections, {args.seconds} s per URL (wrk)")
    checks = []
    with workdir("serving") as tmp:
        instance = Instance(tmp).setup()
        with gunicorn(instance) as server:
            base = server.base
            session = login(base)
            token = csrf_token(session.get(f"{base}/upload", timeout=30).text)
            digests = {}
            for name in UPLOADS:
                data = (PHOTOS / name).read_bytes()
                response = session.post(f"{base}/upload", files={"photos": (Path(name).name, data, "image/jpeg")},
                                        headers={"X-CSRFToken": token, "Accept": "application/json"}, timeout=120)
                assert response.status_code == 201, response.text
                digests[response.json()["files"][0]["photo_id"]] = hashlib.sha256(data).hexdigest()

            grid = session.get(f"{base}/", timeout=30).text
            found = {int(i): (url, v) for url, i, v in
                     re.findall(r'src="(/thumbnails/(\d+)/grid\?v=([0-9a-f]+))"', grid.replace("&amp;", "&"))}
            versions_ok = set(found) == set(digests) and all(
                digests[i].startswith(v[:12]) and len(v) >= 12 for i, (_, v) in found.items())
            distinct = len({url for url, _ in found.values()}) == len(found) == len(UPLOADS)
            checks.append(("grid's thumbnail URLs carry ?v=<SHA-256 prefix of the image><settings tag>",
                           "yes" if versions_ok else "no", "yes", versions_ok))
            checks.append(("two images give two different URLs", "yes" if distinct else "no", "yes", distinct))

            url = base + next(iter(found.values()))[0]
            first = session.get(url, timeout=30)
            cache_control = first.headers.get("Cache-Control", "")
            etag, modified = first.headers.get("ETag"), first.headers.get("Last-Modified")
            immutable = (first.status_code == 200 and "immutable" in cache_control
                         and "max-age=31536000" in cache_control)
            checks.append(("Cache-Control of a thumbnail", cache_control or "(none)", "immutable, max-age=1 year",
                           immutable))
            conditional = session.get(url, headers={"If-None-Match": etag or "x"}, timeout=30)
            checks.append(("If-None-Match: <its ETag>", str(conditional.status_code), "304",
                           conditional.status_code == 304 and not conditional.content))
            since = session.get(url, headers={"If-Modified-Since": modified or "x"}, timeout=30)
            checks.append(("If-Modified-Since: <its Last-Modified>", str(since.status_code), "304",
                           since.status_code == 304))

            thumbnails = instance.data_dir / "photos"
            relative = next(str(p.relative_to(thumbnails)) for p in thumbnails.rglob("*.grid.jpg")
                            if p.read_bytes() == first.content)
            cookie = cookie_header(session)
            targets = {
                "gallery /thumbnails/<id>/grid?v=": (url, cookie),
                "bare send_file, behind the login gate": (f"{base}/_bench/file/{relative}", cookie),
                "bare send_file, public": (f"{base}/_bench/public/{relative}", None),
            }
            for name, (target, with_cookie) in targets.items():
                response = session.get(target, timeout=30) if with_cookie else requests.get(target, timeout=30)
                assert response.status_code == 200 and response.content == first.content, (name, response.status_code)
            cpu = cpu_per_request(instance, {}, [target[len(base):] for target, _ in targets.values()])
            runs = {name: [] for name in targets}
            for _ in range(ROUNDS):
                for name, (target, with_cookie) in targets.items():
                    runs[name].append(run_wrk(target, with_cookie, connections=args.connections,
                                              seconds=max(1, args.seconds // ROUNDS)))
                    print(f"  {name}: {runs[name][-1]['requests_per_s']:.0f} requests/s", file=sys.stderr, flush=True)

    figures = {name: {"rps": sum(r["requests_per_s"] for r in rs) / len(rs),
                      "cpu": cpu[targets[name][0][len(base):]],
                      "p50": sum(r["p50"] for r in rs) / len(rs), "p99": max(r["p99"] for r in rs),
                      "errors": sum(r["errors"] for r in rs)} for name, rs in runs.items()}
    print_table(f"Thumbnail serving ({len(first.content)} byte JPEG; latency in ms, p99 the worse of {ROUNDS} rounds)",
                ["route", "CPU ms/request in-process", "requests/s", "p50", "p99", "errors"],
                [[name, f"{f['cpu']:.2f}", f"{f['rps']:.0f}", f"{f['p50']:.1f}", f"{f['p99']:.1f}", f["errors"]]
                 for name, f in figures.items()])
    names = list(targets)
    gallery, gated, public = (figures[name]["rps"] for name in names)
    errors = sum(f["errors"] for f in figures.values())
    verdicts = goal_table("Serving goals", [
        ("gallery / bare send_file behind the gate", f"{gallery / gated:.2f}×", f"≥ {GOAL_RATIO}×",
         gallery / gated >= GOAL_RATIO),
        ("gallery / bare send_file, public (no session, no SQL)", f"{gallery / public:.2f}×", "(info)", True),
        ("bare behind the gate / gallery, CPU per request in-process",
         f"{figures[names[1]]['cpu'] / figures[names[0]]['cpu']:.2f}×", "(info)", True),
        ("errors", str(errors), "0", errors == 0),
        *checks,
    ])
    return 0 if all(verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
