"""Two gunicorn workers share the Redis cache: an upload through one shows at once in the other's grid.

Which worker answers is the kernel's choice, so every request here carries an X-Probe header and
gunicorn's access log (--access-logformat "%(p)s %({x-probe}i)s") writes it beside the pid of the
worker that answered. The app exposes nothing for this: the probe is an ordinary request header
it ignores, and the log line is gunicorn's own.
"""
from __future__ import annotations

import re
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from bs4 import BeautifulSoup
from live_server import TIMEOUT, env, servers, visit  # noqa: F401  (fixtures)
from testapp import GPS_JPEG

from app.extensions import db
from live_redis import redis_cache_fixture  # noqa: F401  (the redis_cache fixture)


@dataclass
class Server:
    """The live server, its workers' pids and the access log that names the worker of each answer."""
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


@pytest.fixture
def server(app, user_id, redis_cache, env, servers, tmp_path):
    """gunicorn -w 2 over the test's database and data folder, caching in Redis, logging each answer's worker."""
    url, prefix = redis_cache
    with app.app_context():
        db.engine.dispose()  # the workers open their own connections
    access_log = tmp_path / "access.log"
    started = servers({**env, "GALLERY_CACHE_REDIS_URL": url, "GALLERY_CACHE_KEY_PREFIX": prefix},
                      args=("--no-control-socket", "--access-logfile", str(access_log),
                            "--access-logformat", "%(p)s %({x-probe}i)s %(s)s"))
    return Server(started.url, started.worker_pids(2), access_log)


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


def test_an_upload_through_one_worker_shows_at_once_in_the_others_grid(server, visit, photos_dir):
    alice = visit(server)
    session = alice.http

    before = views_from_both_workers(server, session.cookies)  # both workers' grids, cached: 0 photos
    assert before == {pid: {("0 photos", 0)} for pid in server.workers}

    probe = secrets.token_hex(8)
    response = session.post(
        f"{server.url}/upload", timeout=TIMEOUT, data={"csrf_token": alice.csrf_token},
        files={"photos": ("gps.jpg", (photos_dir / GPS_JPEG).read_bytes(), "image/jpeg")},
        headers={"Accept": "application/json", "X-Probe": probe})
    assert response.status_code == 201, response.text
    assert server.answered_by(probe) in server.workers

    after = views_from_both_workers(server, session.cookies)  # every answer, from either worker, shows it
    assert after == {pid: {("1 photo", 1)} for pid in server.workers}
