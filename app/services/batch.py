"""Work over many photos on every core: import a folder tree, re-make thumbnails.

Worker processes do the pixel work of `processing` (read, hash, decode, encode thumbnails into
temp files under data/photos/.tmp) and import only that, not the app; this process is the one
writer: it moves the files into place, inserts or updates the rows and commits, each file in a
transaction of its own, so every file is all or nothing. Ctrl-C (or SIGTERM) stops the run between files: the workers finish what they hold,
their temp files are removed, and what was committed stays consistent with its files; a
second Ctrl-C kills the workers and removes what they were writing.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from flask import Flask, current_app
from sqlalchemy import select

from ..errors import DuplicatePhoto, GalleryError, StorageError
from ..extensions import db
from ..models import Photo, User
from . import names, photos, processing, storage, thumbnails
from .users import find_user

log = logging.getLogger(__name__)

POLL_SECONDS = 0.2  # how soon a Ctrl-C is noticed while the workers are busy


class BatchError(GalleryError):
    """A batch the gallery cannot start, with the reason."""


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)))


# --- the worker pool -------------------------------------------------------------------------

class StopOnSignal:
    """Ctrl-C (or SIGTERM) never interrupts the writer half-way through a file: the first asks the
    run to stop once the files in progress are done, a second one to stop the workers at once."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.signal: int | None = None  # the first stop signal received
        self.forced = False
        self.previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():  # the only thread that may set handlers
            for number in self.SIGNALS:
                if signal.getsignal(number) != signal.SIG_IGN:  # started with it ignored: keep ignoring it
                    self.previous[number] = signal.signal(number, self.received)
        return self

    @property
    def requested(self) -> bool:
        return self.signal is not None

    def received(self, number, frame):
        if self.requested:
            self.forced = True
            log.warning("stopping the workers now")
        else:
            self.signal = number
            log.warning("%s: stopping after the files in progress (Ctrl-C again to stop at once)",
                        signal.Signals(number).name)

    def __exit__(self, *exc_info):
        for number, handler in self.previous.items():
            signal.signal(number, handler)


def run_in_workers(work: Callable, items: Iterable, handle: Callable, discard: Callable, workers: int,
                   settings: processing.ImageSettings, known: dict[str, int] | None = None,
                   drain: Callable[[], None] = lambda: None) -> int | None:
    """Call work(item) in `workers` processes and handle(item, result) here, in the items' order
    (so when two files hold the same bytes, the first one is the photo, on every run).

    At most two items per worker are in flight, so finished temp files never pile up. When
    the run stops early (Ctrl-C, or an error in `handle`), results not handled yet go to
    discard(result). A `handle` that finishes its work in threads waits for them in drain(), called
    at the end before the workers' temp files are removed (a storer may still be moving them).
    Returns the signal that stopped the run, or None when it ran to the end.
    """
    items = iter(items)
    pending: dict[Future, object] = {}
    context = multiprocessing.get_context("spawn")  # no forked copies of the app, its threads or connections
    with StopOnSignal() as stop:
        pool = ProcessPoolExecutor(workers, mp_context=context, initializer=processing.start_worker,
                                   initargs=(settings, known or {}))
        try:
            while not stop.requested:
                for item in islice(items, 2 * workers - len(pending)):
                    pending[submit_shielded(pool, work, item)] = item
                if not pending:
                    break
                oldest = next(iter(pending))
                try:
                    result = oldest.result(timeout=POLL_SECONDS)
                except TimeoutError:
                    continue  # look at the signals, then wait again
                handle(pending.pop(oldest), result)
        except BrokenProcessPool:
            raise BatchError("A worker process died (killed, or out of memory?); what was stored before stays.")
        finally:
            try:
                drain()
            finally:
                wind_down(pool, pending, discard, stop, settings.root)
    return stop.signal


