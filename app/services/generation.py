"""Generation sessions: enqueue on InvokeAI, refresh from its queue, cancel (services/candidates
keeps, rejects and discards what they made).

No background worker: the requests that ask for a session's state do the work. A finished
image is downloaded by exactly one request, whichever claims it first with a conditional
UPDATE (two browser tabs polling at the same moment download it once).
"""
from __future__ import annotations

import dataclasses
import logging
import random
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import PurePosixPath

from flask import current_app
from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import SQLAlchemyError

from ..database import run_unit_of_work
from ..errors import GalleryError, RejectedFile, StorageError
from ..extensions import db
from ..models import GenerationImage, GenerationSession, Photo, utcnow
from . import (cache, generator_metadata, graphs, imaging, invokeai, invokeai_models, photos, starting_images,
               storage, thumbnails)

log = logging.getLogger(__name__)

SCHEDULERS = graphs.SD_SCHEDULERS  # every base's schedulers are among these
MAX_SEED = 2**32 - 1
STALE_CLAIM = timedelta(minutes=5)  # a download claimed longer ago than this was lost with its request
UNCONFIRMED_WATCH = timedelta(hours=1)  # how long InvokeAI might still take a batch whose enqueue went unanswered
RECANCELED_AT = "invokeai_unconfirmed_canceled_at"  # in app.extensions: when this worker last did from a poll
RECANCEL_EVERY = 30.0  # seconds between a worker's cancels of those batches from the polls (every enqueue sends one)
DOWNLOAD_ATTEMPTS = 3  # downloads cut short before an image fails for good
SEND_TRIED_AT = "invokeai_pending_send_failed_at"  # in app.extensions: when this worker last found InvokeAI away
SEND_AGAIN_EVERY = 15.0  # seconds before a worker's pages and polls try pending sessions again after that
ITEM_STATES = {"pending": "queued", "waiting": "queued", "in_progress": "in_progress",
               "completed": "done", "failed": "failed", "canceled": "canceled"}
OPEN_STATES = ("queued", "in_progress")


class GenerationUnavailable(GalleryError):
    """Generation is switched off in the settings."""

    status = 503


class GenerationRefused(GalleryError):
    """The gallery will not do this with the session or image as it is."""

    status = 409


@dataclass
class Parameters:
    """What a person typed into the generate form. None is "the model's default" until
    invokeai_models.check_parameters fills it in; a field the model's base does not use stays None."""

    prompt: str
    negative_prompt: str
    model_key: str
    width: int | None
    height: int | None
    steps: int | None
    cfg_scale: float | None
    scheduler: str | None
    seed: int | None
    count: int
    guidance: float | None = None
    strength: float | None = None  # image to image: how far from the starting image to go, 0 to 1
    source_photo_id: int | None = None  # image to image: the photo whose original is the starting image


# --- the client --------------------------------------------------------------------------

def client() -> invokeai.InvokeAIClient:
    """This app's InvokeAI client (one requests.Session), made on first use."""
    config = current_app.config
    if not config["INVOKEAI_URL"]:
        raise GenerationUnavailable("Generation is switched off: set GALLERY_INVOKEAI_URL to your InvokeAI server.")
    existing = current_app.extensions.get("invokeai")
    if existing is None:
        existing = current_app.extensions["invokeai"] = invokeai.InvokeAIClient(
            config["INVOKEAI_URL"], config["INVOKEAI_CONNECT_TIMEOUT"], config["INVOKEAI_READ_TIMEOUT"],
            config["INVOKEAI_DEADLINE"], config["INVOKEAI_EMAIL"], config["INVOKEAI_PASSWORD"])
    return existing


def installed_models() -> list[dict]:
    """Every installed main model, those the gallery cannot drive with their `problem`; cached for about a
    minute (services/cache.py)."""
    base_url = current_app.config["INVOKEAI_URL"] or ""
    return cache.installed_models(base_url, lambda: invokeai_models.describe_models(client().list_models()))


def models_for_form() -> tuple[list[dict], invokeai.InvokeAIError | None]:
    """The installed models, and None; with InvokeAI unreachable, the models it listed last and why they
    are not fresh (the form then offers to save the generation), or the error when none are known."""
    try:
        return installed_models(), None
    except invokeai.InvokeAIError as exc:
        known = cache.known_models(current_app.config["INVOKEAI_URL"] or "") if exc.unreachable else None
        if not known:
            raise
        return known, exc


def find_model(key: str, known_will_do: bool = False) -> dict:
    """The installed model of that key; with `known_will_do`, from the last list known if InvokeAI cannot
    be reached now."""
    for model in (models_for_form()[0] if known_will_do else installed_models()):
        if model["key"] == key:
            return model
    raise GenerationRefused("That model is not installed on InvokeAI (any more): choose another.")


