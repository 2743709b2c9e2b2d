"""The data folder against the database: what is missing, damaged, stale or stray, and what a
crashed process left half-done. `flask gallery check [--repair]` is this module's face.

Check never deletes an original and never deletes a row: a row whose original is gone is
reported for a person to restore from a backup; a file no row points to is moved to
data/quarantine/, never deleted. Thumbnails are derived, so they are re-made.
"""
from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from flask import current_app
from PIL import Image
from sqlalchemy import select

from ..errors import GalleryError, RejectedFile
from ..extensions import db
from ..models import SOURCES, GenerationImage, Photo, User
from . import imaging, storage, thumbnails
from .photos import recount_photos

log = logging.getLogger(__name__)

QUARANTINE = "quarantine"  # under DATA_DIR, beside photos/


@dataclass
class Finding:
    path: str  # relative to the data folder: photos/uploaded/...
    problem: str  # what is wrong, in words
    repaired: str | None = None  # what --repair did about it

    def line(self) -> str:
        return f"{self.path}: {self.problem}" + (f" -> {self.repaired}" if self.repaired else "")


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    cleaned: list[str] = field(default_factory=list)  # what crashed processes left, tidied in either mode
    repair: bool = False
    photos: int = 0
    images: int = 0
    files: int = 0

    @property
    def left(self) -> list[Finding]:
        return [finding for finding in self.findings if not finding.repaired]

    @property
    def exit_code(self) -> int:
        """0: nothing found; 1: everything found was repaired; 2: problems remain (like fsck)."""
        if not self.findings:
            return 0
        return 2 if self.left else 1

    def summary(self) -> str:
        checked = f"Checked {self.photos} photos, {self.images} generation images and {self.files} files"
        if not self.findings:
            return f"{checked}: no problems."
        found = f"{len(self.findings)} problem{'s' if len(self.findings) > 1 else ''}"
        if not self.repair:
            return f"{checked}: {found} (--repair re-makes thumbnails, quarantines strays and recounts)."
        return f"{checked}: {found}, {len(self.findings) - len(self.left)} repaired, {len(self.left)} left."


@dataclass
class Tracked:
    """A file a row points to: a photo's original, or a generation candidate's download."""

    label: str  # "photo 12", "generation image 3"
    path: str  # relative to photos/
    sha256: str | None
    thumbnail_ext: str

    def thumbnail_paths(self) -> dict[str, str]:
        return {size: thumbnails.thumbnail_path(self.path, size, self.thumbnail_ext) for size in thumbnails.SIZES}


def shown(relative: str) -> str:
    return str(PurePosixPath("photos", relative))


def tracked_files() -> list[Tracked]:
    """Every photo's original and every candidate's download (a kept one is its photo's)."""
    photos = db.session.execute(select(Photo.id, Photo.original_path, Photo.sha256, Photo.thumbnail_ext)
                                .order_by(Photo.id))
    found = [Tracked(f"photo {id_}", path, sha, ext) for id_, path, sha, ext in photos]
    images = db.session.execute(
        select(GenerationImage.id, GenerationImage.file_path, GenerationImage.sha256, GenerationImage.thumbnail_ext)
        .where(GenerationImage.file_path.is_not(None), GenerationImage.decision != "kept").order_by(GenerationImage.id))
    found += [Tracked(f"generation image {id_}", path, sha, ext or "jpg") for id_, path, sha, ext in images]
    db.session.commit()  # no transaction stays open through a long scan
    return found


def in_a_row(relative: str) -> bool:
    """Whether any row names this path now (a kept candidate's too): whether its work was committed."""
    found = (db.session.scalar(select(Photo.id).where(Photo.original_path == relative).limit(1)) is not None
             or db.session.scalar(select(GenerationImage.id).where(GenerationImage.file_path == relative)
                                  .limit(1)) is not None)
    db.session.commit()
    return found


def files_on_disk(root: Path) -> list[str]:
    """Every file under photos/ but its .tmp folder, relative and POSIX style."""
    found = []
    for folder, subfolders, names in os.walk(root):
        if Path(folder) == root and storage.TEMP_DIR in subfolders:
            subfolders.remove(storage.TEMP_DIR)
        found += [PurePosixPath(Path(folder, name).relative_to(root)).as_posix() for name in names]
    return sorted(found)


def with_thumbnails(relative: str | None) -> set[str]:
    """A file and every thumbnail it could have (the note of a crashed process names the original only)."""
    if not relative:
        return set()
    return {relative} | {thumbnails.thumbnail_path(relative, size, ext)
                         for size in thumbnails.SIZES for ext in thumbnails.TYPES}


