"""New generation, the session page and its status, keep / reject, cancel, discard."""
from __future__ import annotations

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from ..errors import DuplicatePhoto, GalleryError, wants_json
from ..forms import GenerateForm
from ..models import MAX_ID, GenerationImage, GenerationSession
from ..services import candidates, generation
from ..services.invokeai import InvokeAIError, QueueFull, RequestRejected, TimedOut, Unreachable
from .photos import own_photo_or_404

bp = Blueprint("generation", __name__, url_prefix="/generate")

SESSION_ID = f"<int(max={MAX_ID}):session_id>"
IMAGE_ID = f"<int(max={MAX_ID}):image_id>"


def invokeai_status(exc: Exception) -> int:
    """The HTTP status that tells a person InvokeAI (not the gallery) is the trouble."""
    if isinstance(exc, GalleryError):
        return exc.status
    if isinstance(exc, (Unreachable, QueueFull)):  # QueueFull: InvokeAI is there, with no room for now
        return 503
    if isinstance(exc, TimedOut):
        return 504
    return 502


def own_session_or_404(session_id: int) -> GenerationSession:
    session = generation.find_session(current_user.id, session_id)
    if session is None:
        abort(404, "No such generation session.")
    return session


def own_image_or_404(image_id: int) -> GenerationImage:
    image = generation.find_image(current_user.id, image_id)
    if image is None:
        abort(404, "No such generated image.")
    return image


def form_with_choices(form: GenerateForm) -> tuple[str | None, int]:
    """Fill the model and scheduler choices; when InvokeAI cannot list models, why and a status."""
    form.scheduler.choices = [(name, name) for name in generation.SCHEDULERS]
    try:
        models = generation.available_models()
    except (InvokeAIError, GalleryError) as exc:
        form.model.choices = []
        return exc.message, invokeai_status(exc)
    form.model.choices = [(m["key"], f"{m['name']} ({m['base']})") for m in models]
    return (None, 200) if models else ("InvokeAI has no SD-1 or SD-2 main model installed.", 503)


def parameters_from(form: GenerateForm) -> generation.Parameters:
    return generation.Parameters(
        prompt=form.prompt.data.strip(), negative_prompt=(form.negative_prompt.data or "").strip(),
        model_key=form.model.data, width=form.width.data, height=form.height.data, steps=form.steps.data,
        cfg_scale=form.cfg_scale.data, scheduler=form.scheduler.data, seed=form.seed.data, count=form.count.data)


@bp.route("", methods=["GET", "POST"])
def new():
    form = GenerateForm()
    if request.method == "GET" and request.args.get("from_photo", "").isdigit():
        params = generation.parameters_of(own_photo_or_404(int(request.args["from_photo"])))
        form = GenerateForm(data={**vars(params), "model": params.model_key, "seed": None, "count": 1})
    problem, problem_status = form_with_choices(form)
    if problem is None and form.validate_on_submit():
        try:
            session = generation.start_session(current_user.id, parameters_from(form))
        except RequestRejected as exc:
            return render_template("generation/new.html", form=form, problem=exc.message), 400
        except (InvokeAIError, GalleryError) as exc:
            return render_template("generation/new.html", form=form, problem=exc.message), invokeai_status(exc)
        return redirect(url_for("generation.session", session_id=session.id))
    status = 400 if form.errors else problem_status
    return render_template("generation/new.html", form=form, problem=problem), status


@bp.post(f"/again/<int(max={MAX_ID}):photo_id>")
def again(photo_id: int):
    """The same parameters as a generated photo, with a new random seed."""
    params = generation.parameters_of(own_photo_or_404(photo_id))
    try:
        session = generation.start_session(current_user.id, params)
    except (InvokeAIError, GalleryError) as exc:
        flash(f"Could not generate again: {exc.message}")
        return redirect(url_for("photos.detail", photo_id=photo_id)), 303
    return redirect(url_for("generation.session", session_id=session.id))


@bp.get("/sessions")
def sessions():
    return render_template("generation/sessions.html", sessions=generation.sessions_of(current_user.id))


@bp.get(f"/sessions/{SESSION_ID}")
def session(session_id: int):
    return render_template("generation/session.html", session=own_session_or_404(session_id))


def image_state(image: GenerationImage, places: dict[int, int]) -> dict:
    return {"id": image.id, "seed": image.seed, "state": image.state, "decision": image.decision,
            "place": places.get(image.id), "error": image.error_message,
            "grid_url": image.thumbnail_url("grid") if image.state == "done" else None,
            "preview_url": image.thumbnail_url("preview") if image.state == "done" else None,
            "photo_url": url_for("photos.detail", photo_id=image.photo_id) if image.photo_id else None}


@bp.post(f"/sessions/{SESSION_ID}/status")
def status(session_id: int):
    """What the session page polls: refresh from InvokeAI, then every image's state."""
    session = own_session_or_404(session_id)
    problem, code = None, 200
    try:
        places = generation.refresh_session(session)
    except (InvokeAIError, GalleryError) as exc:
        places, problem, code = {}, exc.message, invokeai_status(exc)
    return jsonify(finished=session.finished, problem=problem,
                   images=[image_state(image, places) for image in session.images]), code


@bp.post(f"/sessions/{SESSION_ID}/refresh")
def refresh(session_id: int):
    """The page's refresh button without JavaScript."""
    session = own_session_or_404(session_id)
    try:
        generation.refresh_session(session)
    except (InvokeAIError, GalleryError) as exc:
        flash(exc.message)
    return redirect(url_for("generation.session", session_id=session_id), 303)


@bp.post(f"/sessions/{SESSION_ID}/cancel")
def cancel(session_id: int):
    try:
        generation.cancel_session(own_session_or_404(session_id))
    except (InvokeAIError, GalleryError) as exc:
        flash(f"Could not cancel: {exc.message}")
    return redirect(url_for("generation.session", session_id=session_id), 303)


@bp.post(f"/sessions/{SESSION_ID}/discard")
def discard(session_id: int):
    try:
        count = candidates.discard_session(own_session_or_404(session_id))
    except (InvokeAIError, GalleryError) as exc:
        flash(f"Could not discard: {exc.message}")
        return redirect(url_for("generation.session", session_id=session_id), 303)
    flash(f"Discarded {count} image{'' if count == 1 else 's'}; kept ones stay in the gallery.")
    return redirect(url_for("generation.sessions"), 303)


def decided(image: GenerationImage, message: str | None = None, code: int = 200):
    if wants_json():
        return jsonify(image=image_state(image, {}), problem=message), code
    if message:
        flash(message)
    return redirect(url_for("generation.session", session_id=image.session_id), 303)


@bp.post(f"/images/{IMAGE_ID}/keep")
def keep(image_id: int):
    image = own_image_or_404(image_id)
    try:
        candidates.keep_image(image)
    except candidates.ImageGone:
        abort(404)  # discarded in another tab meanwhile, as a request a moment later would find it
    except DuplicatePhoto:
        return decided(image, "This image is already in the gallery.", 409)
    except GalleryError as exc:
        return decided(image, exc.message, exc.status)
    return decided(image)


@bp.post(f"/images/{IMAGE_ID}/reject")
def reject(image_id: int):
    image = own_image_or_404(image_id)
    try:
        candidates.reject_image(image)
    except candidates.ImageGone:
        abort(404)
    except GalleryError as exc:
        return decided(image, exc.message, exc.status)
    return decided(image)
