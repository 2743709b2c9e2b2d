"""invokeai: the one HTTP client of InvokeAI, against InvokeAI's real answers (../shared/invokeai/API.md).

Every call goes through `responses` (it stands in for the HTTP adapter, so no socket is opened); the
failure table follows API.md §5. The module's clock is a fake one, so retries do not sleep and the
total deadline can be crossed without waiting.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import struct
import threading
import time as real_time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from responses import matchers

from app.services import invokeai
from app.services.invokeai import (GET_ATTEMPTS, BadResponse, GenerationFailed, InvokeAIClient, InvokeAIError,
                                   QueueFull, RequestRejected, TimedOut, Unreachable)

BASE = "http://127.0.0.1:9090"
QUEUE = "/api/v1/queue/default"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "invokeai"
EMAIL, PASSWORD = "ada@example.org", "correct horse battery staple"

REFUSED = ("HTTPConnectionPool(host='127.0.0.1', port=9090): Max retries exceeded with url: /api/v1/app/version "
           "(Caused by NewConnectionError('<urllib3.connection.HTTPConnection object at 0x7f>: Failed to establish "
           "a new connection: [Errno 111] Connection refused'))")
UNKNOWN_HOST = ("HTTPConnectionPool(host='invokeai.lan', port=9090): Max retries exceeded with url: / (Caused by "
                "NameResolutionError(\"<urllib3.connection.HTTPConnection object at 0x7f>: Failed to resolve "
                "'invokeai.lan' ([Errno -2] Name or service not known)\"))")
NO_NETWORK = ("HTTPConnectionPool(host='127.0.0.1', port=9090): Max retries exceeded with url: / (Caused by "
              "NewConnectionError('<urllib3.connection.HTTPConnection object at 0x7f>: Failed to establish a new "
              "connection: [Errno 101] Network is unreachable'))")
RESET = "('Connection aborted.', ConnectionResetError(104, 'Connection reset by peer'))"

WIDTH_NOT_MULTIPLE_OF_8 = [{"type": "multiple_of",
                            "loc": ["body", "batch", "graph", "nodes", "noise", "noise", "width"],
                            "msg": "Input should be a multiple of 8", "input": 63, "ctx": {"multiple_of": 8}}]
BATCH = {"batch_id": "5b0c7d0e-0000-4000-8000-000000000001", "runs": 1, "origin": "gallery",
         "destination": "gallery", "graph": {"id": "txt2img", "nodes": {}, "edges": []}}
BATCH_COUNTS = {"queue_id": "default", "batch_id": BATCH["batch_id"], "origin": "gallery", "destination": "gallery",
                "pending": 1, "in_progress": 1, "waiting": 0, "completed": 1, "failed": 0, "canceled": 0, "total": 3}


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


class Trickle(io.RawIOBase):
    """A response body read from the network piece by piece: bytes, pauses (floats, real seconds) or errors."""

    def __init__(self, *script):
        self.script = list(script)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while self.script:
            step = self.script.pop(0)
            if isinstance(step, BaseException):
                raise step
            if isinstance(step, float):
                real_time.sleep(step)
                continue
            buffer[:len(step)] = step
            return len(step)
        return 0


def trickle(*script) -> io.BufferedReader:
    return io.BufferedReader(Trickle(*script), buffer_size=16)


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


def bearer(token: str):
    return [matchers.header_matcher({"Authorization": f"Bearer {token}"})]


def login_answer(api, token: str):
    body = {"email": EMAIL, "password": PASSWORD, "remember_me": False}
    return answer(api, "POST", "/api/v1/auth/login", {"token": token, "user": {"email": EMAIL}, "expires_in": 86400},
                  match=[matchers.json_params_matcher(body)])


def assert_names_base_url(error: InvokeAIError):
    assert BASE in error.message and str(error) == error.message
    assert error.url == BASE


# --- the family ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", [Unreachable, TimedOut, BadResponse, RequestRejected, GenerationFailed])
def test_every_error_is_one_family(kind):
    assert issubclass(kind, InvokeAIError) and issubclass(InvokeAIError, Exception)


def test_generation_failed_carries_the_message_and_url():
    error = GenerationFailed("Node denoise_latents missing connections for field unet", BASE)
    assert error.message == str(error) == "Node denoise_latents missing connections for field unet"
    assert error.url == BASE


# --- the calls, answered as InvokeAI answers them ---------------------------------------------------------

def test_version_asks_without_a_login(api, client):
    answer(api, "GET", "/api/v1/app/version", {"version": "6.14.2"})
    assert client.version() == "6.14.2"
    request = api.calls[0].request
    assert request.headers["Accept"] == "application/json"
    assert "Authorization" not in request.headers


def test_version_without_a_version_field_is_unknown(api, client):
    answer(api, "GET", "/api/v1/app/version", {"something": "else"})
    assert client.version() == "unknown"


def test_base_url_loses_its_trailing_slash(api, clock):
    answer(api, "GET", "/api/v1/app/version", {"version": "6.14.2"})
    assert InvokeAIClient(BASE + "/").version() == "6.14.2"
    assert api.calls[0].request.url == BASE + "/api/v1/app/version"


def test_list_models_asks_for_main_sd1_and_sd2_models_and_keeps_only_those(api, client):
    tiny = {"key": "237868a8-9909-488c-aad6-ecd4bf74ad4e", "hash": "blake3:7ec2", "name": "tiny-sd15",
            "base": "sd-1", "type": "main"}
    sd2 = {**tiny, "key": "b2", "name": "sd2-base", "base": "sd-2"}
    answer(api, "GET", "/api/v2/models/", {"models": [
        tiny, sd2,
        {**tiny, "key": "x1", "base": "sdxl"},
        {**tiny, "key": "f1", "base": "flux"},
        {**tiny, "key": ""},
        {k: v for k, v in tiny.items() if k != "key"},
        "not a record",
    ]})
    assert client.list_models() == [tiny, sd2]
    query = parse_qs(urlsplit(api.calls[0].request.url).query)
    assert query == {"model_type": ["main"], "base_models": ["sd-1", "sd-2"]}


@pytest.mark.parametrize("payload", [{"items": []}, {"models": None}, ["models"]])
def test_list_models_without_a_model_list_is_a_bad_response(api, client, payload):
    answer(api, "GET", "/api/v2/models/", payload)
    with pytest.raises(BadResponse, match="without a model list") as caught:
        client.list_models()
    assert_names_base_url(caught.value)


def test_enqueue_batch_posts_the_batch_unprepended_and_returns_the_answer(api, client):
    answered = {"queue_id": "default", "enqueued": 3, "requested": 3, "priority": 0, "item_ids": [4, 3, 2],
                "batch": {**BATCH, "data": None}}
    answer(api, "POST", f"{QUEUE}/enqueue_batch", answered,
           match=[matchers.json_params_matcher({"batch": BATCH, "prepend": False})])
    assert client.enqueue_batch(BATCH) == answered
    assert len(api.calls) == 1


def test_enqueue_batch_answered_without_item_ids_is_a_bad_response(api, client):
    answer(api, "POST", f"{QUEUE}/enqueue_batch", {"queue_id": "default", "enqueued": 1, "requested": 1})
    with pytest.raises(BadResponse, match="without item ids") as caught:
        client.enqueue_batch(BATCH)
    assert_names_base_url(caught.value)


def full_queue_answer(enqueued: int, requested: int = 3) -> dict:
    """enqueue_batch's 200 when the queue is at max_queue_size (API.md §2.4): only the taken items' ids."""
    return {"queue_id": "default", "enqueued": enqueued, "requested": requested, "priority": 0,
            "item_ids": list(range(enqueued, 0, -1)), "batch": {**BATCH, "data": None}}


def test_enqueue_batch_that_took_nothing_is_queue_full_naming_the_waiting_items(api, client):
    answer(api, "POST", f"{QUEUE}/enqueue_batch", full_queue_answer(0))
    answer(api, "GET", f"{QUEUE}/status", {"queue": {"queue_id": "default", "pending": 10000, "in_progress": 1},
                                           "processor": {"is_started": True, "is_processing": True}})
    with pytest.raises(QueueFull) as caught:
        client.enqueue_batch(BATCH)
    assert caught.value.message == (f"InvokeAI's queue at {BASE} is full (10000 items waiting): it took none of the 3 "
                                    "images. Try again when it has room.")
    assert isinstance(caught.value, InvokeAIError) and not caught.value.unanswered


def test_enqueue_batch_that_took_nothing_is_queue_full_even_when_the_count_cannot_be_read(api, client):
    answer(api, "POST", f"{QUEUE}/enqueue_batch", full_queue_answer(0))
    answer(api, "GET", f"{QUEUE}/status", {"detail": "boom"}, status=500)
    with pytest.raises(QueueFull, match=r"^InvokeAI's queue at \S+ is full: it took none of the 3 images"):
        client.enqueue_batch(BATCH)


def test_enqueue_batch_that_took_some_returns_the_answer_for_the_caller(api, client):
    answer(api, "POST", f"{QUEUE}/enqueue_batch", full_queue_answer(2))
    assert client.enqueue_batch(BATCH)["item_ids"] == [2, 1]
    assert len(api.calls) == 1


def test_get_item_returns_the_real_completed_item(api, client):
    real = SHARED / "queue-item-completed.json"
    if not real.is_file():
        pytest.skip(f"InvokeAI's recorded answer is absent ({real})")
    item = json.loads(real.read_text())
    answer(api, "GET", f"{QUEUE}/i/1", item)
    got = client.get_item(1)
    assert got == item and got["status"] == "completed"


def test_get_item_without_a_status_is_a_bad_response(api, client):
    answer(api, "GET", f"{QUEUE}/i/7", {"item_id": 7})
    with pytest.raises(BadResponse, match="without a status") as caught:
        client.get_item(7)
    assert_names_base_url(caught.value)


def test_batch_status_returns_the_counts(api, client):
    answer(api, "GET", f"{QUEUE}/b/{BATCH['batch_id']}/status", BATCH_COUNTS)
    assert client.batch_status(BATCH["batch_id"]) == BATCH_COUNTS


def test_queue_status_returns_the_queue_part(api, client):
    queue = {"queue_id": "default", "item_id": 3, "batch_id": BATCH["batch_id"], "session_id": "s", "pending": 2,
             "in_progress": 1, "completed": 4, "failed": 0, "canceled": 0, "total": 7}
    answer(api, "GET", f"{QUEUE}/status", {"queue": queue, "processor": {"is_started": True, "is_processing": True}})
    assert client.queue_status() == queue


def test_cancel_batch_puts_the_batch_id_and_returns_the_count(api, client):
    answer(api, "PUT", f"{QUEUE}/cancel_by_batch_ids", {"canceled": 2},
           match=[matchers.json_params_matcher({"batch_ids": [BATCH["batch_id"]]})])
    assert client.cancel_batch(BATCH["batch_id"]) == 2


def test_cancel_batches_puts_every_batch_id_in_one_call(api, client):
    answer(api, "PUT", f"{QUEUE}/cancel_by_batch_ids", {"canceled": 0},
           match=[matchers.json_params_matcher({"batch_ids": ["lost-1", "lost-2"]})])
    assert client.cancel_batches(["lost-1", "lost-2"]) == 0  # batches that never arrived: no error


# --- downloading an image -------------------------------------------------------------------------------

IMAGE = "e037ba71-103d-4232-a186-7bb35d97fe9f.png"
IMAGE_PATH = f"/api/v1/images/i/{IMAGE}/full"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 800  # 200 KiB and a bit: several chunks


def test_download_image_streams_to_the_file_and_returns_its_size_and_sha256(api, client, tmp_path):
    api.get(BASE + IMAGE_PATH, body=PNG, content_type="image/png", headers={"Content-Length": str(len(PNG))})
    destination = tmp_path / "download.tmp"
    assert client.download_image(IMAGE, destination, max_bytes=len(PNG)) == (len(PNG), hashlib.sha256(PNG).hexdigest())
    assert destination.read_bytes() == PNG


def test_download_image_fsyncs_the_whole_file_before_the_caller_moves_it(api, client, tmp_path, monkeypatch):
    """Like storage's own writes: the bytes are on disk before the rename into place can be."""
    api.get(BASE + IMAGE_PATH, body=PNG, content_type="image/png", headers={"Content-Length": str(len(PNG))})
    synced = []
    real_fsync = os.fsync

    def recording_fsync(fd):
        synced.append((os.fstat(fd).st_ino, os.fstat(fd).st_size))  # which file, and how much of it was written
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    destination = tmp_path / "download.tmp"
    assert client.download_image(IMAGE, destination, max_bytes=len(PNG)) == (len(PNG), hashlib.sha256(PNG).hexdigest())
    assert synced == [(destination.stat().st_ino, len(PNG))]
    assert destination.read_bytes() == PNG


