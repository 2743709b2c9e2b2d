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
from app.errors import GalleryError
from app.services.invokeai import GET_ATTEMPTS, InvokeAIClient, InvokeAIError

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

def test_one_error_type_whose_status_is_the_galleries_answer():
    error = InvokeAIError("InvokeAI at http://x cannot be reached: connection refused", 503, BASE)
    assert isinstance(error, GalleryError)  # the blueprint's one handler answers it like the gallery's own
    assert (error.message, error.status, error.url, error.unanswered) == (str(error), 503, BASE, False)
    assert InvokeAIError("answered wrongly").status == 502


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


# --- the calls, answered as InvokeAI answers them ---------------------------------------------------------

def test_base_url_loses_its_trailing_slash(api, clock):
    answer(api, "GET", f"{QUEUE}/status", {"queue": {"total": 0}})
    assert InvokeAIClient(BASE + "/").queue_status() == {"total": 0}
    assert api.calls[0].request.url == BASE + f"{QUEUE}/status"
    assert api.calls[0].request.headers["Accept"] == "application/json"


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
    with raises(502, match="without a model list") as caught:
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
    with raises(502, match="without item ids") as caught:
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
    with raises(503) as caught:
        client.enqueue_batch(BATCH)
    assert caught.value.message == (f"InvokeAI's queue at {BASE} is full (10000 items waiting): it took none of the 3 "
                                    "images. Try again when it has room.")
    assert isinstance(caught.value, InvokeAIError) and not caught.value.unanswered


def test_enqueue_batch_that_took_nothing_is_queue_full_even_when_the_count_cannot_be_read(api, client):
    answer(api, "POST", f"{QUEUE}/enqueue_batch", full_queue_answer(0))
    answer(api, "GET", f"{QUEUE}/status", {"detail": "boom"}, status=500)
    with raises(503, match=r"^InvokeAI's queue at \S+ is full: it took none of the 3 images"):
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
    with raises(502, match="without a status") as caught:
        client.get_item(7)
    assert_names_base_url(caught.value)


def test_get_item_of_an_item_invokeai_forgot_is_none(api, client):
    answer(api, "GET", f"{QUEUE}/i/424242", {"detail": "Queue item with id 424242 not found in queue default"},
           status=404)
    assert client.get_item(424242) is None


def test_recent_images_lists_the_newest_gallery_images(api, client):
    dto = {"image_name": "e037ba71-103d-4232-a186-7bb35d97fe9f.png", "session_id": "47f509e8", "node_id": "d008"}
    answer(api, "GET", "/api/v1/images/", {"limit": 100, "offset": 0, "total": 2, "items": [dto, {"no": "name"}]})
    assert client.recent_images() == [dto]
    query = parse_qs(urlsplit(api.calls[0].request.url).query)
    assert query == {"categories": ["general"], "is_intermediate": ["false"], "limit": ["100"], "offset": ["0"],
                     "order_dir": ["DESC"], "starred_first": ["false"]}


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
    with raises(502, match=f"is {len(PNG)} bytes; the gallery takes at most 1000") as caught:
        client.download_image(IMAGE, destination, max_bytes=1000)
    assert_names_base_url(caught.value)
    assert not destination.exists()


def test_download_image_stops_an_undeclared_body_over_the_cap(api, client, tmp_path):
    api.get(BASE + IMAGE_PATH, body=PNG, content_type="image/png")  # no Content-Length (chunked)
    destination = tmp_path / "download.tmp"
    cap = len(PNG) - 1
    with raises(502, match=f"sent more than {cap} bytes") as caught:
        client.download_image(IMAGE, destination, max_bytes=cap)
    assert_names_base_url(caught.value)
    assert destination.stat().st_size <= cap  # what was written before the cap was crossed
    destination.unlink()  # the caller owns the partial file and can remove it


@pytest.mark.parametrize("name", ["../../etc/passwd", "a/b.png", "..", ".", "", "..\\secret.png"])
def test_download_image_refuses_a_name_that_is_not_a_file_name_without_asking(api, client, tmp_path, name):
    with raises(502, match="not a file name") as caught:
        client.download_image(name, tmp_path / "download.tmp", max_bytes=10 ** 6)
    assert_names_base_url(caught.value)
    assert len(api.calls) == 0
    assert not (tmp_path / "download.tmp").exists()


def test_download_image_of_an_unknown_image_is_rejected(api, client, tmp_path):
    answer(api, "GET", IMAGE_PATH, {"detail": "Not Found"}, status=404)
    with raises(502, match="answered 404 for .*: Not Found"):
        client.download_image(IMAGE, tmp_path / "download.tmp", max_bytes=10 ** 6)
    assert not (tmp_path / "download.tmp").exists()


