"""Generated images that fail: InvokeAI's own error, a download cut short, too large or meeting a full disk,
and a download broken off mid-transfer, tried again a bounded number of times (defect 7).

Driven through the routes against the fake InvokeAI, with the generation fixtures of conftest.py (whose
comment says how); every test checks what is left behind: rows, and files under data/.
"""
from __future__ import annotations

import errno
import os

import pytest
from bs4 import BeautifulSoup
from testapp import invokeai_settings, page_text

from app.extensions import db
from app.models import GenerationImage
from app.services import generation


@pytest.fixture
def app_config(fake_invokeai):
    return invokeai_settings(fake_invokeai)


# --- failures ----------------------------------------------------------------------------

@pytest.mark.parametrize("how, message", [
    ("fail_seeds", "Unknown model does-not-exist"),
    ("item_fails", "CUDA out of memory. Tried to allocate 2.00 GiB"),
])
def test_failed_item_shows_invokeais_error(client, fake, generate, poll_until_finished, data_files, how, message):
    if how == "fail_seeds":
        fake.fail_seeds = {301}
    else:
        fake.fault = "item_fails"
    session_id = generate(seed=300, count=2)
    data = poll_until_finished(session_id)
    states = {image["seed"]: (image["state"], image["error"]) for image in data["images"]}
    if how == "fail_seeds":
        assert states == {300: ("done", None), 301: ("failed", message)}
    else:
        assert states == {300: ("failed", message), 301: ("failed", message)}
        assert not any(f.startswith("photos/generated/") for f in data_files())
    page = client.get(f"/generate/sessions/{session_id}")
    soup = BeautifulSoup(page.get_data(as_text=True), "html.parser")
    failed = soup.select('li.candidate[data-state="failed"]')
    assert failed and all(li.select_one(".problem").get_text() == message for li in failed)


def test_truncated_download_fails_that_image_and_leaves_nothing(client, fake, generate, poll_until_finished,
                                                                stored_images, data_files):
    fake.fault = "truncated_png"
    session_id = generate(seed=11, count=1)
    [image] = poll_until_finished(session_id)["images"]
    assert image["state"] == "failed"
    assert image["error"] == ("InvokeAI's image could not be kept: the image is damaged or truncated and cannot be "
                              "decoded")
    assert stored_images(session_id)[11].file_path is None
    assert data_files() == set()  # no original, thumbnail or temp file
    assert "damaged or truncated" in page_text(client.get(f"/generate/sessions/{session_id}"))


def test_a_full_disk_during_the_download_fails_that_image_in_words_and_leaves_nothing(
        client, fake, generate, poll_until_finished, stored_images, data_files, monkeypatch):
    real_fsync = os.fsync

    def fsync(fd):
        if "download" in os.readlink(f"/proc/self/fd/{fd}"):  # the temp file the download streams into
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    session_id = generate(seed=13, count=1)
    [image] = poll_until_finished(session_id)["images"]
    assert image["state"] == "failed"
    assert image["error"] == "InvokeAI's image could not be kept: Could not download the image: the disk is full."
    assert stored_images(session_id)[13].file_path is None
    assert data_files() == set()  # not even the partial download under photos/.tmp


class TestOversizedDownload:
    @pytest.fixture
    def app_config(self, fake_invokeai):
        # The fake's oversized image is 60 MB, under the 64 MiB default cap: lower the cap below it.
        return {**invokeai_settings(fake_invokeai), "INVOKEAI_MAX_IMAGE_BYTES": 1024 * 1024}

    def test_is_stopped_and_leaves_no_partial_file(self, client, fake, generate, poll_until_finished, data_files):
        fake.fault = "oversized"
        session_id = generate(seed=12, count=1)
        [image] = poll_until_finished(session_id)["images"]
        assert image["state"] == "failed"
        assert "is 62914560 bytes; the gallery takes at most 1048576" in image["error"]
        assert fake.url in image["error"]
        assert data_files() == set()  # not even under photos/.tmp
        assert "the gallery takes at most" in page_text(client.get(f"/generate/sessions/{session_id}"))


# --- a download broken off mid-transfer is tried again (defect 7) --------------------------------

def test_a_download_broken_off_is_tried_again_on_the_next_refresh(fake, generate, status, stored_images, data_files,
                                                                  data_dir):
    fake.steps_to_finish = 0
    fake.break_downloads = 1
    session_id = generate(seed=42, count=1)
    [image] = status(session_id).get_json()["images"]  # finished on InvokeAI; the download broke off
    assert image["state"] == "in_progress" and "broke off" in image["error"], image
    assert data_files() == set()  # nothing half-written stays

    [image] = status(session_id).get_json()["images"]
    assert image["state"] == "done" and image["error"] is None
    [row] = stored_images(session_id).values()
    assert fake.downloads(row.image_name) == 2
    assert (data_dir / "photos" / row.file_path).read_bytes() == fake.images[row.image_name]["png"]


def test_a_download_that_keeps_breaking_fails_after_three_attempts(fake, generate, status, stored_images, data_files):
    fake.steps_to_finish = 0
    fake.break_downloads = 10
    session_id = generate(seed=42, count=1)
    for _ in range(2):
        [image] = status(session_id).get_json()["images"]
        assert image["state"] == "in_progress"
    data = status(session_id).get_json()
    [image] = data["images"]
    assert data["finished"] and image["state"] == "failed"
    assert image["error"].startswith("InvokeAI's image could not be downloaded in 3 attempts"), image["error"]
    assert "broke off" in image["error"]
    assert fake.downloads(stored_images(session_id)[42].image_name) == 3
    assert data_files() == set()


def test_a_download_left_claimed_by_a_request_that_died_is_taken_over(app, fake, generate, poll_until_finished,
                                                                        stored_images, data_dir):
    """A worker killed mid-download leaves its claim behind; once it is stale, a poll downloads the image."""
    from datetime import timedelta
    from sqlalchemy import update
    from app.models import utcnow

    fake.steps_to_finish = 0
    session_id = generate(seed=42, count=1)
    with app.app_context():
        db.session.execute(update(GenerationImage).where(GenerationImage.session_id == session_id).values(
            item_id=1, state="downloading", claimed_at=utcnow() - generation.STALE_CLAIM - timedelta(seconds=1)))
        db.session.commit()
    [image] = poll_until_finished(session_id)["images"]
    assert image["state"] == "done"
    [row] = stored_images(session_id).values()
    assert (data_dir / "photos" / row.file_path).read_bytes() == fake.images[row.image_name]["png"]
