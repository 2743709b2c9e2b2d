"""The fake InvokeAI server behaves like API.md says the real 6.14.2 one does."""
from __future__ import annotations

import io
import json
import time

import pytest
import requests
from PIL import Image

from fake_invokeai import FakeInvokeAI, closed_port_url, fake_invokeai  # noqa: F401 (fixtures)

ENQUEUE = "/api/v1/queue/default/enqueue_batch"


def sd1_body(model, width=64, height=64, seeds=(1, 2, 3)):
    """The §2.1 graph, seeds batched into noise and metadata as §2.3 shows."""
    ref = {k: model[k] for k in ("key", "hash", "name", "base", "type")}
    nodes = {
        "model_loader": {"type": "main_model_loader", "model": ref},
        "clip_skip": {"type": "clip_skip", "skipped_layers": 0},
        "positive": {"type": "compel", "prompt": "a lighthouse"},
        "negative": {"type": "compel", "prompt": ""},
        "noise": {"type": "noise", "seed": 0, "width": width, "height": height, "use_cpu": True},
        "denoise": {"type": "denoise_latents", "steps": 2, "cfg_scale": 7.5, "scheduler": "euler",
                    "denoising_start": 0.0, "denoising_end": 1.0},
        "l2i": {"type": "l2i", "fp32": True, "is_intermediate": False, "use_cache": False},
        "metadata": {"type": "core_metadata", "generation_mode": "txt2img", "positive_prompt": "a lighthouse",
                     "negative_prompt": "", "width": width, "height": height, "seed": 0, "steps": 2,
                     "cfg_scale": 7.5, "scheduler": "euler", "clip_skip": 0, "model": ref},
    }
    links = [("model_loader.unet", "denoise.unet"), ("model_loader.clip", "clip_skip.clip"),
             ("clip_skip.clip", "positive.clip"), ("clip_skip.clip", "negative.clip"),
             ("positive.conditioning", "denoise.positive_conditioning"),
             ("negative.conditioning", "denoise.negative_conditioning"), ("noise.noise", "denoise.noise"),
             ("denoise.latents", "l2i.latents"), ("model_loader.vae", "l2i.vae"), ("metadata.metadata", "l2i.metadata")]
    edges = [{"source": dict(zip(("node_id", "field"), s.split("."))),
              "destination": dict(zip(("node_id", "field"), d.split(".")))} for s, d in links]
    data = [[{"node_path": "noise", "field_name": "seed", "items": list(seeds)},
             {"node_path": "metadata", "field_name": "seed", "items": list(seeds)}]]
    graph = {"id": "txt2img", "nodes": {k: {"id": k, **n} for k, n in nodes.items()}, "edges": edges}
    return {"prepend": False,
            "batch": {"graph": graph, "runs": 1, "data": data, "origin": "gallery", "destination": "gallery"}}


def model(fake, name="tiny-sd15"):
    return next(m for m in fake.models if m["name"] == name)


def enqueue(fake, body=None, timeout=5, **kwargs):
    return requests.post(fake.url + ENQUEUE, json=body or sd1_body(model(fake)), timeout=timeout, **kwargs)


def image_url(fake, item):
    session = item["session"]
    name = session["results"][session["source_prepared_mapping"]["l2i"][0]]["image"]["image_name"]
    return f"{fake.url}/api/v1/images/i/{name}/full"


def poll_until_done(fake, item_ids, limit=50):
    items = {}
    for _ in range(limit):
        items = {i: requests.get(f"{fake.url}/api/v1/queue/default/i/{i}", timeout=5).json() for i in item_ids}
        if all(item["status"] in ("completed", "failed", "canceled") for item in items.values()):
            return items
    raise AssertionError(f"not finished: {[(i, it['status']) for i, it in items.items()]}")