def test_download_image_refuses_a_declared_size_over_the_cap_before_reading(api, client, tmp_path):
    api.get(BASE + IMAGE_PATH, body=PNG, content_type="image/png", headers={"Content-Length": str(len(PNG))})
    destination = tmp_path / "download.tmp"
    with pytest.raises(BadResponse, match=f"is {len(PNG)} bytes; the gallery takes at most 1000") as caught:
        client.download_image(IMAGE, destination, max_bytes=1000)
    assert_names_base_url(caught.value)
    assert not destination.exists()


def test_download_image_stops_an_undeclared_body_over_the_cap(api, client, tmp_path):
    api.get(BASE + IMAGE_PATH, body=PNG, content_type="image/png")  # no Content-Length (chunked)
    destination = tmp_path / "download.tmp"
    cap = len(PNG) - 1
    with pytest.raises(BadResponse, match=f"sent more than {cap} bytes") as caught:
        client.download_image(IMAGE, destination, max_bytes=cap)
    assert_names_base_url(caught.value)
    assert destination.stat().st_size <= cap  # what was written before the cap was crossed
    destination.unlink()  # the caller owns the partial file and can remove it


@pytest.mark.parametrize("name", ["../../etc/passwd", "a/b.png", "..", ".", "", "..\\secret.png"])
def test_download_image_refuses_a_name_that_is_not_a_file_name_without_asking(api, client, tmp_path, name):
    with pytest.raises(BadResponse, match="not a file name") as caught:
        client.download_image(name, tmp_path / "download.tmp", max_bytes=10 ** 6)
    assert_names_base_url(caught.value)
    assert len(api.calls) == 0
    assert not (tmp_path / "download.tmp").exists()


