"""processing: what a worker process loads to do the pixel work, how it tunes itself, and the
thumbnails it encodes."""
from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from PIL import Image

from app.config import SETTINGS
from app.services import imaging, processing, storage

ROOT = Path(__file__).resolve().parents[2]
WEB_APP = ("flask", "werkzeug", "jinja2", "sqlalchemy", "flask_sqlalchemy", "alembic", "redis", "psycopg",
           "pillow_heif")


def test_the_pixel_work_imports_neither_the_web_app_nor_pillow_heif():
    """An import worker imports app.services.processing: Flask, SQLAlchemy, Redis stay out of it, and
    pillow-heif waits for the first HEIF file, so each worker stays tens of MB smaller."""
    code = ("import json, sys; import app.services.processing; "
            "print(json.dumps(sorted({name.split('.')[0] for name in sys.modules})))")
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                                       check=True).stdout)
    assert "PIL" in loaded
    assert [name for name in WEB_APP if name in loaded] == []


def test_a_heic_file_loads_pillow_heif_when_it_arrives(photos_dir):
    code = ("import sys; from pathlib import Path; from app.services import imaging; "
            f"imaging.decode(Path({str(photos_dir / 'formats/iphone-11-pro.heic')!r}), "
            "100_000_000, {'grid': 400}); print('pillow_heif' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "True"


def test_a_worker_keeps_no_more_than_its_block_budget_after_a_large_photo(photos_dir):
    """After three decodes of the 24 MP progressive JPEG (about 100 MB at its peak), the process keeps
    Pillow's budget of freed blocks (48 MB) for the next photo and gives the rest back; once Pillow's
    blocks are cleared, its RSS is back near where it started."""
    code = f"""
import json
import os
import struct
from pathlib import Path

import pytest
from PIL import Image
from app.services import imaging
imaging.tune_process_for_ingest()  # as every process that ingests does at its start
def rss():
    return int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0]) / 1024
path = Path({str(photos_dir / "large/unsplash-craft-beer_24mp_progressive.jpg")!r})
imaging.decode(path, 100_000_000, {{"grid": 400}})  # the plugins and the pool are loaded once
Image.core.clear_cache()
before = rss()
for _ in range(3):
    list(imaging.decode(path, 100_000_000, {{"preview": 1600, "grid": 400}}).thumbnails.values())
kept = rss()
cached = Image.core.get_stats()["blocks_cached"]
Image.core.clear_cache()
print(json.dumps([before, kept, rss(), cached]))
"""
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    before, kept, cleared, cached = json.loads(result.stdout)
    budget = imaging.IMAGE_BLOCKS_KEPT * imaging.IMAGE_BLOCK_SIZE / 2**20
    assert cached == imaging.IMAGE_BLOCKS_KEPT  # the budget is used: the next photo takes these blocks
    assert kept - before < budget + 8, (before, kept)  # glibc left alone kept 18-34 MB more than this
    assert cleared - before < 8, (before, cleared)


@pytest.mark.parametrize("environment, kept", [({}, imaging.IMAGE_BLOCKS_KEPT), ({"PILLOW_BLOCKS_MAX": "0"}, 0)])
def test_the_block_budget_is_the_gallerys_unless_pillows_own_setting_is_given(environment, kept):
    code = ("from PIL import Image; from app.services import imaging; imaging.tune_process_for_ingest(); "
            "imaging.tune_process_for_ingest(); print(Image.core.get_blocks_max())")
    env = {key: value for key, value in os.environ.items() if not key.startswith("PILLOW_")} | environment
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, env=env)
    assert int(result.stdout) == kept


@pytest.mark.parametrize("photo", ["large/unsplash-craft-beer_24mp_progressive.jpg", "formats/iphone-11-pro.heic"])
def test_blocks_kept_from_earlier_photos_do_not_raise_the_peak_of_a_decoder_with_buffers_of_its_own(
        photos_dir, photo):
    """libjpeg holds a progressive JPEG's coefficients (72 MB for 24 MP) beside the image while it
    decodes, libheif a HEIC's planes. A process that kept 48 MB of blocks from a 16 MP photo reaches
    the same peak on such a photo as a fresh process: the kept blocks that would lie idle meanwhile
    are given back first."""
    def peak_after(*paths: str) -> float:
        code = f"""
from pathlib import Path
from app.services import imaging
imaging.tune_process_for_ingest()
for path in {paths!r}:
    list(imaging.decode(Path(path), 100_000_000, {{"preview": 1600, "grid": 400}}).thumbnails.values())
print(int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) / 1024)
"""
        return float(subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                                    check=True).stdout)

    fresh = peak_after(str(photos_dir / photo))
    after_another = peak_after(str(photos_dir / "large/kodak-pixpro-s1_16mp.jpg"), str(photos_dir / photo))
    assert after_another - fresh < 5, (fresh, after_another)  # 9-20 MB more with the blocks left idle


PROCESS_STATE = ("import json, warnings; from PIL import Image; "
                 "print(json.dumps([Image.core.get_blocks_max(), Image.core.get_block_size(), "
                 "[str(f) for f in warnings.filters if 'PIL' in str(f)]]))")  # urllib3 sets filters of its own


def process_state(before: str = "") -> list:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PILLOW_", "PYTHONWARNINGS"))}
    return json.loads(subprocess.run([sys.executable, "-c", f"{before}\n{PROCESS_STATE}"], cwd=ROOT,
                                     capture_output=True, text=True, check=True, env=env).stdout)