def test_enqueue_poll_and_download(fake_invokeai):
    fake = fake_invokeai
    answer = enqueue(fake)
    assert answer.status_code == 200
    result = answer.json()
    assert result["item_ids"] == [3, 2, 1] and result["enqueued"] == result["requested"] == 3
    assert result["batch"]["graph"]["nodes"]["noise"]["noise_type"] == "SD"  # defaults filled in

    statuses = [requests.get(f"{fake.url}/api/v1/queue/default/i/1", timeout=5).json()["status"] for _ in range(3)]
    assert statuses == ["pending", "in_progress", "completed"]  # steps_to_finish = 2
    items = poll_until_done(fake, result["item_ids"])
    seeds = {}
    for item_id, item in items.items():
        assert item["status"] == "completed" and "error_type" not in item
        values = {(v["node_path"], v["field_name"]): v["value"] for v in item["field_values"]}
        assert values[("noise", "seed")] == values[("metadata", "seed")]
        seeds[item_id] = values[("noise", "seed")]
        png = requests.get(image_url(fake, item), timeout=5)
        assert png.headers["Content-Type"] == "image/png"
        with Image.open(io.BytesIO(png.content)) as picture:
            picture.load()
            assert picture.size == (64, 64)
            assert json.loads(picture.text["invokeai_metadata"])["seed"] == seeds[item_id]
        metadata = requests.get(image_url(fake, item).replace("/full", "/metadata"), timeout=5).json()
        assert metadata["app_version"] == "6.14.2" and metadata["model"]["name"] == "tiny-sd15"
    assert seeds == {1: 1, 2: 2, 3: 3}  # created in seed order, returned reversed
    assert fake.count("POST", ENQUEUE) == 1

    status = requests.get(f"{fake.url}/api/v1/queue/default/b/{result['batch']['batch_id']}/status", timeout=5).json()
    assert (status["completed"], status["total"], status["origin"]) == (3, 3, "gallery")
    queue = requests.get(f"{fake.url}/api/v1/queue/default/status", timeout=5).json()
    assert queue["queue"]["item_id"] is None and queue["processor"] == {"is_started": True, "is_processing": False}


def test_models_validation_and_fallbacks(fake_invokeai):
    url = fake_invokeai.url
    assert requests.get(f"{url}/api/v1/app/version", timeout=5).json() == {"version": "6.14.2"}
    listed = requests.get(f"{url}/api/v2/models/", params={"model_type": "main", "base_models": ["sd-1", "sd-2"]},
                          timeout=5).json()["models"]
    assert sorted(m["name"] for m in listed) == ["dreamshaper-8", "sd-2-1-base", "tiny-sd15"]

    body = sd1_body(model(fake_invokeai), width=65)
    detail = enqueue(fake_invokeai, body).json()["detail"]
    assert detail == [{"type": "multiple_of", "loc": ["body", "batch", "graph", "nodes", "noise", "noise", "width"],
                       "msg": "Input should be a multiple of 8", "input": 65, "ctx": {"multiple_of": 8}}]
    assert enqueue(fake_invokeai, {"graph": body["batch"]["graph"]}).status_code == 422  # no "batch" wrapper
    body = sd1_body(model(fake_invokeai))
    body["batch"]["graph"]["nodes"]["denoise"]["scheduler"] = "warp_drive"
    assert enqueue(fake_invokeai, body).json()["detail"][0]["type"] == "literal_error"
    body = sd1_body(model(fake_invokeai))
    body["batch"]["graph"]["edges"][0]["source"]["node_id"] = "ghost"
    assert enqueue(fake_invokeai, body).json()["detail"][0]["msg"] == \
        "Value error, Edge source node ghost does not exist in the graph"
    assert fake_invokeai.items == {}

    spa = requests.get(f"{url}/api/v1/nope", timeout=5)
    assert spa.status_code == 200 and spa.headers["Content-Type"].startswith("text/html")
    missing = requests.get(f"{url}/api/v1/queue/default/i/424242", timeout=5)
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Queue item with id 424242 not found in queue default"}
    assert requests.get(f"{url}/api/v1/queue/default/i/abc", timeout=5).status_code == 422
    unknown = requests.get(f"{url}/api/v1/queue/default/b/no-such-batch/status", timeout=5).json()
    assert unknown["total"] == 0
    assert requests.get(f"{url}/api/v1/images/i/nope.png/full", timeout=5).json() == {"detail": "Not Found"}


def test_item_failures_and_cancel(fake_invokeai):
    fake = fake_invokeai
    fake.steps_to_finish = 0
    fake.fail_seeds = {2}
    items = poll_until_done(fake, enqueue(fake).json()["item_ids"])
    assert {i: it["status"] for i, it in items.items()} == {1: "completed", 2: "failed", 3: "completed"}
    assert items[2]["error_type"] == "Exception" and "does-not-exist" in items[2]["error_message"]

    fake.fault = "item_fails"
    items = poll_until_done(fake, enqueue(fake).json()["item_ids"])
    assert all(it["status"] == "failed" and it["error_traceback"] for it in items.values())
    fake.fault = None

    result = enqueue(fake).json()
    cancel = requests.put(f"{fake.url}/api/v1/queue/default/cancel_by_batch_ids",
                          json={"batch_ids": [result["batch"]["batch_id"]]}, timeout=5)
    assert cancel.json() == {"canceled": 3}
    assert {fake.item(i)["status"] for i in result["item_ids"]} == {"canceled"}