def test_download_image_of_an_unknown_image_is_rejected(api, client, tmp_path):
    answer(api, "GET", IMAGE_PATH, {"detail": "Not Found"}, status=404)
    with pytest.raises(RequestRejected, match="Not Found") as caught:
        client.download_image(IMAGE, tmp_path / "download.tmp", max_bytes=10 ** 6)
    assert caught.value.status == 404
    assert not (tmp_path / "download.tmp").exists()


# --- failure modes (API.md §5): answers that are not what was asked for ---------------------------------

FAILURES = [
    pytest.param(dict(status=500, json={"detail": "Unexpected error while getting queue item: boom"}),
                 BadResponse, ["failed with 500", "Unexpected error while getting queue item: boom"], id="500"),
    pytest.param(dict(status=502, body="<html>Bad Gateway</html>", content_type="text/html"),
                 BadResponse, ["failed with 502", "no detail given"], id="502-from-a-proxy"),
    pytest.param(dict(status=200, body="<!DOCTYPE html><html><head><title>Invoke</title></head></html>",
                      content_type="text/html; charset=utf-8"),
                 BadResponse, ["text/html", "not JSON"], id="spa-fallback-html"),
    pytest.param(dict(status=200, body='{"item_id": 1, "status": "comp', content_type="application/json"),
                 BadResponse, ["broken JSON"], id="broken-json"),
    pytest.param(dict(status=200, body=b"\xff\xfe{}", content_type="application/json"),
                 BadResponse, ["broken JSON"], id="json-not-utf8"),
    pytest.param(dict(status=404, json={"detail": "Queue item with id 424242 not found in queue default"}),
                 RequestRejected, ["404", "Queue item with id 424242 not found in queue default"], id="404"),
    pytest.param(dict(status=409, json={"detail": "Image storage is being maintained"}),
                 RequestRejected, ["409", "Image storage is being maintained"], id="409"),
    pytest.param(dict(status=403, json={"detail": "Admin only"}),
                 RequestRejected, ["403", "Admin only"], id="403"),
    pytest.param(dict(status=401, json={"detail": "Missing authentication credentials"}),
                 RequestRejected, ["asks for a login", "GALLERY_INVOKEAI_EMAIL", "GALLERY_INVOKEAI_PASSWORD"],
                 id="401-without-credentials"),
]


