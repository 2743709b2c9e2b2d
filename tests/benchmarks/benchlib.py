"""What every benchmark shares: tables, statistics, a real gunicorn on loopback, wrk.

Nothing here is collected by pytest (the file names start with bench, not test), and nothing
here is imported by the app.
"""
from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent.parent
PHOTOS = ROOT.parent / "shared" / "photos"
VENV_BIN = Path(sys.executable).parent
PASSWORD = "benchmark password " + "x" * 8
USERNAME = "bench"


# --- figures and tables ---------------------------------------------------------------------

def median(values) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values, p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a list of numbers."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))  # ceil
    return ordered[int(rank) - 1]


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def print_table(title: str, headers: list[str], rows: list[list]) -> None:
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    line = "+-" + "-+-".join("-" * w for w in widths) + "-+"
    print(f"\n{title}")
    print(line)
    for index, row in enumerate(cells):
        print("| " + " | ".join(c.rjust(w) if _numeric(c) else c.ljust(w) for c, w in zip(row, widths)) + " |")
        if index == 0:
            print(line)
    print(line, flush=True)


def _numeric(cell: str) -> bool:
    return bool(re.fullmatch(r"[-+≤≥<>~]?\s?[\d.,]+\s?(ms|s|MB|%|×|/s|x)?", cell))


def goal_table(title: str, rows: list[tuple[str, str, str, bool]]) -> list[bool]:
    """rows: (what, figure, goal, passed). Prints them; returns the verdicts."""
    print_table(title, ["measure", "figure", "goal", "verdict"], [[w, f, g, verdict(ok)] for w, f, g, ok in rows])
    return [ok for *_, ok in rows]


