"""Unit-test helpers: a test that takes `corpus_file` runs once per file of the photo corpus."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

PHOTOS = Path(__file__).resolve().parents[3] / "shared" / "photos"


def corpus_files() -> list:
    """manifest.csv's file names, read at collection time (parametrize cannot wait for a fixture)."""
    if not (PHOTOS / "manifest.csv").is_file():
        reason = f"the shared photo corpus is absent ({PHOTOS}); these tests need real photos"
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="no-corpus")]
    with open(PHOTOS / "manifest.csv", newline="") as fh:
        return [row["file"] for row in csv.DictReader(fh)]


def pytest_generate_tests(metafunc):
    if "corpus_file" in metafunc.fixturenames:
        metafunc.parametrize("corpus_file", corpus_files())


@pytest.fixture
def corpus_row(manifest, corpus_file) -> dict:
    """The manifest row of `corpus_file` (see ../shared/photos/README.md for the columns)."""
    return next(row for row in manifest if row["file"] == corpus_file)