# --- failure modes (API.md §5): answers that are not what was asked for ---------------------------------

FAILURES = [
    pytest.param(dict(status=500, json={"detail": "Unexpected error while getting queue item: boom"}),
                 502, ["failed with 500", "Unexpected error while getting queue item: boom"], id="500"),
    pytest.param(dict(status=502, body="<html>Bad Gateway</html>", content_type="text/html"),
                 502, ["failed with 502", "no detail given"], id="502-from-a-proxy"),
    pytest.param(dict(status=200, body="<!DOCTYPE html><html><head><title>Invoke</title></head></html>",
                      content_type="text/html; charset=utf-8"),
                 502, ["text/html", "not JSON"], id="spa-fallback-html"),
    pytest.param(dict(status=200, body='{"item_id": 1, "status": "comp', content_type="application/json"),
                 502, ["broken JSON"], id="broken-json"),
    pytest.param(dict(status=200, body=b"\xff\xfe{}", content_type="application/json"),
                 502, ["broken JSON"], id="json-not-utf8"),
    pytest.param(dict(status=409, json={"detail": "Image storage is being maintained"}),
                 502, ["409", "Image storage is being maintained"], id="409"),
    pytest.param(dict(status=403, json={"detail": "Admin only"}),
                 502, ["403", "Admin only"], id="403"),
    pytest.param(dict(status=401, json={"detail": "Missing authentication credentials"}),
                 502, ["asks for a login", "GALLERY_INVOKEAI_EMAIL", "GALLERY_INVOKEAI_PASSWORD"],
                 id="401-without-credentials"),
]


@pytest.mark.parametrize("reply, status, words", FAILURES)
def test_a_failed_answer_is_a_bad_gateway_saying_what_went_wrong(api, client, reply, status, words):
    api.add("GET", f"{BASE}{QUEUE}/i/424242", **reply)
    with raises(status) as caught:
        client.get_item(424242)
    error = caught.value
    assert_names_base_url(error)
    for word in words:
        assert word in error.message
    assert not error.unanswered  # the server answered: it is done with the request
    assert len(api.calls) == 1  # none of these is asked again


def test_a_validation_error_is_a_bad_request_in_fastapis_words(api, client):
    answer(api, "POST", f"{QUEUE}/enqueue_batch", {"detail": WIDTH_NOT_MULTIPLE_OF_8}, status=422)
    with raises(400) as caught:  # the values the person sent were refused
        client.enqueue_batch(BATCH)
    error = caught.value
    assert "width: Input should be a multiple of 8" in error.message
    assert_names_base_url(error)


def test_a_graph_level_validation_error_reads_as_one_line(api, client):
    detail = [{"type": "value_error", "loc": ["body", "batch", "graph"],
               "msg": "Value error, Edge source node ghost does not exist in the graph", "input": {}}]
    answer(api, "POST", f"{QUEUE}/enqueue_batch", {"detail": detail}, status=422)
    with raises(400, match="batch.graph: Value error, Edge source node ghost does not exist"):
        client.enqueue_batch(BATCH)


def test_a_long_detail_is_cut_short(api, client):
    answer(api, "GET", f"{QUEUE}/i/1", {"detail": "x" * 5000}, status=500)
    with raises(502) as caught:
        client.get_item(1)
    assert len(caught.value.message) < 500


def test_a_redirect_is_not_followed(api, client):
    api.assert_all_requests_are_fired = False
    api.get(BASE + "/api/v2/models/", status=302, headers={"Location": "http://127.0.0.1:8080/login"})
    elsewhere = api.get("http://127.0.0.1:8080/login", json={"models": []})
    with raises(502) as caught:
        client.list_models()
    error = caught.value
    assert "redirect to http://127.0.0.1:8080/login" in error.message
    assert "does not follow redirects" in error.message
    assert_names_base_url(error)
    assert elsewhere.call_count == 0
    assert len(api.calls) == 1


# --- failure modes: the connection -------------------------------------------------------------------

@pytest.mark.parametrize("text, reason", [(REFUSED, "connection refused"), (UNKNOWN_HOST, "unknown host")])
def test_nothing_listening_is_unreachable_at_once(api, client, clock, text, reason):
    api.get(BASE + "/api/v2/models/", body=requests.exceptions.ConnectionError(text))
    with raises(503) as caught:
        client.list_models()
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
    with raises(503) as caught:
        client.queue_status()
    assert "Connection reset by peer" in caught.value.message
    assert_names_base_url(caught.value)
    assert len(api.calls) == GET_ATTEMPTS


