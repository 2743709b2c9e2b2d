"""Image to image from a photo's page: the starting image uploaded to InvokeAI, the graph that uses it, the
lineage of what is kept (three generations), the 4xx answers that name the field, and the IPTC label on a
generated photo's download (the stored file unchanged). Against the fake InvokeAI, on SQLite and PostgreSQL.
"""
from __future__ import annotations

import io
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from fake_invokeai import FLUX_DEV
from PIL import Image
from testapp import GENERATE_FORM, JSON, generate, invokeai_settings, sha256, upload_as

from app.extensions import db
from app.models import GenerationSession, Photo
from app.services import labels

UPLOAD = "/api/v1/images/upload"
START = {**GENERATE_FORM, "count": 1, "strength": 0.6}


@pytest.fixture
def app_config(fake_invokeai):
    return invokeai_settings(fake_invokeai)


def landscape_jpeg() -> bytes:
    buffer = io.BytesIO()
    image = Image.new("RGB", (300, 200), (30, 90, 160))
    image.paste((240, 200, 40), (150, 0, 300, 200))  # the right half yellow: a crop that keeps the centre shows both
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


@pytest.fixture
def photo_a(client) -> int:
    return upload_as(client, landscape_jpeg(), "harbour.jpg")


@pytest.fixture
def keep_from(client, poll_until_finished, stored_images):
    """keep_from(photo id, **form) -> the id of the photo kept from one image made from that photo."""
    def run(source_id: int, **overrides) -> int:
        session_id = generate(client, **{**START, "source_photo": source_id, **overrides})
        poll_until_finished(session_id)
        (image,) = stored_images(session_id).values()
        response = client.post(f"/generate/images/{image.id}/keep", data={"image_name": image.image_name},
                               headers=JSON)
        assert response.status_code == 200, response.get_json()
        return int(response.get_json()["image"]["photo_url"].rsplit("/", 1)[1])
    return run


def lineage_links(client, photo_id: int) -> dict[str, list[int]]:
    page = BeautifulSoup(client.get(f"/photos/{photo_id}").get_data(as_text=True), "html.parser")
    return {strip["data-lineage"]: [int(a["href"].rsplit("/", 1)[1]) for a in strip.select("a")]
            for strip in page.select("section.lineage [data-lineage]")}


def test_use_as_starting_image_opens_the_form_with_the_photo_and_a_strength_slider(client, photo_a):
    page = BeautifulSoup(client.get(f"/photos/{photo_a}").get_data(as_text=True), "html.parser")
    link = page.select_one("section.lineage a.button")
    assert link.get_text(strip=True) == "Use as starting image"

    response = client.get(link["href"])
    assert response.status_code == 200
    form = BeautifulSoup(response.get_data(as_text=True), "html.parser").select_one("form[data-generate]")
    assert form.select_one("input[name=source_photo]")["value"] == str(photo_a)
    slider = form.select_one("input[name=strength]")
    assert (slider["type"], slider["min"], slider["max"], slider["value"]) == ("range", "0", "1", "0.75")
    assert form.select_one(".starting-image img")["src"].startswith(f"/thumbnails/{photo_a}/")
    # SD-1's default size in the photo's 3:2 shape, in multiples of 8
    assert (form.select_one("input[name=width]")["value"], form.select_one("input[name=height]")["value"]) == \
        ("624", "416")


def test_the_starting_image_is_uploaded_and_the_graph_starts_from_it(client, app, fake, photo_a, poll_until_finished):
    session_id = generate(client, **START, source_photo=photo_a)

    (upload,) = [r for r in fake.requests if r.path.startswith(UPLOAD)]
    assert upload.method == "POST" and "image_category=general" in upload.path
    assert "is_intermediate=true" in upload.path and upload.headers["Content-Type"].startswith("multipart/form-data")
    (name,) = fake.uploads
    assert fake.images[name]["is_intermediate"] is True
    with Image.open(io.BytesIO(fake.images[name]["png"])) as sent:
        assert (sent.format, sent.mode, sent.size) == ("PNG", "RGB", (64, 72))  # cropped and scaled to the size
        assert sent.getpixel((2, 36))[2] > 120 and sent.getpixel((61, 36))[0] > 200  # blue left, yellow right
    (batch,) = fake.enqueued_batches()
    nodes = batch["graph"]["nodes"]
    assert nodes["encode"] == {"id": "encode", "type": "i2l", "image": {"image_name": name}}
    assert nodes["denoise"]["denoising_start"] == pytest.approx(0.4)
    assert {"source": {"node_id": "encode", "field": "latents"},
            "destination": {"node_id": "denoise", "field": "latents"}} in batch["graph"]["edges"]
    assert poll_until_finished(session_id)["images"][0]["state"] == "done"  # the fake found the image it named
    with app.app_context():
        session = db.session.get(GenerationSession, session_id)
        assert (session.source_photo_id, session.strength) == (photo_a, 0.6)


