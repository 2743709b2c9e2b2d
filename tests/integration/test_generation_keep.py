"""Deciding on generated images: Keep, Reject, Discard, two tabs deciding at once, another person's session,
and a keep / reject that names the picture the page showed (ids never reused: defect 3).

Driven through the routes against the fake InvokeAI, with the generation fixtures of conftest.py (whose
comment says how); every test checks what is left behind: rows, and files under data/.
"""
from __future__ import annotations

import re
import threading
from urllib.parse import urlsplit

import pytest
from bs4 import BeautifulSoup
from fake_invokeai import CANCEL, TINY_SD15
from sqlalchemy import select
from testapp import GENERATE_FORM as FORM, JSON, invokeai_settings, log_in, page_text, run_together, thumbnails_of

from app.extensions import db
from app.models import GenerationImage, Photo
from app.services import candidates, generation, photos


@pytest.fixture
def app_config(fake_invokeai):
    return invokeai_settings(fake_invokeai)


def shown(image) -> dict:
    """The keep / reject form's body for a downloaded image: the name of the picture the page showed."""
    return {"image_name": image.image_name}


# --- keep, reject, discard ---------------------------------------------------------------

@pytest.fixture
def three_candidates(generate, poll_until_finished, stored_images):
    """A finished session of three downloaded candidates, seeds 42, 43 and 44: (session id, {seed: image})."""
    session_id = generate(seed=42, count=3)
    poll_until_finished(session_id)
    return session_id, stored_images(session_id)


@pytest.fixture
def kept_photo(client, three_candidates) -> int:
    """The id of the photo made by keeping seed 42 of three_candidates (43 and 44 stay undecided)."""
    _, images = three_candidates
    response = client.post(f"/generate/images/{images[42].id}/keep", data=shown(images[42]), headers=JSON)
    assert response.status_code == 200, response.get_json()
    return int(response.get_json()["image"]["photo_url"].rsplit("/", 1)[1])


def kept_files(image) -> set[str]:
    """Where a kept candidate's original and thumbnails go: generated/completed/, under the same name."""
    original = f"generated/completed/{image.file_path.rsplit('/', 1)[1]}"
    return {f"photos/{p}" for p in {original} | thumbnails_of(original, image.thumbnail_ext)}


def test_keep_moves_the_candidate_into_the_library_once(client, app, three_candidates, data_files, user_id):
    session_id, images = three_candidates
    kept = images[42]
    candidate_files = {f"photos/{p}" for image in images.values()
                       for p in {image.file_path} | thumbnails_of(image.file_path, image.thumbnail_ext)}
    assert data_files() == candidate_files

    response = client.post(f"/generate/images/{kept.id}/keep", data=shown(kept), headers=JSON)
    assert response.status_code == 200
    answer = response.get_json()
    assert answer["problem"] is None and answer["image"]["decision"] == "kept"
    photo_id = int(answer["image"]["photo_url"].rsplit("/", 1)[1])

    name = kept.file_path.rsplit("/", 1)[1]
    kept_before = {f"photos/{p}" for p in {kept.file_path} | thumbnails_of(kept.file_path, kept.thumbnail_ext)}
    assert data_files() == (candidate_files - kept_before) | kept_files(kept)
    with app.app_context():
        photo = db.session.get(Photo, photo_id)
        assert (photo.source, photo.owner_id, photo.original_path) == ("generated", user_id, f"generated/completed/{name}")
        assert (photo.prompt, photo.negative_prompt, photo.seed) == (FORM["prompt"], FORM["negative_prompt"], 42)
        assert (photo.model_name, photo.model_key, photo.steps, photo.cfg_scale, photo.scheduler) == \
            ("tiny-sd15", TINY_SD15, 2, 7.5, "dpmpp_2m")
        assert (photo.generation_width, photo.generation_height, photo.width, photo.height) == (64, 72, 64, 72)
        assert photo.sha256 == kept.sha256
    assert client.post(f"/generate/images/{kept.id}/keep", data=shown(kept), headers=JSON).status_code == 409


