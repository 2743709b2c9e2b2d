"""invokeai: the one HTTP client of InvokeAI, its calls against InvokeAI's real answers
(../shared/invokeai/API.md), and its one error type.

With the fixtures and answer helpers of invokeai_answers.py (no socket, a fake clock).
"""
from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from invokeai_answers import BASE, BATCH, QUEUE, answer, assert_names_base_url, raises
from invokeai_answers import api, client, clock  # noqa: F401  (fixtures)
from responses import matchers

from app.errors import GalleryError
from app.services.invokeai import InvokeAIClient, InvokeAIError

SHARED = Path(__file__).resolve().parents[3] / "shared" / "invokeai"


# --- the family ---------------------------------------------------------------------------------

def test_one_error_type_whose_status_is_the_galleries_answer():
    error = InvokeAIError("InvokeAI at http://x cannot be reached: connection refused", 503, BASE)
    assert isinstance(error, GalleryError)  # the blueprint's one handler answers it like the gallery's own
    assert (error.message, error.status, error.url, error.unanswered) == (str(error), 503, BASE, False)
    assert InvokeAIError("answered wrongly").status == 502


# --- the calls, answered as InvokeAI answers them ---------------------------------------------------------

def test_base_url_loses_its_trailing_slash(api, clock):
    answer(api, "GET", f"{QUEUE}/status", {"queue": {"total": 0}})
    assert InvokeAIClient(BASE + "/").queue_status() == {"total": 0}
    assert api.calls[0].request.url == BASE + f"{QUEUE}/status"
    assert api.calls[0].request.headers["Accept"] == "application/json"


def test_list_models_asks_for_every_model_once_and_keeps_the_records_with_a_key(api, client):
    tiny = {"key": "237868a8-9909-488c-aad6-ecd4bf74ad4e", "hash": "blake3:7ec2", "name": "tiny-sd15",
            "base": "sd-1", "type": "main"}
    sdxl, t5 = {**tiny, "key": "x1", "base": "sdxl"}, {**tiny, "key": "t5", "base": "any", "type": "t5_encoder"}
    answer(api, "GET", "/api/v2/models/", {"models": [
        tiny, sdxl, t5,
        {**tiny, "key": ""},
        {k: v for k, v in tiny.items() if k != "key"},
        "not a record",
    ]})
    assert client.list_models() == [tiny, sdxl, t5]
    assert urlsplit(api.calls[0].request.url).query == ""  # main models and FLUX.1's encoders in one answer


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


# --- the starting image of image to image ---------------------------------------------------------

IMAGE_DTO = {"image_name": "5f1c0a9e-start.png", "image_url": "api/v1/images/i/5f1c0a9e-start.png/full",
             "thumbnail_url": "api/v1/images/i/5f1c0a9e-start.png/thumbnail", "image_origin": "internal",
             "image_category": "general", "width": 64, "height": 72, "created_at": "2026-12-05 10:00:00.000",
             "updated_at": "2026-12-05 10:00:00.000", "deleted_at": None, "is_intermediate": True,
             "session_id": None, "node_id": None, "starred": False, "has_workflow": False, "image_subfolder": "",
             "board_id": None}


def test_upload_image_sends_the_file_as_an_intermediate_general_image(api, client):
    answer(api, "POST", "/api/v1/images/upload", IMAGE_DTO, status=201)
    assert client.upload_image("gallery-photo-7.png", b"\x89PNG...", "image/png") == IMAGE_DTO
    request = api.calls[0].request
    assert parse_qs(urlsplit(request.url).query) == {"image_category": ["general"], "is_intermediate": ["true"]}
    assert request.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert b'name="file"; filename="gallery-photo-7.png"' in request.body and b"\x89PNG..." in request.body
    assert len(api.calls) == 1


@pytest.mark.parametrize("payload", [{"image_url": "x"}, {"image_name": ""}, ["image_name"]])
def test_an_upload_answered_without_an_image_name_is_a_bad_response(api, client, payload):
    answer(api, "POST", "/api/v1/images/upload", payload, status=201)
    with raises(502, match="without an image name"):
        client.upload_image("start.png", b"png", "image/png")


def test_an_upload_refused_as_no_image_says_so(api, client):
    answer(api, "POST", "/api/v1/images/upload", {"detail": "Failed to create image"}, status=415)
    with raises(502, match="failed with 415: Failed to create image"):
        client.upload_image("start.png", b"png", "image/png")
