"""invokeai: the failure modes of API.md §5, answers that are not what was asked for and broken
connections (retried only where that is safe), the same failures met on a real socket.

With the fixtures and answer helpers of invokeai_answers.py (no socket, a fake clock).
"""
from __future__ import annotations

import socket
import struct
import threading

import pytest
import requests
from invokeai_answers import BASE, BATCH, QUEUE, answer, assert_names_base_url, raises
from invokeai_answers import api, client, clock  # noqa: F401  (fixtures)

from app.services.invokeai import GET_ATTEMPTS, InvokeAIClient

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
