"""AI outputs uploaded through the form or imported with `flask photos import` (sidecars too) become generated
photos with their parameters: the photo page lists them, the grid's Generated filter shows them and the
generated count moves. The files are tests/files/ai's samples, in each generator's own layout."""
from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from PIL import Image, PngImagePlugin
from sqlalchemy import select
from testapp import heading, invokeai_settings, page_text, upload_as

from app.extensions import db
from app.models import Photo
from app.services import metadata_values

SAMPLES = Path(__file__).resolve().parents[1] / "files" / "ai"
# A sample -> what its photo page shows of it: (prompt, seed, model, sampler / scheduler, size)
SHOWN = {
    "invokeai-5.png": ("a lighthouse on a cliff at sunset, oil painting", "3735928559", "Dreamshaper 8", "dpmpp_2m_k",
                       "512 × 768"),
    "a1111.png": ("a lighthouse on a cliff at sunset, (dramatic sky:1.2), [oil painting] highly detailed",
                  "3735928559", "v1-5-pruned-emaonly", "DPM++ 2M Karras", "512 × 768"),
    "a1111.jpg": ("a lighthouse on a cliff at sunset, (dramatic sky:1.2), [oil painting] highly detailed",
                  "3735928559", "v1-5-pruned-emaonly", "DPM++ 2M Karras", "512 × 768"),
    "forge-flux.webp": ("a red fox in fresh snow, golden hour", "1234567890", "flux1-dev-bnb-nf4-v2", "Euler Simple",
                        "896 × 1152"),
    "comfyui.png": ("beautiful scenery nature glass bottle landscape, purple galaxy bottle,", "156680208700286",
                    "v1-5-pruned-emaonly.safetensors", "euler", "512 × 512"),
}


def generation_table(client, photo_id: int) -> dict[str, str]:
    """What the photo page's Generation section says: its prompts and its facts, by label."""
    page = BeautifulSoup(client.get(f"/photos/{photo_id}").get_data(as_text=True), "html.parser")
    section = page.select_one("section.generation")
    if section is None:
        return {}
    shown = {prompt.h3.get_text(strip=True): " ".join(prompt.select_one(".prompt-text").get_text(" ").split())
             for prompt in section.select("div.prompt")}
    for fact in section.select("dl.fact-list > div"):
        shown[fact.dt.get_text(strip=True)] = " ".join(fact.dd.get_text(" ").split())
    return shown


def grid_ids(client, query: str = "") -> set[int]:
    page = BeautifulSoup(client.get(f"/{query}").get_data(as_text=True), "html.parser")
    return {int(a["href"].split("?")[0].rsplit("/", 1)[1]) for a in page.select("ul.grid li a")}


def rows(app) -> dict[str, Photo]:
    with app.app_context():
        photos = {photo.original_name: photo for photo in db.session.scalars(select(Photo))}
        db.session.expunge_all()
        return photos


def test_uploaded_ai_outputs_are_generated_photos_with_their_parameters(app, client):
    assert heading(client, "/?source=generated") == "0 photos"
    ids = {name: upload_as(client, (SAMPLES / name).read_bytes(), name) for name in [*SHOWN, "no-metadata.png"]}

    for name, (prompt, seed, model, scheduler, size) in SHOWN.items():
        table = generation_table(client, ids[name])
        assert (table["Prompt"], table["Seed"], table["Model"], table["Scheduler"], table["Size"]) == \
            (prompt, seed, model, scheduler, size), name
    assert generation_table(client, ids["no-metadata.png"]) == {}
    assert heading(client, "/?source=generated") == f"{len(SHOWN)} photos"
    assert heading(client, "/?source=uploaded") == "1 photo"
    assert grid_ids(client, "?source=generated") == {ids[name] for name in SHOWN}
    stored = rows(app)
    assert {name: photo.source for name, photo in stored.items()} == \
        {**{name: "generated" for name in SHOWN}, "no-metadata.png": "uploaded"}
    assert stored["a1111.png"].negative_prompt == "blurry, (low quality:1.4)" and stored["a1111.png"].steps == 28
    assert stored["comfyui.png"].cfg_scale == 8.0 and stored["invokeai-5.png"].model_key.startswith("4a1b2c3d")


def png_with(chunks: dict[str, str], zip_text: bool = False) -> bytes:
    info = PngImagePlugin.PngInfo()
    for key, value in chunks.items():
        info.add_text(key, value, zip=zip_text)
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), "teal").save(buffer, "PNG", pnginfo=info)
    return buffer.getvalue()


def test_a_megabyte_prompt_is_stored_cut_to_the_cap_and_hostile_metadata_never_refuses_the_upload(app, client):
    params = "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 9223372036854775807, Size: 512x512, Model: sd15"
    huge = upload_as(client, png_with({"parameters": "a cat, " * 150_000 + "\n" + params}, zip_text=True), "huge.png")
    broken = upload_as(client, png_with({"prompt": '{"3": {"class_type": "KSampler", "inputs": {"positive": ["3", 0],'
                                                   ' "seed": -4, "steps": 1e400}}}'}), "cycle.png")
    garbage = upload_as(client, png_with({"invokeai_metadata": "{not json", "workflow": "[" * 50_000}), "junk.png")

    stored = {photo.id: photo for photo in rows(app).values()}
    assert len(stored[huge].prompt) == metadata_values.MAX_PROMPT and stored[huge].seed == 2**63 - 1
    assert (stored[broken].source, stored[broken].prompt, stored[broken].seed) == ("generated", "", None)
    assert (stored[garbage].source, stored[garbage].prompt) == ("uploaded", None)
    assert generation_table(client, huge)["Seed"] == "9223372036854775807"


