"""names: which files look like images, and what a client's file name becomes when shown or downloaded."""
from __future__ import annotations

import pytest

from app.services.names import display_name, download_name, looks_like_image


@pytest.mark.parametrize("name, image", [
    ("IMG_0001.JPG", True), ("a.jpeg", True), ("scan.tiff", True), ("phone.HEIC", True), ("x.avif", True),
    ("README", False), ("README.md", False), ("IMG_0001.jpg.json", False), ("notes.txt", False),
    ("jpg", False), ("archive.tar.gz", False),
])
def test_looks_like_image(name, image):
    assert looks_like_image(name) is image


@pytest.mark.parametrize("sent, shown", [
    ("holiday.jpg", "holiday.jpg"),
    ("C:\\Users\\me\\holiday.jpg", "holiday.jpg"),
    ("../../etc/passwd", "passwd"),
    ("photo\u202egpj.exe", "photogpj.exe"),  # a right-to-left override would show it as "photoexe.jpg"
    ("zero\u200bwidth\ufeff.jpg", "zerowidth.jpg"),
    ("line\u2028break\r\n.jpg", "linebreak.jpg"),
    ("  spaced  .jpg  ", "spaced  .jpg"),
    ("Ünïcødé 写真 🙂.jpg", "Ünïcødé 写真 🙂.jpg"),
    ("", "(no name)"), (None, "(no name)"), ("dir/", "(no name)"), ("\u202e", "(no name)"),
])
def test_display_name(sent, shown):
    assert display_name(sent) == shown


def test_a_long_name_keeps_its_start_and_its_extension():
    shown = display_name("b" * 100 + "-end.jpeg")
    assert len(shown) == 80 and shown.startswith("b" * 59) and shown.endswith("…" + "b" * 11 + "-end.jpeg")


@pytest.mark.parametrize("name, extension, download", [
    (".htaccess", "jpg", "htaccess.jpg"),
    ("x.jpg.php", "jpg", "x.jpg"),
    ("x.png.php", "jpg", "x.png.jpg"),
    ("x.php.", "jpg", "x.jpg"),  # Windows would drop the trailing dot
    ("page.html", "jpg", "page.jpg"),
    ("photo.jpeg", "jpg", "photo.jpeg"),
    ("scan.TIFF", "tif", "scan.TIFF"),
    ("scan.tif", "png", "scan.png"),
    ("Dr. Smith", "jpg", "Dr. Smith.jpg"),  # " Smith" is no extension
    ("holiday.2024", "heic", "holiday.2024.heic"),
    ("...", "jpg", "photo.jpg"),
    ("../x.jpg", "webp", "x.webp"),
    (None, "avif", "photo.avif"),
])
def test_download_name(name, extension, download):
    assert download_name(name, extension) == download


def test_a_long_download_name_comes_back_whole():
    assert download_name("名" * 251 + ".php", "jpg") == "名" * 251 + ".jpg"