@pytest.mark.parametrize("reply, kind, words", FAILURES)
def test_a_failed_answer_raises_its_kind_saying_what_went_wrong(api, client, reply, kind, words):
    api.add("GET", f"{BASE}{QUEUE}/i/424242", **reply)
    with pytest.raises(kind) as caught:
        client.get_item(424242)
    error = caught.value
    assert type(error) is kind
    assert_names_base_url(error)
    for word in words:
        assert word in error.message
    assert not error.unanswered  # the server answered: it is done with the request
    if kind is RequestRejected:
        assert error.status == reply["status"]
        assert error.detail == reply["json"]["detail"]
    assert len(api.calls) == 1  # none of these is asked again


def test_a_validation_error_is_rejected_with_fastapis_detail(api, client):
    answer(api, "POST", f"{QUEUE}/enqueue_batch", {"detail": WIDTH_NOT_MULTIPLE_OF_8}, status=422)
    with pytest.raises(RequestRejected) as caught:
        client.enqueue_batch(BATCH)
    error = caught.value
    assert error.status == 422
    assert error.detail == WIDTH_NOT_MULTIPLE_OF_8
    assert "width: Input should be a multiple of 8" in error.message
    assert_names_base_url(error)


def test_a_graph_level_validation_error_reads_as_one_line(api, client):
    detail = [{"type": "value_error", "loc": ["body", "batch", "graph"],
               "msg": "Value error, Edge source node ghost does not exist in the graph", "input": {}}]
    answer(api, "POST", f"{QUEUE}/enqueue_batch", {"detail": detail}, status=422)
    with pytest.raises(RequestRejected, match="batch.graph: Value error, Edge source node ghost does not exist"):
        client.enqueue_batch(BATCH)