def test_kept_images_record_their_lineage_through_three_generations(client, app, photo_a, keep_from):
    photo_b = keep_from(photo_a)
    photo_c = keep_from(photo_b, strength=0.3)
    with app.app_context():
        assert db.session.get(Photo, photo_b).derived_from_id == photo_a
        assert db.session.get(Photo, photo_c).derived_from_id == photo_b
    assert lineage_links(client, photo_c) == {"ancestors": [photo_b, photo_a]}
    assert lineage_links(client, photo_b) == {"ancestors": [photo_a], "descendants": [photo_c]}
    assert lineage_links(client, photo_a) == {"descendants": [photo_b, photo_c]}

    with app.app_context():  # the source deleted for good: what was made from it stays, without the link
        db.session.delete(db.session.get(Photo, photo_b))
        db.session.commit()
        assert db.session.get(Photo, photo_c).derived_from_id is None
    assert lineage_links(client, photo_c) == {}


def test_generate_again_and_use_these_settings_start_from_the_same_photo(client, app, fake, photo_a, keep_from):
    photo_b = keep_from(photo_a)  # at strength 0.6
    response = client.post(f"/generate/again/{photo_b}")
    assert response.status_code == 302
    assert len(fake.uploads) == 2
    batch = fake.enqueued_batches()[-1]
    assert batch["graph"]["nodes"]["encode"]["image"] == {"image_name": fake.uploads[-1]}
    assert batch["graph"]["nodes"]["denoise"]["denoising_start"] == pytest.approx(0.4)
    with app.app_context():
        session = db.session.get(GenerationSession, int(response.location.rsplit("/", 1)[1]))
        assert (session.source_photo_id, session.strength) == (photo_a, 0.6)

    form = BeautifulSoup(client.get(f"/generate?from_photo={photo_b}").get_data(as_text=True), "html.parser")
    assert form.select_one("input[name=source_photo]")["value"] == str(photo_a)
    assert form.select_one("input[name=strength]")["value"] == "0.6"


@pytest.mark.parametrize("overrides, field, words", [
    ({"strength": 1.5}, "strength", "Between 0 and 1."),
    ({"strength": ""}, "strength", "from 0 (keep the photo) to 1"),
    ({"model": FLUX_DEV, "width": 64, "height": 64, "cfg_scale": "", "scheduler": "euler"}, "negative_prompt",
     "FLUX.1 models take no negative prompt"),
])
def test_bad_input_is_a_400_that_names_the_field_and_sends_nothing(client, fake, photo_a, overrides, field, words):
    response = client.post("/generate", data={**START, "source_photo": photo_a, **overrides})
    assert response.status_code == 400
    page = BeautifulSoup(response.get_data(as_text=True), "html.parser")
    errors = page.select_one(f"[name={field}]").find_parent("label").select(".field-error")
    assert any(words in error.get_text() for error in errors), [e.get_text() for e in errors]
    assert fake.uploads == [] and fake.enqueued_batches() == []


def test_a_strength_without_a_photo_is_refused_in_words(client, fake):
    response = client.post("/generate", data={**START})  # START has a strength, and no source photo
    assert response.status_code == 400
    problem = BeautifulSoup(response.get_data(as_text=True), "html.parser").select_one("p.problem")
    assert problem.get_text() == "A strength is for starting from a photo: leave it empty."
    assert fake.enqueued_batches() == []


def test_a_starting_image_larger_than_the_gallery_decodes_is_refused_in_words(client, app, fake, photo_a):
    app.config["MAX_IMAGE_PIXELS"] = 50_000  # the 300 x 200 photo is 60,000
    response = client.post("/generate", data={**START, "source_photo": photo_a})
    assert response.status_code == 400
    problem = BeautifulSoup(response.get_data(as_text=True), "html.parser").select_one(".starting-image .field-error")
    assert "cannot be a starting image" in problem.get_text() and "MP" in problem.get_text()
    assert fake.uploads == []