def test_a_full_queue_takes_what_fits_and_still_answers_200(fake_invokeai):
    """InvokeAI counts pending items against max_queue_size and takes a batch's first items in data order."""
    fake = fake_invokeai
    fake.max_queue_size = 2
    answer = enqueue(fake, sd1_body(model(fake), seeds=(7, 8, 9)))
    assert answer.status_code == 200
    result = answer.json()
    assert (result["enqueued"], result["requested"], result["item_ids"]) == (2, 3, [2, 1])
    seeds = {i: fake.item(i)["field_values"][0]["value"] for i in result["item_ids"]}
    assert seeds == {1: 7, 2: 8}

    full = enqueue(fake).json()
    assert (full["enqueued"], full["requested"], full["item_ids"]) == (0, 3, [])
    queue = requests.get(f"{fake.url}/api/v1/queue/default/status", timeout=5).json()["queue"]
    assert queue["pending"] + queue["in_progress"] == 2  # the refused batch left no items

    poll_until_done(fake, result["item_ids"])  # finished items make room again
    assert enqueue(fake).json()["enqueued"] == 2


@pytest.mark.parametrize("fault", ["500", "html", "invalid_json", "redirect", "silent"])
def test_request_faults(fake_invokeai, fault):
    fake_invokeai.fault = fault
    url = f"{fake_invokeai.url}/api/v1/app/version"
    if fault == "silent":
        started = time.monotonic()
        with pytest.raises(requests.exceptions.ReadTimeout):
            requests.get(url, timeout=0.5)
        assert time.monotonic() - started < 2
        return
    answer = requests.get(url, timeout=5, allow_redirects=False)
    if fault == "500":
        assert answer.status_code == 500 and answer.json()["detail"].endswith(": boom")
    elif fault == "html":
        assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/html")
    elif fault == "invalid_json":
        assert answer.headers["Content-Type"] == "application/json"
        with pytest.raises(ValueError):
            answer.json()
    else:
        assert answer.status_code == 302 and answer.headers["Location"] == f"{fake_invokeai.url}/elsewhere"


def batch_items(fake, batch_id):
    with fake.lock:
        return [item for item in fake.items.values() if item["batch_id"] == batch_id]


@pytest.mark.parametrize("fault", ["late_accept", "late_answer"])
def test_late_enqueue_faults(fake_invokeai, fault):
    """Only the enqueue is held; the batch lands after the client gave up (late_accept) or before (late_answer)."""
    fake = fake_invokeai
    fake.fault = fault
    body = sd1_body(model(fake))
    body["batch"]["batch_id"] = "chosen-by-the-client"
    with pytest.raises(requests.exceptions.ReadTimeout):
        enqueue(fake, body, timeout=0.5)
    assert requests.get(f"{fake.url}/api/v1/app/version", timeout=2).status_code == 200  # others are answered
    landed = requests.get(f"{fake.url}/api/v1/queue/default/b/chosen-by-the-client/status", timeout=2).json()
    assert landed["total"] == (3 if fault == "late_answer" else 0)

    fake.fault = None  # the held request goes on
    fake.wait_idle()
    assert [item["status"] for item in batch_items(fake, "chosen-by-the-client")] == ["pending"] * 3
    assert fake.count("POST", ENQUEUE) == 1


