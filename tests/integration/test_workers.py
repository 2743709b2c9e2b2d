"""Two gunicorn workers share the Redis cache: an upload through one shows at once in the other's grid.

Which worker answers is the kernel's choice, so every request here carries an X-Probe header and
gunicorn's access log (--access-logformat "%(p)s %({x-probe}i)s") writes it beside the pid of the
worker that answered. The app exposes nothing for this: the probe is an ordinary request header
it ignores, and the log line is gunicorn's own.
"""
from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from bs4 import BeautifulSoup

from app.extensions import db
from live_redis import redis_cache_fixture  # noqa: F401  (the redis_cache fixture)

ROOT = Path(__file__).resolve().parents[2]
PHOTO = "camera/nikon-coolpix-p6000_gps.jpg"
START_SECONDS = 30
TIMEOUT = 30  # seconds for any one HTTP request


@dataclass
class Server:
    url: str
    workers: set[int]
    access_log: Path

    def answered_by(self, probe: str) -> int:
        """The pid of the worker whose access-log line carries `probe` (written just after the answer)."""
        pattern = re.compile(rf"^<(\d+)> {re.escape(probe)} ", re.MULTILINE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            found = pattern.search(self.access_log.read_text())
            if found:
                return int(found.group(1))
            time.sleep(0.02)
        raise AssertionError(f"no access-log line for probe {probe}")


def wait_for_workers(process: subprocess.Popen, error_log: Path, count: int) -> tuple[int, set[int]]:
    """The port gunicorn bound (it was given port 0) and its workers' pids, once all have booted."""
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        text = error_log.read_text() if error_log.exists() else ""
        port = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", text)
        workers = {int(pid) for pid in re.findall(r"Booting worker with pid: (\d+)", text)}
        if port and len(workers) >= count:
            return int(port.group(1)), workers
        if process.poll() is not None:
            break
        time.sleep(0.05)
    raise AssertionError(f"gunicorn did not start {count} workers:\n{error_log.read_text()}")


@pytest.fixture
def server(app, user_id, redis_cache, tmp_path):
    """gunicorn -w 2 on a free port over the test's database and data folder, caching in Redis."""
    url, prefix = redis_cache
    with app.app_context():
        db.engine.dispose()  # the workers open their own connections
    env = {name: value for name, value in os.environ.items() if not name.startswith("GALLERY_")}
    env.update(GALLERY_DATA_DIR=app.config["DATA_DIR"], GALLERY_DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
               GALLERY_SECRET_KEY=secrets.token_hex(24), GALLERY_INVOKEAI_URL="off",
               GALLERY_CACHE_REDIS_URL=url, GALLERY_CACHE_KEY_PREFIX=prefix)
    error_log, access_log = tmp_path / "gunicorn.log", tmp_path / "access.log"
    command = [sys.executable, "-m", "gunicorn", "-w", "2", "-b", "127.0.0.1:0", "--no-control-socket",
               "--error-logfile", str(error_log), "--access-logfile", str(access_log),
               "--access-logformat", "%(p)s %({x-probe}i)s %(s)s", "app:create_app()"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        port, workers = wait_for_workers(process, error_log, 2)
        yield Server(f"http://127.0.0.1:{port}", workers, access_log)
    finally:
        process.terminate()  # SIGTERM to the master, by its own pid: a graceful stop of both workers
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def csrf_token(html: str) -> str:
    return BeautifulSoup(html, "html.parser").select_one("input[name=csrf_token]")["value"]


def sign_in(server: Server, username: str, password: str) -> requests.Session:
    session = requests.Session()
    form = session.get(f"{server.url}/login", timeout=TIMEOUT)
    response = session.post(f"{server.url}/login", allow_redirects=False, timeout=TIMEOUT, data={
        "username": username, "password": password, "next": "", "csrf_token": csrf_token(form.text)})
    assert response.status_code == 302, response.text
    return session


def view_grid(server: Server, cookies) -> tuple[int, str, int]:
    """One grid request on a new connection: (the worker that answered, the heading, the photos shown)."""
    probe = secrets.token_hex(8)
    response = requests.get(f"{server.url}/", cookies=cookies, allow_redirects=False, timeout=TIMEOUT,
                            headers={"Connection": "close", "X-Probe": probe})
    assert response.status_code == 200, response.text
    page = BeautifulSoup(response.text, "html.parser")
    return server.answered_by(probe), page.h1.get_text(strip=True), len(page.select("ul.grid img"))


def views_from_both_workers(server: Server, cookies) -> dict[int, set[tuple[str, int]]]:
    """Grid views, four at a time (a busy sync worker leaves the next connection to the other), until
    every worker has answered: what each worker showed."""
    seen: dict[int, set[tuple[str, int]]] = {}
    with ThreadPoolExecutor(4) as pool:
        for _ in range(50):
            for pid, heading, shown in pool.map(lambda _: view_grid(server, cookies), range(4)):
                seen.setdefault(pid, set()).add((heading, shown))
            if set(seen) == server.workers:
                return seen
    raise AssertionError(f"only workers {sorted(seen)} of {sorted(server.workers)} answered")


def test_an_upload_through_one_worker_shows_at_once_in_the_others_grid(server, password, photos_dir):
    session = sign_in(server, "alice", password)

    before = views_from_both_workers(server, session.cookies)  # both workers' grids, cached: 0 photos
    assert before == {pid: {("0 photos", 0)} for pid in server.workers}

    probe = secrets.token_hex(8)
    response = session.post(
        f"{server.url}/upload", timeout=TIMEOUT, data={"csrf_token": csrf_token(session.get(f"{server.url}/").text)},
        files={"photos": ("gps.jpg", (photos_dir / PHOTO).read_bytes(), "image/jpeg")},
        headers={"Accept": "application/json", "X-Probe": probe})
    assert response.status_code == 201, response.text
    assert server.answered_by(probe) in server.workers

    after = views_from_both_workers(server, session.cookies)  # every answer, from either worker, shows it
    assert after == {pid: {("1 photo", 1)} for pid in server.workers}