# --- starting a session ------------------------------------------------------------------

def start_session(owner_id: int, params: Parameters, source: Photo | None = None,
                  save_if_unreachable: bool = False) -> GenerationSession:
    """Enqueue one batch (one queue item per seed) and record the session; with a `source` photo (the
    caller's own, as access.py gives it), image to image from its original, uploaded to InvokeAI first.
    With `save_if_unreachable`, InvokeAI not reachable at all saves the session as pending instead (with
    the last model list known), sent by a later request (send_pending_sessions).

    Nothing is written when InvokeAI refuses the batch, cannot be reached, answers wrongly or has no room in
    its queue for any of it; with room for some seeds only, the rest are recorded as
    failed (tie_queued_seeds). An enqueue that goes unanswered is different: InvokeAI may take the batch
    after the gallery gave up. The person is told at once (a cancel sent now to a server that did not
    answer would keep them waiting another timeout); the batch is kept on record as a canceled session,
    and the later requests that reach InvokeAI cancel it until it is old (cancel_unconfirmed_batches).
    """
    model = find_model(params.model_key, known_will_do=save_if_unreachable)
    if source is not None:
        params = with_source_size(params, source, model)
    params = invokeai_models.check_parameters(params, model)
    seeds = choose_seeds(params.seed, params.count)
    batch_id = str(uuid.uuid4())
    try:
        image_name = upload_starting_image(source, params) if source is not None else None
    except invokeai.InvokeAIError as exc:
        if save_if_unreachable and exc.unreachable:
            return save_pending_session(owner_id, params, model, seeds, batch_id, exc.message)
        raise
    try:
        result = client().enqueue_batch(build_batch(params, model, seeds, batch_id, image_name))
    except invokeai.InvokeAIError as exc:
        if save_if_unreachable and exc.unreachable:  # surely never arrived: nothing to cancel
            return save_pending_session(owner_id, params, model, seeds, batch_id, exc.message)
        if exc.unanswered:
            record_unconfirmed_session(owner_id, params, model, seeds, batch_id, exc.message)
            raise invokeai.InvokeAIError(f"{exc.message}; the gallery cancels the batch as soon as InvokeAI answers "
                                         "again, in case it still takes it (it is listed under Earlier sessions)",
                                         exc.status, exc.url, unanswered=True) from exc
        if exc.status == invokeai.BAD_GATEWAY:  # answered, but not as InvokeAI does: it may hold the batch
            cancel_lost_batch(batch_id)
        raise  # refused, unreachable or full: nothing was taken
    item_ids = [int(i) for i in result["item_ids"]]
    images = [GenerationImage(seed_index=index, seed=seed) for index, seed in enumerate(seeds)]
    if len(item_ids) < len(seeds):
        tie_queued_seeds(images, item_ids, batch_id)
    session = new_session(owner_id, params, model, batch_id, images, item_ids=item_ids)

    def work():
        db.session.add(session)
        db.session.commit()

    try:
        run_unit_of_work(work, current_app.config["DB_RETRY_ATTEMPTS"])
    except BaseException:
        cancel_lost_batch(batch_id)
        raise
    log.info("session %s enqueued batch %s with %d seeds", session.id, batch_id, len(seeds))
    cancel_unconfirmed_batches()
    return session


def with_source_size(params: Parameters, source: Photo, model: dict) -> Parameters:
    """Image to image from `source`: a size left blank is the photo's shape at the base's size."""
    width, height = starting_images.default_size(source, graphs.FAMILIES[model["base"]]) \
        if model["base"] in graphs.FAMILIES else (None, None)
    return dataclasses.replace(params, source_photo_id=source.id, width=params.width or width,
                               height=params.height or height)


def upload_starting_image(source: Photo, params: Parameters) -> str:
    """The source photo's original, cropped and scaled to the chosen size, uploaded to InvokeAI as an
    intermediate image; the name InvokeAI gave it."""
    content = starting_images.starting_image(source, params.width, params.height)
    uploaded = client().upload_image(f"gallery-photo-{source.id}.png", content, "image/png")
    log.info("uploaded photo %s as starting image %s (%dx%d)", source.id, uploaded["image_name"],
             params.width, params.height)
    return uploaded["image_name"]