def test_a_kept_image_shows_in_the_generated_grid_its_page_and_thumbnail(client, kept_photo):
    grid = client.get("/?source=generated")
    assert grid.status_code == 200 and f"/photos/{kept_photo}" in grid.get_data(as_text=True)
    assert f"/photos/{kept_photo}" not in client.get("/?source=uploaded").get_data(as_text=True)
    detail = client.get(f"/photos/{kept_photo}")
    assert detail.status_code == 200 and FORM["prompt"] in page_text(detail)
    assert client.get(f"/thumbnails/{kept_photo}/grid", buffered=True).status_code == 200


def test_use_these_settings_fills_the_form_with_a_kept_images_parameters(client, kept_photo):
    form = BeautifulSoup(client.get(f"/generate?from_photo={kept_photo}").get_data(as_text=True), "html.parser")
    assert form.select_one("textarea[name=prompt]").get_text().strip() == FORM["prompt"]
    assert form.select_one("textarea[name=negative_prompt]").get_text().strip() == FORM["negative_prompt"]
    assert form.select_one("select[name=model] option[selected]")["value"] == TINY_SD15
    assert form.select_one("select[name=scheduler] option[selected]")["value"] == "dpmpp_2m"
    values = {name: form.select_one(f"input[name={name}]").get("value") for name in
              ("width", "height", "steps", "cfg_scale", "seed", "count")}
    assert values == {"width": "64", "height": "72", "steps": "2", "cfg_scale": "7.5", "seed": "", "count": "1"}


def test_generate_again_sends_a_kept_images_parameters_with_a_new_seed(client, fake, kept_photo):
    again = client.post(f"/generate/again/{kept_photo}")
    assert again.status_code == 302 and re.fullmatch(r"/generate/sessions/\d+", urlsplit(again.location).path)
    first, second = fake.enqueued_batches()
    assert second["data"][0][0]["items"] != [42] and len(second["data"][0][0]["items"]) == 1
    for node in ("model_loader", "positive", "negative", "denoise"):
        assert first["graph"]["nodes"][node] == second["graph"]["nodes"][node], node
    assert {k: v for k, v in first["graph"]["nodes"]["noise"].items() if k != "seed"} == \
        {k: v for k, v in second["graph"]["nodes"]["noise"].items() if k != "seed"}


def test_reject_and_discard_remove_the_other_candidates_and_leave_the_kept_photo(
        client, app, three_candidates, kept_photo, stored_images, data_files):
    session_id, images = three_candidates
    rejected = images[43]  # and 44 stays undecided
    assert client.post(f"/generate/images/{rejected.id}/reject", data=shown(rejected)).status_code == 303
    assert stored_images(session_id)[43].decision == "rejected"
    response = client.post(f"/generate/sessions/{session_id}/discard")
    assert response.status_code == 303 and urlsplit(response.location).path == "/generate/sessions"
    assert set(stored_images(session_id)) == {42}
    assert data_files() == kept_files(images[42])  # both others go, files and rows; the kept photo stays
    assert client.get(f"/photos/{kept_photo}").status_code == 200
    assert client.get(f"/generate/sessions/{session_id}").status_code == 200  # it still holds the kept image
    with app.app_context():
        assert db.session.get(Photo, kept_photo) is not None


