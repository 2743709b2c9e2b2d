"""processing: what a worker process loads to do the pixel work."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.services import imaging

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
from pathlib import Path

import pytest
from PIL import Image
from app.services import imaging
def rss():
    return int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0]) / 1024
path = Path({str(photos_dir / "large/unsplash-craft-beer_24mp_progressive.jpg")!r})
imaging.decode(path, 100_000_000, {{"grid": 400}})  # the plugins and the pool are loaded once
Image.core.clear_cache()
before = rss()
for _ in range(3):
    list(imaging.decode(path, 100_000_000, {{"preview": 1600, "grid": 400}}).renditions.values())
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
    code = "from PIL import Image; from app.services import imaging; print(Image.core.get_blocks_max())"
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
for path in {paths!r}:
    list(imaging.decode(Path(path), 100_000_000, {{"preview": 1600, "grid": 400}}).renditions.values())
print(int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) / 1024)
"""
        return float(subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                                    check=True).stdout)

    fresh = peak_after(str(photos_dir / photo))
    after_another = peak_after(str(photos_dir / "large/kodak-pixpro-s1_16mp.jpg"), str(photos_dir / photo))
    assert after_another - fresh < 5, (fresh, after_another)  # 9-20 MB more with the blocks left idle
