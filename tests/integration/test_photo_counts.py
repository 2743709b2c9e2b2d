"""Each user's photo counts (the grid's "N photos") follow every insert and delete, and check mends them."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from testapp import TINY_JPEG, heading

from app.extensions import db
from app.models import Photo, User
from app.services import photos as photo_service

OTHERS = ["camera/nikon-coolpix-p6000_gps.jpg", "camera/blackberry-z10_6mp_o6.jpg"]


def counts(app, user_id: int) -> tuple[int, int]:
    with app.app_context():
        user = db.session.get(User, user_id)
        return user.uploaded_photos, user.generated_photos


def generated_photo(owner_id: int, name: str) -> Photo:
    return Photo(owner_id=owner_id, source="generated", original_path=f"generated/2026-11-21/{name}.png",
                 thumbnail_ext="jpg", original_name=f"{name}.png", sha256=name.ljust(64, "0"), format="PNG",
                 mime_type="image/png", file_size=1, width=1, height=1, sorted_at=datetime(2026, 11, 21))


def test_uploads_and_deletes_move_the_count_the_grid_shows(app, client, user_id, upload, photos_dir):
    assert heading(client) == "0 photos"
    ids = [upload(photos_dir / name).get_json()["files"][0]["photo_id"] for name in [TINY_JPEG, *OTHERS]]
    upload(photos_dir / TINY_JPEG)  # a duplicate: no new photo, no new count
    assert heading(client) == "3 photos"
    assert counts(app, user_id) == (3, 0)

    assert client.post(f"/photos/{ids[0]}/delete").status_code == 302
    assert heading(client) == "2 photos"
    assert heading(client, "/?source=uploaded") == "2 photos"
    assert heading(client, "/?source=generated") == "0 photos"


def test_a_rejected_upload_counts_nothing(app, client, user_id, upload):
    assert upload(b"not an image", "note.jpg").status_code == 415
    assert counts(app, user_id) == (0, 0)


def test_generated_photos_are_counted_apart_and_another_users_count_stays(app, client, user_id, make_user):
    bob = make_user("bob")
    with app.app_context():
        db.session.add_all([generated_photo(user_id, "mine"), generated_photo(bob, "bobs")])
        db.session.commit()
    assert heading(client) == "1 photo"
    assert heading(client, "/?source=generated") == "1 photo"
    assert counts(app, user_id) == (0, 1) and counts(app, bob) == (0, 1)
    with app.app_context():
        db.session.delete(db.session.scalar(select(Photo).where(Photo.owner_id == bob)))
        db.session.commit()
    assert counts(app, user_id) == (0, 1) and counts(app, bob) == (0, 0)


def test_gallery_check_finds_a_wrong_count_and_repair_recounts(app, client, user_id, runner, upload, photos_dir):
    upload(photos_dir / TINY_JPEG)
    with app.app_context():
        db.session.execute(update(User).where(User.id == user_id).values(uploaded_photos=7, generated_photos=2))
        db.session.commit()

    checked = runner.invoke(args=["gallery", "check"])
    assert checked.exit_code == 2
    assert "account alice: says 7 uploaded photos; the database holds 1" in checked.output
    assert "account alice: says 2 generated photos; the database holds 0" in checked.output

    repaired = runner.invoke(args=["gallery", "check", "--repair"])
    assert repaired.exit_code == 1, repaired.output
    assert counts(app, user_id) == (1, 0)
    assert heading(client) == "1 photo"
    assert runner.invoke(args=["gallery", "check"]).exit_code == 0


def test_recount_after_a_bulk_insert_that_bypassed_the_orm(app, user_id):
    with app.app_context():
        row = {column: getattr(generated_photo(user_id, "bulk"), column)
               for column in ("owner_id", "source", "original_path", "thumbnail_ext", "original_name", "sha256",
                              "format", "mime_type", "file_size", "width", "height", "sorted_at")}
        db.session.execute(db.insert(Photo.__table__), [row])
        db.session.commit()
    assert counts(app, user_id) == (0, 0)  # what the events cannot see
    with app.app_context():
        assert photo_service.recount_photos() == 1
        assert photo_service.recount_photos() == 0
    assert counts(app, user_id) == (0, 1)