def tie_queued_seeds(images: list[GenerationImage], item_ids: list[int], batch_id: str) -> None:
    """The queue had room for some seeds only: tie each item to its image by seed (API.md §2.3), fail the rest.

    The seeds that got in are kept (as InvokeAI's own UI keeps them), not canceled for those that did not: the
    person sees which images are coming and why the others are not. If InvokeAI cannot be asked which seeds
    got in, the batch is canceled and nothing recorded, as for any failed enqueue."""
    try:
        queued = {seed_of(client().get_item(item_id)): item_id for item_id in item_ids}
    except invokeai.InvokeAIError:
        cancel_lost_batch(batch_id)
        raise
    message = (f"InvokeAI's queue was full: it took {len(item_ids)} of the {len(images)} images, not this "
               "one. Generate it again when the queue has room.")
    for image in images:
        image.item_id = queued.get(image.seed)
        if image.item_id is None:
            image.state, image.error_message = "failed", message
    log.warning("batch %s: InvokeAI's queue took %d of %d seeds", batch_id, len(item_ids), len(images))


def new_session(owner_id: int, params: Parameters, model: dict, batch_id: str, images: list[GenerationImage],
                **values) -> GenerationSession:
    return GenerationSession(
        owner_id=owner_id, batch_id=batch_id, prompt=params.prompt, negative_prompt=params.negative_prompt,
        model_key=model["key"], model_name=model["name"], model_hash=model["hash"] or "", model_base=model["base"],
        width=params.width, height=params.height, steps=params.steps, cfg_scale=params.cfg_scale,
        guidance=params.guidance, scheduler=params.scheduler, source_photo_id=params.source_photo_id,
        strength=params.strength, images=images, **values)


def cancel_lost_batch(batch_id: str) -> None:
    """A batch whose answer (or whose row) was lost must not run for nobody: cancel it by its id.

    Sent without asking batch_status first: "not there yet" would say nothing about a moment later.
    """
    try:
        if client().cancel_batch(batch_id):
            log.warning("canceled batch %s: its enqueue answer or its session row was lost", batch_id)
    except invokeai.InvokeAIError as exc:
        log.warning("could not cancel lost batch %s: %s", batch_id, exc.message)


def record_unconfirmed_session(owner_id: int, params: Parameters, model: dict, seeds: list[int], batch_id: str,
                               reason: str) -> None:
    """Keep an unanswered batch as a canceled session without item ids: the person sees what became of
    it, and cancel_unconfirmed_batches finds its id. A database failure here is logged, not raised: the
    person is better told about InvokeAI, which is what went wrong first."""
    message = f"InvokeAI did not confirm this batch in time, so the gallery cancels it: {reason}"[:2000]
    session = new_session(owner_id, params, model, batch_id,
                          [GenerationImage(seed_index=index, seed=seed, state="canceled", error_message=message)
                           for index, seed in enumerate(seeds)], canceled=True)

    def work():
        db.session.add(session)
        db.session.commit()

    try:
        run_unit_of_work(work, current_app.config["DB_RETRY_ATTEMPTS"])
    except SQLAlchemyError as exc:
        db.session.rollback()
        log.error("could not record unanswered batch %s: %s", batch_id, exc)
        return
    current_app.extensions.pop(RECANCELED_AT, None)  # the next poll that reaches InvokeAI cancels it
    log.warning("the enqueue of batch %s went unanswered: recorded as canceled session %s", batch_id, session.id)


def cancel_unconfirmed_batches(every: float | None = None) -> None:
    """Cancel, by id, every recent batch whose enqueue went unanswered: InvokeAI may have taken it since.

    Run after a request got its answers from InvokeAI (an enqueue; a poll at most once `every` seconds per
    worker, and at its first chance after an enqueue went unanswered); one PUT for all of them, anyone's,
    until they are older than UNCONFIRMED_WATCH. Canceling a batch that never arrived, or again, is no error.
    """
    if every is not None:
        last = current_app.extensions.get(RECANCELED_AT)
        if last is not None and time.monotonic() - last < every:
            return
        current_app.extensions[RECANCELED_AT] = time.monotonic()
    rows = db.session.execute(select(GenerationSession.batch_id, GenerationSession.item_ids).where(
        GenerationSession.canceled.is_(True), GenerationSession.created_at > utcnow() - UNCONFIRMED_WATCH))
    batch_ids = [batch_id for batch_id, item_ids in rows if not item_ids]
    if not batch_ids:
        return
    try:
        canceled = client().cancel_batches(batch_ids)
    except invokeai.InvokeAIError as exc:
        log.warning("could not cancel %d unconfirmed batches again: %s", len(batch_ids), exc.message)
        return
    if canceled:
        log.warning("canceled %d queue items that InvokeAI took after their enqueue went unanswered", canceled)


# --- sessions saved while InvokeAI was down -----------------------------------------------