@pytest.fixture
def keep_at_once(app, user_id, monkeypatch):
    """keep_at_once(image ids) -> [(status, JSON)] of keeping them from two tabs at the same moment.

    Each tab is its own client and database session. Both requests have read their image as undecided
    before either writes (they wait for each other where keep_image first reaches for the data folder),
    which is the interleaving that two tabs can hit by chance.
    """
    def keep(image_ids: list[int]) -> list[tuple[int, dict]]:
        together = threading.Barrier(len(image_ids))
        waited = threading.local()
        real_root = photos.photos_root

        def root_once_both_have_read():
            if not getattr(waited, "done", False):
                waited.done = True
                together.wait(timeout=10)
            return real_root()

        monkeypatch.setattr(photos, "photos_root", root_once_both_have_read)
        tabs = [log_in(app.test_client(), user_id) for _ in image_ids]
        with app.app_context():
            names = {image_id: shown(db.session.get(GenerationImage, image_id)) for image_id in image_ids}

        def post(tab, image_id: int):
            with app.app_context():
                response = tab.post(f"/generate/images/{image_id}/keep", data=names[image_id], headers=JSON)
                return response.status_code, response.get_json()

        answers = run_together([lambda tab=tab, image_id=image_id: post(tab, image_id)
                                for tab, image_id in zip(tabs, image_ids)])
        monkeypatch.setattr(photos, "photos_root", real_root)
        return answers
    return keep


def test_two_tabs_keeping_one_image_at_once_make_one_photo(app, generate, poll_until_finished, stored_images, row_count,
                                                            data_files, keep_at_once):
    session_id = generate(seed=42, count=1)
    poll_until_finished(session_id)
    [image] = stored_images(session_id).values()

    answers = sorted(keep_at_once([image.id, image.id]), key=lambda answer: answer[0])

    assert [status for status, _ in answers] == [200, 409], answers
    (_, kept), (_, again) = answers
    assert again["problem"] == "This image is already kept in the gallery."
    assert kept["image"]["decision"] == again["image"]["decision"] == "kept"
    assert kept["image"]["photo_url"] == again["image"]["photo_url"]  # the same photo
    assert row_count(Photo) == 1
    name = image.file_path.rsplit("/", 1)[1]
    assert data_files() == {f"photos/generated/completed/{name}"} | {
        f"photos/{p}" for p in thumbnails_of(f"generated/completed/{name}", image.thumbnail_ext)}
    with app.app_context():
        photo = db.session.scalar(select(Photo))
        assert stored_images(session_id)[42].photo_id == photo.id and photo.original_path == f"generated/completed/{name}"


def test_two_images_of_the_same_bytes_kept_at_once_make_one_photo(generate, poll_until_finished, stored_images, row_count,
                                                                  data_files, keep_at_once):
    """Two sessions with one seed and the same form make the same file: the second keep finds the
    (owner, sha256) constraint taken and says so, its candidate left as it was."""
    first, second = generate(seed=42, count=1), generate(seed=42, count=1)
    poll_until_finished(first)
    poll_until_finished(second)
    [one], [other] = stored_images(first).values(), stored_images(second).values()
    assert one.sha256 == other.sha256
    before = data_files()

    answers = keep_at_once([one.id, other.id])

    assert sorted(status for status, _ in answers) == [200, 409], answers
    [(_, lost)] = [answer for answer in answers if answer[0] == 409]
    assert lost["problem"] == "This image is already in the gallery."
    assert lost["image"]["decision"] == "undecided" and lost["image"]["photo_url"] is None
    assert row_count(Photo) == 1
    [loser] = [image for image in (one, other) if image.id == lost["image"]["id"]]
    winner = one if loser is other else other
    assert stored_images(loser.session_id)[42].file_path == loser.file_path  # still a candidate, files and all
    won = {f"photos/{p}" for p in {winner.file_path} | thumbnails_of(winner.file_path, winner.thumbnail_ext)}
    name = winner.file_path.rsplit("/", 1)[1]
    completed = {f"photos/generated/completed/{name}"} | {
        f"photos/{p}" for p in thumbnails_of(f"generated/completed/{name}", winner.thumbnail_ext)}
    assert data_files() == (before - won) | completed