def test_the_enqueue_post_on_a_broken_connection_is_never_sent_again(api, client, clock):
    api.post(f"{BASE}{QUEUE}/enqueue_batch", body=requests.exceptions.ConnectionError(RESET))
    with raises(502) as caught:  # it may have arrived: the caller checks batch_status
        client.enqueue_batch(BATCH)
    assert "may have" in caught.value.message and "Connection reset by peer" in caught.value.message
    assert caught.value.unanswered  # InvokeAI may still take the batch
    assert_names_base_url(caught.value)
    assert len(api.calls) == 1 and clock.sleeps == []


@pytest.mark.parametrize("text, reason", [(REFUSED, "connection refused"), (UNKNOWN_HOST, "unknown host"),
                                          (NO_NETWORK, "connection failed")])
def test_the_enqueue_post_that_never_connected_is_unreachable(api, client, text, reason):
    api.post(f"{BASE}{QUEUE}/enqueue_batch", body=requests.exceptions.ConnectionError(text))
    with raises(503, match=reason) as caught:
        client.enqueue_batch(BATCH)
    assert not caught.value.unanswered  # never sent
    assert len(api.calls) == 1


@pytest.mark.parametrize("timeout, words, unanswered", [
    (requests.exceptions.ConnectTimeout("connect timed out"), "did not accept a connection within 3 s", False),
    (requests.exceptions.ReadTimeout("read timed out"), f"did not answer GET {QUEUE}/status within 30 s", True),
])
def test_a_timeout_is_timed_out_and_not_sent_again(api, client, clock, timeout, words, unanswered):
    api.get(f"{BASE}{QUEUE}/status", body=timeout)
    with raises(504, match=words) as caught:
        client.queue_status()
    assert_names_base_url(caught.value)
    assert caught.value.unanswered is unanswered  # a read timeout: sent, and the server may still be at it
    assert len(api.calls) == 1 and clock.sleeps == []


def test_a_read_timeout_on_the_enqueue_post_is_timed_out_and_unanswered(api, client):
    api.post(f"{BASE}{QUEUE}/enqueue_batch", body=requests.exceptions.ReadTimeout("read timed out"))
    with raises(504, match=f"did not answer POST {QUEUE}/enqueue_batch within 30 s") as caught:
        client.enqueue_batch(BATCH)
    assert caught.value.unanswered  # InvokeAI may take the batch after the client gave up
    assert len(api.calls) == 1


# --- the body: a total deadline however slowly it trickles; breaks while reading -------------------------

def test_a_body_slower_than_the_deadline_is_timed_out(api, client, clock, tmp_path):
    api.get(BASE + IMAGE_PATH, body=PNG, content_type="image/png")
    clock.step = 25.0  # each chunk arrives 25 s after the one before; the deadline is 60 s
    destination = tmp_path / "download.tmp"
    with raises(504, match=f"took more than 60 s to send {IMAGE_PATH}") as caught:
        client.download_image(IMAGE, destination, max_bytes=10 ** 7)
    assert_names_base_url(caught.value)
    assert 0 < destination.stat().st_size < len(PNG)


def test_a_json_answer_slower_than_the_deadline_is_timed_out(api, client, clock):
    answer(api, "GET", f"{QUEUE}/i/1", {"status": "completed", "padding": "x" * 300_000})
    clock.step = 25.0
    with raises(504, match="took more than 60 s"):
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
    with raises(504, match="took more than 0.1 s"):
        client.download_image(IMAGE, tmp_path / "download.tmp", max_bytes=10 ** 7)
    assert (tmp_path / "download.tmp").stat().st_size < 1600


def test_a_body_that_stops_coming_is_timed_out(api, client, tmp_path):
    api.get(BASE + IMAGE_PATH, body=trickle(b"\x89PNG", socket.timeout("timed out")), content_type="image/png")
    with raises(504, match=f"stopped sending {IMAGE_PATH} for more than 30 s") as caught:
        client.download_image(IMAGE, tmp_path / "download.tmp", max_bytes=10 ** 7)
    assert_names_base_url(caught.value)


def test_a_body_broken_off_is_a_bad_response(api, client, tmp_path):
    api.get(BASE + IMAGE_PATH, body=trickle(b"\x89PNG", ConnectionResetError(104, "Connection reset by peer")),
            content_type="image/png")
    with raises(502, match=f"broke off {IMAGE_PATH}") as caught:
        client.download_image(IMAGE, tmp_path / "download.tmp", max_bytes=10 ** 7)
    assert_names_base_url(caught.value)
    assert len(api.calls) == 1


