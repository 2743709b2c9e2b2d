"""The one module that speaks HTTP to InvokeAI (REST API of 6.x; ../shared/invokeai/API.md).

One requests.Session per client; connect and read timeouts on every call plus a total
deadline however slowly an answer trickles; redirects never followed; JSON only when the
answer says it is JSON (unknown /api paths answer 200 with the web UI's HTML); image
downloads streamed to disk with a size cap; idempotent GETs retried on connection errors,
the enqueue POST never. Every failure is an InvokeAIError whose message says which URL and
what went wrong, in words a person can act on, and whose status is the gallery's answer.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import NamedTuple

import requests
import urllib3

from ..errors import GalleryError

log = logging.getLogger(__name__)

QUEUE = "/api/v1/queue/default"
CHUNK = 64 * 1024
MAX_JSON_BYTES = 8 * 1024 * 1024
MAX_DETAIL = 300
GET_ATTEMPTS = 3  # uvicorn drops idle keep-alive connections; a GET on one is sent again
RECENT_IMAGES = 100  # how far back images_of_sessions looks for the image of a forgotten queue item

BAD_GATEWAY, UNAVAILABLE, GATEWAY_TIMEOUT = 502, 503, 504


class InvokeAIError(GalleryError):
    """InvokeAI could not do what was asked; `message` says why, naming the URL.

    `status` is what the gallery answers for it: 502 InvokeAI answered wrongly or refused, 503 nothing
    answers at its address or its queue has no room, 504 it took too long, 400 it refused the values a
    person sent (its 422). `unanswered`: the request was sent and no whole answer came back (a read
    timeout, a connection dropped after sending or in the middle of the answer), so InvokeAI may still
    act on it after the caller has given up, and asking again may well succeed. `unreachable`: nothing
    answered at InvokeAI's address (refused, no such host or route, no connection within the connect
    timeout), so the request surely never arrived: what it asked for can be saved and sent later.
    """

    def __init__(self, message: str, status: int = BAD_GATEWAY, url: str = "", unanswered: bool = False,
                 unreachable: bool = False):
        super().__init__(message)
        self.status = status
        self.url = url
        self.unanswered = unanswered
        self.unreachable = unreachable


class Download(NamedTuple):
    """What download_image wrote: the number of bytes and their SHA-256 (hex)."""

    size: int
    sha256: str


class InvokeAIClient:
    def __init__(self, base_url: str, connect_timeout: float = 3.0, read_timeout: float = 30.0,
                 deadline: float = 60.0, email: str | None = None, password: str | None = None):
        self.base_url = base_url.rstrip("/")
        self.timeout = (connect_timeout, read_timeout)
        self.deadline = deadline
        self.credentials = {"email": email, "password": password} if email else None
        self.token: str | None = None
        self._token_lock = threading.Lock()
        self.session = requests.Session()
        self.session.trust_env = False  # never send the gallery's calls through an environment proxy

    def close(self) -> None:
        self.session.close()

    def error(self, message: str, status: int = BAD_GATEWAY, unanswered: bool = False,
              unreachable: bool = False) -> InvokeAIError:
        return InvokeAIError(message, status, self.base_url, unanswered, unreachable)

    # --- the calls the gallery makes ------------------------------------------------------

    def list_models(self) -> list[dict]:
        """Every installed model record, of every type and base: the main models and, beside them, the
        encoders and VAEs a FLUX.1 graph takes (one request; the caller decides what it can drive)."""
        data = self._json("GET", "/api/v2/models/")
        models = data.get("models") if isinstance(data, dict) else None
        if not isinstance(models, list):
            raise self.error(f"{self.base_url}/api/v2/models/ answered without a model list")
        return [m for m in models if isinstance(m, dict) and m.get("key")]

    def enqueue_batch(self, batch: dict) -> dict:
        """POST one batch (never retried: the caller cancels a batch whose answer was lost, by its batch_id).

        A full queue still answers 200, with `enqueued` < `requested` and only the taken items' ids (API.md
        §2.4): none taken is a 503 saying so; some taken is the caller's to handle, item_ids being shorter."""
        data = self._json("POST", f"{QUEUE}/enqueue_batch", json_body={"batch": batch, "prepend": False})
        if not isinstance(data, dict) or not isinstance(data.get("item_ids"), list):
            raise self.error(f"{self.base_url}{QUEUE}/enqueue_batch answered without item ids")
        if not data["item_ids"]:  # InvokeAI is there, with no room for now
            raise self.error(f"InvokeAI's queue at {self.base_url} is full{self._waiting()}: it took none of the "
                             f"{data.get('requested', 'requested')} images. Try again when it has room.", UNAVAILABLE)
        return data

    def queue_status(self) -> dict:
        data = self._object(f"{QUEUE}/status", self._json("GET", f"{QUEUE}/status"))
        return self._object(f"{QUEUE}/status", data.get("queue", {}))

    def get_item(self, item_id: int) -> dict | None:
        """The queue item, or None when InvokeAI has no such item (pruned, cleared, or its database reset)."""
        data = self._json("GET", f"{QUEUE}/i/{int(item_id)}", missing_ok=True)
        if data is not None and (not isinstance(data, dict) or "status" not in data):
            raise self.error(f"{self.base_url}{QUEUE}/i/{item_id} answered without a status")
        return data

    def batch_status(self, batch_id: str) -> dict:
        """Counts per status of one batch; an unknown batch id is all zeros (`total` 0), not a 404 (API.md §2)."""
        path = f"{QUEUE}/b/{batch_id}/status"
        return self._object(path, self._json("GET", path))

    def items_of_destination(self, destination: str) -> list[dict]:
        """Every queue item sent with this destination (whole items: keep destinations to one batch)."""
        path = f"{QUEUE}/list_all"
        data = self._json("GET", path, params={"destination": destination})
        if not isinstance(data, list):
            raise self.error(f"{self.base_url}{path} answered without a list of queue items")
        return [item for item in data if isinstance(item, dict) and "item_id" in item]

    def recent_images(self, limit: int = RECENT_IMAGES) -> list[dict]:
        """The newest gallery images (ImageDTOs: image_name, session_id, ...), newest first."""
        params = {"categories": "general", "is_intermediate": "false", "limit": limit, "offset": 0,
                  "order_dir": "DESC", "starred_first": "false"}
        data = self._object("/api/v1/images/", self._json("GET", "/api/v1/images/", params=params))
        items = data.get("items")
        if not isinstance(items, list):
            raise self.error(f"{self.base_url}/api/v1/images/ answered without a list of images")
        return [image for image in items if isinstance(image, dict) and isinstance(image.get("image_name"), str)]

    def cancel_batch(self, batch_id: str) -> int:
        return self.cancel_batches([batch_id])

    def cancel_batches(self, batch_ids: list[str]) -> int:
        """Cancel the unfinished items of these batches (unknown batch ids are no error); how many were canceled."""
        data = self._json("PUT", f"{QUEUE}/cancel_by_batch_ids", json_body={"batch_ids": list(batch_ids)})
        canceled = self._object(f"{QUEUE}/cancel_by_batch_ids", data).get("canceled", 0)
        return canceled if isinstance(canceled, int) else 0

    def upload_image(self, filename: str, content: bytes, mime_type: str) -> dict:
        """Upload a starting image as an intermediate (kept out of InvokeAI's gallery board); its ImageDTO,
        whose image_name the graph names. Never sent twice: a lost answer leaves at most one unused
        intermediate behind, which InvokeAI's own cleanup of intermediates removes."""
        path = "/api/v1/images/upload"
        params = {"image_category": "general", "is_intermediate": "true"}
        data = self._json("POST", path, params=params, files={"file": (filename, content, mime_type)})
        if not isinstance(data, dict) or not isinstance(data.get("image_name"), str) or not data["image_name"]:
            raise self.error(f"{self.base_url}{path} answered without an image name")
        return data

    def download_image(self, image_name: str, destination: Path, max_bytes: int) -> Download:
        """Stream the full image into `destination` (a temp file the caller owns); its size and SHA-256, hashed
        as the bytes go by so the caller need not read the file again. The file is fsynced before it is closed,
        as storage.stream_to_temp does: the caller renames it into place, and a rename that outlives a crash
        must not name a file whose bytes did not."""
        if "/" in image_name or "\\" in image_name or image_name in ("", ".", ".."):
            raise self.error(f"InvokeAI at {self.base_url} named an image {image_name[:80]!r}, which is not a file "
                             "name")
        path = f"/api/v1/images/i/{image_name}/full"
        with self._send("GET", path) as response:
            self._check_status(response, path)
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise self.error(f"{self.base_url}{path} is {int(declared)} bytes; the gallery takes at most "
                                 f"{max_bytes}")
            size, digest = 0, hashlib.sha256()
            with open(destination, "wb") as out:
                for chunk in self._chunks(response, path):
                    size += len(chunk)
                    if size > max_bytes:
                        raise self.error(f"{self.base_url}{path} sent more than {max_bytes} bytes; "
                                         "the download was stopped")
                    out.write(chunk)
                    digest.update(chunk)
                out.flush()
                os.fsync(out.fileno())
        return Download(size, digest.hexdigest())

    # --- the plumbing ---------------------------------------------------------------------

    def _waiting(self) -> str:
        """" (N items waiting)" as the queue counts its pending items (what max_queue_size limits), or ""."""
        try:
            pending = self.queue_status().get("pending")
        except InvokeAIError:
            return ""
        return f" ({pending} items waiting)" if isinstance(pending, int) else ""

    def _object(self, path: str, data) -> dict:
        if not isinstance(data, dict):
            raise self.error(f"InvokeAI at {self.base_url} answered {path} with something other than an object")
        return data

    def _json(self, method: str, path: str, params=None, json_body=None, missing_ok: bool = False, files=None):
        with self._send(method, path, params=params, json_body=json_body, files=files) as response:
            if missing_ok and response.status_code == 404:
                return None
            self._check_status(response, path)
            kind = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if kind != "application/json":
                raise self.error(f"{self.base_url}{path} answered with {kind or 'no content type'}, not JSON: "
                                 "is this the address of an InvokeAI server?")
            body = self._read(response, path, MAX_JSON_BYTES)
        try:
            return json.loads(body)
        except ValueError:
            raise self.error(f"{self.base_url}{path} answered with broken JSON") from None

    def _send(self, method: str, path: str, params=None, json_body=None, files=None) -> requests.Response:
        """One request (after a 401 with credentials configured: log in and send it again)."""
        response = self._request(method, path, params, json_body, auth=True, files=files)
        if response.status_code == 401 and self.credentials:
            response.close()
            self._log_in(force=True)
            response = self._request(method, path, params, json_body, auth=True, files=files)
        return response

    def _request(self, method, path, params, json_body, auth, files=None) -> requests.Response:
        """Send once; a GET or HEAD whose connection broke (not refused, not timed out) is sent again.

        Another method whose connection broke after it may have been sent is `unanswered`, like a read
        timeout: the server may still act on it, so the caller must undo it if it does (enqueue: cancel
        the batch by its id). Nothing listening is a 503, at once.
        """
        url = self.base_url + path
        headers = {"Accept": "application/json"}
        if auth and self.credentials:
            headers["Authorization"] = f"Bearer {self._log_in()}"
        attempts = GET_ATTEMPTS if method in ("GET", "HEAD") else 1
        for attempt in range(1, attempts + 1):
            try:
                return self.session.request(method, url, params=params, json=json_body, files=files,
                                            headers=headers, timeout=self.timeout, allow_redirects=False,
                                            stream=True)
            except requests.exceptions.ConnectTimeout:
                raise self.error(f"InvokeAI at {self.base_url} did not accept a connection within "
                                 f"{self.timeout[0]:g} s", GATEWAY_TIMEOUT, unreachable=True) from None
            except requests.exceptions.ReadTimeout:
                raise self.error(f"InvokeAI at {self.base_url} did not answer {method} {path} within "
                                 f"{self.timeout[1]:g} s", GATEWAY_TIMEOUT, unanswered=True) from None
            except requests.exceptions.ConnectionError as exc:
                reason = _reason(exc)
                never_sent = reason in ("connection refused", "unknown host", "no route to host", "connection failed")
                if attempts == 1 and not never_sent:  # it may have arrived, or may still arrive
                    raise self.error(f"InvokeAI at {self.base_url} dropped the connection during {method} {path} "
                                     f"({reason}); the request may have arrived, so it was not sent again",
                                     unanswered=True) from None
                if attempt == attempts or reason in ("connection refused", "unknown host", "no route to host"):
                    raise self.error(f"InvokeAI at {self.base_url} cannot be reached: {reason}", UNAVAILABLE,
                                     unreachable=never_sent) from None
                log.warning("InvokeAI connection broke on %s %s (%s); trying again", method, path, reason)
                time.sleep(0.2 * attempt)
            except requests.exceptions.RequestException as exc:
                raise self.error(f"InvokeAI at {self.base_url}: {_reason(exc)}") from None
        raise AssertionError("unreachable")

    def _log_in(self, force: bool = False) -> str:
        with self._token_lock:
            if self.token and not force:
                return self.token
            try:
                response = self._request("POST", "/api/v1/auth/login", None,
                                         {**self.credentials, "remember_me": False}, auth=False)
            except InvokeAIError as exc:
                exc.unanswered = False  # the login went unanswered; the call it was for was never sent
                raise
            with response:
                if response.status_code in (401, 403):
                    raise self.error(f"InvokeAI at {self.base_url} refused the configured login "
                                     "(GALLERY_INVOKEAI_EMAIL / GALLERY_INVOKEAI_PASSWORD)")
                self._check_status(response, "/api/v1/auth/login")
                try:
                    token = json.loads(self._read(response, "/api/v1/auth/login", MAX_JSON_BYTES))["token"]
                except (ValueError, KeyError, TypeError):
                    raise self.error(f"InvokeAI at {self.base_url} answered the login without a token") from None
            self.token = str(token)
            log.info("logged in to InvokeAI at %s", self.base_url)
            return self.token

    def _check_status(self, response: requests.Response, path: str) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        url = f"{self.base_url}{path}"
        if 300 <= status < 400:
            raise self.error(f"{url} answered with a redirect to {response.headers.get('Location', '?')[:200]}; "
                             "the gallery does not follow redirects: check GALLERY_INVOKEAI_URL")
        detail = _describe(self._detail(response, path))
        if status == 422:  # the values sent (the person's, through the form) were refused
            raise self.error(f"InvokeAI at {self.base_url} refused {path}: {detail}", 400)
        if status == 401:
            raise self.error(f"InvokeAI at {self.base_url} asks for a login: set GALLERY_INVOKEAI_EMAIL and "
                             "GALLERY_INVOKEAI_PASSWORD")
        if status in (403, 404, 409):
            raise self.error(f"InvokeAI at {self.base_url} answered {status} for {path}: {detail}")
        raise self.error(f"InvokeAI at {self.base_url} failed with {status}: {detail}")

    def _detail(self, response: requests.Response, path: str):
        try:
            return json.loads(self._read(response, path, 256 * 1024)).get("detail")
        except (ValueError, AttributeError, InvokeAIError):
            return None

    def _read(self, response: requests.Response, path: str, limit: int) -> bytes:
        body = bytearray()
        for chunk in self._chunks(response, path):
            body += chunk
            if len(body) > limit:
                raise self.error(f"{self.base_url}{path} answered with more than {limit} bytes")
        return bytes(body)

    def _chunks(self, response: requests.Response, path: str):
        """The body as it arrives, stopping at the deadline however slowly the bytes come. An answer cut
        short is `unanswered`: InvokeAI may still hold what was asked for, and asking again may succeed."""
        started = time.monotonic()
        try:
            while chunk := response.raw.read1(CHUNK, decode_content=True):
                if time.monotonic() - started > self.deadline:
                    raise self.error(f"InvokeAI at {self.base_url} took more than {self.deadline:g} s to send {path}",
                                     GATEWAY_TIMEOUT, unanswered=True)
                yield chunk
        except (urllib3.exceptions.ReadTimeoutError, TimeoutError):
            raise self.error(f"InvokeAI at {self.base_url} stopped sending {path} for more than "
                             f"{self.timeout[1]:g} s", GATEWAY_TIMEOUT, unanswered=True) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise self.error(f"InvokeAI at {self.base_url} broke off {path}: {_reason(exc)}",
                             unanswered=True) from None


def _describe(detail) -> str:
    """InvokeAI's detail (a string, or FastAPI's list of {loc, msg}) as one readable line."""
    if isinstance(detail, list):
        parts = []
        for entry in detail[:5]:
            if isinstance(entry, dict):
                loc = ".".join(str(p) for p in entry.get("loc", [])[-2:])
                parts.append(f"{loc}: {entry.get('msg', '')}" if loc else str(entry.get("msg", "")))
        text = "; ".join(parts)
    else:
        text = str(detail) if detail else "no detail given"
    return text[:MAX_DETAIL]


def _reason(exc: Exception) -> str:
    text = str(exc)
    for needle, words in (("Connection refused", "connection refused"), ("Name or service not known", "unknown host"),
                          ("No route to host", "no route to host"), ("timed out", "timed out"),
                          ("Max retries exceeded", "connection failed")):
        if needle in text:
            return words
    return text[:MAX_DETAIL]
