"""The real server (gunicorn, two workers) as a subprocess on a free loopback port, for the tests that
kill it, take its permissions away or watch its two workers, and a client that logs in through the login form.

Test modules import the fixtures: `from live_server import env, servers, visit`.
"""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from contextlib import closing
from dataclasses import dataclass, field
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from testapp import SECRET, csrf_token

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
START_TIMEOUT = 30.0  # seconds for gunicorn to listen
TIMEOUT = 30  # seconds for any one HTTP exchange


class ServerDidNotStart(Exception):
    """The server exited, or never answered; the message holds its output."""


def free_port() -> int:
    with closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_env(data_dir: Path, database_url: str, secret_key: str, **extra: str) -> dict[str, str]:
    """The environment of a server or CLI subprocess: GALLERY_* of this gallery only."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("GALLERY_")}
    env.update(GALLERY_DATA_DIR=str(data_dir), GALLERY_DATABASE_URL=database_url, GALLERY_SECRET_KEY=secret_key,
               GALLERY_INVOKEAI_URL="off", **extra)
    return env


def flask_cli(env: dict[str, str], *args: str, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """`flask --app app ARGS` in a subprocess, as an operator runs it."""
    return subprocess.run([*prefix, str(VENV_BIN / "flask"), "--app", "app", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


@dataclass
class Server:
    process: subprocess.Popen
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        """SIGKILL the master and its workers at once (they share a process group), as a power cut."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=TIMEOUT)

    def stop(self) -> None:
        """A graceful stop (SIGTERM), as a deploy does."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                self.kill()

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def worker_pids(self, count: int = 2) -> set[int]:
        """The pids of the workers gunicorn says it booted, once `count` of them have."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:  # bounded polling of gunicorn's own log
            workers = {int(pid) for pid in re.findall(r"Booting worker with pid: (\d+)", self.output())}
            if len(workers) >= count or self.process.poll() is not None:
                break
            time.sleep(0.05)
        assert len(workers) >= count, f"gunicorn did not boot {count} workers:\n{self.output()}"
        return workers


def start_server(env: dict[str, str], log: Path, prefix: tuple[str, ...] = (), args: tuple[str, ...] = ()) -> Server:
    """gunicorn 'app:create_app()' with two workers (and `args`, more of gunicorn's options); returns once
    a worker has answered (so it has made the app, and removed what crashed processes left in .tmp)."""
    port = free_port()
    command = [*prefix, str(VENV_BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", "2",
               "--graceful-timeout", "5", "--timeout", "60", *args, "app:create_app()"]
    with open(log, "ab") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    server = Server(process, port, log)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:  # bounded polling until it listens (or dies)
        if process.poll() is not None:
            raise ServerDidNotStart(f"the server exited with {process.returncode}:\n{server.output()}")
        try:
            with closing(HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)) as connection:
                connection.request("GET", "/login")
                connection.getresponse().read()
            return server
        except OSError:
            time.sleep(0.05)
    server.kill()
    raise ServerDidNotStart(f"the server did not answer within {START_TIMEOUT} s:\n{server.output()}")


def multipart(fields: dict[str, str], files: list[tuple[bytes, str]]) -> tuple[bytes, str]:
    """A multipart/form-data body with `fields` and each file in the form's `photos` input."""
    boundary = "live-server-boundary-3c9e"
    parts = [(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n').encode()
             for name, value in fields.items()]
    parts += [(f'--{boundary}\r\nContent-Disposition: form-data; name="photos"; '
               f"filename*=UTF-8''{quote(name, safe='')}\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
              + content + b"\r\n" for content, name in files]
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


@dataclass
class Visitor:
    """A person with a browser session on the live server."""

    base_url: str
    http: requests.Session = field(default_factory=requests.Session)
    csrf_token: str = ""

    def log_in(self, username: str, password: str) -> None:
        page = self.http.get(f"{self.base_url}/login", timeout=TIMEOUT)
        answer = self.http.post(f"{self.base_url}/login", timeout=TIMEOUT, allow_redirects=False,
                                data={"username": username, "password": password, "csrf_token": csrf_token(page.text)})
        assert answer.status_code == 302, answer.text
        self.csrf_token = csrf_token(self.http.get(f"{self.base_url}/upload", timeout=TIMEOUT).text)

    def upload_request(self, content: bytes, name: str) -> tuple[bytes, dict[str, str]]:
        body, content_type = multipart({"csrf_token": self.csrf_token}, [(content, name)])
        return body, {"Content-Type": content_type, "Accept": "application/json"}

    def upload(self, content: bytes, name: str) -> requests.Response:
        body, headers = self.upload_request(content, name)
        return self.http.post(f"{self.base_url}/upload", data=body, headers=headers, timeout=TIMEOUT)

    def raw_upload_request(self, content: bytes, name: str, port: int) -> bytes:
        """The whole POST /upload as bytes on the wire, for sending by halves over a socket."""
        body, headers = self.upload_request(content, name)
        cookies = "; ".join(f"{cookie.name}={cookie.value}" for cookie in self.http.cookies)
        head = (f"POST /upload HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {len(body)}\r\n"
                f"Cookie: {cookies}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n")
        return head.encode() + body

    def close(self) -> None:
        self.http.close()


# --- fixtures ----------------------------------------------------------------------------------

@pytest.fixture
def env(app, data_dir) -> dict[str, str]:
    """The servers' and the CLI's environment: the app fixture's migrated database and data folder."""
    return server_env(data_dir, app.config["SQLALCHEMY_DATABASE_URI"], SECRET)


@pytest.fixture
def servers(app, tmp_path):
    """start(env, prefix=(), args=()) -> a running Server; every one still running is killed at the end."""
    started = []

    def start(env: dict[str, str], prefix: tuple[str, ...] = (), args: tuple[str, ...] = ()):
        started.append(start_server(env, tmp_path / "server.log", prefix, args))
        return started[-1]

    yield start
    for server in started:
        server.kill()


@pytest.fixture
def visit(user_id, password):
    """visit(server) -> alice, logged in through the login form."""
    visitors = []

    def log_in(server) -> Visitor:
        visitors.append(Visitor(server.url))
        visitors[-1].log_in("alice", password)
        return visitors[-1]

    yield log_in
    for visitor in visitors:
        visitor.close()
