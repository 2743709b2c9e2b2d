"""A generation session's candidates once downloaded: keep one as a photo, reject it, discard the
rest of a session, delete an account's sessions with their files."""
from __future__ import annotations

import logging
from pathlib import Path, PurePosixPath

from sqlalchemy import delete, exists, inspect, select, update
from sqlalchemy.exc import IntegrityError

from ..errors import DuplicatePhoto
from ..extensions import db
from ..models import GenerationImage, GenerationSession, Photo, utcnow
from . import imaging, invokeai, photos, search, storage, tags, thumbnails
from .generation import GenerationRefused, cancel_session

log = logging.getLogger(__name__)

ALREADY_KEPT = "This image is already kept in the gallery."
STALE_PAGE = "This page is out of date: reload it to see the image as it is now."


class ImageGone(GenerationRefused):
    """The candidate was discarded (in another tab) after this request found it."""

    status = 404


def refuse_gone_or(image: GenerationImage, refusal: GenerationRefused) -> GenerationRefused:
    """After a guarded write that matched no row (and a rollback): ImageGone when the row was deleted
    meanwhile, else `refusal`, with `image` reloaded for the answer."""
    # By its identity, not image.id: the image is expired, and reading it would load a row that may be gone.
    if db.session.get(GenerationImage, inspect(image).identity, populate_existing=True) is None:
        return ImageGone("This image was discarded.")
    return refusal


def refuse_unless_shown(image: GenerationImage, shown: str) -> None:
    """A keep or reject names the picture its page showed (InvokeAI's image name; "" before one arrived):
    a page that showed another is out of date, and acting on it would act on something nobody saw."""
    if shown != ((image.image_name or "") if image.state == "done" else ""):
        raise GenerationRefused(STALE_PAGE)


def keep_image(image: GenerationImage, shown: str) -> Photo:
    """Move a done candidate into generated/completed/ and make it a photo of the session's owner.

    Two tabs may keep the same image at once: a guarded UPDATE (claim_keep) lets one of them in, and
    holds the row until its commit; the other finds the image kept and says so, touching no file.
    Two candidates with the same bytes kept at once meet at the (owner_id, sha256) constraint: the
    second is a DuplicatePhoto, its files moved back.
    """
    refuse_unless_shown(image, shown)
    if image.state != "done":
        raise GenerationRefused("Only a finished image can be kept.")
    if image.decision == "kept":
        raise GenerationRefused(ALREADY_KEPT)
    session = image.session
    if session is None:  # discarded with its session after this request found the image
        raise ImageGone("This image was discarded.")
    root = photos.photos_root()
    kept_path = str(PurePosixPath("generated", "completed", PurePosixPath(image.file_path).name))
    moves = [(storage.resolve(root, image.file_path), storage.resolve(root, kept_path))]
    moves += [(storage.resolve(root, image.thumbnail_path(size)),
               storage.resolve(root, thumbnails.thumbnail_path(kept_path, size, image.thumbnail_ext)))
              for size in thumbnails.SIZES]
    existing = same_bytes_photo(session.owner_id, image.sha256)
    if existing is not None:
        raise DuplicatePhoto(existing)
    photo = kept_photo(image, kept_path)
    if not claim_keep(image, kept_path):
        db.session.rollback()
        raise refuse_gone_or(image, GenerationRefused(ALREADY_KEPT))  # reloaded: the other request's photo
    try:
        # A crash from the note on is undone by `flask gallery check`; a failure here moves the files back.
        with storage.placing(root, "keep", "move", kept_path, source=image.file_path) as place:
            for source, target in moves:
                if source.exists():
                    place.move(source, target)
            db.session.add(photo)
            db.session.flush()
            image.photo_id = photo.id
            # The model's name as a tag, in the keep's transaction (a name no tag can have is left out).
            tags.add_tags(session.owner_id, [photo.id], tags.usable_names([session.model_name]))
            search.refresh_search_documents([photo.id])
            db.session.commit()
    except IntegrityError:
        db.session.rollback()
        existing = same_bytes_photo(session.owner_id, image.sha256)
        if existing is None:
            raise
        raise DuplicatePhoto(existing) from None
    except BaseException:
        db.session.rollback()  # the claim's row lock goes now, not when the request ends
        raise
    log.info("kept image %s of session %s as photo %s", image.id, session.id, photo.id)
    return photo