def test_another_accounts_photo_is_no_starting_image(client, bob, fake):
    bobs = upload_as(bob, landscape_jpeg(), "bobs.jpg")
    assert client.get(f"/generate?start_from={bobs}").status_code == 404
    assert client.post("/generate", data={**START, "source_photo": bobs}).status_code == 404
    assert client.get(f"/generate?start_from={2**40}").status_code == 404  # past any id: no database error
    assert client.post("/generate", data={**START, "source_photo": 2**40}).status_code == 404
    assert fake.uploads == []


@pytest.mark.parametrize("name, mime_type", [("a1111.png", "image/png"), ("forge-flux.webp", "image/webp")])
def test_an_imported_ai_image_goes_out_labelled_and_stays_stored_as_it_was(client, app, data_dir, upload, name,
                                                                          mime_type):
    path = Path(__file__).resolve().parents[1] / "files" / "ai" / name
    photo_id = upload(path).get_json()["files"][0]["photo_id"]
    response = client.get(f"/photos/{photo_id}/original", buffered=True)
    assert response.mimetype == mime_type and xmp_source_type(response.data) == labels.TRAINED
    with Image.open(io.BytesIO(response.data)) as labelled, Image.open(path) as original:
        assert labelled.tobytes() == original.tobytes()
    with app.app_context():
        row = db.session.get(Photo, photo_id)
        assert sha256(data_dir / "photos" / row.original_path) == row.sha256 == sha256(path)


def xmp_source_type(content: bytes) -> str:
    with Image.open(io.BytesIO(content)) as image:
        description = image.getxmp()["xmpmeta"]["RDF"]["Description"]
    return description["DigitalSourceType"]


def test_a_generated_originals_download_carries_the_iptc_label_and_the_stored_file_stays(
        client, app, data_dir, photo_a, keep_from, upload):
    photo_b = keep_from(photo_a)
    photo_c = keep_from(photo_b)
    with app.app_context():
        stored = {p.id: (data_dir / "photos" / p.original_path, p.sha256)
                  for p in db.session.query(Photo).filter(Photo.id.in_([photo_a, photo_b, photo_c]))}

    from_photo = client.get(f"/photos/{photo_b}/original", buffered=True)
    assert from_photo.status_code == 200 and from_photo.mimetype == "image/png"
    assert xmp_source_type(from_photo.data) == labels.COMPOSITE  # image to image from a camera photo
    assert int(from_photo.headers["Content-Length"]) == len(from_photo.data)
    assert xmp_source_type(client.get(f"/photos/{photo_c}/original", buffered=True).data) == labels.TRAINED  # from a generated one
    for path, digest in stored.values():
        assert sha256(path) == digest  # the stored originals are byte for byte as they were

    camera = client.get(f"/photos/{photo_a}/original", buffered=True)
    assert camera.data == stored[photo_a][0].read_bytes()  # an uploaded photo goes out as it is

    ai_jpeg = Path(__file__).resolve().parents[1] / "files" / "ai" / "a1111.jpg"
    imported = upload(ai_jpeg).get_json()["files"][0]["photo_id"]
    response = client.get(f"/photos/{imported}/original", buffered=True)
    assert response.mimetype == "image/jpeg" and xmp_source_type(response.data) == labels.TRAINED
    with Image.open(io.BytesIO(response.data)) as labelled, Image.open(ai_jpeg) as original:
        assert labelled.tobytes() == original.tobytes()
    with app.app_context():
        imported_row = db.session.get(Photo, imported)
        assert sha256(data_dir / "photos" / imported_row.original_path) == imported_row.sha256 == sha256(ai_jpeg)


def test_the_session_page_says_which_photo_it_started_from(client, photo_a):
    session_id = generate(client, **START, source_photo=photo_a)
    hint = BeautifulSoup(client.get(f"/generate/sessions/{session_id}").get_data(as_text=True),
                         "html.parser").select_one("section.session p.hint")
    assert "at strength 0.60" in hint.get_text(" ", strip=True)
    assert hint.select_one("a")["href"] == f"/photos/{photo_a}"