def quarantine(root: Path, relative: str) -> str:
    """Move photos/<relative> to data/quarantine/<relative> (never over another file); where, in words."""
    target = root.parent / QUARANTINE / relative
    number = 1
    while target.exists():
        target = root.parent / QUARANTINE / f"{relative}.{number}"
        number += 1
    with storage.disk_errors("quarantine a file"):
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(root / relative, target)
    log.warning("moved %s to %s", root / relative, target)
    return f"moved to {target.relative_to(root.parent)}"


# --- what crashed processes left ---------------------------------------------------------------

def intents(root: Path) -> tuple[list[tuple[Path, dict]], set[str]]:
    """(notes of processes that are gone, the paths live processes are working on)."""
    dead, busy = [], set()
    for path, alive in storage.temp_entries(root):
        if not path.name.endswith(storage.INTENT_SUFFIX):
            continue
        note = storage.read_intent(path)
        if note is None or not note_stays_inside(root, note):
            continue  # left alone (and logged): nothing here wrote it
        if alive:
            busy |= with_thumbnails(note["path"]) | with_thumbnails(note.get("source"))
        else:
            dead.append((path, note))
    return dead, busy


def note_stays_inside(root: Path, note: dict) -> bool:
    """Whether every path a note names is under photos/ (and every staged name a plain name in .tmp)."""
    staged = note.get("staged") or {}
    try:
        for relative in [note["path"], *([note["source"]] if note.get("source") else []), *staged]:
            storage.resolve(root, relative)
    except (ValueError, TypeError):
        log.error("a note in .tmp names a path outside the photos folder; left alone: %s", note)
        return False
    return all(isinstance(name, str) and name and PurePosixPath(name).name == name for name in staged.values())


def finish_interrupted(root: Path, intent: Path, note: dict) -> str:
    """Finish or undo what a crashed process noted, as it would have itself; what was done, in words."""
    action, relative = note.get("action"), note["path"]
    done = in_a_row(relative)
    if action == "place" and not done:
        # An upload or download that never committed: nobody was told it succeeded.
        for path in sorted(with_thumbnails(relative) - {relative}):
            storage.remove_files([root / path])
        moved = quarantine(root, relative) if (root / relative).exists() else "never placed"
        what = "download" if relative.startswith("generated/sessions/") else "upload"
        result = f"undid an interrupted {what} of {shown(relative)} (original {moved})"
    elif action == "move" and not done and note.get("source"):
        pairs = [(relative, note["source"])] + [
            (thumbnails.thumbnail_path(relative, size, ext), thumbnails.thumbnail_path(note["source"], size, ext))
            for size in thumbnails.SIZES for ext in thumbnails.TYPES]
        for target, source in pairs:
            if (root / target).exists() and not (root / source).exists():
                storage.move_into_place(root / target, root / source)
        result = f"moved an interrupted keep of {shown(relative)} back to {shown(note['source'])}"
    elif action == "delete":
        staged = {path: root / storage.TEMP_DIR / name for path, name in (note.get("staged") or {}).items()}
        if done:  # the row is still there: put its files back
            for path, temp in staged.items():
                if temp.exists():
                    storage.move_into_place(temp, root / path)
            result = f"put back the files of an interrupted delete of {shown(relative)}"
        else:
            storage.remove_files(list(staged.values()))
            result = f"finished an interrupted delete of {shown(relative)}"
    else:
        result = f"cleared a finished {action} of {shown(relative)}"
    storage.remove_files([intent])
    log.warning("%s (left by process %s)", result, storage.pid_of(intent.name))
    return result


# --- the check -------------------------------------------------------------------------------

def check_gallery(repair: bool = False, on_start: Callable[[int], None] = lambda total: None,
                  on_item: Callable[[], None] = lambda: None) -> Report:
    """Compare photos/ with the database; on_start(rows) then on_item() per row drive a progress bar.

    Order matters while the gallery serves: files are listed first, then live work is read, then
    rows, so a file placed meanwhile is either in a row or named by a live process's note.
    """
    root = storage.photos_root(current_app.config["DATA_DIR"])
    report = Report(repair=repair)
    on_disk = files_on_disk(root)
    dead, busy = intents(root)
    for intent, note in dead:
        try:
            report.cleaned.append(finish_interrupted(root, intent, note))
        except (GalleryError, OSError) as exc:  # the note stays for the next run
            reason = exc.message if isinstance(exc, GalleryError) else str(exc)
            report.findings.append(Finding(shown(note["path"]), f"could not finish what a crashed process left "
                                                                f"({note.get('action')}): {reason}"))
    report.cleaned += [f"removed stale temp file {shown(str(PurePosixPath(storage.TEMP_DIR, path.name)))}"
                       for path in storage.remove_stale_temp_files(root)]
    tracked = tracked_files()
    report.photos = sum(1 for item in tracked if item.label.startswith("photo"))
    report.images = len(tracked) - report.photos
    expected: set[str] = set()
    on_start(len(tracked))
    for item in tracked:
        expected |= check_tracked(root, item, repair, busy, report)
        on_item()
    report.files = len(on_disk)
    for relative in on_disk:
        if relative in expected or relative in busy or not os.path.lexists(root / relative):
            continue  # tracked, in flight, or gone since it was listed
        finding = Finding(shown(relative), "no row points to this file")
        if repair:
            finding.repaired = repaired_by(quarantine, root, relative)
        report.findings.append(finding)
    report.findings += check_photo_counts(repair)
    log.info("gallery check: %s", report.summary())
    return report


