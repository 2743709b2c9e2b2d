"""invokeai: downloading an image to a file, and reading any body within the total deadline however slowly
it trickles, and breaks while reading.

With the fixtures and answer helpers of invokeai_answers.py (no socket, a fake clock).
"""
from __future__ import annotations

import hashlib
import io
import os
import socket
import time as real_time

import pytest
from invokeai_answers import BASE, IMAGE, IMAGE_PATH, PNG, QUEUE, answer, assert_names_base_url, raises
from invokeai_answers import api, client, clock  # noqa: F401  (fixtures)

from app.services import invokeai
from app.services.invokeai import InvokeAIClient


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


# --- downloading an image -------------------------------------------------------------------------------


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
