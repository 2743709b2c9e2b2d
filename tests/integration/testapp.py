"""The integration tests' app factory, sign-in, upload bodies and generate form (imported by conftest and tests)."""
from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote, urlsplit

from fake_invokeai import TINY_SD15
from app import create_app
from app.blueprints.auth import SESSION_TOKEN
from app.extensions import db
from app.models import User
from app.services.users import start_login_session

SECRET = "test-secret-key-" + "0" * 32


def make_app(database_url: str, data_dir: Path, **overrides):
    config = {"SECRET_KEY": SECRET, "DATABASE_URL": database_url, "DATA_DIR": str(data_dir),
              "TESTING": True, "WTF_CSRF_ENABLED": False, "CACHE_TYPE": "SimpleCache",
              "INVOKEAI_URL": None}  # generation tests point it at their fake InvokeAI
    config.update(overrides)
    return create_app(config)


def invokeai_settings(fake) -> dict:
    """Settings that point the app at a fake InvokeAI, with timeouts short enough for tests."""
    return {"INVOKEAI_URL": fake.url, "INVOKEAI_READ_TIMEOUT": 1.0, "INVOKEAI_CONNECT_TIMEOUT": 1.0,
            "INVOKEAI_DEADLINE": 5.0}


GENERATE_FORM = {"prompt": "a lighthouse on a cliff at sunset", "negative_prompt": "blurry, text", "model": TINY_SD15,
                 "width": 64, "height": 72, "steps": 2, "cfg_scale": 7.5, "scheduler": "dpmpp_2m", "seed": "",
                 "count": 3}


def generate(client, **overrides) -> int:
    """POST the generate form (GENERATE_FORM with `overrides`) as a browser would; the new session's id."""
    response = client.post("/generate", data={**GENERATE_FORM, **overrides})
    assert response.status_code == 302, response.get_data(as_text=True)
    match = re.fullmatch(r"/generate/sessions/(\d+)", urlsplit(response.location).path)
    assert match, response.location
    return int(match[1])


def log_in(client, user_id: int):
    """Sign the test client in as a successful login would (see auth.start_session): a login session
    row, and its token in the session cookie."""
    with client.application.app_context():
        token = start_login_session(db.session.get(User, user_id), "test client", "127.0.0.1")
    with client.session_transaction() as session:
        session["_user_id"] = str(user_id)
        session["_fresh"] = True
        session[SESSION_TOKEN] = token
    return client


def multipart_body(files: list[tuple[bytes, str]]) -> tuple[bytes, str]:
    """A multipart body with each file in the form's `photos` field, as a browser sends it.

    Names travel as RFC 5987 `filename*=UTF-8''...` (Werkzeug decodes it), so quotes, NULs and
    newlines arrive exactly; and the body stays in memory, where the test client's own encoder
    spools bodies over 500 KB to a temp file it never closes (a ResourceWarning, so an error here).
    """
    boundary = "gallery-test-boundary-7d1f"
    def disposition(name: str) -> str:
        # An empty file input sends filename="" as browsers do.
        return f"filename*=UTF-8''{quote(name, safe='')}" if name else 'filename=""'

    parts = [(f'--{boundary}\r\nContent-Disposition: form-data; name="photos"; {disposition(name)}\r\n'
              "Content-Type: application/octet-stream\r\n\r\n").encode() + body + b"\r\n" for body, name in files]
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def run_together(requests: list, wait: float = 10) -> list:
    """Call each of `requests` (no arguments, returning a response) in its own thread, all at once;
    their responses in order. An exception in a request is raised here."""
    start = threading.Barrier(len(requests), timeout=wait)

    def run(send):
        start.wait()
        return send()

    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        futures = [pool.submit(run, send) for send in requests]
        return [future.result(timeout=wait * 3) for future in futures]
