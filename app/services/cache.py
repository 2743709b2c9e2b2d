"""What the gallery caches, under which key, and the named clear functions.

Cached, each as plain values (never ORM objects):
- a page of an owner's grid as sorted and filtered: its photos' plain values (services/photos.GridPhoto)
  and its cursors (grid_key), and the page's HTML, which photos/index.html keeps under the same key
  (GridPage.cache_key); a favourite or a rating changed calls clear_library();
- a photo's thumbnail columns: its original's path and its thumbnail type (thumbnail_key);
- an owner's top albums as cards, and an album's page above its photos (the album, its breadcrumb,
  its sub-albums' cards), under library_key("albums" / "album", ...) (services/albums.py);
- a tag's page above its photos (its name and count), under library_key("tag", ...) (services/tags.py);
- the models InvokeAI has installed, for a minute (models_key), and the last list seen, for a week
  (known_models: the generate form while InvokeAI is down).

An owner's cached reads are keyed by the owner's id and library version (users.library_version), a
value in the database that every write to that library bumps in the write's own transaction: the
Photo insert and delete events in models.py do it in the same flush, and any other write that
changes what a cached read shows calls clear_library() before its commit. A write by any process
(another worker, `flask photos import`, `flask users delete`) so retires what every process cached,
with the in-process default cache as with Redis, and a write that rolls back retires nothing. Entries
under old keys are never read again and expire with CACHE_TIMEOUT. The version comes with the
signed-in user's row, which every request loads anyway, so a key costs no query.

The cache is a help, never a need: with Redis unreachable, reads go to the database and the log
says so. Clearing never touches the cache at all, so no write can fail or go unseen for its sake.
"""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable

from flask_caching.backends import SimpleCache
from redis.exceptions import RedisError
from sqlalchemy import update

from ..extensions import cache, db
from ..models import User

log = logging.getLogger(__name__)

MODELS_SECONDS = 60  # a model installed on InvokeAI shows in the generate form within a minute
KNOWN_MODELS_SECONDS = 7 * 24 * 3600  # how long a generation can be saved, with InvokeAI down, from its last list


class MemoryCache(SimpleCache):
    """The in-process cache without Redis (CACHE_TYPE "app.services.cache.MemoryCache"): Flask-Caching's
    SimpleCache, which holds at most CACHE_THRESHOLD entries (500), pruned a quarter at a time. Once full,
    SimpleCache makes room for each entry it sets by reading every entry's expiry and sorting them all
    to drop the oldest one: about 0.2 ms a set, two sets for a page of a search never asked before
    (tests/benchmarks/bench_search.py, "fresh"). Dropping the oldest quarter at once pays that once for
    every threshold / 4 sets."""

    def _remove_older(self) -> None:
        keep = self._threshold * 3 // 4
        oldest_first = sorted(self._cache.items(), key=lambda item: item[1][0])
        for key, _ in oldest_first[: len(self._cache) - keep]:
            self._cache.pop(key, None)


def read_through(key: str, read: Callable[[], object], timeout: int | None = None):
    """The value cached under `key`, else read() (and cached unless None). Not @cache.memoize: its
    key-making (inspect.signature of the function, eight times a call) cost a sixth of a cached grid
    page (tests/benchmarks/bench_grid.py)."""
    try:
        value = cache.get(key)
    except RedisError as exc:
        log.warning("cache unreachable, reading %s from the database: %s", key.partition(":")[0], exc)
        return read()
    if value is None:
        value = read()
        try:
            if value is not None:
                cache.set(key, value, timeout=timeout)
        except RedisError as exc:
            log.warning("cache unreachable, not keeping %s: %s", key, exc)
    return value


# --- keys ------------------------------------------------------------------------------------

def library_key(kind: str, owner: User, *parts: object) -> str:
    """A key of one of `owner`'s cached reads: it names the library's version, so any write retires it."""
    return ":".join([kind, f"{owner.id}.{owner.library_version}", *map(str, parts)])


def grid_key(owner: User, options: str, older_than: str | None, newer_than: str | None, limit: int) -> str:
    """`options`: the grid's sort and filters as one string (services.photos.GridOptions.key)."""
    return library_key("grid", owner, options, older_than, newer_than, limit)


def thumbnail_key(owner: User, photo_id: int) -> str:
    return library_key("thumbnail", owner, photo_id)


def models_key(base_url: str) -> str:
    """Per InvokeAI server, so a changed GALLERY_INVOKEAI_URL never shows the old server's models. The
    prefix names the entries' shape (every base, each with its problem, fields and defaults): a worker of
    an older version, sharing a Redis cache during an upgrade, keeps to its own key."""
    return "invokeai-models-by-base:" + hashlib.sha256(base_url.encode()).hexdigest()[:16]


def installed_models(base_url: str, read: Callable[[], list[dict]]) -> list[dict]:
    """InvokeAI's installed models as read() lists them, kept for MODELS_SECONDS; each list read is also
    kept for KNOWN_MODELS_SECONDS as the last one known (known_models)."""
    def read_and_keep() -> list[dict]:
        models = read()
        try:
            cache.set("known-" + models_key(base_url), models, timeout=KNOWN_MODELS_SECONDS)
        except RedisError as exc:
            log.warning("cache unreachable, not keeping the last known models: %s", exc)
        return models
    return read_through(models_key(base_url), read_and_keep, timeout=MODELS_SECONDS)


def known_models(base_url: str) -> list[dict] | None:
    """The models InvokeAI listed last, for the form of a generation saved while it is down; None if none
    were seen within KNOWN_MODELS_SECONDS (or the cache is unreachable)."""
    try:
        return cache.get("known-" + models_key(base_url))
    except RedisError as exc:
        log.warning("cache unreachable, no last known models: %s", exc)
        return None


# --- the named clear functions -----------------------------------------------------------------

def clear_library(owner_id: int) -> None:
    """Retire every cached read of the owner's library, in every process: call it in the transaction of
    a write that changes what those reads show, before its commit (a Photo's insert or delete does it
    by itself). The caller commits; a rollback undoes the clear with the write."""
    db.session.execute(update(User).where(User.id == owner_id).values(library_version=User.library_version + 1))


def clear_every_library() -> None:
    """Retire everyone's cached reads (after a change that bypassed the ORM); the caller commits."""
    db.session.execute(update(User).values(library_version=User.library_version + 1))