def test_a_long_detail_is_cut_short(api, client):
    answer(api, "GET", f"{QUEUE}/i/1", {"detail": "x" * 5000}, status=500)
    with pytest.raises(BadResponse) as caught:
        client.get_item(1)
    assert len(caught.value.message) < 500


def test_a_redirect_is_not_followed(api, client):
    api.assert_all_requests_are_fired = False
    api.get(BASE + "/api/v1/app/version", status=302, headers={"Location": "http://127.0.0.1:8080/login"})
    elsewhere = api.get("http://127.0.0.1:8080/login", json={"version": "spoofed"})
    with pytest.raises(BadResponse) as caught:
        client.version()
    error = caught.value
    assert "redirect to http://127.0.0.1:8080/login" in error.message
    assert "does not follow redirects" in error.message
    assert_names_base_url(error)
    assert elsewhere.call_count == 0
    assert len(api.calls) == 1


# --- failure modes: the connection -------------------------------------------------------------------

@pytest.mark.parametrize("text, reason", [(REFUSED, "connection refused"), (UNKNOWN_HOST, "unknown host")])
def test_nothing_listening_is_unreachable_at_once(api, client, clock, text, reason):
    api.get(BASE + "/api/v1/app/version", body=requests.exceptions.ConnectionError(text))
    with pytest.raises(Unreachable) as caught:
        client.version()
    assert caught.value.message == f"InvokeAI at {BASE} cannot be reached: {reason}"
    assert_names_base_url(caught.value)
    assert len(api.calls) == 1 and clock.sleeps == []


def test_a_get_on_a_broken_keep_alive_connection_is_sent_again(api, client, clock):
    for _ in range(GET_ATTEMPTS - 1):
        api.get(f"{BASE}{QUEUE}/status", body=requests.exceptions.ConnectionError(RESET))
    answer(api, "GET", f"{QUEUE}/status", {"queue": {"total": 0}, "processor": {}})
    assert client.queue_status() == {"total": 0}
    assert len(api.calls) == GET_ATTEMPTS
    assert clock.sleeps == [0.2 * attempt for attempt in range(1, GET_ATTEMPTS)]


def test_a_get_whose_connection_keeps_breaking_is_unreachable_in_the_end(api, client, clock):
    api.get(f"{BASE}{QUEUE}/status", body=requests.exceptions.ConnectionError(RESET))
    with pytest.raises(Unreachable) as caught:
        client.queue_status()
    assert "Connection reset by peer" in caught.value.message
    assert_names_base_url(caught.value)
    assert len(api.calls) == GET_ATTEMPTS