def save_pending_session(owner_id: int, params: Parameters, model: dict, seeds: list[int], batch_id: str,
                         reason: str) -> GenerationSession:
    """Record a session InvokeAI could not be reached for, as pending: its columns are the parameters
    (checked against the model), its images the seeds; its batch is built again when it is sent."""
    session = new_session(owner_id, params, model, batch_id,
                          [GenerationImage(seed_index=index, seed=seed) for index, seed in enumerate(seeds)],
                          send_state="pending")

    def work():
        db.session.add(session)
        db.session.commit()

    run_unit_of_work(work, current_app.config["DB_RETRY_ATTEMPTS"])
    log.warning("saved session %s (batch %s) as pending: %s", session.id, batch_id, reason)
    return session


def send_pending_sessions(owner_id: int, every: float | None = None) -> int:
    """Send the owner's pending sessions, oldest first, from a request that talks to InvokeAI anyway (the
    generate form, a session's page or poll, the sessions list); never from a thread of its own.

    After InvokeAI was found away, a worker's pages and polls (`every` seconds) wait that long before
    trying again, so a list page does not pay a connect timeout each time; the form always tries.
    How many were settled (sent, or failed in words).
    """
    if not current_app.config["INVOKEAI_URL"]:
        return 0
    if every is not None:
        last = current_app.extensions.get(SEND_TRIED_AT)
        if last is not None and time.monotonic() - last < every:
            return 0
    session_ids = db.session.scalars(
        select(GenerationSession.id).where(GenerationSession.send_state.in_(("pending", "sending")),
                                           GenerationSession.owner_id == owner_id)
        .order_by(GenerationSession.id)).all()
    settled = 0
    for session_id in session_ids:
        if not send_pending_session(session_id):
            current_app.extensions[SEND_TRIED_AT] = time.monotonic()
            break  # InvokeAI is away again: the rest wait with it
        settled += 1
    else:
        current_app.extensions.pop(SEND_TRIED_AT, None)
    if session_ids:
        db.session.expire_all()
    return settled


def claim_send(session_id: int) -> str | None:
    """Claim a pending session for this request, in a transaction of its own before any HTTP call: the
    conditional UPDATE lets exactly one of two racing requests (two workers, two tabs) through. "pending"
    for a fresh claim, "stale" for a session whose sender died after its claim (the batch may have
    reached InvokeAI), None when another request has it or it was sent or canceled meanwhile."""
    now = utcnow()
    for was, condition in (("pending", GenerationSession.send_state == "pending"),
                           ("stale", and_(GenerationSession.send_state == "sending",
                                          GenerationSession.send_claimed_at < now - STALE_CLAIM))):
        claimed = update_session(session_id, condition, send_state="sending", send_claimed_at=now)
        db.session.commit()
        if claimed == 1:
            return was
    return None


def send_pending_session(session_id: int) -> bool:
    """Send one pending session if this request claims it; False when InvokeAI is (still) away.

    Never sent twice: the claim admits one request; a send InvokeAI surely never received (unreachable,
    queue full) goes back to pending; one that went unanswered, or a request that died between its
    claim and its record, leaves the claim to go stale, and the request that takes a stale claim over
    first asks InvokeAI for the batch by its id, which the gallery chose (GET .../b/{batch_id}/status),
    and records that batch's items rather than sending another. InvokeAI refusing it fails its images
    in words."""
    was = claim_send(session_id)
    if was is None:
        return True
    session = db.session.get(GenerationSession, session_id, populate_existing=True)
    try:
        item_ids = find_sent_items(session) if was == "stale" else None
        if item_ids is None:
            item_ids = enqueue_pending(session)
    except invokeai.InvokeAIError as exc:
        db.session.rollback()
        if exc.unanswered:
            log.warning("the send of pending session %s went unanswered; its claim is left to go stale: %s",
                        session_id, exc.message)
            return False
        if exc.unreachable or exc.status == invokeai.UNAVAILABLE:
            release_send(session_id, exc.message)
            return False
        fail_pending(session_id, exc.message)
        return True
    except GenerationRefused as exc:
        db.session.rollback()
        fail_pending(session_id, exc.message)
        return True
    record_sent(session, item_ids)
    return True


def enqueue_pending(session: GenerationSession) -> list[int]:
    """Build the session's batch again from its columns (its model as InvokeAI lists it now, the starting
    photo uploaded now) and enqueue it under the batch id chosen when it was saved; the item ids."""
    model = find_model(session.model_key)
    params = Parameters(prompt=session.prompt, negative_prompt=session.negative_prompt, model_key=session.model_key,
                        width=session.width, height=session.height, steps=session.steps,
                        cfg_scale=session.cfg_scale, scheduler=session.scheduler, seed=None,
                        count=len(session.images), guidance=session.guidance, strength=session.strength,
                        source_photo_id=session.source_photo_id)
    image_name = None
    if session.strength is not None:
        source = db.session.get(Photo, session.source_photo_id) if session.source_photo_id else None
        if source is None:
            raise GenerationRefused("The photo this was to start from was deleted before InvokeAI was back.")
        image_name = upload_starting_image(source, params)
    seeds = [image.seed for image in session.images]
    batch = build_batch(params, model, seeds, session.batch_id, image_name,
                        destination=pending_destination(session.batch_id))
    return [int(i) for i in client().enqueue_batch(batch)["item_ids"]]