def test_importing_the_gallery_changes_nothing_in_the_process():
    """No allocator setting, block budget or warning filter comes with an import: only the processes
    that ingest set them, by calling imaging.tune_process_for_ingest() (create_app, import workers)."""
    untouched = process_state()
    assert process_state("import app, app.models, app.services.imaging, app.services.processing, "
                         "app.services.thumbnails, app.services.batch, app.cli") == untouched
    tuned = process_state("from app.services import imaging; imaging.tune_process_for_ingest()")
    assert tuned[:2] == [imaging.IMAGE_BLOCKS_KEPT, imaging.IMAGE_BLOCK_SIZE] and tuned[2] == untouched[2] == []


def test_a_pixel_bomb_is_refused_without_any_warning_filter(tmp_path):
    """A 144 MP PNG makes Pillow only warn where warnings are not errors (any process but the tests):
    the gallery's own check refuses it all the same."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 12_000, 12_000, 8, 0, 0, 0, 0)  # 144 MP of grey; no pixel data needed
    (tmp_path / "bomb.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b""))
    code = (f"from pathlib import Path; from app.errors import RejectedFile; from app.services import imaging\n"
            f"try:\n    imaging.decode(Path({str(tmp_path / 'bomb.png')!r}), 100_000_000, {{'grid': 400}})\n"
            f"except RejectedFile as exc:\n    print(exc.status, exc.message)")
    env = {key: value for key, value in os.environ.items() if key != "PYTHONWARNINGS"}
    result = subprocess.run([sys.executable, "-W", "default", "-c", code], cwd=ROOT, capture_output=True, text=True,
                            check=True, env=env)
    assert result.stdout.startswith("413 the image has more than the 100 MP"), result.stdout + result.stderr


# --- thumbnails as processing writes them -------------------------------------------------------

SIZES = {"preview": SETTINGS["PREVIEW_SIZE"][0], "grid": SETTINGS["GRID_SIZE"][0]}


def quantization_at(quality: int) -> dict:
    """The quantization tables libjpeg writes at `quality`."""
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buffer, "JPEG", quality=quality)
    with Image.open(buffer) as image:
        return image.quantization


def written(path: Path, root: Path) -> tuple[imaging.DecodedImage, str, dict[str, Path]]:
    decoded = imaging.decode(path, SETTINGS["MAX_IMAGE_PIXELS"][0], SIZES)
    with storage.placing(root, "upload") as place:
        return decoded, *processing.write_thumbnails(place, decoded, 85)


@pytest.mark.parametrize("file", [
    "camera/nikon-coolpix-p6000_gps.jpg",  # GPS position: must not travel into the thumbnail
    "camera/blackberry-z10_6mp_o6.jpg",  # orientation 6: a tag in the thumbnail would turn it again
    "odd/icc-400kb-progressive.jpg",  # a profile too large to carry: made sRGB instead
    "formats/denali.webp",
    "formats/png-palette-transparent.png",
])
def test_a_thumbnail_has_its_size_and_profile_and_no_exif(photos_dir, tmp_path, file):
    decoded, ext, temps = written(photos_dir / file, tmp_path)
    assert set(temps) == set(SIZES) and all(temp.parent == tmp_path / storage.TEMP_DIR for temp in temps.values())
    for size, temp in temps.items():
        with Image.open(temp) as saved:
            assert saved.format == {"jpg": "JPEG", "webp": "WEBP"}[ext]
            assert saved.size == decoded.thumbnails[size].size
            assert saved.info.get("icc_profile") == decoded.thumbnail_profile
            assert "exif" not in saved.info
            assert len(saved.getexif()) == 0


def test_a_jpeg_thumbnail_is_baseline_at_the_requested_quality(photos_dir, tmp_path):
    _, _, temps = written(photos_dir / "odd/icc-400kb-progressive.jpg", tmp_path)  # a progressive source
    with Image.open(temps["preview"]) as saved:
        assert not saved.info.get("progressive")
        assert saved.quantization == quantization_at(85)
        assert saved.quantization != quantization_at(95)


def test_a_thumbnail_with_alpha_is_webp_with_alpha(photos_dir, tmp_path):
    _, ext, temps = written(photos_dir / "formats/png-palette-transparent.png", tmp_path)
    assert ext == "webp"
    with Image.open(temps["grid"]) as saved:
        assert saved.mode == "RGBA"
        assert saved.getextrema()[3][0] < 255


def test_a_worker_writes_each_thumbnail_once_into_tmp_and_renames_nothing(photos_dir, tmp_path, monkeypatch):
    """The writer renames each temp file once into place; the worker before it only writes them."""
    renames = []
    real_replace = os.replace
    monkeypatch.setattr(storage.os, "replace", lambda a, b: (renames.append((a, b)), real_replace(a, b))[1])
    settings = processing.ImageSettings(tmp_path, SETTINGS["MAX_IMAGE_PIXELS"][0], SIZES, 85)
    with open(photos_dir / "camera/canon-eos-40d_tiny.jpg", "rb") as stream:
        prepared = processing.prepare_photo(stream, "tiny.jpg", settings, lambda digest: None)
    assert renames == []
    assert sorted((tmp_path / storage.TEMP_DIR).iterdir()) == sorted(prepared.temp_files)
    assert set(prepared.thumbnails) == set(SIZES) and prepared.thumbnail_ext == "jpg"


def test_the_models_import_no_service():
    """models.py depends on the extensions only; services import it, never the other way round."""
    code = ("import json, sys; import app; before = set(sys.modules); import app.models; "
            "print(json.dumps(sorted(m for m in set(sys.modules) - before if m.startswith('app.services'))))")
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                                       check=True).stdout)
    assert loaded == []
