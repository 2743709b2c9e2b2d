"""invokeai: a multi-user InvokeAI (API.md §0, Auth): logging in, keeping the token, logging in again
once when it expires, and refused or broken logins.

With the fixtures and answer helpers of invokeai_answers.py (no socket, a fake clock).
"""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import requests
from invokeai_answers import (BASE, BATCH, EMAIL, IMAGE, IMAGE_PATH, PASSWORD, PNG, QUEUE, answer,
                              assert_names_base_url, raises)
from invokeai_answers import api, auth_client, clock  # noqa: F401  (fixtures)
from responses import matchers


def bearer(token: str):
    return [matchers.header_matcher({"Authorization": f"Bearer {token}"})]


def login_answer(api, token: str):
    body = {"email": EMAIL, "password": PASSWORD, "remember_me": False}
    return answer(api, "POST", "/api/v1/auth/login", {"token": token, "user": {"email": EMAIL}, "expires_in": 86400},
                  match=[matchers.json_params_matcher(body)])


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