def pending_destination(batch_id: str) -> str:
    """The destination a pending session's batch is sent with: its own, so that its items can be listed
    by it (GET .../list_all?destination=) should the sender die before recording them."""
    return f"gallery:{batch_id}"


def find_sent_items(session: GenerationSession) -> list[int] | None:
    """The ids of the items of a batch a dead sender may have enqueued, or None if InvokeAI never got it."""
    if not client().batch_status(session.batch_id).get("total"):
        return None
    items = client().items_of_destination(pending_destination(session.batch_id))
    log.warning("pending session %s was sent by a request that died before recording it; found its batch",
                session.id)
    return [int(item["item_id"]) for item in items if item.get("batch_id") == session.batch_id]


def record_sent(session: GenerationSession, item_ids: list[int]) -> None:
    """Record what InvokeAI took; seeds that did not fit in its queue fail saying so. A session canceled
    while it was being sent has its batch canceled at once."""
    images = list(session.images)
    if len(item_ids) < len(images):
        tie_queued_seeds(images, item_ids, session.batch_id)
    sent = update_session(session.id, GenerationSession.send_state == "sending",
                          send_state="sent", send_claimed_at=None, item_ids=item_ids)
    db.session.commit()
    db.session.refresh(session)
    if session.canceled:
        cancel_lost_batch(session.batch_id)
    log.info("sent pending session %s as batch %s (%d items)%s", session.id, session.batch_id, len(item_ids),
             "" if sent else ", though its claim had gone stale")


def update_session(session_id: int, *conditions, **values) -> int:
    """A guarded UPDATE of a session's columns, as set_state is of an image's state: how many rows it
    changed (1 when the session met `conditions`, 0 when another request moved it first). The caller
    commits."""
    return db.session.execute(update(GenerationSession).where(GenerationSession.id == session_id, *conditions)
                              .values(**values).execution_options(synchronize_session=False)).rowcount


def release_send(session_id: int, reason: str) -> None:
    """InvokeAI surely did not take it (not reachable, or its queue full): pending again."""
    update_session(session_id, GenerationSession.send_state == "sending", send_state="pending", send_claimed_at=None)
    db.session.commit()
    log.info("pending session %s not sent yet: %s", session_id, reason)


def fail_pending(session_id: int, reason: str) -> None:
    """InvokeAI (or the gallery) refused the saved generation: its images fail saying why; it is settled."""
    message = f"InvokeAI was back, but this generation could not be sent: {reason}"[:2000]
    db.session.execute(update(GenerationImage).where(GenerationImage.session_id == session_id,
                                                     GenerationImage.state.in_(OPEN_STATES))
                       .values(state="failed", error_message=message).execution_options(synchronize_session=False))
    update_session(session_id, send_state="sent", send_claimed_at=None)
    db.session.commit()
    log.warning("pending session %s failed when sent: %s", session_id, reason)


def withdraw_pending(session: GenerationSession) -> bool:
    """Cancel a session not sent yet, if no request is sending it: True when withdrawn. The same kind of
    conditional UPDATE as the claim, so a cancel and a send never both win."""
    withdrawn = update_session(session.id, GenerationSession.send_state == "pending", send_state="sent", canceled=True)
    if withdrawn:
        db.session.execute(update(GenerationImage).where(GenerationImage.session_id == session.id,
                                                         GenerationImage.state.in_(OPEN_STATES))
                           .values(state="canceled", error_message="Canceled before it was sent to InvokeAI.")
                           .execution_options(synchronize_session=False))
    db.session.commit()
    db.session.expire_all()
    return bool(withdrawn)


def choose_seeds(seed: int | None, count: int) -> list[int]:
    """`count` consecutive seeds from `seed`, or from a random one when blank."""
    first = random.SystemRandom().randint(0, MAX_SEED) if seed is None else seed
    return [(first + offset) % (MAX_SEED + 1) for offset in range(count)]


