"""New generation, the session page and its status, keep / reject, cancel, discard.

The views do the happy path only: whatever the gallery will not do, or InvokeAI could not, is a
GalleryError (InvokeAIError among them) with the status it means, answered by `answer_problem` in
the shape each route's caller reads (the form again, a flash on the page it came from, or JSON).
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, g, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from ..access import own_image_or_404, own_photo_or_404, own_session_or_404
from ..database import reads_and_writes
from ..errors import DuplicatePhoto, GalleryError, error_response, wants_json
from ..extensions import db
from ..forms import GenerateForm
from ..models import MAX_ID, GenerationImage, Photo
from ..services import candidates, generation, session_list, starting_images
from ..services.graphs import FAMILIES
from ..services.invokeai import InvokeAIError
from ..services.invokeai_models import InvalidParameter

bp = Blueprint("generation", __name__, url_prefix="/generate")

SESSION_ID = f"<int(max={MAX_ID}):session_id>"
IMAGE_ID = f"<int(max={MAX_ID}):image_id>"
SAVE_BUTTON = "when_back"  # the form's "Save and send when InvokeAI is back" button
# Routes whose trouble is said on the session page they came from, as "prefix: message".
FLASHED = {"generation.refresh": "", "generation.cancel": "Could not cancel: ",
           "generation.discard": "Could not discard: "}


@bp.errorhandler(GalleryError)
def answer_problem(exc: GalleryError):
    """One answer per route for what the gallery or InvokeAI would not do, with the error's status."""
    db.session.rollback()
    endpoint = request.endpoint
    if endpoint == "generation.new":
        form = g.get("form") or GenerateForm()
        form.scheduler.choices = [(name, name) for name in generation.SCHEDULERS]
        form.model.choices = form.model.choices or []
        problem = exc.message
        shown_fields = [f.name for f in form if g.get("source") or f.name not in ("strength", "source_photo")]
        if isinstance(exc, InvalidParameter) and exc.field in shown_fields:
            form[exc.field].errors = [*form[exc.field].errors, exc.message]  # said beside the field it is about
            problem = None
        # Nothing answered at InvokeAI's address and a model list is known: offer to save it for later.
        offer = isinstance(exc, InvokeAIError) and exc.unreachable and bool(g.get("models"))
        return render_form(form, g.get("models", []), problem, exc.status, g.get("source"), offer)
    if endpoint == "generation.again":
        flash(f"Could not generate again: {exc.message}")
        return redirect(url_for("photos.detail", photo_id=request.view_args["photo_id"])), 303
    if endpoint == "generation.status":
        session = g.session
        return jsonify(finished=session.finished, problem=exc.message,
                       images=[image_state(image, {}) for image in session.images]), exc.status
    if endpoint in FLASHED:
        flash(FLASHED[endpoint] + exc.message)
        return redirect(url_for("generation.session", session_id=request.view_args["session_id"]), 303)
    if endpoint in ("generation.keep", "generation.reject") and exc.status != 404:
        message = "This image is already in the gallery." if isinstance(exc, DuplicatePhoto) else exc.message
        return decided(g.image, message, exc.status)
    return error_response(exc.status, exc.message)  # a candidate discarded meanwhile: 404, as a moment later


def parameters_from(form: GenerateForm) -> generation.Parameters:
    return generation.Parameters(
        prompt=form.prompt.data.strip(), negative_prompt=(form.negative_prompt.data or "").strip(),
        model_key=form.model.data, width=form.width.data, height=form.height.data, steps=form.steps.data,
        cfg_scale=form.cfg_scale.data, guidance=form.guidance.data, scheduler=form.scheduler.data,
        seed=form.seed.data, count=form.count.data, strength=form.strength.data)


def model_choices(models: list[dict]) -> dict[str, list[tuple[str, str]]]:
    """The usable models grouped by their base's name, in base order (an <optgroup> each)."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for model in models:
        if not model["problem"]:
            groups.setdefault(model["label"], []).append((model["key"], model["name"]))
    return groups


def fill_defaults(form: GenerateForm, models: list[dict], source: Photo | None) -> None:
    """A fresh form shows the chosen (or first) model's defaults in the fields its base uses."""
    model = next((m for m in models if m["key"] == form.model.data and not m["problem"]),
                 next(m for m in models if not m["problem"]))
    form.model.data = model["key"]
    for name, value in defaults_for(model, source).items():
        if form[name].data is None:
            form[name].data = value


def defaults_for(model: dict, source: Photo | None) -> dict:
    """A model's defaults, the size in the starting photo's shape when there is one."""
    if source is None:
        return model["defaults"]
    width, height = starting_images.default_size(source, FAMILIES[model["base"]])
    return {**model["defaults"], "width": width, "height": height}


def render_form(form: GenerateForm, models: list[dict], problem: str | None, status: int, source: Photo | None = None,
                offer_saving: bool = False):
    """The form, with what each model takes for the page's script (static/generate.js); with
    `offer_saving`, a second button that saves the generation to be sent when InvokeAI is back."""
    takes = {m["key"]: {"label": m["label"], "fields": m["fields"], "defaults": defaults_for(m, source),
                        "grid": FAMILIES[m["base"]].grid, "steps": FAMILIES[m["base"]].steps,
                        "schedulers": FAMILIES[m["base"]].schedulers} for m in models if not m["problem"]}
    return render_template("generation/new.html", form=form, problem=problem, takes=takes, source=source,
                           unusable=[m for m in models if m["problem"]], offer_saving=offer_saving), status


def starting_photo_or_404(photo_id: int) -> Photo:
    """The caller's photo to start from; an id past any photo's (as a URL's converter says) is none either."""
    if not 0 < photo_id <= MAX_ID:
        abort(404, "No such photo.")
    return own_photo_or_404(photo_id)