def test_image_faults(fake_invokeai):
    fake = fake_invokeai
    fake.steps_to_finish = 0
    full = image_url(fake, poll_until_done(fake, enqueue(fake).json()["item_ids"][:1]).popitem()[1])
    whole = requests.get(full, timeout=5).content

    fake.fault = "truncated_png"
    cut = requests.get(full, timeout=5, headers={"Accept-Encoding": "identity"})  # its length as sent, not gzipped
    assert cut.content == whole[: len(whole) // 2] and int(cut.headers["Content-Length"]) == len(cut.content)

    fake.fault = "oversized"
    with requests.get(full, timeout=5, stream=True) as big:
        assert int(big.headers["Content-Length"]) == 60 * 1024 * 1024
        received = sum(len(chunk) for chunk, _ in zip(big.iter_content(65536), range(32)))
        assert received >= 1024 * 1024


def test_a_broken_off_download_sends_half_and_drops_the_connection(fake_invokeai):
    fake = fake_invokeai
    fake.steps_to_finish = 0
    full = image_url(fake, poll_until_done(fake, enqueue(fake).json()["item_ids"][:1]).popitem()[1])
    whole = requests.get(full, timeout=5).content
    fake.break_downloads = 1
    with pytest.raises(requests.exceptions.ChunkedEncodingError):  # requests' word for a body cut short
        requests.get(full, timeout=5)
    assert requests.get(full, timeout=5).content == whole  # the next one is whole again


def test_prune_and_clear_forget_items_as_invokeai_does(fake_invokeai):
    """Prune deletes finished items, Clear all of them; a forgotten item is a 404, its image stays listed."""
    fake = fake_invokeai
    fake.steps_to_finish = 0
    first = enqueue(fake, sd1_body(model(fake), seeds=(1, 2))).json()["item_ids"]
    done = poll_until_done(fake, first)
    second = enqueue(fake, sd1_body(model(fake), seeds=(3,))).json()["item_ids"]
    queue = f"{fake.url}/api/v1/queue/default"

    assert requests.put(f"{queue}/prune", timeout=5).json() == {"deleted": 2}
    gone = requests.get(f"{queue}/i/{first[0]}", timeout=5)
    assert gone.status_code == 404
    assert gone.json() == {"detail": f"Queue item with id {first[0]} not found in queue default"}
    assert fake.item(second[0])["status"] == "pending"

    listed = requests.get(f"{fake.url}/api/v1/images/", params={"categories": "general", "is_intermediate": "false",
                                                                "limit": 100, "order_dir": "DESC"}, timeout=5).json()
    assert listed["total"] == 2 and [i["session_id"] for i in listed["items"]] == [
        done[item_id]["session_id"] for item_id in sorted(first, reverse=True)]  # newest first

    assert requests.put(f"{queue}/clear", timeout=5).json() == {"deleted": 1}
    assert requests.get(f"{queue}/i/{second[0]}", timeout=5).status_code == 404

    fake.reset()  # its database wiped: item ids start again, the images are gone
    assert enqueue(fake).json()["item_ids"] == [3, 2, 1]
    assert requests.get(f"{fake.url}/api/v1/images/", timeout=5).json()["total"] == 0


def test_multiuser_auth(fake_invokeai):
    fake = fake_invokeai
    fake.multiuser = True
    url = fake.url
    assert requests.get(f"{url}/api/v1/app/version", timeout=5).status_code == 200
    assert requests.get(f"{url}/api/v1/auth/status", timeout=5).json()["multiuser_enabled"] is True
    denied = requests.get(f"{url}/api/v2/models/", timeout=5)
    assert denied.status_code == 401 and denied.json() == {"detail": "Missing authentication credentials"}
    wrong = requests.post(f"{url}/api/v1/auth/login", json={"email": "artist@example.com", "password": "x"}, timeout=5)
    assert wrong.status_code == 401

    def login():
        answer = requests.post(f"{url}/api/v1/auth/login", timeout=5,
                               json={"email": "artist@example.com", "password": "paint-by-numbers"})
        assert answer.status_code == 200 and answer.json()["expires_in"] == 86400
        return {"Authorization": f"Bearer {answer.json()['token']}"}

    headers = login()
    assert requests.get(f"{url}/api/v2/models/", headers=headers, timeout=5).status_code == 200
    result = enqueue(fake, headers=headers).json()
    assert fake.item(result["item_ids"][0])["user_email"] == "artist@example.com"
    fake.expire_tokens()
    expired = requests.get(f"{url}/api/v2/models/", headers=headers, timeout=5)
    assert expired.json() == {"detail": "Invalid or expired authentication token"}
    assert requests.get(f"{url}/api/v2/models/", headers=login(), timeout=5).status_code == 200


def test_closed_port_refuses(closed_port_url):
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(closed_port_url + "/api/v1/app/version", timeout=2)


def test_keep_alive_gzip_list_all_and_a_restart_on_the_same_port(fake_invokeai):
    fake, http = fake_invokeai, requests.Session()
    body = sd1_body(model(fake))
    body["batch"]["destination"] = "gallery:one-batch"
    item_ids = http.post(fake.url + ENQUEUE, json=body, timeout=5).json()["item_ids"]
    listed = http.get(f"{fake.url}/api/v1/queue/default/list_all", params={"destination": "gallery:one-batch"},
                      timeout=5)
    assert listed.headers["Content-Encoding"] == "gzip"  # asked for by requests' Accept-Encoding, as uvicorn's
    assert sorted(item["item_id"] for item in listed.json()) == sorted(item_ids)
    assert http.get(f"{fake.url}/api/v1/queue/default/list_all", params={"destination": "elsewhere"},
                    timeout=5).json() == []
    small = http.get(f"{fake.url}/api/v1/app/version", timeout=5)
    assert "Content-Encoding" not in small.headers  # under GZipMiddleware's minimum size
    assert len(fake.connections) == 1  # four requests, one kept-alive connection

    fake.stop()
    with pytest.raises(requests.ConnectionError):
        http.get(f"{fake.url}/api/v1/app/version", timeout=5)
    fake.restart()
    assert http.get(f"{fake.url}/api/v1/queue/default/i/{item_ids[0]}", timeout=5).json()["item_id"] == item_ids[0]
