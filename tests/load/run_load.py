#!/usr/bin/env python3
"""Load the gallery as a small household would, all at once, then check that nothing was lost.

    .venv/bin/python tests/load/run_load.py [--seconds 60] [--at-least N] [--uploaders 4] [--browsers 4]
        [--workers 2] [--threads 4] [--database-url postgresql+psycopg://user@host/EMPTY_DB]
        [--redis-url redis://127.0.0.1:6379/0 | --redis-url ""] [--json figures.json] [--keep]

It makes a fresh data folder in a temp folder (with its SQLite database, unless --database-url
names an empty PostgreSQL database), runs `flask db upgrade`, creates a user, and starts gunicorn
itself. Uploaders post real photos from ../shared/photos, each a unique byte variant (a token
after the JPEG end marker: still decodable, never a duplicate); browsers read grid pages, photo
pages, thumbnails and originals, for --seconds and, with --at-least N, until N uploads were
acknowledged and N photo pages and N thumbnails read (a busy machine makes the run longer,
never a run of nothing; it gives up, as an error, GIVE_UP_AFTER seconds past --seconds).
The Redis is TEST_REDIS_URL's when that is set. Then it stops gunicorn, prints requests/s and latency per kind
and the errors by kind (the server's log included: "database is locked", tracebacks, worker
timeouts), checks that every acknowledged upload has its row and files, and runs `flask gallery
check` when that command exists. Exit status 1 on any error or lost photo, 2 on bad arguments.
"""
from __future__ import annotations

import argparse
import csv
import fnmatch
import itertools
import json
import os
import random
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import redis
import requests
from sqlalchemy import create_engine, inspect, text

ROOT = Path(__file__).resolve().parents[2]
PHOTOS = ROOT.parent / "shared" / "photos"
sys.path.insert(0, str(ROOT))
from app.services.thumbnails import thumbnail_path  # noqa: E402  (the layout the server writes)

USERNAME, PASSWORD = "load", "load-test-password-" + secrets.token_hex(8)
REQUEST_TIMEOUT = 120  # seconds: as long as gunicorn's --timeout
GIVE_UP_AFTER = 240  # seconds past --seconds that --at-least may add
GOAL_KINDS = ("upload", "detail", "thumbnail")  # the work --at-least counts
DEFAULT_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SERVER_PROBLEMS = {  # kind -> what it looks like in gunicorn's log (the app's log goes there too)
    "database is locked": re.compile(r"database is locked"),
    "server traceback": re.compile(r"^Traceback \(most recent call last\)", re.MULTILINE),
    "worker timeout": re.compile(r"WORKER TIMEOUT"),
    "server error logged": re.compile(r"\bERROR\b"),
}
RETRIES = re.compile(r"transient database error")


# --- the server --------------------------------------------------------------------------

def server_env(data_dir: Path, database_url: str, redis_url: str | None) -> dict:
    env = {name: value for name, value in os.environ.items() if not name.startswith("GALLERY_")}
    env.update(GALLERY_DATA_DIR=str(data_dir), GALLERY_DATABASE_URL=database_url,
               GALLERY_SECRET_KEY=secrets.token_hex(24), GALLERY_INVOKEAI_URL="off")
    if redis_url:
        env.update(GALLERY_CACHE_REDIS_URL=redis_url, GALLERY_CACHE_KEY_PREFIX=f"gallery-load-{secrets.token_hex(6)}:")
    return env