def build_batch(params: Parameters, model: dict, seeds: list[int], batch_id: str, image_name: str | None = None,
                destination: str = "gallery") -> dict:
    """The graph of the model's base (image to image when there is a starting image's name on InvokeAI),
    with one queue item per seed via `data` (API.md §2.3)."""
    mode = graphs.TEXT_TO_IMAGE if image_name is None else graphs.IMAGE_TO_IMAGE
    graph = graphs.build_graph(mode, params, model, seeds[0], image_name)
    return {
        "batch_id": batch_id, "runs": 1, "origin": "gallery", "destination": destination, "graph": graph.body(),
        "data": [[{"node_path": node, "field_name": field, "items": seeds} for node, field in graph.seed_fields]],
    }


# --- refreshing from InvokeAI's queue ----------------------------------------------------

def refresh_session(session: GenerationSession) -> dict[int, int]:
    """Bring every unfinished image up to date; download finished ones. {image id: place in queue}.

    Every queue item ends one way or another, so the page stops polling: an item InvokeAI forgot (Prune,
    Clear, its history limit) is downloaded from its images if they still hold it, else failed in words;
    an item of another batch (InvokeAI's database reset, or the URL naming another server) is failed
    without downloading anything.
    """
    if session.send_state != "sent":
        send_pending_sessions(session.owner_id, every=SEND_AGAIN_EVERY)
        if session.send_state != "sent":
            return {}
    if session.finished:
        return {}
    api = client()
    by_seed = {image.seed: image for image in session.images}
    known = {image.item_id: image for image in session.images if image.item_id is not None}
    places: dict[int, int] = {}
    current_item = None
    lost: list[str] = []  # why items no image is tied to yet cannot be ours
    recent: list[dict] | None = None  # InvokeAI's newest images, asked for once, if an item was forgotten
    claimed_since = utcnow() - STALE_CLAIM  # an older claim died with its request: download it again
    for item_id in session.item_ids or []:
        image = known.get(item_id)
        if image is not None and (image.finished or image.state == "downloading" and image.claimed_at > claimed_since):
            continue
        item = api.get_item(item_id)
        if item is None:
            if image is None:
                lost.append(FORGOTTEN.format(item_id=item_id))
                continue
            if image.image_name is None and image.invokeai_session_id and recent is None:
                recent = api.recent_images()
            recover_forgotten(image, item_id, recent or [])
            continue
        if item.get("batch_id") != session.batch_id:
            reason = OTHER_BATCH.format(item_id=item_id)
            if image is None:
                lost.append(reason)
            else:
                set_state(image, "failed", OPEN_STATES, error_message=reason)
            continue
        image = image or by_seed.get(seed_of(item))
        if image is None:
            log.warning("queue item %s of session %s has no seed of ours", item_id, session.id)
            lost.append(OTHER_BATCH.format(item_id=item_id))
            continue
        if follow_item(image, item_id, item) == "queued":
            if current_item is None:
                current_item = api.queue_status().get("item_id") or 0
            places[image.id] = max(1, item_id - current_item) if current_item else 1
    if lost:  # every item was asked for: an open image without one now has none left to come from
        db.session.execute(update(GenerationImage).where(
            GenerationImage.session_id == session.id, GenerationImage.item_id.is_(None),
            GenerationImage.state.in_(OPEN_STATES)).values(state="failed", error_message=lost[0])
            .execution_options(synchronize_session=False))
        db.session.commit()
    db.session.expire_all()
    cancel_unconfirmed_batches(every=RECANCEL_EVERY)  # InvokeAI answers now: a good moment
    return places


def follow_item(image: GenerationImage, item_id: int, item: dict) -> str:
    """Tie the image to its queue item and bring it to the item's state (downloading a finished one)."""
    if image.item_id is None or image.invokeai_session_id is None:
        db.session.execute(update(GenerationImage).where(GenerationImage.id == image.id)
                           .values(item_id=item_id, invokeai_session_id=item.get("session_id"))
                           .execution_options(synchronize_session=False))
        db.session.commit()
    state = ITEM_STATES.get(item.get("status"), "queued")
    if state == "done":
        download_result(image, output_image_name(item))
    elif state == "failed":
        message = item.get("error_message") or item.get("error_type") or "InvokeAI reported a failure"
        set_state(image, "failed", OPEN_STATES, error_message=str(message)[:2000])
    elif state != image.state:
        set_state(image, state, OPEN_STATES)
    return state


FORGOTTEN = ("InvokeAI no longer has this image's queue item ({item_id}): its queue was pruned or cleared before "
             "the gallery saw the image finish, and none of its images could be found.")
OTHER_BATCH = ("InvokeAI's queue item {item_id} belongs to another batch than this session's: was InvokeAI's "
               "database reset, or GALLERY_INVOKEAI_URL changed? Nothing was downloaded.")