def check_photo_counts(repair: bool) -> list[Finding]:
    """Each account's kept photo counts (the grid's "N photos", not counting the trash, and the
    trash's own) against its rows; --repair recounts."""
    trashed = Photo.trashed_at.is_not(None)
    rows = db.session.execute(select(Photo.owner_id, Photo.source, trashed, db.func.count(Photo.id))
                              .group_by(Photo.owner_id, Photo.source, trashed))
    counted: dict[tuple[int, str], int] = {}
    for owner_id, source, in_trash, number in rows:
        key = (owner_id, "in the trash" if in_trash else source)
        counted[key] = counted.get(key, 0) + number
    findings = []
    for user in db.session.scalars(select(User).order_by(User.id)):
        kept_counts = [(source, user.photo_count(source)) for source in SOURCES]
        for what, kept in kept_counts + [("in the trash", user.trashed_photos)]:
            actual = counted.get((user.id, what), 0)
            if kept != actual:
                words = f"{what} photos" if what in SOURCES else f"photos {what}"
                findings.append(Finding(f"account {user.username}", f"says {kept} {words}; "
                                                                     f"the database holds {actual}"))
    if findings and repair:
        recount_photos()
        for finding in findings:
            finding.repaired = "recounted"
    return findings


def check_tracked(root: Path, item: Tracked, repair: bool, busy: set[str], report: Report) -> set[str]:
    """Check one row's original and thumbnails; the paths it accounts for."""
    try:
        original = storage.resolve(root, item.path)
    except ValueError:
        report.findings.append(Finding(item.path, f"{item.label}'s path leaves the photos folder; refused, "
                                                  "not read"))
        return set()
    paths = item.thumbnail_paths()
    accounted = {item.path, *paths.values()}
    if item.path in busy:
        return accounted
    if not original.is_file():
        if still_missing(root, item):
            report.findings.append(Finding(shown(item.path), f"the original of {item.label} is missing; restore it "
                                                             "from a backup (check never deletes a row)"))
        return accounted
    changed = bool(item.sha256) and storage.sha256_of(original) != item.sha256
    if changed:
        report.findings.append(Finding(shown(item.path), f"SHA-256 differs from {item.label}'s row: the file changed "
                                                         "or is damaged; restore it from a backup"))
    try:
        decoded = imaging.decode(original, current_app.config["MAX_IMAGE_PIXELS"], thumbnails.sizes())
    except RejectedFile as exc:
        report.findings.append(Finding(shown(item.path), f"the original of {item.label} cannot be decoded: {exc.message}"))
        decoded = None
    for size, relative in paths.items():
        problem = thumbnail_problem(root / relative, original)
        if problem is None:
            continue
        finding = Finding(shown(relative), f"{item.label}'s {size} thumbnail {problem}")
        if repair and decoded is not None and not changed:  # never re-made from bytes that are not the photo's
            finding.repaired = repaired_by(remake, relative, decoded, size, item.thumbnail_ext)
        report.findings.append(finding)
    return accounted


def thumbnail_problem(path: Path, original: Path) -> str | None:
    """Why a thumbnail must be re-made, or None when it is fine."""
    try:
        made = path.stat().st_mtime_ns
    except FileNotFoundError:
        return "is missing"
    if made < original.stat().st_mtime_ns:
        return "is stale (older than its original)"
    try:
        with Image.open(path, formats=["JPEG", "WEBP"]) as image:
            image.load()
    except (OSError, SyntaxError, ValueError, EOFError, UserWarning):
        return "cannot be decoded"
    return None


def remake(relative: str, decoded: imaging.DecodedImage, size: str, ext: str) -> str:
    thumbnails.repair_thumbnail(relative, decoded, size, ext)
    return "re-made from the original"


def repaired_by(repair: Callable[..., str], *args) -> str | None:
    """What repair(*args) did, in words, or None (the finding stays) when the disk refused it."""
    try:
        return repair(*args)
    except GalleryError as exc:
        log.error("repair failed: %s", exc.message)
        return None


def still_missing(root: Path, item: Tracked) -> bool:
    """False when the row went meanwhile (a delete that finished) or the file came back."""
    return not (root / item.path).is_file() and in_a_row(item.path)