# --- a gallery of its own: data dir, migrated database, one user, gunicorn -------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Instance:
    """A fresh data folder and SQLite database made by `flask db upgrade`, with one user."""

    def __init__(self, workdir: Path, extra_env: dict | None = None):
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.env = {**os.environ,
                    "GALLERY_DATA_DIR": str(self.data_dir),
                    "GALLERY_DATABASE_URL": f"sqlite:///{workdir / 'gallery.db'}",
                    "GALLERY_SECRET_KEY": secrets.token_hex(24),
                    "GALLERY_INVOKEAI_URL": "off",
                    "PYTHONPATH": os.pathsep.join([str(ROOT), str(BENCH_DIR)]),
                    **(extra_env or {})}
        self.env.pop("GALLERY_CONFIG", None)

    def flask(self, *args: str) -> str:
        result = subprocess.run([str(VENV_BIN / "flask"), "--app", "app", *args], cwd=ROOT, env=self.env,
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"flask {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def setup(self) -> "Instance":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.flask("db", "upgrade")
        self.flask("users", "create", USERNAME, "--password", PASSWORD)
        return self


@contextmanager
def workdir(name: str):
    """A temp folder (under $BENCH_TMPDIR when set) removed afterwards unless BENCH_KEEP=1."""
    path = Path(tempfile.mkdtemp(prefix=f"gallery-bench-{name}-", dir=os.environ.get("BENCH_TMPDIR")))
    try:
        yield path
    finally:
        if os.environ.get("BENCH_KEEP") != "1":
            shutil.rmtree(path, ignore_errors=True)
        else:
            print(f"(kept {path})")


class Server:
    def __init__(self, base: str, process: subprocess.Popen):
        self.base = base
        self.process = process

    def worker_peaks_mb(self) -> list[float]:
        """Peak RSS (VmHWM) of each gunicorn worker, in MB."""
        peaks = []
        for task in Path(f"/proc/{self.process.pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                try:
                    status = Path(f"/proc/{child}/status").read_text()
                except OSError:
                    continue
                hwm = re.search(r"VmHWM:\s+(\d+) kB", status)
                if hwm:
                    peaks.append(int(hwm.group(1)) / 1024)
        return peaks


@contextmanager
def gunicorn(instance: Instance, app_spec: str = "benchapp:create()", workers: int = 2,
             worker_class: str | None = None, threads: int | None = None):
    """gunicorn on a free loopback port; yields a Server; stopped by its own PID."""
    port = free_port()
    worker_class = worker_class or os.environ.get("BENCH_WORKER_CLASS", "sync")
    threads = threads or int(os.environ.get("BENCH_THREADS", "0")) or None
    command = [str(VENV_BIN / "gunicorn"), "--workers", str(workers), "--worker-class", worker_class,
               "--bind", f"127.0.0.1:{port}", "--timeout", "120", "--log-level", "warning",
               "--backlog", "256", app_spec]
    if threads:
        command[1:1] = ["--threads", str(threads)]
    log = open(instance.workdir / "gunicorn.log", "w")
    process = subprocess.Popen(command, cwd=ROOT, env=instance.env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError("gunicorn exited:\n" + (instance.workdir / "gunicorn.log").read_text())
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("gunicorn did not start listening in 30 s")
                time.sleep(0.1)
        yield Server(base, process)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


# The User-Agent of the benchmark's requests and of wrk's: Flask-Login's session protection ties a session
# to its browser (address and User-Agent), so a cookie signed in as python-requests and sent by wrk as
# another browser would be marked not fresh on every request, and its cookie signed anew each time (about
# 3 % of a page's CPU) where a browser keeps the cookie it was given once. For the same reason login()
# opens one page after signing in: the session's CSRF token is made there and kept, as a browser keeps it.
USER_AGENT = "gallery-benchmark"


def login(base: str):
    """A requests.Session signed in as the benchmark user (GET /login for the token, POST /login), with
    the User-Agent wrk sends (USER_AGENT)."""
    import requests

    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    page = session.get(f"{base}/login", timeout=30)
    page.raise_for_status()
    token = csrf_token(page.text)
    response = session.post(f"{base}/login", data={"csrf_token": token, "username": USERNAME,
                                                    "password": PASSWORD, "next": ""},
                            allow_redirects=False, timeout=30)
    if response.status_code != 302:
        raise RuntimeError(f"login failed: {response.status_code} {response.text[:500]}")
    session.get(f"{base}/account", timeout=30).raise_for_status()  # the account page: in no cache benchmarked
    return session


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    if not match:
        raise RuntimeError("no csrf_token in the page")
    return match.group(1)


def cookie_header(session) -> str:
    return "; ".join(f"{c.name}={c.value}" for c in session.cookies)


def cpu_per_request(instance: Instance, options: dict, urls: list[str]) -> dict[str, float]:
    """CPU ms per request of each url, in-process (cpu_probe.py), with benchapp.create(**options)."""
    import json

    result = subprocess.run([sys.executable, str(BENCH_DIR / "cpu_probe.py"), json.dumps(options), *urls],
                            env=instance.env, capture_output=True, text=True, cwd=instance.workdir)
    if result.returncode != 0:
        raise RuntimeError(result.stderr)
    return json.loads(result.stdout.strip().splitlines()[-1])


# --- wrk ---------------------------------------------------------------------------------

def ensure_wrk() -> str:
    path = shutil.which("wrk")
    if not path:
        raise SystemExit("wrk is not installed: run tests/benchmarks/run.sh (it apt-gets it), "
                         "or apt-get install -y wrk")
    return path


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _duration_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not match:
        raise ValueError(f"unparsed wrk duration {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def run_wrk(url: str, cookie: str | None, connections: int = 16, seconds: int = 20, threads: int = 1,
            headers: dict | None = None, script: Path | None = None) -> dict:
    """wrk against `url` (with a Lua `script` that makes each request, if given): requests/s, p50/p90/p99
    in ms, errors (socket errors and non-2xx/3xx)."""
    command = [ensure_wrk(), f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    if script is not None:
        command += ["-s", str(script)]
    sent = {"User-Agent": USER_AGENT, **({"Cookie": cookie} if cookie else {}), **(headers or {})}
    for name, value in sent.items():
        command += ["-H", f"{name}: {value}"]
    output = subprocess.run(command + [url], capture_output=True, text=True, check=True).stdout
    figures = {"requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
               "requests": int(re.search(r"(\d+) requests in", output).group(1)), "errors": 0, "raw": output}
    for p in ("50", "90", "99"):
        figures[f"p{p}"] = _duration_ms(re.search(rf"^\s+{p}(?:\.000)?%\s+(\S+)", output, re.M).group(1))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if socket_errors:
        figures["errors"] += sum(int(n) for n in socket_errors.groups())
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non2xx:
        figures["errors"] += int(non2xx.group(1))
    return figures


def wrk_in_turns(urls: dict[str, str], rounds: int, seconds: int, cookie: str | None = None,
                 connections: int = 16, headers: dict | None = None, anonymous: tuple = (),
                 script: Path | None = None) -> dict[str, dict]:
    """wrk against each of `urls` (name -> URL) for seconds / rounds, the urls taking turns `rounds` times,
    so drift in the machine's load hits each alike; the ones named in `anonymous` without the cookie. By
    name: the mean requests/s, p50 and p90 of its runs, their worst p99 and all their errors."""
    runs = {name: [] for name in urls}
    for _ in range(rounds):
        for name, url in urls.items():
            runs[name].append(run_wrk(url, None if name in anonymous else cookie, connections=connections,
                                      seconds=max(1, seconds // rounds), headers=headers, script=script))
    return {name: {"requests_per_s": sum(r["requests_per_s"] for r in done) / len(done),
                   "p50": sum(r["p50"] for r in done) / len(done), "p90": sum(r["p90"] for r in done) / len(done),
                   "p99": max(r["p99"] for r in done), "errors": sum(r["errors"] for r in done)}
            for name, done in runs.items()}


def header(text: str) -> None:
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\n{'=' * 100}\n{text}\n(load average before it: {load} on {os.cpu_count()} CPUs; "
          f"other work on the machine shows in every figure)\n{'=' * 100}", flush=True)