def recover_forgotten(image: GenerationImage, item_id: int, recent: list[dict]) -> None:
    """An item InvokeAI forgot: its image by the name seen on an earlier poll, or found among InvokeAI's
    newest images by the item's session; if neither, the image fails saying so."""
    session_id = image.invokeai_session_id
    name = image.image_name or next((found["image_name"] for found in recent
                                     if session_id and found.get("session_id") == session_id), None)
    if name:
        log.info("queue item %s of image %s is gone from InvokeAI's queue; downloading its image %s", item_id,
                 image.id, name)
        download_result(image, name)
    else:
        set_state(image, "failed", OPEN_STATES, error_message=FORGOTTEN.format(item_id=item_id))


def seed_of(item: dict) -> int | None:
    """The seed of a queue item, from its batch substitutions (never from the order of item ids): every
    graph's seed fields get the same seed, so the first is the item's."""
    for value in item.get("field_values") or []:
        if isinstance(value, dict) and value.get("field_name") == "seed":
            return value.get("value")
    return None


def set_state(image: GenerationImage, state: str, from_states: tuple[str, ...], **values) -> bool:
    """Move the image to `state` only if it is still in one of `from_states`: a guarded UPDATE."""
    result = db.session.execute(
        update(GenerationImage).where(GenerationImage.id == image.id, GenerationImage.state.in_(from_states))
        .values(state=state, **values).execution_options(synchronize_session=False))
    db.session.commit()
    return result.rowcount == 1


def claim_download(image: GenerationImage, name: str | None) -> bool:
    """True for the one request that gets to download this image. The name is kept from here on: should
    InvokeAI forget the queue item before a download succeeds, the image is still found by it."""
    now = utcnow()
    result = db.session.execute(
        update(GenerationImage)
        .where(GenerationImage.id == image.id,
               or_(GenerationImage.state.in_(OPEN_STATES),
                   and_(GenerationImage.state == "downloading", GenerationImage.claimed_at < now - STALE_CLAIM)))
        .values(state="downloading", claimed_at=now, **({"image_name": name} if name else {}))
        .execution_options(synchronize_session=False))
    db.session.commit()
    return result.rowcount == 1


def output_image_name(item: dict) -> str | None:
    """The output node's image, through source_prepared_mapping (results are keyed by prepared ids)."""
    session = item.get("session") or {}
    results = session.get("results") or {}
    mapping = session.get("source_prepared_mapping") or {}
    for prepared in [p for output in graphs.OUTPUT_NODES for p in mapping.get(output) or []]:
        image = (results.get(prepared) or {}).get("image") or {}
        if image.get("image_name"):
            return image["image_name"]
    for result in results.values():
        if isinstance(result, dict) and result.get("type") == "image_output":
            return (result.get("image") or {}).get("image_name")
    return None


def download_result(image: GenerationImage, name: str | None) -> None:
    """Download, check and thumbnail a finished image, once, into generated/sessions/<id>/.

    A download cut short (the connection dropped, too slow, InvokeAI gone for a moment) leaves nothing
    behind and is tried again on a later refresh, DOWNLOAD_ATTEMPTS times in all; anything else wrong with
    the image fails it at once, saying why."""
    if not claim_download(image, name):
        return
    if not name:
        set_state(image, "failed", ("downloading",), error_message="InvokeAI finished without an output image")
        return
    try:
        with storage.placing(photos.photos_root(), "download") as place:
            temp = place.temp("download")
            with storage.disk_errors("download the image"):  # the client turns network errors into its own
                download = client().download_image(name, temp, current_app.config["INVOKEAI_MAX_IMAGE_BYTES"])
            decoded = imaging.decode(temp, current_app.config["MAX_IMAGE_PIXELS"], thumbnails.sizes())
            relative = str(PurePosixPath("generated", "sessions", str(image.session_id),
                                         f"{secrets.token_hex(8)}.{decoded.extension}"))
            place.note("place", relative)  # a crash from here on is undone by check
            ext = thumbnails.make_thumbnails(place, relative, decoded)
            place.files({relative: temp})
            done = set_state(image, "done", ("downloading",), image_name=name, error_message=None,
                             file_path=relative, thumbnail_ext=ext, sha256=download.sha256, format=decoded.format,
                             file_size=download.size, image_width=decoded.width, image_height=decoded.height)
            if not done:
                raise GenerationRefused("the image was claimed by another request meanwhile")
    except invokeai.InvokeAIError as exc:
        db.session.rollback()
        if not (exc.unanswered or exc.status in (invokeai.UNAVAILABLE, invokeai.GATEWAY_TIMEOUT)):
            fail_download(image, exc.message)
            return
        download_again_later(image, exc.message)
        if exc.status in (invokeai.UNAVAILABLE, invokeai.GATEWAY_TIMEOUT):
            raise  # InvokeAI itself is in trouble: the page says so
    except (RejectedFile, StorageError, GenerationRefused) as exc:
        db.session.rollback()
        fail_download(image, exc.message)
    except BaseException:
        db.session.rollback()
        set_state(image, "in_progress", ("downloading",), claimed_at=None)
        raise
    else:
        log.info("downloaded image %s of session %s (%s)", image.id, image.session_id, relative)