def test_the_enqueue_post_on_a_broken_connection_is_never_sent_again(api, client, clock):
    api.post(f"{BASE}{QUEUE}/enqueue_batch", body=requests.exceptions.ConnectionError(RESET))
    with pytest.raises(BadResponse) as caught:  # it may have arrived: the caller checks batch_status
        client.enqueue_batch(BATCH)
    assert "may have" in caught.value.message and "Connection reset by peer" in caught.value.message
    assert caught.value.unanswered  # InvokeAI may still take the batch
    assert_names_base_url(caught.value)
    assert len(api.calls) == 1 and clock.sleeps == []


@pytest.mark.parametrize("text, reason", [(REFUSED, "connection refused"), (UNKNOWN_HOST, "unknown host"),
                                          (NO_NETWORK, "connection failed")])
def test_the_enqueue_post_that_never_connected_is_unreachable(api, client, text, reason):
    api.post(f"{BASE}{QUEUE}/enqueue_batch", body=requests.exceptions.ConnectionError(text))
    with pytest.raises(Unreachable, match=reason) as caught:
        client.enqueue_batch(BATCH)
    assert not caught.value.unanswered  # never sent
    assert len(api.calls) == 1


@pytest.mark.parametrize("timeout, words, unanswered", [
    (requests.exceptions.ConnectTimeout("connect timed out"), "did not accept a connection within 3 s", False),
    (requests.exceptions.ReadTimeout("read timed out"), f"did not answer GET {QUEUE}/status within 30 s", True),
])
def test_a_timeout_is_timed_out_and_not_sent_again(api, client, clock, timeout, words, unanswered):
    api.get(f"{BASE}{QUEUE}/status", body=timeout)
    with pytest.raises(TimedOut, match=words) as caught:
        client.queue_status()
    assert_names_base_url(caught.value)
    assert caught.value.unanswered is unanswered  # a read timeout: sent, and the server may still be at it
    assert len(api.calls) == 1 and clock.sleeps == []


def test_a_read_timeout_on_the_enqueue_post_is_timed_out_and_unanswered(api, client):
    api.post(f"{BASE}{QUEUE}/enqueue_batch", body=requests.exceptions.ReadTimeout("read timed out"))
    with pytest.raises(TimedOut, match=f"did not answer POST {QUEUE}/enqueue_batch within 30 s") as caught:
        client.enqueue_batch(BATCH)
    assert caught.value.unanswered  # InvokeAI may take the batch after the client gave up
    assert len(api.calls) == 1


# --- the body: a total deadline however slowly it trickles; breaks while reading -------------------------

def test_a_body_slower_than_the_deadline_is_timed_out(api, client, clock, tmp_path):
    api.get(BASE + IMAGE_PATH, body=PNG, content_type="image/png")
    clock.step = 25.0  # each chunk arrives 25 s after the one before; the deadline is 60 s
    destination = tmp_path / "download.tmp"
    with pytest.raises(TimedOut, match=f"took more than 60 s to send {IMAGE_PATH}") as caught:
        client.download_image(IMAGE, destination, max_bytes=10 ** 7)
    assert_names_base_url(caught.value)
    assert 0 < destination.stat().st_size < len(PNG)


def test_a_json_answer_slower_than_the_deadline_is_timed_out(api, client, clock):
    answer(api, "GET", f"{QUEUE}/i/1", {"status": "completed", "padding": "x" * 300_000})
    clock.step = 25.0
    with pytest.raises(TimedOut, match="took more than 60 s"):
        client.get_item(1)


def test_a_body_within_the_deadline_is_read_whole(api, client, clock, tmp_path):
    api.get(BASE + IMAGE_PATH, body=PNG, content_type="image/png")
    clock.step = 1.0
    assert client.download_image(IMAGE, tmp_path / "download.tmp", max_bytes=10 ** 7).size == len(PNG)


