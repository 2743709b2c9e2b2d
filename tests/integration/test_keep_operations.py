"""Generation under the operations settings: a kept image shows at once in a cached grid, and a
candidate's thumbnail goes through X-Accel-Redirect like a photo's."""
from __future__ import annotations

import pytest

from app.extensions import db
from app.models import GenerationImage
from testapp import JSON, generate, heading, invokeai_settings, log_in

PREFIX = "/protected-photos"


@pytest.fixture
def app_config(fake_invokeai):
    return {**invokeai_settings(fake_invokeai), "ACCEL_REDIRECT_PREFIX": PREFIX}


@pytest.fixture
def finished_image(client) -> dict:
    """A generated, downloaded candidate (the status route's JSON for it)."""
    session_id = generate(client, seed=7, count=1)
    for _ in range(50):
        status = client.post(f"/generate/sessions/{session_id}/status", headers=JSON).get_json()
        if status["finished"]:
            (image,) = status["images"]
            return image
    raise AssertionError("the session did not finish")


def test_a_kept_image_shows_at_once_in_a_cached_grid(client, finished_image):
    assert heading(client) == heading(client, "/?source=generated") == "0 photos"  # cached
    response = client.post(f"/generate/images/{finished_image['id']}/keep",
                           data={"image_name": finished_image["image_name"]}, headers=JSON)
    assert response.status_code == 200, response.get_json()
    assert heading(client) == heading(client, "/?source=generated") == "1 photo"


def test_a_candidates_thumbnail_is_named_for_nginx(app, client, finished_image, data_dir, make_user):
    with app.app_context():
        image = db.session.get(GenerationImage, finished_image["id"])
        expected = image.thumbnail_path("grid")

    response = client.get(f"/thumbnails/candidates/{finished_image['id']}/grid", buffered=True)

    assert response.status_code == 200 and response.data == b""
    assert response.headers["X-Accel-Redirect"] == f"{PREFIX}/{expected}"
    assert (data_dir / "photos" / expected).is_file()
    assert response.cache_control.immutable and response.cache_control.private
    bob = log_in(app.test_client(), make_user("bob"))
    refused = bob.get(f"/thumbnails/candidates/{finished_image['id']}/grid", buffered=True)
    assert refused.status_code == 404 and "X-Accel-Redirect" not in refused.headers