def test_a_reject_that_read_the_image_before_another_tab_kept_it_leaves_it_kept(
        app, client, user_id, generate, poll_until_finished, stored_images, data_files):
    session_id = generate(seed=42, count=1)
    poll_until_finished(session_id)
    [image] = stored_images(session_id).values()
    kept = []
    other_tab = threading.Thread(target=lambda: kept.append(
        client.post(f"/generate/images/{image.id}/keep", data=shown(image), headers=JSON).status_code))
    with app.app_context():
        stale = generation.find_image(user_id, image.id)  # this request read it undecided...
        assert stale.decision == "undecided"
        other_tab.start()  # ...then the other tab's keep commits
        other_tab.join(timeout=30)
        assert kept == [200]
        with pytest.raises(generation.GenerationRefused, match="is kept in the gallery"):
            candidates.reject_image(stale, image.image_name)
    assert stored_images(session_id)[42].decision == "kept"
    assert client.post(f"/generate/sessions/{session_id}/discard").status_code == 303
    name = image.file_path.rsplit("/", 1)[1]
    assert data_files() == {f"photos/generated/completed/{name}"} | {
        f"photos/{p}" for p in thumbnails_of(f"generated/completed/{name}", image.thumbnail_ext)}  # the photo's


def test_a_discard_that_read_the_session_before_another_tab_kept_an_image_leaves_that_image_kept(
        app, client, user_id, generate, poll_until_finished, stored_images, data_files, row_count):
    session_id = generate(seed=42, count=2)
    poll_until_finished(session_id)
    keeping = stored_images(session_id)[42]
    kept = []
    other_tab = threading.Thread(target=lambda: kept.append(
        client.post(f"/generate/images/{keeping.id}/keep", data=shown(keeping), headers=JSON).status_code))
    with app.app_context():
        stale = generation.find_session(user_id, session_id)  # this request read both undecided...
        assert [image.decision for image in stale.images] == ["undecided", "undecided"]
        other_tab.start()  # ...then the other tab's keep commits
        other_tab.join(timeout=30)
        assert kept == [200]
        assert candidates.discard_session(stale) == 1  # the other image only

    assert {seed: image.decision for seed, image in stored_images(session_id).items()} == {42: "kept"}
    assert row_count(Photo) == 1
    name = keeping.file_path.rsplit("/", 1)[1]
    assert data_files() == {f"photos/generated/completed/{name}"} | {
        f"photos/{p}" for p in thumbnails_of(f"generated/completed/{name}", keeping.thumbnail_ext)}
    assert client.get(f"/generate/sessions/{session_id}").status_code == 200  # it still holds the kept image


@pytest.mark.parametrize("decide", ["keep", "reject"])
def test_deciding_an_image_another_tab_discarded_meanwhile_is_a_404_and_changes_nothing(
        app, client, user_id, generate, poll_until_finished, stored_images, data_files, row_count, monkeypatch, decide):
    session_id = generate(seed=42, count=2)
    poll_until_finished(session_id)
    first = stored_images(session_id)[42]
    assert client.post(f"/generate/images/{first.id}/keep", data=shown(first), headers=JSON).status_code == 200
    undecided = stored_images(session_id)[43]
    before = data_files()
    other_tab = log_in(app.test_client(), user_id)
    real_decide = getattr(candidates, f"{decide}_image")

    def decide_after_the_other_tab_discarded(image, shown):  # this request has found the image undecided
        discarded = []
        thread = threading.Thread(target=lambda: discarded.append(
            other_tab.post(f"/generate/sessions/{session_id}/discard").status_code))
        thread.start()
        thread.join(timeout=30)
        assert discarded == [303]
        return real_decide(image, shown)

    monkeypatch.setattr(candidates, f"{decide}_image", decide_after_the_other_tab_discarded)
    response = client.post(f"/generate/images/{undecided.id}/{decide}", data=shown(undecided), headers=JSON)
    assert response.status_code == 404

    assert set(stored_images(session_id)) == {42} and row_count(Photo) == 1
    assert data_files() == before - {f"photos/{p}" for p in {undecided.file_path} | thumbnails_of(
        undecided.file_path, undecided.thumbnail_ext)}