def test_a_real_trickle_is_stopped_at_the_deadline(api, tmp_path):
    """The real clock: 16 bytes every 20 ms against a deadline of 0.1 s."""
    body = trickle(*[step for _ in range(100) for step in (0.02, b"x" * 16)])
    api.get(BASE + IMAGE_PATH, body=body, content_type="image/png")
    client = InvokeAIClient(BASE, deadline=0.1)
    with pytest.raises(TimedOut, match="took more than 0.1 s"):
        client.download_image(IMAGE, tmp_path / "download.tmp", max_bytes=10 ** 7)
    assert (tmp_path / "download.tmp").stat().st_size < 1600


def test_a_body_that_stops_coming_is_timed_out(api, client, tmp_path):
    api.get(BASE + IMAGE_PATH, body=trickle(b"\x89PNG", socket.timeout("timed out")), content_type="image/png")
    with pytest.raises(TimedOut, match=f"stopped sending {IMAGE_PATH} for more than 30 s") as caught:
        client.download_image(IMAGE, tmp_path / "download.tmp", max_bytes=10 ** 7)
    assert_names_base_url(caught.value)


def test_a_body_broken_off_is_a_bad_response(api, client, tmp_path):
    api.get(BASE + IMAGE_PATH, body=trickle(b"\x89PNG", ConnectionResetError(104, "Connection reset by peer")),
            content_type="image/png")
    with pytest.raises(BadResponse, match=f"broke off {IMAGE_PATH}") as caught:
        client.download_image(IMAGE, tmp_path / "download.tmp", max_bytes=10 ** 7)
    assert_names_base_url(caught.value)
    assert len(api.calls) == 1


def test_an_oversized_json_answer_is_a_bad_response(api, client, monkeypatch):
    monkeypatch.setattr(invokeai, "MAX_JSON_BYTES", 1000)
    answer(api, "GET", f"{QUEUE}/i/1", {"status": "completed", "padding": "x" * 5000})
    with pytest.raises(BadResponse, match="more than 1000 bytes"):
        client.get_item(1)


# --- multi-user mode (API.md §0, Auth) -------------------------------------------------------------------

def test_the_first_call_logs_in_and_the_token_is_kept(api, auth_client):
    login = login_answer(api, "tok-1")
    answer(api, "GET", f"{QUEUE}/status", {"queue": {"total": 0}}, match=bearer("tok-1"))
    answer(api, "GET", f"{QUEUE}/b/{BATCH['batch_id']}/status", BATCH_COUNTS, match=bearer("tok-1"))
    answer(api, "PUT", f"{QUEUE}/cancel_by_batch_ids", {"canceled": 0}, match=bearer("tok-1"))
    auth_client.queue_status()
    auth_client.batch_status(BATCH["batch_id"])
    auth_client.queue_status()
    assert auth_client.cancel_batch(BATCH["batch_id"]) == 0
    assert login.call_count == 1
    assert [urlsplit(call.request.url).path for call in api.calls] == [
        "/api/v1/auth/login", f"{QUEUE}/status", f"{QUEUE}/b/{BATCH['batch_id']}/status", f"{QUEUE}/status",
        f"{QUEUE}/cancel_by_batch_ids"]
    assert "Authorization" not in api.calls[0].request.headers


def test_an_expired_token_is_replaced_once_and_the_call_repeated(api, auth_client):
    login_answer(api, "tok-1")
    login_answer(api, "tok-2")
    answer(api, "GET", f"{QUEUE}/status", {"queue": {"total": 0}}, match=bearer("tok-1"))
    answer(api, "GET", f"{QUEUE}/i/5", {"detail": "Invalid or expired authentication token"}, status=401,
           match=bearer("tok-1"))
    answer(api, "GET", f"{QUEUE}/i/5", {"item_id": 5, "status": "pending"}, match=bearer("tok-2"))
    auth_client.queue_status()
    assert auth_client.get_item(5) == {"item_id": 5, "status": "pending"}
    assert auth_client.token == "tok-2"
    assert [urlsplit(call.request.url).path for call in api.calls] == [
        "/api/v1/auth/login", f"{QUEUE}/status", f"{QUEUE}/i/5", "/api/v1/auth/login", f"{QUEUE}/i/5"]