def submit_shielded(pool: ProcessPoolExecutor, work: Callable, item) -> Future:
    """pool.submit with Ctrl-C held back meanwhile: a worker it starts inherits the blocked signal,
    so a Ctrl-C in the terminal (which reaches the whole process group) never kills one."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        return pool.submit(work, item)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def wind_down(pool: ProcessPoolExecutor, pending: dict[Future, object], discard: Callable, stop: StopOnSignal,
              root: Path) -> None:
    """Let the workers finish the few items they hold (on a second Ctrl-C, kill them instead),
    discard the results nobody handled, and remove what a worker that died was writing.

    Nothing is cancelled one by one: Python 3.11's pool fails on a cancelled future when it breaks.
    """
    while not stop.forced and not all(future.done() for future in pending):
        wait(pending, timeout=POLL_SECONDS)
    if stop.forced:
        for process in multiprocessing.active_children():  # this process's children: the pool's workers
            process.kill()
    pool.shutdown(wait=True)  # every worker has ended when this returns
    for future in pending:
        if future.exception() is None:
            discard(future.result())
    storage.remove_stale_temp_files(root)  # only files of processes that are gone


# --- import ----------------------------------------------------------------------------------

@dataclass
class ImportReport:
    found: int = 0
    imported: int = 0
    duplicates: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    failed: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    stopped_by: int | None = None  # the signal (Ctrl-C: SIGINT) that stopped it before the end

    @property
    def ok(self) -> bool:
        return self.stopped_by is None and not self.rejected and not self.failed


def import_owner(username: str | None) -> User:
    """The named account, or the only one when no name is given."""
    if username:
        user = find_user(username)
        if user is None:
            raise BatchError(f"No user named {username}.")
        return user
    users = list(db.session.scalars(select(User).order_by(User.id).limit(2)))
    if len(users) != 1:
        raise BatchError("No accounts yet: create one with `flask users create`." if not users else
                         "There is more than one account: name the one to import into with --user.")
    return users[0]


NOT_AN_IMAGE = "not an image by its name"


def find_files(folder: Path, recursive: bool, skipped: list[tuple[str, str]]) -> list[Path]:
    """The files to import, under `folder` resolved: not hidden, named as images are (a README or a
    sidecar .json is no failed photo), regular, and (for symlinks) inside `folder`. The gallery's own
    photos folder is never walked into. What is passed over for a reason other than being hidden goes
    to `skipped`, relative to `folder`.
    """
    top = folder.resolve()
    own = photos.photos_root().resolve()
    found = []

    def unreadable(exc: OSError) -> None:
        skipped.append((str(Path(exc.filename).relative_to(top)), exc.strerror or str(exc)))

    for current, dirs, files in os.walk(top, onerror=unreadable):
        here = Path(current)
        dirs[:] = sorted(d for d in dirs if recursive and not d.startswith(".") and here / d != own)
        for name in sorted(files):
            path = here / name
            if name.startswith("."):
                continue
            if not names.looks_like_image(name):
                skipped.append((str(path.relative_to(top)), NOT_AN_IMAGE))
            elif path.is_symlink() and not path.resolve().is_relative_to(top):
                skipped.append((str(path.relative_to(top)), "a symbolic link out of the folder"))
            elif not path.is_file():
                skipped.append((str(path.relative_to(top)), "not a regular file"))
            else:
                found.append(path)
    return found


STORERS = 2  # files the writer stores at once (tests/benchmarks/README.md): one's fsyncs wait while the next's row is written
PENDING = 0  # in `known` while the first file with those bytes is being stored: not a photo id yet


def import_folder(folder: Path, owner: User, recursive: bool = False, workers: int | None = None,
                  on_start: Callable[[int], None] = lambda total: None,
                  on_file: Callable[[Path, str], None] = lambda path, outcome: None) -> ImportReport:
    """Import every image file of `folder` into `owner`'s library, as an upload would.

    on_start(number of files) is called once the folder is read, on_file(path, outcome)
    after each file (outcome: imported, duplicate, rejected or failed), in the folder's order.

    The writer stores up to STORERS files at once, each in a thread of its own with its own
    transaction: a file's store is mostly waiting for fsyncs (its note, its three folders, its commit),
    and while one waits the next one's row is written, so the workers are not held up by a writer that
    stores one file at a time. Each file is still all or nothing; which file of two with the same bytes
    is the photo is decided here, in the folder's order, before either is stored.
    """
    report = ImportReport()
    files = find_files(folder, recursive, report.skipped)
    report.found = len(files)
    on_start(len(files))
    rows = db.session.execute(select(Photo.sha256, Photo.id).where(Photo.owner_id == owner.id))
    known = {digest: photo_id for digest, photo_id in rows}
    db.session.rollback()  # end the read transaction: no snapshot held open through the run
    app, owner_id = current_app._get_current_object(), owner.id
    in_order: deque[tuple[Path, str | None, Future]] = deque()  # (path, digest being stored, its outcome)

    def settle(wanted: int) -> None:
        """Report the files whose store is done, in order, until at most `wanted` remain in flight."""
        while len(in_order) > wanted or (in_order and in_order[0][2].done()):
            path, digest, future = in_order.popleft()
            outcome, reason, photo_id = future.result()
            if digest is not None:
                if outcome == "imported":
                    known[digest] = photo_id
                elif known.get(digest) == PENDING:
                    del known[digest]  # not stored: a later file with these bytes is tried in its place
            if outcome in ("rejected", "failed"):
                getattr(report, outcome).append((str(path.relative_to(folder.resolve())), reason))
            elif outcome == "imported":
                report.imported += 1
            else:
                report.duplicates += 1
            on_file(path, outcome)

    def handle(path: Path, prepared: processing.Prepared) -> None:
        digest = prepared.photo.digest if prepared.outcome == "prepared" else None
        if known.get(digest) == PENDING:
            settle(0)  # the same bytes earlier in this folder, still being stored: duplicate only if stored
        if digest is not None and digest in known:
            storage.remove_files(prepared.photo.temp_files)
            prepared, digest = processing.Prepared("duplicate"), None
        if digest is not None:
            known[digest] = PENDING
            future = storers.submit(store_in_app, app, prepared.photo, owner_id)
        else:
            future = Future()
            future.set_result((prepared.outcome, prepared.reason, None))
        in_order.append((path, digest, future))
        settle(STORERS - 1)

    def drain() -> None:
        wait([future for _, _, future in in_order])  # every store begun ends: each is all or nothing

    with ThreadPoolExecutor(STORERS, thread_name_prefix="store") as storers:
        report.stopped_by = run_in_workers(processing.prepare_file, files, handle, discard_prepared,
                                           workers or default_workers(), photos.image_settings(), known, drain)
    settle(0)
    log.info("imported %s into %s's library: %d new, %d duplicates, %d rejected, %d failed%s", folder,
             owner.username, report.imported, report.duplicates, len(report.rejected), len(report.failed),
             " (stopped early)" if report.stopped_by else "")
    return report


def store_in_app(app: Flask, prepared: processing.PreparedPhoto, owner_id: int) -> tuple[str, str, int | None]:
    """In a storer thread: store() in an app context (and so a database session) of its own."""
    with app.app_context():
        return store(prepared, owner_id)


def store(prepared: processing.PreparedPhoto, owner_id: int) -> tuple[str, str, int | None]:
    """The writer's half for one file: (outcome, reason, the photo's id when imported)."""
    try:
        photo = photos.store_prepared(prepared, owner_id)
    except DuplicatePhoto:
        return "duplicate", "", None
    except StorageError as exc:
        return "failed", exc.message, None
    return "imported", "", photo.id


def discard_prepared(prepared: processing.Prepared) -> None:
    if prepared.photo is not None:
        storage.remove_files(prepared.photo.temp_files)


# --- thumbnails ------------------------------------------------------------------------------

@dataclass
class RebuildReport:
    photos: int = 0  # photos in the gallery
    to_remake: int = 0
    remade: int = 0
    problems: list[tuple[int, str, str]] = field(default_factory=list)  # (photo id, original path, reason)
    stopped_by: int | None = None  # as in ImportReport

    @property
    def ok(self) -> bool:
        return self.stopped_by is None and not self.problems


def remakes(missing_only: bool, root: Path, sizes: Iterable[str]) -> tuple[int, list[processing.Remake]]:
    """(photos in the gallery, the remakes to do): every thumbnail, or only the missing files."""
    rows = list(db.session.execute(select(Photo.id, Photo.original_path, Photo.thumbnail_ext).order_by(Photo.id)))
    db.session.rollback()  # end the read transaction: no snapshot held open through the run
    todo = []
    for photo_id, original_path, ext in rows:
        wanted = tuple(size for size in sizes if not missing_only or not storage.resolve(
            root, thumbnails.thumbnail_path(original_path, size, ext)).is_file())
        if wanted:
            todo.append(processing.Remake(photo_id, original_path, wanted))
    return len(rows), todo


def rebuild_thumbnails(missing_only: bool = False, workers: int | None = None,
                       on_start: Callable[[int], None] = lambda total: None,
                       on_photo: Callable[[int], None] = lambda photo_id: None) -> RebuildReport:
    """Re-make the thumbnails of every photo, or only the thumbnail files that are missing."""
    settings = photos.image_settings()
    total, todo = remakes(missing_only, settings.root, settings.sizes)
    report = RebuildReport(photos=total, to_remake=len(todo))
    on_start(len(todo))

    def handle(remake: processing.Remake, rendered: processing.Rendered) -> None:
        photo = db.session.get(Photo, remake.photo_id)
        if rendered.problem and photo is not None:
            report.problems.append((photo.id, remake.original_path, rendered.problem))
        elif photo is not None:
            keep = remake.sizes if rendered.thumbnail_ext == photo.thumbnail_ext else tuple(rendered.temps)
            storage.remove_files([temp for size, temp in rendered.temps.items() if size not in keep])
            try:
                kept = {size: rendered.temps[size] for size in keep}
                thumbnails.replace_thumbnails(photo, rendered.thumbnail_ext, kept)
                report.remade += 1
            except StorageError as exc:
                report.problems.append((photo.id, remake.original_path, exc.message))
        else:  # deleted meanwhile
            discard_rendered(rendered)
        on_photo(remake.photo_id)

    report.stopped_by = run_in_workers(processing.render_photo, todo, handle, discard_rendered,
                                       workers or default_workers(), settings)
    log.info("re-made the thumbnails of %d of %d photos; %d problems%s", report.remade, report.to_remake,
             len(report.problems), " (stopped early)" if report.stopped_by else "")
    return report


def discard_rendered(rendered: processing.Rendered) -> None:
    storage.remove_files(list(rendered.temps.values()))