# --- privacy -----------------------------------------------------------------------------

def test_bob_cannot_touch_alices_session(app, client, make_user, generate, poll_until_finished, stored_images, fake):
    session_id = generate(seed=1, count=2)
    data = poll_until_finished(session_id)
    image_id = data["images"][0]["id"]
    bob = log_in(app.test_client(), make_user("bob"))
    attempts = [("GET", f"/generate/sessions/{session_id}"), ("POST", f"/generate/sessions/{session_id}/status"),
                ("POST", f"/generate/sessions/{session_id}/refresh"),
                ("POST", f"/generate/sessions/{session_id}/cancel"),
                ("POST", f"/generate/sessions/{session_id}/discard"), ("POST", f"/generate/images/{image_id}/keep"),
                ("POST", f"/generate/images/{image_id}/reject"), ("GET", f"/thumbnails/candidates/{image_id}/grid")]
    for method, path in attempts:
        assert bob.open(path, method=method, headers=JSON).status_code == 404, path
    assert "a lighthouse" not in bob.get("/generate/sessions").get_data(as_text=True)
    assert fake.count("PUT", CANCEL) == 0
    assert {image.decision for image in stored_images(session_id).values()} == {"undecided"}
    assert client.get(f"/generate/sessions/{session_id}").status_code == 200


# --- ids name one thing for good, and a keep / reject names the picture shown (defect 3) --------

def shown_name(client, image_id: int) -> str | None:
    """The image name the session page's keep form carries for this image."""
    page = BeautifulSoup(client.get(f"/generate/sessions/{stored_session_of(client, image_id)}").get_data(
        as_text=True), "html.parser")
    return page.select_one(f'li[data-image-id="{image_id}"] form[data-decide="keep"] input[name=image_name]')["value"]


def stored_session_of(client, image_id: int) -> int:
    with client.application.app_context():
        return db.session.get(GenerationImage, image_id).session_id


def test_a_discarded_sessions_ids_are_never_given_again(client, generate, poll_until_finished, stored_images):
    first = generate(seed=42, count=2)
    poll_until_finished(first)
    old_images = {image.id for image in stored_images(first).values()}
    assert client.post(f"/generate/sessions/{first}/discard").status_code == 303

    second = generate(seed=7, count=2)
    poll_until_finished(second)
    assert second > first
    assert min(image.id for image in stored_images(second).values()) > max(old_images)
    for image_id in old_images:  # a stale tab's keep finds nothing, rather than another picture
        assert client.post(f"/generate/images/{image_id}/keep", headers=JSON).status_code == 404


def test_a_keep_or_reject_naming_another_picture_is_refused_and_changes_nothing(
        client, generate, poll_until_finished, stored_images, data_files, row_count):
    session_id = generate(seed=42, count=1)
    poll_until_finished(session_id)
    [image] = stored_images(session_id).values()
    assert shown_name(client, image.id) == image.image_name  # the page names the picture it shows
    before = data_files()
    for decide in ("keep", "reject"):
        for name in ("0b8c0c4e-0000-4000-8000-000000000000.png", ""):
            response = client.post(f"/generate/images/{image.id}/{decide}", data={"image_name": name}, headers=JSON)
            assert response.status_code == 409, (decide, name)
            assert response.get_json()["problem"].startswith("This page is out of date: reload it")
    assert stored_images(session_id)[42].decision == "undecided" and row_count(Photo) == 0
    assert data_files() == before

    page = client.post(f"/generate/images/{image.id}/keep", data={"image_name": "other.png"})
    assert page.status_code == 303  # without JavaScript: the session page again, saying why
    assert "This page is out of date: reload it" in page_text(client.get(f"/generate/sessions/{session_id}"))

    answer = client.post(f"/generate/images/{image.id}/keep", data={"image_name": image.image_name}, headers=JSON)
    assert answer.status_code == 200 and answer.get_json()["image"]["decision"] == "kept"
