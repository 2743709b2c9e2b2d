"""Each account sees only its own photos; another's is as unknown as a missing one; the same bytes are
stored once for each owner.

The fixtures these share (`accounts`, `bob`, `bob_id`, `photos_of`, `login_sessions`) are in conftest.py,
the page readers (`sign_in`, `login_next`, `grid`, `page_text`) in testapp.py.
"""
from __future__ import annotations

import io

from testapp import grid, jpeg, upload_as


# --- private libraries --------------------------------------------------------------------

def test_each_account_sees_only_its_own_photos(client, bob):
    alices = {upload_as(client, jpeg((255, 0, 0)), "a1.jpg"), upload_as(client, jpeg((0, 255, 0)), "a2.jpg")}
    bobs = {upload_as(bob, jpeg((0, 0, 255)), "b1.jpg")}

    assert grid(client) == ("2 photos", alices)
    assert grid(bob) == ("1 photo", bobs)
    assert grid(client) == ("2 photos", alices)  # the cached count is per owner


def test_another_accounts_photo_is_as_unknown_as_a_missing_one(client, bob, photos_of, user_id):
    photo_id = upload_as(client, jpeg((255, 0, 0)), "mine.jpg")

    for path in [f"/photos/{photo_id}", f"/photos/{photo_id}/original", f"/thumbnails/{photo_id}/grid",
                 f"/photos/{photo_id}/purge"]:
        assert bob.get(path).status_code == 404
    for action in ("delete", "restore", "purge"):
        assert bob.post(f"/photos/{photo_id}/{action}").status_code == 404
    assert len(photos_of(user_id)) == 1


def test_the_same_bytes_are_stored_for_each_owner(client, bob, bob_id, photos_of, user_id, data_dir):
    content = jpeg((10, 20, 30))

    alices, bobs = upload_as(client, content, "same.jpg"), upload_as(bob, content, "same.jpg")

    assert alices != bobs
    (alice_path,), (bob_path,) = photos_of(user_id), photos_of(bob_id)
    assert alice_path != bob_path
    assert (data_dir / "photos" / alice_path).read_bytes() == (data_dir / "photos" / bob_path).read_bytes() == content
    # Each has one copy: sending it again is a duplicate for that owner only.
    again = client.post("/upload", data={"photos": (io.BytesIO(content), "again.jpg")},
                        headers={"Accept": "application/json"})
    outcome = again.get_json()["files"][0]
    assert (outcome["result"], outcome["photo_id"]) == ("duplicate", alices)
