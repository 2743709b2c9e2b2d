"""The unit tests of the InvokeAI client (app/services/invokeai.py): InvokeAI's answers through `responses`,
a fake clock in place of the module's `time`, and the fixtures the test_invokeai_*.py files import:
`from invokeai_answers import api, auth_client, client, clock`.

Every call goes through `responses` (it stands in for the HTTP adapter, so no socket is opened); the failure
tables follow API.md §5. The module's clock is a fake one, so retries do not sleep and the total deadline can
be crossed without waiting.
"""
from __future__ import annotations

import pytest
import responses

from app.services import invokeai
from app.services.invokeai import InvokeAIClient, InvokeAIError

BASE = "http://127.0.0.1:9090"
QUEUE = "/api/v1/queue/default"
EMAIL, PASSWORD = "ada@example.org", "correct horse battery staple"
BATCH = {"batch_id": "5b0c7d0e-0000-4000-8000-000000000001", "runs": 1, "origin": "gallery",
         "destination": "gallery", "graph": {"id": "txt2img", "nodes": {}, "edges": []}}
IMAGE = "e037ba71-103d-4232-a186-7bb35d97fe9f.png"
IMAGE_PATH = f"/api/v1/images/i/{IMAGE}/full"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 800  # 200 KiB and a bit: several chunks


class FakeClock:
    """Stands in for the module's `time`: monotonic() moves on by `step` per call; sleep() only advances it."""

    def __init__(self):
        self.now = 1000.0
        self.step = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        self.now += self.step
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def api():
    """Every registered answer must be asked for, unless a test says otherwise."""
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(invokeai, "time", fake)
    return fake


@pytest.fixture
def client(clock):
    client = InvokeAIClient(BASE, connect_timeout=3, read_timeout=30, deadline=60)
    yield client
    client.close()


@pytest.fixture
def auth_client(clock):
    """A client of a multi-user InvokeAI (API.md §0, Auth)."""
    client = InvokeAIClient(BASE, email=EMAIL, password=PASSWORD)
    yield client
    client.close()


def answer(api, method: str, path: str, payload=None, status: int = 200, **kwargs):
    """Register InvokeAI's JSON answer to `method path` (FastAPI always says application/json)."""
    return api.add(method, BASE + path, json=payload, status=status, **kwargs)


def assert_names_base_url(error: InvokeAIError):
    assert BASE in error.message and str(error) == error.message
    assert error.url == BASE


def raises(status: int, match: str | None = None, unanswered: bool | None = None):
    """pytest.raises(InvokeAIError) that also checks the status the gallery answers with."""
    return _Raises(status, match, unanswered)


class _Raises:
    def __init__(self, status, match, unanswered):
        self.status, self.unanswered = status, unanswered
        self.context = pytest.raises(InvokeAIError, match=match)

    def __enter__(self):
        self.info = self.context.__enter__()
        return self.info

    def __exit__(self, *exc_info):
        suppressed = self.context.__exit__(*exc_info)
        assert self.info.value.status == self.status, self.info.value.message
        if self.unanswered is not None:
            assert self.info.value.unanswered is self.unanswered
        return suppressed
