"""processing: what a worker process loads to do the pixel work."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
