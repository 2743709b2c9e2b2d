"""A small real gallery for the operations tests: three uploads from the shared corpus, and a
generation (through the fake InvokeAI) of two images, one kept and one left a candidate.

Test modules import the fixtures: `from sample_gallery import app_config, gallery`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import GenerationImage, Photo
from app.services import storage
from app.services.thumbnails import thumbnail_path
from testapp import GENERATE_FORM, GPS_JPEG, JSON, TINY_JPEG, TRANSPARENT_PNG, invokeai_settings

UPLOADS = [TINY_JPEG, GPS_JPEG, TRANSPARENT_PNG]  # the PNG has alpha: WebP thumbnails
FORM = {**GENERATE_FORM, "prompt": "a lighthouse", "negative_prompt": "", "scheduler": "euler", "seed": "7", "count": 2}


@pytest.fixture
def app_config(fake_invokeai):
    return invokeai_settings(fake_invokeai)


@dataclass
class Item:
    label: str  # as check names it: "photo 3", "generation image 2"
    id: int
    path: str  # under photos/
    sha256: str
    thumbnail_ext: str

    def thumbnail(self, size: str) -> str:
        return thumbnail_path(self.path, size, self.thumbnail_ext)


@dataclass
class Gallery:
    root: Path  # data/photos
    photos: list[Item]  # the three uploads, then the kept generation
    candidate: Item  # the generation image not kept

    def file(self, relative: str) -> Path:
        return self.root / relative

    def all_files(self) -> dict[str, bytes]:
        return {p.relative_to(self.root.parent).as_posix(): p.read_bytes()
                for p in self.root.parent.rglob("*") if p.is_file()}


@pytest.fixture
def gallery(app, client, upload, photos_dir, data_dir) -> Gallery:
    """Three uploads, and a generation of two images of which one is kept."""
    for name in UPLOADS:
        assert upload(photos_dir / name).status_code == 201
    response = client.post("/generate", data=FORM)
    assert response.status_code == 302
    session_id = int(response.location.rsplit("/", 1)[1])
    for _ in range(50):  # each poll is one tick of the fake's queue
        if client.post(f"/generate/sessions/{session_id}/status", headers=JSON).get_json()["finished"]:
            break
    with app.app_context():
        first, second = db.session.scalars(select(GenerationImage).order_by(GenerationImage.seed_index))
        keep_id, keep_name, candidate = first.id, first.image_name, item_of(second)
    kept = client.post(f"/generate/images/{keep_id}/keep", data={"image_name": keep_name}, headers=JSON)
    assert kept.status_code == 200
    with app.app_context():
        photos = [item_of(photo) for photo in db.session.scalars(select(Photo).order_by(Photo.id))]
    assert [p.path.split("/")[0] for p in photos] == ["uploaded"] * 3 + ["generated"]
    assert candidate.path.startswith("generated/sessions/")
    return Gallery(storage.photos_root(data_dir), photos, candidate)


def item_of(row) -> Item:
    if isinstance(row, Photo):
        return Item(f"photo {row.id}", row.id, row.original_path, row.sha256, row.thumbnail_ext)
    return Item(f"generation image {row.id}", row.id, row.file_path, row.sha256, row.thumbnail_ext)