def flask(env: dict, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "flask", "--app", "app:create_app()", *args]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if check and result.returncode != 0:
        raise SystemExit(f"flask {' '.join(args)} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return result


def gunicorn_command(workers: int, threads: int) -> list[str]:
    return [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--threads", str(threads),
            "--timeout", "120", "--graceful-timeout", "120", "--keep-alive", "5", "--bind", "127.0.0.1:0",
            "--no-control-socket", "app:create_app()"]


def start_gunicorn(command: list[str], env: dict, server_log: Path, workers: int) -> tuple[subprocess.Popen, str]:
    """gunicorn with its log and the workers' own (the app's logging) in `server_log`; its URL once all workers boot."""
    with open(server_log, "ab") as log_file:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log_file,
                                   stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        log = server_log.read_text()
        port = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", log)
        if port and len(re.findall(r"Booting worker with pid", log)) >= workers:
            return process, f"http://127.0.0.1:{port.group(1)}"
        time.sleep(0.05)
    stop_gunicorn(process)
    raise SystemExit(f"gunicorn did not start:\n{server_log.read_text()}")


def stop_gunicorn(process: subprocess.Popen) -> None:
    process.terminate()  # SIGTERM to the master, by its own pid: workers finish their requests
    try:
        process.wait(timeout=150)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# --- the clients -------------------------------------------------------------------------

@dataclass
class Results:
    samples: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))  # kind -> seconds
    errors: Counter = field(default_factory=Counter)  # "kind: what" -> count
    completed: Counter = field(default_factory=Counter)  # kind -> requests answered as expected
    acknowledged: list[int] = field(default_factory=list)  # photo ids of 201 answers
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, kind: str, started: float, response: requests.Response | None, expected: int = 200,
               error: str | None = None) -> bool:
        elapsed = time.monotonic() - started
        if response is not None and response.status_code != expected:
            error = f"HTTP {response.status_code}: {short_reason(response)}"
        with self.lock:
            self.samples[kind].append(elapsed)
            if error:
                self.errors[f"{kind}: {error}"] += 1
            else:
                self.completed[kind] += 1
        return error is None


@dataclass
class Goal:
    """When the clients stop: once `end` has passed and `at_least` of each of GOAL_KINDS completed (work
    done, not a wall-clock window alone), or at `deadline` whatever was done."""

    end: float
    deadline: float
    at_least: int = 0

    def reached(self, results: Results) -> bool:
        now = time.monotonic()
        return now >= self.deadline or now >= self.end and self.work_done(results)

    def work_done(self, results: Results) -> bool:
        return all(results.completed[kind] >= self.at_least for kind in GOAL_KINDS)


def short_reason(response: requests.Response) -> str:
    if "database is locked" in response.text:
        return "database is locked"
    try:
        files = response.json().get("files") or []
        return "; ".join(f.get("message", "") for f in files) or response.reason
    except ValueError:
        return response.reason


def sign_in(url: str) -> tuple[requests.Session, str]:
    """A signed-in session and the CSRF token of its forms."""
    session = requests.Session()
    form = session.get(f"{url}/login", timeout=REQUEST_TIMEOUT)
    response = session.post(f"{url}/login", allow_redirects=False, timeout=REQUEST_TIMEOUT, data={
        "username": USERNAME, "password": PASSWORD, "next": "", "csrf_token": csrf_token(form.text)})
    if response.status_code != 302:
        raise SystemExit(f"could not sign in: HTTP {response.status_code}")
    return session, csrf_token(session.get(f"{url}/", timeout=REQUEST_TIMEOUT).text)


