"""A short run of tests/load/run_load.py: uploaders and browsers at once against gunicorn with two
workers, on SQLite and (with TEST_DATABASE_URL) on a PostgreSQL database made for the run; no error
of any kind, and every acknowledged upload has its row and its files."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "load" / "run_load.py"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_args(request) -> list[str]:
    if request.param == "sqlite":
        return []
    return ["--database-url", request.getfixturevalue("empty_postgresql_url")]


def test_a_short_mixed_load_has_no_errors_and_loses_no_photo(database_args, photos_dir, tmp_path):
    """Five seconds, and on a busy machine as long as it takes (run_load gives up after four minutes more)
    for three acknowledged uploads and three photo pages and thumbnails read: the work is counted,
    so a slow start cannot leave the window empty."""
    figures = tmp_path / "figures.json"
    run = subprocess.run([sys.executable, str(SCRIPT), "--seconds", "5", "--at-least", "3", "--uploaders", "2",
                          "--browsers", "2", "--json", str(figures), *database_args],
                         cwd=ROOT, capture_output=True, text=True, timeout=420)
    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads(figures.read_text())
    assert report["errors"] == {} and report["lost"] == []
    assert report["acknowledged"] == report["rows"] >= 3
    assert {"grid", "detail", "thumbnail", "upload"} <= set(report["kinds"])
    assert min(report["kinds"][kind]["requests"] for kind in ("upload", "detail", "thumbnail")) >= 3
    assert report["gallery_check"] in ("ok", "skipped")
