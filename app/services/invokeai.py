"""The one module that speaks HTTP to InvokeAI (REST API of 6.x; ../shared/invokeai/API.md).

One requests.Session per client; connect and read timeouts on every call plus a total
deadline however slowly an answer trickles; redirects never followed; JSON only when the
answer says it is JSON (unknown /api paths answer 200 with the web UI's HTML); image
downloads streamed to disk with a size cap; idempotent GETs retried on connection errors,
the enqueue POST never. Every failure is an InvokeAIError whose message says which URL and
what went wrong, in words a person can act on.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any, NamedTuple

import requests
import urllib3

log = logging.getLogger(__name__)

QUEUE = "/api/v1/queue/default"
CHUNK = 64 * 1024
MAX_JSON_BYTES = 8 * 1024 * 1024
MAX_DETAIL = 300
GET_ATTEMPTS = 3  # uvicorn drops idle keep-alive connections; a GET on one is sent again


class InvokeAIError(Exception):
    """InvokeAI could not do what was asked; `message` says why, naming the URL.

    `unanswered`: the request was sent and no answer came (a read timeout, a connection dropped after
    sending), so InvokeAI may still be acting on it and may act on it after the caller has given up.
    """

    def __init__(self, message: str, url: str = "", unanswered: bool = False):
        super().__init__(message)
        self.message = message
        self.url = url
        self.unanswered = unanswered


class Unreachable(InvokeAIError):
    """Nothing answered at the address (refused, no route, name unknown)."""


class TimedOut(InvokeAIError):
    """The server took longer than the configured timeout or deadline."""


class BadResponse(InvokeAIError):
    """The server answered, but not as InvokeAI does (HTML, broken JSON, a redirect, a 5xx)."""


class RequestRejected(InvokeAIError):
    """InvokeAI refused the request (422 validation detail, 401/403, 404)."""

    def __init__(self, message: str, url: str = "", status: int = 0, detail: Any = None):
        super().__init__(message, url)
        self.status = status
        self.detail = detail


class QueueFull(InvokeAIError):
    """InvokeAI answered an enqueue but took none of it: its queue is at max_queue_size (pending items)."""


class GenerationFailed(InvokeAIError):
    """A queue item ended failed; the message is InvokeAI's error_message."""


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

    # --- the calls the gallery makes ------------------------------------------------------

    def version(self) -> str:
        data = self._json("GET", "/api/v1/app/version", auth=False)
        return str(data.get("version", "unknown")) if isinstance(data, dict) else "unknown"

    def list_models(self, bases: tuple[str, ...] = ("sd-1", "sd-2")) -> list[dict]:
        """Installed main models of these bases, as InvokeAI's model records."""
        params = [("model_type", "main")] + [("base_models", base) for base in bases]
        data = self._json("GET", "/api/v2/models/", params=params)
        models = data.get("models") if isinstance(data, dict) else None
        if not isinstance(models, list):
            raise BadResponse(f"{self.base_url}/api/v2/models/ answered without a model list", self.base_url)
        return [m for m in models if isinstance(m, dict) and m.get("key") and m.get("base") in bases]

    def enqueue_batch(self, batch: dict) -> dict:
        """POST one batch (never retried: the caller cancels a batch whose answer was lost, by its batch_id).

        A full queue still answers 200, with `enqueued` < `requested` and only the taken items' ids (API.md
        §2.4): none taken is QueueFull; some taken is the caller's to handle, item_ids being shorter."""
        data = self._json("POST", f"{QUEUE}/enqueue_batch", json_body={"batch": batch, "prepend": False})
        if not isinstance(data, dict) or not isinstance(data.get("item_ids"), list):
            raise BadResponse(f"{self.base_url}{QUEUE}/enqueue_batch answered without item ids", self.base_url)
        if not data["item_ids"]:
            raise QueueFull(f"InvokeAI's queue at {self.base_url} is full{self._waiting()}: it took none of the "
                            f"{data.get('requested', 'requested')} images. Try again when it has room.", self.base_url)
        return data

    def batch_status(self, batch_id: str) -> dict:
        return self._object(f"{QUEUE}/b/{batch_id}/status", self._json("GET", f"{QUEUE}/b/{batch_id}/status"))

    def queue_status(self) -> dict:
        data = self._object(f"{QUEUE}/status", self._json("GET", f"{QUEUE}/status"))
        return self._object(f"{QUEUE}/status", data.get("queue", {}))

    def get_item(self, item_id: int) -> dict:
        data = self._json("GET", f"{QUEUE}/i/{int(item_id)}")
        if not isinstance(data, dict) or "status" not in data:
            raise BadResponse(f"{self.base_url}{QUEUE}/i/{item_id} answered without a status", self.base_url)
        return data

    def cancel_batch(self, batch_id: str) -> int:
        return self.cancel_batches([batch_id])

    def cancel_batches(self, batch_ids: list[str]) -> int:
        """Cancel the unfinished items of these batches (unknown batch ids are no error); how many were canceled."""
        data = self._json("PUT", f"{QUEUE}/cancel_by_batch_ids", json_body={"batch_ids": list(batch_ids)})
        canceled = self._object(f"{QUEUE}/cancel_by_batch_ids", data).get("canceled", 0)
        return canceled if isinstance(canceled, int) else 0

    def download_image(self, image_name: str, destination: Path, max_bytes: int) -> Download:
        """Stream the full image into `destination` (a temp file the caller owns); its size and SHA-256, hashed
        as the bytes go by so the caller need not read the file again. The file is fsynced before it is closed,
        as storage.stream_to_temp does: the caller renames it into place, and a rename that outlives a crash
        must not name a file whose bytes did not."""
        if "/" in image_name or "\\" in image_name or image_name in ("", ".", ".."):
            raise BadResponse(f"InvokeAI at {self.base_url} named an image {image_name[:80]!r}, which is not a file "
                              "name", self.base_url)
        path = f"/api/v1/images/i/{image_name}/full"
        with self._send("GET", path) as response:
            self._check_status(response, path)
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise BadResponse(f"{self.base_url}{path} is {int(declared)} bytes; the gallery takes at most "
                                  f"{max_bytes}", self.base_url)
            size, digest = 0, hashlib.sha256()
            with open(destination, "wb") as out:
                for chunk in self._chunks(response, path):
                    size += len(chunk)
                    if size > max_bytes:
                        raise BadResponse(f"{self.base_url}{path} sent more than {max_bytes} bytes; "
                                          "the download was stopped", self.base_url)
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
            raise BadResponse(f"InvokeAI at {self.base_url} answered {path} with something other than an object",
                              self.base_url)
        return data

    def _json(self, method: str, path: str, params=None, json_body=None, auth: bool = True):
        with self._send(method, path, params=params, json_body=json_body, auth=auth) as response:
            self._check_status(response, path)
            kind = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if kind != "application/json":
                raise BadResponse(f"{self.base_url}{path} answered with {kind or 'no content type'}, not JSON: "
                                  "is this the address of an InvokeAI server?", self.base_url)
            body = self._read(response, path, MAX_JSON_BYTES)
        try:
            return json.loads(body)
        except ValueError:
            raise BadResponse(f"{self.base_url}{path} answered with broken JSON", self.base_url) from None

    def _send(self, method: str, path: str, params=None, json_body=None, auth: bool = True) -> requests.Response:
        """One request (after a 401 with credentials configured: log in and send it again)."""
        response = self._request(method, path, params, json_body, auth)
        if response.status_code == 401 and auth and self.credentials:
            response.close()
            self._log_in(force=True)
            response = self._request(method, path, params, json_body, auth)
        return response

    def _request(self, method, path, params, json_body, auth) -> requests.Response:
        """Send once; a GET or HEAD whose connection broke (not refused, not timed out) is sent again.

        Another method whose connection broke after it may have been sent is a BadResponse (like a read timeout, a
        TimedOut), never Unreachable, and both are `unanswered`: the server may still act on it, so the caller must
        undo it if it does (enqueue: cancel the batch by its id).
        """
        url = self.base_url + path
        headers = {"Accept": "application/json"}
        if auth and self.credentials:
            headers["Authorization"] = f"Bearer {self._log_in()}"
        attempts = GET_ATTEMPTS if method in ("GET", "HEAD") else 1
        for attempt in range(1, attempts + 1):
            try:
                return self.session.request(method, url, params=params, json=json_body, headers=headers,
                                            timeout=self.timeout, allow_redirects=False, stream=True)
            except requests.exceptions.ConnectTimeout:
                raise TimedOut(f"InvokeAI at {self.base_url} did not accept a connection within "
                               f"{self.timeout[0]:g} s", self.base_url) from None
            except requests.exceptions.ReadTimeout:
                raise TimedOut(f"InvokeAI at {self.base_url} did not answer {method} {path} within "
                               f"{self.timeout[1]:g} s", self.base_url, unanswered=True) from None
            except requests.exceptions.ConnectionError as exc:
                reason = _reason(exc)
                never_sent = reason in ("connection refused", "unknown host", "no route to host", "connection failed")
                if attempts == 1 and not never_sent:  # it may have arrived, or may still arrive
                    raise BadResponse(f"InvokeAI at {self.base_url} dropped the connection during {method} {path} "
                                      f"({reason}); the request may have arrived, so it was not sent again",
                                      self.base_url, unanswered=True) from None
                if attempt == attempts or reason in ("connection refused", "unknown host", "no route to host"):
                    raise Unreachable(f"InvokeAI at {self.base_url} cannot be reached: {reason}",
                                      self.base_url) from None
                log.warning("InvokeAI connection broke on %s %s (%s); trying again", method, path, reason)
                time.sleep(0.2 * attempt)
            except requests.exceptions.RequestException as exc:
                raise BadResponse(f"InvokeAI at {self.base_url}: {_reason(exc)}", self.base_url) from None
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
                    raise RequestRejected(f"InvokeAI at {self.base_url} refused the configured login "
                                          "(GALLERY_INVOKEAI_EMAIL / GALLERY_INVOKEAI_PASSWORD)",
                                          self.base_url, response.status_code)
                self._check_status(response, "/api/v1/auth/login")
                try:
                    token = json.loads(self._read(response, "/api/v1/auth/login", MAX_JSON_BYTES))["token"]
                except (ValueError, KeyError, TypeError):
                    raise BadResponse(f"InvokeAI at {self.base_url} answered the login without a token",
                                      self.base_url) from None
            self.token = str(token)
            log.info("logged in to InvokeAI at %s", self.base_url)
            return self.token

    def _check_status(self, response: requests.Response, path: str) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        url = f"{self.base_url}{path}"
        if 300 <= status < 400:
            raise BadResponse(f"{url} answered with a redirect to {response.headers.get('Location', '?')[:200]}; "
                              "the gallery does not follow redirects: check GALLERY_INVOKEAI_URL", self.base_url)
        detail = self._detail(response, path)
        if status == 422:
            raise RequestRejected(f"InvokeAI at {self.base_url} refused {path}: {_describe(detail)}", self.base_url,
                                  status, detail)
        if status == 401:
            raise RequestRejected(f"InvokeAI at {self.base_url} asks for a login: set GALLERY_INVOKEAI_EMAIL and "
                                  "GALLERY_INVOKEAI_PASSWORD", self.base_url, status, detail)
        if status in (403, 404, 409):
            raise RequestRejected(f"InvokeAI at {self.base_url} answered {status} for {path}: {_describe(detail)}",
                                  self.base_url, status, detail)
        raise BadResponse(f"InvokeAI at {self.base_url} failed with {status}: {_describe(detail)}", self.base_url)

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
                raise BadResponse(f"{self.base_url}{path} answered with more than {limit} bytes", self.base_url)
        return bytes(body)

    def _chunks(self, response: requests.Response, path: str):
        """The body as it arrives, stopping at the deadline however slowly the bytes come."""
        started = time.monotonic()
        try:
            while chunk := response.raw.read1(CHUNK, decode_content=True):
                if time.monotonic() - started > self.deadline:
                    raise TimedOut(f"InvokeAI at {self.base_url} took more than {self.deadline:g} s to send {path}",
                                   self.base_url)
                yield chunk
        except (urllib3.exceptions.ReadTimeoutError, TimeoutError):
            raise TimedOut(f"InvokeAI at {self.base_url} stopped sending {path} for more than "
                           f"{self.timeout[1]:g} s", self.base_url) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise BadResponse(f"InvokeAI at {self.base_url} broke off {path}: {_reason(exc)}", self.base_url) from None


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
