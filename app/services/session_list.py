"""The generation sessions list: each session with its status in words, a few thumbnails of its candidates,
model, prompt and kept count, newest first, paged by the grid's keyset cursors; its HTML is cached under a
digest of what it shows."""
from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from datetime import datetime

from flask import request
from sqlalchemy import func, select

from ..extensions import db
from ..models import FINISHED_STATES, GenerationImage, GenerationSession
from . import photos, thumbnails

SESSIONS_PER_PAGE = 30
THUMBNAILS_PER_SESSION = 4


@dataclass
class Thumbnail:
    url: str
    kept: bool


@dataclass
class SessionRow:
    """A session as its list shows it: its parameters, what its candidates' states add up to, and a
    few of its downloaded candidates' thumbnails, kept ones first."""
    id: int
    created_at: datetime
    prompt: str
    model_name: str
    model_base: str
    canceled: bool
    send_state: str  # "sent", or "pending" / "sending": saved while InvokeAI was away
    states: dict  # state -> how many of its candidates are in it
    kept: int
    thumbnails: list[Thumbnail]
    link: str = ""  # its page's URL

    @functools.cached_property
    def total(self) -> int:
        return sum(self.states.values())

    @functools.cached_property
    def finished_count(self) -> int:
        return sum(self.states.get(state, 0) for state in FINISHED_STATES)

    @functools.cached_property
    def status(self) -> str:
        """waiting (for InvokeAI), queued, running, done, failed or canceled: done if any candidate came out,
        whatever else failed."""
        if self.send_state != "sent":
            return "waiting"
        if self.finished_count < self.total:
            return "queued" if self.states.get("queued", 0) == self.total else "running"
        if self.states.get("done"):
            return "done"
        return "canceled" if self.canceled or self.states.get("canceled") else "failed"

    @functools.cached_property
    def status_words(self) -> str:
        if self.status == "waiting":
            return "waiting for InvokeAI"
        if self.status == "running":
            return f"running {self.finished_count} of {self.total}"
        if self.status == "done" and self.states["done"] < self.total:
            return f"done, {self.states['done']} of {self.total}"
        return self.status


@dataclass
class SessionsPage:
    """A page of sessions as two light queries read it. Its list's HTML is cached under `cache_key`, a
    digest of exactly what the list shows (every value of its rows and candidates, the thumbnails'
    settings, the script root), so any change to a session or a candidate, by any process, makes a new
    key; a page served from the cache never builds its rows (`sessions` is made on first use)."""
    rows: list  # the sessions' light columns, newest first
    candidates: list  # their candidates' light columns, by session and seed_index
    newer: str | None  # cursor of the page of newer sessions, or None on the first
    older: str | None  # cursor of the page of older sessions, or None on the last
    root: str = ""  # the request's script root, for the links
    tag: str = ""  # the thumbnails' settings tag, for the thumbnails' URLs

    @functools.cached_property
    def cache_key(self) -> str:
        shown = repr((self.root, self.tag, [tuple(row) for row in self.rows], [tuple(c) for c in self.candidates]))
        return "sessions-list:" + hashlib.blake2b(shown.encode(), digest_size=16).hexdigest()

    @functools.cached_property
    def waiting(self) -> bool:
        """Whether it shows a session saved while InvokeAI was away and not sent yet."""
        return any(row.send_state != "sent" for row in self.rows)

    @functools.cached_property
    def sessions(self) -> list[SessionRow]:
        shown = {row.id: SessionRow(row.id, row.created_at, row.prompt, row.model_name, row.model_base,
                                    row.canceled, row.send_state, {}, 0, []) for row in self.rows}
        for image in self.candidates:
            session = shown[image.session_id]
            session.states[image.state] = session.states.get(image.state, 0) + 1
            session.kept += image.decision == "kept"
            if image.state == "done" and image.decision != "rejected":
                session.thumbnails.append(image)
        # The links written here rather than by url_for, as photos.photo_links does (they are the same
        # strings: test_generation_sessions.py compares them): 150 url_for calls were most of a page's CPU.
        root, tag = self.root, self.tag
        for session in shown.values():
            session.link = f"{root}/generate/sessions/{session.id}"
            # kept ones first: they are what the session gave the gallery
            chosen = sorted(session.thumbnails, key=lambda image: image.decision != "kept")[:THUMBNAILS_PER_SESSION]
            session.thumbnails = [
                Thumbnail(f"{root}/thumbnails/candidates/{image.id}/grid?v={thumbnails.url_version(image.sha256, tag)}",
                          image.decision == "kept") for image in chosen]
        return list(shown.values())


def sessions_page(owner_id: int, older_than: str | None = None, newer_than: str | None = None,
                  limit: int = SESSIONS_PER_PAGE) -> SessionsPage:
    """One page of the owner's sessions, newest first, by the grid's keyset paging on (created_at, id)
    (cursors named "session"); ValueError for a cursor not made for it.

    Two statements however long the page: the sessions, then every candidate of theirs in light
    columns (a session holds a handful), from which the counts and thumbnails are taken, so a page
    costs no statement per session. Both are cheap (an index each); what costs is making the list's
    HTML, which the template caches under the page's cache_key."""
    query = select(GenerationSession.id, GenerationSession.created_at,
                   func.substr(GenerationSession.prompt, 1, photos.ALT_LENGTH).label("prompt"),
                   GenerationSession.model_name, GenerationSession.model_base, GenerationSession.canceled,
                   GenerationSession.send_state).where(
        GenerationSession.owner_id == owner_id)
    rows, newer, older = photos.keyset_page(query, GenerationSession.created_at, "session", True, older_than,
                                            newer_than, limit, id_column=GenerationSession.id)
    candidates = db.session.execute(
        select(GenerationImage.id, GenerationImage.session_id, GenerationImage.state, GenerationImage.decision,
               GenerationImage.sha256).where(GenerationImage.session_id.in_([row.id for row in rows]))
        .order_by(GenerationImage.session_id, GenerationImage.seed_index)).all() if rows else []
    return SessionsPage(list(rows), candidates, newer, older, request.script_root, thumbnails.current_settings_tag())