def fail_download(image: GenerationImage, reason: str) -> None:
    set_state(image, "failed", ("downloading",), error_message=f"InvokeAI's image could not be kept: {reason}")
    log.warning("image %s of session %s failed to download: %s", image.id, image.session_id, reason)


def download_again_later(image: GenerationImage, reason: str) -> None:
    """Count a download cut short; the next refresh tries again, until DOWNLOAD_ATTEMPTS were cut short."""
    set_state(image, "in_progress", ("downloading",), claimed_at=None,
              download_attempts=GenerationImage.download_attempts + 1,
              error_message=f"The download was cut short; the gallery tries again on the next refresh. {reason}")
    given_up = db.session.execute(
        update(GenerationImage).where(GenerationImage.id == image.id, GenerationImage.state == "in_progress",
                                      GenerationImage.download_attempts >= DOWNLOAD_ATTEMPTS)
        .values(state="failed", error_message=f"InvokeAI's image could not be downloaded in {DOWNLOAD_ATTEMPTS} "
                                              f"attempts: {reason}")
        .execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    log.warning("the download of image %s of session %s was cut short (%s): %s", image.id, image.session_id,
                "failed for good" if given_up else "tried again later", reason)


# --- what a person does with a session ---------------------------------------------------

def cancel_session(session: GenerationSession) -> None:
    """Cancel the batch on InvokeAI, then read its items once: those that finished before the cancel are
    downloaded (a cancel takes only what had not finished), the others become canceled, partial results of
    a canceled item never downloaded. A session not sent yet is only withdrawn (no call to InvokeAI, which
    may still be away)."""
    if withdraw_pending(session):
        log.info("canceled pending session %s before it was sent", session.id)
        return
    client().cancel_batch(session.batch_id)
    try:  # items that finished before the cancel (while nobody polled) are downloaded and offered
        refresh_session(session)
    except invokeai.InvokeAIError as exc:
        db.session.rollback()
        log.warning("session %s canceled; its finished images could not be fetched now: %s", session.id,
                    exc.message)
    for image in session.images:  # what InvokeAI did not report finished is canceled here too
        set_state(image, "canceled", OPEN_STATES)
    session.canceled = True
    db.session.commit()
    log.info("canceled session %s", session.id)


def parameters_of(photo: Photo, seed: int | None = None, count: int = 1) -> Parameters:
    """The parameters a generated photo was made with, for "Generate again" and "Use these settings".

    A photo made by another tool (A1111, ComfyUI) names its checkpoint and sampler, not InvokeAI's model
    key and scheduler: the installed model of that name and InvokeAI's counterpart of the sampler stand
    in (generator_metadata); without a counterpart, the form's defaults. A photo made from a photo (still
    there) is made from it again, at its session's strength."""
    strength = None
    if photo.derived_from_id is not None:
        strength = db.session.scalar(select(GenerationSession.strength).join(GenerationImage)
                                     .where(GenerationImage.photo_id == photo.id))
    return Parameters(prompt=photo.prompt or "", negative_prompt=photo.negative_prompt or "",
                      model_key=photo.model_key or model_key_named(photo.model_name),
                      width=photo.generation_width or photo.width, height=photo.generation_height or photo.height,
                      steps=photo.steps, cfg_scale=photo.cfg_scale, guidance=photo.guidance,
                      scheduler=generator_metadata.invokeai_scheduler(photo.scheduler, SCHEDULERS),
                      seed=seed, count=count, strength=strength,
                      source_photo_id=photo.derived_from_id if strength is not None else None)


def model_key_named(name: str | None) -> str:
    """The key of the installed model (one the gallery can drive) called `name`, as a checkpoint's file
    is, or ""."""
    if not name:
        return ""
    usable = [model for model in installed_models() if not model["problem"]]
    return generator_metadata.model_key_matching(name, usable) or ""


def find_session(owner_id: int, session_id: int) -> GenerationSession | None:
    return db.session.scalar(select(GenerationSession).where(GenerationSession.id == session_id,
                                                             GenerationSession.owner_id == owner_id))


def find_image(owner_id: int, image_id: int) -> GenerationImage | None:
    return db.session.scalar(select(GenerationImage).join(GenerationSession)
                             .where(GenerationImage.id == image_id, GenerationSession.owner_id == owner_id))