def starting_form(photo: Photo) -> GenerateForm:
    """"Use as starting image": the photo as the source, its prompt and model when it was generated."""
    data = {"source_photo": photo.id, "strength": starting_images.DEFAULT_STRENGTH, "count": 1}
    if photo.has_generation:
        params = generation.parameters_of(photo)
        data.update(prompt=params.prompt, negative_prompt=params.negative_prompt, model=params.model_key)
    return GenerateForm(data=data)


@bp.route("", methods=["GET", "POST"])
@reads_and_writes
def new():
    form = g.form = GenerateForm()
    if request.method == "GET" and request.args.get("from_photo", "").isdigit():
        params = generation.parameters_of(own_photo_or_404(int(request.args["from_photo"])))
        form = g.form = GenerateForm(data={**vars(params), "model": params.model_key, "seed": None, "count": 1,
                                           "source_photo": params.source_photo_id})
    if request.method == "GET" and request.args.get("start_from", "").isdigit():
        form = g.form = starting_form(starting_photo_or_404(int(request.args["start_from"])))
    source = g.source = starting_photo_or_404(form.source_photo.data) if form.source_photo.data else None
    form.scheduler.choices = [(name, name) for name in generation.SCHEDULERS]
    form.model.choices = []  # what answer_problem shows when InvokeAI cannot list them
    models, away = generation.models_for_form()  # away: InvokeAI unreachable, these the models it listed last
    g.models = models
    form.model.choices = model_choices(models)
    if not form.model.choices:
        return render_form(form, models, "InvokeAI has no model installed that the gallery can make images "
                                         "with.", 503, source)
    if form.validate_on_submit():
        session = generation.start_session(current_user.id, parameters_from(form), source,
                                           save_if_unreachable=SAVE_BUTTON in request.form)
        return redirect(url_for("generation.session", session_id=session.id))
    if request.method == "GET":
        fill_defaults(form, models, source)
        if away is not None:
            raise away  # said above the form, with the offer to save
        generation.send_pending_sessions(current_user.id)  # InvokeAI answered: a good moment
    return render_form(form, models, None, 400 if form.errors else 200, source)


@bp.post(f"/again/<int(max={MAX_ID}):photo_id>")
def again(photo_id: int):
    """The same parameters as a generated photo, with a new random seed (from the same photo, if any)."""
    params = generation.parameters_of(own_photo_or_404(photo_id))
    source = own_photo_or_404(params.source_photo_id) if params.source_photo_id else None
    session = generation.start_session(current_user.id, params, source)
    return redirect(url_for("generation.session", session_id=session.id))


@bp.get("/sessions")
@reads_and_writes
def sessions():
    """The account's sessions, newest first, a page at a time. A page that shows a session saved while
    InvokeAI was away sends it if InvokeAI answers now (then shows the page as it became)."""
    try:
        page = session_list.sessions_page(current_user.id, request.args.get("older"), request.args.get("newer"))
        if page.waiting and generation.send_pending_sessions(current_user.id, every=generation.SEND_AGAIN_EVERY):
            page = session_list.sessions_page(current_user.id, request.args.get("older"), request.args.get("newer"))
    except ValueError:
        abort(400, "That page link is not valid.")
    return render_template("generation/sessions.html", page=page)


@bp.get(f"/sessions/{SESSION_ID}")
@reads_and_writes
def session(session_id: int):
    session = own_session_or_404(session_id)
    if session.send_state != "sent":
        generation.send_pending_sessions(current_user.id, every=generation.SEND_AGAIN_EVERY)
    return render_template("generation/session.html", session=session)


def image_state(image: GenerationImage, places: dict[int, int]) -> dict:
    return {"id": image.id, "seed": image.seed, "state": image.state, "decision": image.decision,
            "place": places.get(image.id), "error": image.error_message,
            "image_name": image.image_name if image.state == "done" else "",  # what keep / reject send back
            "grid_url": image.thumbnail_url("grid") if image.state == "done" else None,
            "preview_url": image.thumbnail_url("preview") if image.state == "done" else None,
            "photo_url": url_for("photos.detail", photo_id=image.photo_id) if image.photo_id else None}


@bp.post(f"/sessions/{SESSION_ID}/status")
def status(session_id: int):
    """What the session page polls: refresh from InvokeAI, then every image's state."""
    session = g.session = own_session_or_404(session_id)
    places = generation.refresh_session(session)
    return jsonify(finished=session.finished, problem=None, waiting=session.send_state != "sent",
                   images=[image_state(image, places) for image in session.images])


@bp.post(f"/sessions/{SESSION_ID}/refresh")
def refresh(session_id: int):
    """The page's refresh button without JavaScript."""
    generation.refresh_session(own_session_or_404(session_id))
    return redirect(url_for("generation.session", session_id=session_id), 303)


@bp.post(f"/sessions/{SESSION_ID}/cancel")
def cancel(session_id: int):
    generation.cancel_session(own_session_or_404(session_id))
    return redirect(url_for("generation.session", session_id=session_id), 303)


@bp.post(f"/sessions/{SESSION_ID}/discard")
def discard(session_id: int):
    count = candidates.discard_session(own_session_or_404(session_id))
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
    image = g.image = own_image_or_404(image_id)
    candidates.keep_image(image, shown=request.form.get("image_name", ""))
    return decided(image)


@bp.post(f"/images/{IMAGE_ID}/reject")
def reject(image_id: int):
    image = g.image = own_image_or_404(image_id)
    candidates.reject_image(image, shown=request.form.get("image_name", ""))
    return decided(image)