def test_a_token_refused_even_when_fresh_is_rejected_after_one_new_login(api, auth_client):
    login = login_answer(api, "tok-1")
    call = answer(api, "GET", f"{QUEUE}/i/5", {"detail": "Invalid or expired authentication token"}, status=401)
    with pytest.raises(RequestRejected) as caught:
        auth_client.get_item(5)
    assert caught.value.status == 401
    assert login.call_count == 2 and call.call_count == 2


def test_a_download_sends_the_token_too(api, auth_client, tmp_path):
    login_answer(api, "tok-1")
    api.get(BASE + IMAGE_PATH, body=PNG, content_type="image/png", match=bearer("tok-1"))
    assert auth_client.download_image(IMAGE, tmp_path / "download.tmp", max_bytes=10 ** 7).size == len(PNG)


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_login_is_rejected_naming_the_settings(api, auth_client, status):
    api.post(BASE + "/api/v1/auth/login", json={"detail": "Incorrect email or password"}, status=status)
    with pytest.raises(RequestRejected) as caught:
        auth_client.queue_status()
    error = caught.value
    assert error.status == status
    assert "refused the configured login" in error.message
    assert "GALLERY_INVOKEAI_EMAIL" in error.message and "GALLERY_INVOKEAI_PASSWORD" in error.message
    assert PASSWORD not in error.message
    assert_names_base_url(error)
    assert len(api.calls) == 1  # the call itself is not sent without a token


def test_a_login_that_times_out_before_an_enqueue_leaves_the_enqueue_unsent_not_unanswered(api, auth_client):
    api.post(BASE + "/api/v1/auth/login", body=requests.exceptions.ReadTimeout("read timed out"))
    with pytest.raises(TimedOut, match="did not answer POST /api/v1/auth/login") as caught:
        auth_client.enqueue_batch(BATCH)
    assert not caught.value.unanswered  # no batch can arrive late: none was sent
    assert len(api.calls) == 1


def test_a_login_answered_without_a_token_is_a_bad_response(api, auth_client):
    answer(api, "POST", "/api/v1/auth/login", {"user": {}})
    with pytest.raises(BadResponse, match="answered the login without a token") as caught:
        auth_client.queue_status()
    assert_names_base_url(caught.value)


def test_version_needs_no_login_even_with_credentials(api, auth_client):
    answer(api, "GET", "/api/v1/app/version", {"version": "6.14.2"})
    assert auth_client.version() == "6.14.2"
    assert len(api.calls) == 1
    assert "Authorization" not in api.calls[0].request.headers
    assert auth_client.token is None



# --- the same connection failures from a real socket (loopback), so the texts above are not made up ----------

@pytest.fixture
def resetting_server():
    """A loopback listener that reads each request and answers with a TCP reset; `accepted` counts connections."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    state = {"accepted": 0, "running": True}

    def serve():
        while state["running"]:
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            with connection:
                state["accepted"] += 1
                connection.settimeout(1)
                try:
                    connection.recv(65536)
                except OSError:
                    pass
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}", state
    state["running"] = False
    thread.join(timeout=5)
    listener.close()


def test_a_real_reset_get_is_sent_again_then_unreachable(resetting_server, clock):
    base, state = resetting_server
    client = InvokeAIClient(base, connect_timeout=2, read_timeout=2)
    with pytest.raises(Unreachable, match="Connection aborted"):
        client.queue_status()
    client.close()
    assert state["accepted"] == GET_ATTEMPTS


def test_a_real_reset_post_is_sent_once_and_may_have_arrived(resetting_server, clock):
    base, state = resetting_server
    client = InvokeAIClient(base, connect_timeout=2, read_timeout=2)
    with pytest.raises(BadResponse, match="may have arrived") as caught:
        client.enqueue_batch(BATCH)
    client.close()
    assert state["accepted"] == 1 and caught.value.unanswered


def test_a_real_closed_port_is_unreachable(clock):
    with socket.create_server(("127.0.0.1", 0)) as listener:
        base = f"http://127.0.0.1:{listener.getsockname()[1]}"
    client = InvokeAIClient(base, connect_timeout=2, read_timeout=2)
    for call in (client.version, lambda: client.enqueue_batch(BATCH)):
        with pytest.raises(Unreachable) as caught:
            call()
        assert caught.value.message == f"InvokeAI at {base} cannot be reached: connection refused"
    assert clock.sleeps == []
    client.close()