def kept_photo(image: GenerationImage, kept_path: str) -> Photo:
    """The photo a kept candidate becomes, with its session's parameters as columns."""
    session = image.session
    return Photo(
        owner_id=session.owner_id, source="generated", original_path=kept_path, thumbnail_ext=image.thumbnail_ext,
        original_name=f"{session.model_name}-{image.seed}.{PurePosixPath(kept_path).suffix.lstrip('.')}",
        sha256=image.sha256, format=image.format, mime_type=imaging.FORMATS[image.format][1],
        file_size=image.file_size, width=image.image_width, height=image.image_height,
        uploaded_at=utcnow(), sorted_at=utcnow(), prompt=session.prompt, negative_prompt=session.negative_prompt,
        seed=image.seed, model_name=session.model_name, model_key=session.model_key,
        model_base=session.model_base, steps=session.steps, cfg_scale=session.cfg_scale, guidance=session.guidance,
        scheduler=session.scheduler, generation_width=session.width,
        generation_height=session.height, derived_from_id=session.source_photo_id)


def claim_keep(image: GenerationImage, kept_path: str) -> bool:
    """Mark a done, not yet kept image kept (not committed): True for the one request that may keep it.

    The UPDATE holds the row (PostgreSQL) or the database (SQLite) until the caller commits or rolls
    back; a second claim waits for that, then finds the image kept, or claims it after a rollback.
    """
    result = db.session.execute(
        update(GenerationImage)
        .where(GenerationImage.id == image.id, GenerationImage.state == "done", GenerationImage.decision != "kept")
        .values(decision="kept", file_path=kept_path).execution_options(synchronize_session=False))
    return result.rowcount == 1


def same_bytes_photo(owner_id: int, sha256: str | None) -> int | None:
    return db.session.scalar(select(Photo.id).where(Photo.owner_id == owner_id, Photo.sha256 == sha256))


def reject_image(image: GenerationImage, shown: str) -> None:
    """Mark a candidate rejected unless it is kept, by a guarded UPDATE: another tab's keep may have
    committed since this request read the image, and a kept image's files are a photo's (discard
    would delete the files of an image it takes for rejected)."""
    refuse_unless_shown(image, shown)
    result = db.session.execute(
        update(GenerationImage).where(GenerationImage.id == image.id, GenerationImage.decision != "kept")
        .values(decision="rejected").execution_options(synchronize_session=False))
    db.session.commit()
    if result.rowcount != 1:
        raise refuse_gone_or(image, GenerationRefused("This image is kept in the gallery; delete the photo there "
                                                      "instead."))


def discard_session(session: GenerationSession) -> int:
    """Delete the rejected and undecided candidates (files and rows); kept ones stay. Their count.

    Another tab may keep a candidate after this request read the session, so the rows are deleted by
    a guarded DELETE (not kept, judged on the rows as committed: PostgreSQL waits for a keep's row
    lock, SQLite for its write lock), and the files removed are those of the rows it deleted.
    """
    if not session.finished and not session.canceled:
        try:
            cancel_session(session)
        except invokeai.InvokeAIError as exc:  # discarding must not depend on InvokeAI being up
            log.warning("discarding session %s without canceling its batch: %s", session.id, exc.message)
    root = photos.photos_root()
    session_id = session.id
    deleted = db.session.execute(
        delete(GenerationImage)
        .where(GenerationImage.session_id == session_id, GenerationImage.decision != "kept")
        .returning(GenerationImage.file_path, GenerationImage.thumbnail_ext)
        .execution_options(synchronize_session=False)).all()
    db.session.execute(delete(GenerationSession).where(
        GenerationSession.id == session_id, ~exists().where(GenerationImage.session_id == session_id)))
    db.session.commit()
    storage.remove_files([path for file_path, ext in deleted for path in downloaded_files(root, file_path, ext)])
    log.info("discarded %d candidates of session %s", len(deleted), session_id)
    return len(deleted)


def candidate_files(root: Path, image: GenerationImage) -> list[Path]:
    """A candidate's downloaded file and thumbnails (none before it is downloaded; a kept one's are a photo's)."""
    return [] if image.decision == "kept" else downloaded_files(root, image.file_path, image.thumbnail_ext)


def downloaded_files(root: Path, file_path: str | None, thumbnail_ext: str | None) -> list[Path]:
    if not file_path:
        return []
    return [storage.resolve(root, file_path)] + [
        storage.resolve(root, thumbnails.thumbnail_path(file_path, size, thumbnail_ext)) for size in thumbnails.SIZES]


def delete_sessions_of(owner_id: int) -> None:
    """Every session of an owner and its candidates' files, for deleting the account (InvokeAI not asked)."""
    root = photos.photos_root()
    files = []
    for session in db.session.scalars(select(GenerationSession).where(GenerationSession.owner_id == owner_id)):
        files += [path for image in session.images for path in candidate_files(root, image)]
        db.session.delete(session)
    db.session.commit()
    storage.remove_files(files)