def csrf_token(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def jpeg_photos(pattern: str) -> list[Path]:
    """The corpus's JPEGs whose manifest path matches `pattern` (fnmatch)."""
    with open(PHOTOS / "manifest.csv", newline="") as fh:
        return [PHOTOS / row["file"] for row in csv.DictReader(fh)
                if row["format"] == "JPEG" and fnmatch.fnmatch(row["file"], pattern)]


def unique_variant(content: bytes) -> bytes:
    """The same decodable JPEG with a token after its end marker, so its SHA-256 is new."""
    return content + b"gallery-load:" + secrets.token_bytes(16)


def uploader(url: str, goal: Goal, results: Results, photos: list[tuple[str, bytes]], offset: int) -> None:
    session, token = sign_in(url)
    for name, content in itertools.islice(itertools.cycle(photos), offset, None):
        if goal.reached(results):
            return
        started = time.monotonic()
        try:
            response = session.post(f"{url}/upload", data={"csrf_token": token}, timeout=REQUEST_TIMEOUT,
                                    files={"photos": (name, unique_variant(content), "image/jpeg")},
                                    headers={"Accept": "application/json"})
        except requests.RequestException as exc:
            results.record("upload", started, None, error=type(exc).__name__)
            continue
        if results.record("upload", started, response, expected=201):
            with results.lock:
                results.acknowledged.append(response.json()["files"][0]["photo_id"])


def browser(url: str, goal: Goal, results: Results, seed: int) -> None:
    session, _ = sign_in(url)
    rng = random.Random(seed)
    grid_path = "/"
    while not goal.reached(results):
        grid = fetch(session, url, grid_path, "grid", results)
        if grid is None:
            continue
        photo_ids = re.findall(r'href="/photos/(\d+)', grid.text)
        older = re.search(r'rel="next" href="([^"]+)"', grid.text)
        grid_path = older.group(1).replace("&amp;", "&") if older and rng.random() < 0.3 else "/"
        if not photo_ids:
            continue
        photo_id = rng.choice(photo_ids)
        fetch(session, url, f"/photos/{photo_id}", "detail", results)
        fetch(session, url, f"/thumbnails/{photo_id}/{rng.choice(['grid', 'preview'])}", "thumbnail", results)
        if rng.random() < 0.2:
            fetch(session, url, f"/photos/{photo_id}/original", "original", results)


def fetch(session: requests.Session, url: str, path: str, kind: str, results: Results) -> requests.Response | None:
    started = time.monotonic()
    try:
        response = session.get(url + path, timeout=REQUEST_TIMEOUT, allow_redirects=False)
    except requests.RequestException as exc:
        results.record(kind, started, None, error=type(exc).__name__)
        return None
    return response if results.record(kind, started, response) else None


def run_clients(url: str, seconds: float, at_least: int, uploaders: int, browsers: int,
                pattern: str) -> tuple[Results, float]:
    results = Results()
    photos = [(path.name, path.read_bytes()) for path in jpeg_photos(pattern)]
    random.Random(7).shuffle(photos)
    started = time.monotonic()
    goal = Goal(started + seconds, started + seconds + (GIVE_UP_AFTER if at_least else 0), at_least)
    threads = [threading.Thread(target=uploader, args=(url, goal, results, photos, i * 7)) for i in range(uploaders)]
    threads += [threading.Thread(target=browser, args=(url, goal, results, i)) for i in range(browsers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if not goal.work_done(results):
        done = ", ".join(f"{results.completed[kind]} {kind}" for kind in GOAL_KINDS)
        results.errors[f"run: --at-least {at_least} not reached in {time.monotonic() - started:.0f} s ({done})"] += 1
    return results, time.monotonic() - started


# --- after the run -----------------------------------------------------------------------

def lost_photos(database_url: str, data_dir: Path, acknowledged: list[int]) -> tuple[list[str], int]:
    """What is missing of each acknowledged photo (row, original, thumbnails), and how many rows there are."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = {row.id: row for row in connection.execute(
                text("SELECT id, original_path, thumbnail_ext FROM photos"))}
    finally:
        engine.dispose()
    root = data_dir / "photos"
    problems = []
    for photo_id in acknowledged:
        row = rows.get(photo_id)
        if row is None:
            problems.append(f"photo {photo_id}: no row")
            continue
        paths = [row.original_path] + [thumbnail_path(row.original_path, size, row.thumbnail_ext)
                                       for size in ("grid", "preview")]
        problems += [f"photo {photo_id}: {path} missing" for path in paths if not (root / path).is_file()]
    return problems, len(rows)


def gallery_check(env: dict) -> tuple[str, str]:
    """("ok" | "failed" | "skipped", output) of `flask gallery check`, skipped when there is no such command."""
    if flask(env, "gallery", "--help", check=False).returncode != 0:
        return "skipped", "flask gallery check does not exist here"
    result = flask(env, "gallery", "check", check=False)
    return ("ok" if result.returncode == 0 else "failed"), (result.stdout + result.stderr).strip()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def figures(results: Results, elapsed: float) -> dict:
    kinds = {}
    for kind, values in sorted(results.samples.items()):
        kinds[kind] = {"requests": len(values), "per_second": round(len(values) / elapsed, 2),
                       **{f"p{q}_ms": round(percentile(values, q / 100) * 1000, 1) for q in (50, 95, 99)}}
    return kinds


def print_report(report: dict) -> None:
    print(f"\n{report['label']}: {report['seconds']:.1f} s, {report['uploaders']} uploaders + "
          f"{report['browsers']} browsers, gunicorn {report['workers']} workers x {report['threads']} threads, "
          f"cache {report['cache']}")
    print(f"{'kind':<10} {'requests':>8} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for kind, row in report["kinds"].items():
        print(f"{kind:<10} {row['requests']:>8} {row['per_second']:>7} {row['p50_ms']:>8} {row['p95_ms']:>8} "
              f"{row['p99_ms']:>8}")
    print(f"uploads acknowledged: {report['acknowledged']}, photos in the database: {report['rows']}, "
          f"lost: {len(report['lost'])}")
    print(f"transient database errors retried by the app: {report['retries']}")
    print("errors: " + (", ".join(f"{kind} x{count}" for kind, count in report["errors"].items()) or "none"))
    for line in report["lost"][:20]:
        print(f"  LOST {line}")
    print(f"flask gallery check: {report['gallery_check']}")
    if report["gallery_check"] == "failed":
        print(report["gallery_check_output"])
    print("RESULT: " + ("OK" if report["ok"] else "FAILED"))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--at-least", type=int, default=0, help="go on past --seconds until this many uploads "
                        "were acknowledged and as many photo pages and thumbnails read (default: %(default)s)")
    parser.add_argument("--uploaders", type=int, default=4)
    parser.add_argument("--browsers", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--database-url", help="an EMPTY PostgreSQL database (default: SQLite in the temp folder)")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL,
                        help='the shared cache; "" for the in-process cache (default: TEST_REDIS_URL or %(default)s)')
    parser.add_argument("--photos", default="*", help="which JPEGs of the corpus to upload, as a pattern "
                        "on their manifest path, e.g. 'camera/*tiny*' for a write-heavy run (default: all)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder (data, logs) afterwards")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not (PHOTOS / "manifest.csv").is_file():
        print(f"run_load: the shared photos are absent ({PHOTOS})", file=sys.stderr)
        return 2
    if not jpeg_photos(args.photos):
        print(f"run_load: no JPEG of the corpus matches {args.photos!r}", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="gallery-load-"))
    data_dir, server_log = work / "data", work / "server.log"
    database_url = args.database_url or f"sqlite:///{data_dir / 'gallery.db'}"
    if args.database_url and not database_is_empty(args.database_url):
        print(f"run_load: {args.database_url} has tables; give it an empty database (createdb)", file=sys.stderr)
        return 2
    redis_url = args.redis_url or None
    if redis_url and not redis_reachable(redis_url):
        print(f"run_load: no Redis at {redis_url}; the workers use the in-process cache", file=sys.stderr)
        redis_url = args.redis_url = None
    env = server_env(data_dir, database_url, redis_url)
    try:
        flask(env, "db", "upgrade")
        flask(env, "users", "create", USERNAME, "--password", PASSWORD)
        command = gunicorn_command(args.workers, args.threads)
        print("gunicorn:", " ".join(command[2:]), flush=True)
        process, url = start_gunicorn(command, env, server_log, args.workers)
        try:
            results, elapsed = run_clients(url, args.seconds, args.at_least, args.uploaders, args.browsers,
                                           args.photos)
        finally:
            stop_gunicorn(process)
        report = make_report(args, env, results, elapsed, database_url, data_dir, server_log.read_text())
    finally:
        if env.get("GALLERY_CACHE_REDIS_URL"):
            delete_redis_keys(env["GALLERY_CACHE_REDIS_URL"], env["GALLERY_CACHE_KEY_PREFIX"])
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0 if report["ok"] else 1


def make_report(args, env: dict, results: Results, elapsed: float, database_url: str, data_dir: Path,
                server_log: str) -> dict:
    errors = Counter(results.errors)
    for kind, pattern in SERVER_PROBLEMS.items():
        found = len(pattern.findall(server_log))
        if found:
            errors[f"server log: {kind}"] += found
    lost, rows = lost_photos(database_url, data_dir, results.acknowledged)
    check, check_output = gallery_check(env)
    return {
        "label": "PostgreSQL" if database_url.startswith("postgresql") else "SQLite",
        "seconds": elapsed, "uploaders": args.uploaders, "browsers": args.browsers,
        "workers": args.workers, "threads": args.threads, "cache": "Redis" if args.redis_url else "in-process",
        "kinds": figures(results, elapsed), "errors": dict(errors), "acknowledged": len(results.acknowledged),
        "rows": rows, "lost": lost, "retries": len(RETRIES.findall(server_log)),
        "gallery_check": check, "gallery_check_output": check_output,
        "ok": not errors and not lost and check != "failed" and rows == len(results.acknowledged),
    }


def database_is_empty(url: str) -> bool:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return not inspect(connection).get_table_names()
    finally:
        engine.dispose()


def redis_reachable(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def delete_redis_keys(url: str, prefix: str) -> None:
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=500))
        if keys:
            client.delete(*keys)
    except redis.RedisError as exc:
        print(f"run_load: could not delete the cache's keys under {prefix}: {exc}", file=sys.stderr)
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(main())