def test_an_oversized_json_answer_is_a_bad_response(api, client, monkeypatch):
    monkeypatch.setattr(invokeai, "MAX_JSON_BYTES", 1000)
    answer(api, "GET", f"{QUEUE}/i/1", {"status": "completed", "padding": "x" * 5000})
    with raises(502, match="more than 1000 bytes"):
        client.get_item(1)


# --- multi-user mode (API.md §0, Auth) -------------------------------------------------------------------

def test_the_first_call_logs_in_and_the_token_is_kept(api, auth_client):
    login = login_answer(api, "tok-1")
    answer(api, "GET", f"{QUEUE}/status", {"queue": {"total": 0}}, match=bearer("tok-1"))
    answer(api, "GET", f"{QUEUE}/i/5", {"item_id": 5, "status": "pending"}, match=bearer("tok-1"))
    answer(api, "PUT", f"{QUEUE}/cancel_by_batch_ids", {"canceled": 0}, match=bearer("tok-1"))
    auth_client.queue_status()
    auth_client.get_item(5)
    auth_client.queue_status()
    assert auth_client.cancel_batch(BATCH["batch_id"]) == 0
    assert login.call_count == 1
    assert [urlsplit(call.request.url).path for call in api.calls] == [
        "/api/v1/auth/login", f"{QUEUE}/status", f"{QUEUE}/i/5", f"{QUEUE}/status",
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
    with raises(502, match="asks for a login"):
        auth_client.get_item(5)
    assert login.call_count == 2 and call.call_count == 2


def test_a_download_sends_the_token_too(api, auth_client, tmp_path):
    login_answer(api, "tok-1")
    api.get(BASE + IMAGE_PATH, body=PNG, content_type="image/png", match=bearer("tok-1"))
    assert auth_client.download_image(IMAGE, tmp_path / "download.tmp", max_bytes=10 ** 7).size == len(PNG)


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_login_is_rejected_naming_the_settings(api, auth_client, status):
    api.post(BASE + "/api/v1/auth/login", json={"detail": "Incorrect email or password"}, status=status)
    with raises(502) as caught:
        auth_client.queue_status()
    error = caught.value
    assert "refused the configured login" in error.message
    assert "GALLERY_INVOKEAI_EMAIL" in error.message and "GALLERY_INVOKEAI_PASSWORD" in error.message
    assert PASSWORD not in error.message
    assert_names_base_url(error)
    assert len(api.calls) == 1  # the call itself is not sent without a token


def test_a_login_that_times_out_before_an_enqueue_leaves_the_enqueue_unsent_not_unanswered(api, auth_client):
    api.post(BASE + "/api/v1/auth/login", body=requests.exceptions.ReadTimeout("read timed out"))
    with raises(504, match="did not answer POST /api/v1/auth/login") as caught:
        auth_client.enqueue_batch(BATCH)
    assert not caught.value.unanswered  # no batch can arrive late: none was sent
    assert len(api.calls) == 1


def test_a_login_answered_without_a_token_is_a_bad_response(api, auth_client):
    answer(api, "POST", "/api/v1/auth/login", {"user": {}})
    with raises(502, match="answered the login without a token") as caught:
        auth_client.queue_status()
    assert_names_base_url(caught.value)



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
    with raises(503, match="Connection aborted"):
        client.queue_status()
    client.close()
    assert state["accepted"] == GET_ATTEMPTS


def test_a_real_reset_post_is_sent_once_and_may_have_arrived(resetting_server, clock):
    base, state = resetting_server
    client = InvokeAIClient(base, connect_timeout=2, read_timeout=2)
    with raises(502, match="may have arrived") as caught:
        client.enqueue_batch(BATCH)
    client.close()
    assert state["accepted"] == 1 and caught.value.unanswered


def test_a_real_closed_port_is_unreachable(clock):
    with socket.create_server(("127.0.0.1", 0)) as listener:
        base = f"http://127.0.0.1:{listener.getsockname()[1]}"
    client = InvokeAIClient(base, connect_timeout=2, read_timeout=2)
    for call in (client.list_models, lambda: client.enqueue_batch(BATCH)):
        with raises(503) as caught:
            call()
        assert caught.value.message == f"InvokeAI at {base} cannot be reached: connection refused"
    assert clock.sleeps == []
    client.close()
