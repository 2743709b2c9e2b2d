"""Fixtures shared by every test: the real photo corpus, and a guard against real hosts."""
from __future__ import annotations

import csv
import socket
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PHOTOS = ROOT.parent / "shared" / "photos"
LOOPBACK = {"127.0.0.1", "::1", "localhost", None}


@pytest.fixture(autouse=True)
def no_real_hosts(monkeypatch):
    """Any test that tries to resolve a host other than loopback fails at once."""
    real_getaddrinfo = socket.getaddrinfo

    def loopback_only(host, *args, **kwargs):
        if host not in LOOPBACK:
            raise AssertionError(f"test tried to reach a real host: {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", loopback_only)


@pytest.fixture(scope="session")
def photos_dir() -> Path:
    """../shared/photos: real camera photos with a manifest."""
    if not (PHOTOS / "manifest.csv").is_file():
        pytest.skip(f"the shared photo corpus is absent ({PHOTOS}); these tests need real photos")
    return PHOTOS


@pytest.fixture(scope="session")
def manifest(photos_dir) -> list[dict]:
    """manifest.csv rows, with `path` added; see ../shared/photos/README.md for the columns."""
    with open(photos_dir / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        row["path"] = photos_dir / row["file"]
    return rows