@pytest.fixture
def folder(tmp_path) -> Path:
    folder = tmp_path / "outputs"
    folder.mkdir()
    return folder


def plain_png(path: Path, colour: str) -> None:
    Image.new("RGB", (24, 16), colour).save(path)


def test_import_reads_each_generators_files_and_their_sidecars(app, client, runner, user_id, folder):
    for name in ("invokeai-5.png", "comfyui.png", "a1111.jpg"):
        shutil.copyfile(SAMPLES / name, folder / name)
    plain_png(folder / "forge.png", "red")
    (folder / "forge.txt").write_text("a red barn in a field\nNegative prompt: people\n"
                                      "Steps: 25, Sampler: Euler, CFG scale: 3.5, Seed: 77, Size: 768x512, Model: juggernaut\n")
    plain_png(folder / "invoke.png", "blue")
    (folder / "invoke.png.json").write_text(json.dumps({"positive_prompt": "a blue door", "seed": 5, "steps": 12,
                                                        "model": {"name": "sdxl-base", "key": "k-1"}}))
    plain_png(folder / "holiday.png", "green")
    (folder / "holiday.txt").write_text("the beach on the second day\n")  # a note, not parameters
    (folder / "holiday.json").write_text('{"title": "holiday.png", "description": "the beach"}')  # Google Takeout's

    result = runner.invoke(args=["photos", "import", str(folder), "--workers", "2"])

    assert result.exit_code == 0, result.output
    assert "Imported 6, duplicates 0, rejected 0, failed 0, skipped 4 (of 10 files)." in result.output
    stored = rows(app)
    assert {name: photo.source for name, photo in stored.items()} == {
        "invokeai-5.png": "generated", "comfyui.png": "generated", "a1111.jpg": "generated",
        "forge.png": "generated", "invoke.png": "generated", "holiday.png": "uploaded"}
    forge = stored["forge.png"]
    assert (forge.prompt, forge.negative_prompt, forge.seed, forge.steps, forge.cfg_scale, forge.model_name,
            forge.generation_width) == ("a red barn in a field", "people", 77, 25, 3.5, "juggernaut", 768)
    assert (stored["invoke.png"].prompt, stored["invoke.png"].model_key) == ("a blue door", "k-1")
    assert stored["comfyui.png"].seed == 156680208700286
    assert heading(client, "/?source=generated") == "5 photos"
    assert grid_ids(client, "?source=generated") == {photo.id for photo in stored.values() if photo.source == "generated"}
    assert generation_table(client, forge.id)["Negative prompt"] == "people"


class TestGenerateAgain:
    """An imported photo names a checkpoint and a sampler: the installed model of that name and InvokeAI's
    scheduler stand in, for "Generate again" and "Use these settings" (the fake InvokeAI has dreamshaper-8)."""

    @pytest.fixture
    def app_config(self, fake_invokeai):
        return invokeai_settings(fake_invokeai)

    def a1111_photo(self, client, model: str) -> int:
        infotext = (f"a lighthouse\nNegative prompt: fog\nSteps: 12, Sampler: DPM++ 2M, Schedule type: Karras, "
                    f"CFG scale: 6, Seed: 99, Size: 512x768, Model: {model}")
        return upload_as(client, png_with({"parameters": infotext}), "a1111.png")

    def test_generate_again_uses_the_installed_model_of_that_name_and_invokeais_scheduler(self, client, fake):
        photo_id = self.a1111_photo(client, "DreamShaper_8.safetensors")
        again = client.post(f"/generate/again/{photo_id}")
        assert again.status_code == 302 and "/generate/sessions/" in again.location
        [batch] = fake.enqueued_batches()
        nodes = batch["graph"]["nodes"]
        assert nodes["model_loader"]["model"]["name"] == "dreamshaper-8"
        assert (nodes["denoise"]["scheduler"], nodes["denoise"]["steps"], nodes["denoise"]["cfg_scale"]) == \
            ("dpmpp_2m_k", 12, 6.0)
        assert (nodes["positive"]["prompt"], nodes["negative"]["prompt"]) == ("a lighthouse", "fog")

        form = BeautifulSoup(client.get(f"/generate?from_photo={photo_id}").get_data(as_text=True), "html.parser")
        assert form.select_one("select[name=model] option[selected]").get_text().startswith("dreamshaper-8")
        assert form.select_one("select[name=scheduler] option[selected]")["value"] == "dpmpp_2m_k"

    def test_a_model_not_installed_is_said_and_nothing_is_enqueued(self, client, fake):
        photo_id = self.a1111_photo(client, "some-merge-v3")
        again = client.post(f"/generate/again/{photo_id}", follow_redirects=True)
        assert "That model is not installed on InvokeAI" in page_text(again) and fake.enqueued_batches() == []
