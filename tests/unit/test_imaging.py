"""imaging: decode() on the real photo corpus, the thumbnails it makes, and the files it refuses."""
from __future__ import annotations

import io
import os
import random
import struct
import subprocess
import sys
import threading
import zlib
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageOps, ImageStat

from app.config import SETTINGS
from app.errors import RejectedFile
from app.services import imaging

SIZES = {"preview": SETTINGS["PREVIEW_SIZE"][0], "grid": SETTINGS["GRID_SIZE"][0]}
MAX_PIXELS = SETTINGS["MAX_IMAGE_PIXELS"][0]
SAME_PICTURE = 8  # mean grey-level difference (0..255) under which two images show the same picture


def decode(path: Path, max_pixels: int = MAX_PIXELS) -> imaging.DecodedImage:
    return imaging.decode(path, max_pixels, SIZES)


def difference(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute difference of the two images as 48x48 greyscale: near 0 for the same picture."""
    small = [image.convert("L").resize((48, 48), Image.Resampling.BOX) for image in (a, b)]
    return ImageStat.Stat(ImageChops.difference(*small)).mean[0]


def opened(path: Path, draft: tuple[int, int] | None = None) -> Image.Image:
    """The file's pixels as Pillow alone sees them, loaded and with the file closed."""
    with Image.open(path) as image:
        if draft:
            image.draft("RGB", draft)
        return ImageOps.exif_transpose(image)


# --- every file of the corpus -------------------------------------------------------------------

def test_every_corpus_file_decodes_upright_at_its_display_size(corpus_row):
    decoded = decode(corpus_row["path"])
    display = int(corpus_row["display_width"]), int(corpus_row["display_height"])

    assert decoded.format == corpus_row["format"]
    assert (decoded.width, decoded.height) == display
    assert set(decoded.thumbnails) == set(SIZES)
    for name, edge in SIZES.items():
        thumbnail = decoded.thumbnails[name]
        long_edge = min(edge, max(display))  # never upscaled
        scale = long_edge / max(display)
        assert max(thumbnail.size) == long_edge, name
        assert thumbnail.width == pytest.approx(display[0] * scale, abs=1), name
        assert thumbnail.height == pytest.approx(display[1] * scale, abs=1), name
        assert thumbnail.mode in ("RGB", "L", "RGBA"), name
    assert len(decoded.icc_profile or b"") == int(corpus_row["icc_bytes"])


def test_a_photo_smaller_than_the_grid_is_never_upscaled(photos_dir):
    decoded = decode(photos_dir / "camera/canon-eos-40d_tiny.jpg")
    assert {name: image.size for name, image in decoded.thumbnails.items()} == {
        "preview": (100, 68), "grid": (100, 68)}


@pytest.mark.parametrize("size, edge, expected", [
    ((6000, 4000), 1600, (1600, 1067)),
    ((4000, 6000), 400, (267, 400)),
    ((100, 68), 400, (100, 68)),  # never larger than it was
    ((1600, 1600), 1600, (1600, 1600)),
    ((10_000, 3), 400, (400, 1)),  # never zero
])
def test_fitted_size(size, edge, expected):
    assert imaging.fitted_size(size, edge) == expected


# --- orientation --------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def upright(photos_dir) -> dict[str, dict[str, Image.Image]]:
    """The thumbnails of landscape_1 and portrait_1, whose EXIF orientation 1 means 'as stored'."""
    return {kind: decode(photos_dir / f"orientation/{kind}_1.jpg").thumbnails
            for kind in ("landscape", "portrait")}


@pytest.mark.parametrize("kind", ["landscape", "portrait"])
@pytest.mark.parametrize("orientation", range(9))
def test_every_exif_orientation_comes_out_upright(photos_dir, upright, kind, orientation):
    thumbnails = decode(photos_dir / f"orientation/{kind}_{orientation}.jpg").thumbnails
    for name in SIZES:
        assert thumbnails[name].size == upright[kind][name].size, name
        assert difference(thumbnails[name], upright[kind][name]) < SAME_PICTURE, name


@pytest.mark.parametrize("kind", ["landscape", "portrait"])
@pytest.mark.parametrize("transpose", [Image.Transpose.FLIP_LEFT_RIGHT, Image.Transpose.FLIP_TOP_BOTTOM,
                                       Image.Transpose.ROTATE_180])
def test_the_orientation_check_tells_a_turned_picture_apart(upright, kind, transpose):
    """Guards the test above: a mirrored or turned picture is far from the upright one."""
    grid = upright[kind]["grid"]
    assert difference(grid, grid.transpose(transpose)) > 3 * SAME_PICTURE


@pytest.mark.parametrize("file", [
    "camera/blackberry-z10_6mp_o6.jpg",
    "camera/canon-eos-1000d_10mp_o6.jpg",
    "large/leica-t-typ701_16mp_o8.jpg",
    "formats/nikon-coolpix-p7000_10mp_o6.webp",
    "formats/png-exif-orientation-3.png",
])
def test_real_rotated_photos_match_pillows_own_transpose(photos_dir, file):
    grid = decode(photos_dir / file).thumbnails["grid"]
    expected = opened(photos_dir / file, draft=(400, 400))
    assert grid.width / grid.height == pytest.approx(expected.width / expected.height, rel=0.01)
    assert difference(grid, expected) < SAME_PICTURE


def test_heic_orientation_tag_is_not_applied_a_second_time(photos_dir):
    """The Galaxy S10+ HEIC says orientation 6 in EXIF; libheif has already turned it upright."""
    path = photos_dir / "formats/samsung-galaxy-s10plus.heic"
    decoded = decode(path)
    assert (decoded.width, decoded.height) == (3024, 4032)
    assert decoded.thumbnails["grid"].size == (300, 400)
    with Image.open(path) as as_decoded_by_libheif:
        assert difference(decoded.thumbnails["grid"], as_decoded_by_libheif) < SAME_PICTURE


def test_cmyk_photo_keeps_its_tones_and_turns_upright(photos_dir):
    """The CMYK file (orientation 6) and the greyscale file are the same picture, stored landscape."""
    grid = decode(photos_dir / "odd/cmyk-orientation6-canon-5d3.jpg").thumbnails["grid"]
    expected = opened(photos_dir / "odd/grayscale-canon-5d3.jpg").transpose(Image.Transpose.ROTATE_270)
    assert grid.mode == "RGB"
    assert difference(grid, expected) < SAME_PICTURE  # inverted CMYK would be ~200 off


# --- modes, frames, colour profiles ---------------------------------------------------------------

@pytest.mark.parametrize("file, mode", [
    ("odd/cmyk-orientation6-canon-5d3.jpg", "RGB"),
    ("odd/grayscale-canon-5d3.jpg", "L"),
    ("odd/nintendo-3ds.mpo", "RGB"),
    ("formats/png-16bit-rgb.png", "RGB"),
    ("formats/png-palette-transparent.png", "RGBA"),
    ("formats/rotating-earth-animated.gif", "RGB"),
    ("formats/animated.webp", "RGB"),  # RGBA in the file, but every pixel is opaque
    ("formats/bsg1.tiff", "RGB"),  # likewise
    ("formats/8bit-srgb.avif", "RGB"),
    ("formats/iphone-11-pro.heic", "RGB"),
])
def test_unusual_files_give_display_modes(photos_dir, file, mode):
    decoded = decode(photos_dir / file)
    assert {image.mode for image in decoded.thumbnails.values()} == {mode}
    assert decoded.has_alpha == (mode == "RGBA")


def test_sixteen_bit_png_keeps_its_colours(photos_dir):
    """The Dutch flag: red, white and blue bands, not clipped to white by a bad 16-bit conversion."""
    grid = decode(photos_dir / "formats/png-16bit-rgb.png").thumbnails["grid"]
    red, white, blue = (grid.getpixel((grid.width // 2, y)) for y in (20, grid.height // 2, grid.height - 20))
    assert red[0] > 150 > red[2]
    assert min(white) > 240
    assert blue[2] > 100 > blue[0]


def test_sixteen_bit_greyscale_is_scaled_to_eight_bits(tmp_path):
    image = Image.new("I;16", (3, 1))
    for x, value in enumerate([0, 32768, 65535]):
        image.putpixel((x, 0), value)
    image.save(tmp_path / "grey16.png")
    grid = decode(tmp_path / "grey16.png").thumbnails["grid"]
    assert grid.mode == "L"
    assert [grid.getpixel((x, 0)) for x in range(3)] == [0, 128, 255]


def test_palette_transparency_is_kept_as_alpha(photos_dir):
    grid = decode(photos_dir / "formats/png-palette-transparent.png").thumbnails["grid"]
    low, high = grid.getextrema()[3]
    assert low < 255 == high


@pytest.mark.parametrize("mode, file_format, name", [
    ("LA", "PNG", "grey-alpha.png"),
    ("RGBA", "TIFF", "alpha.tif"),
    ("RGBA", "WEBP", "alpha.webp"),
    ("RGBA", "GIF", "transparent.gif"),
])
def test_real_transparency_in_any_format_is_kept(tmp_path, mode, file_format, name):
    image = Image.new(mode, (40, 30), (200,) * (len(mode) - 1) + (255,))
    image.paste((0,) * len(mode), (0, 0, 20, 30))  # left half fully transparent
    image.save(tmp_path / name, file_format, **({"lossless": True} if file_format == "WEBP" else {}))
    decoded = decode(tmp_path / name)
    assert decoded.thumbnails["grid"].mode == "RGBA"
    assert decoded.has_alpha
    assert decoded.thumbnails["grid"].getpixel((5, 15))[3] == 0
    assert decoded.thumbnails["grid"].getpixel((35, 15))[3] == 255


def test_animated_gif_gives_its_first_frame(photos_dir):
    path = photos_dir / "formats/rotating-earth-animated.gif"
    grid = decode(path).thumbnails["grid"]
    with Image.open(path) as animation:
        first = animation.convert("RGB")
        animation.seek(animation.n_frames // 2)
        middle = animation.convert("RGB")
    assert difference(grid, first) < 1
    assert difference(grid, middle) > SAME_PICTURE


def test_a_24_mp_jpeg_is_decoded_at_reduced_scale(photos_dir, monkeypatch):
    """draft(): the image handed to resizing is a fraction of 6000x4000, yet no smaller than the preview."""
    resized_from = []
    real_resize = imaging.resize_to_fit

    def spy(image, edge):
        resized_from.append(image.size)
        return real_resize(image, edge)

    monkeypatch.setattr(imaging, "resize_to_fit", spy)
    decoded = decode(photos_dir / "large/unsplash-craft-beer_24mp_progressive.jpg")
    assert (decoded.width, decoded.height) == (6000, 4000)  # the facts are the full size's
    assert SIZES["preview"] <= max(resized_from[0]) <= 3000
    assert decoded.thumbnails["preview"].size == (1600, 1067)


@pytest.mark.parametrize("file", ["large/samsung-galaxy-s7-edge_12mp.jpg", "large/canon-eos-5d_13mp_portrait.jpg",
                                  "large/unsplash-craft-beer_24mp_progressive.jpg"])
@pytest.mark.parametrize("bands", [2, 3])
def test_a_preview_resized_in_bands_matches_one_resize(photos_dir, monkeypatch, file, bands):
    """Bands resized in threads join without a seam: every pixel within a few levels of one resize()."""
    with Image.open(photos_dir / file) as image:
        image.draft("RGB", imaging.fitted_size(image.size, 1600))
        image.load()
    monkeypatch.setattr(imaging, "resize_bands", lambda size: bands)
    banded = imaging.resize_to_fit(image, 1600)
    whole = image.resize(banded.size, Image.Resampling.BICUBIC, reducing_gap=2.0)
    assert banded.size == imaging.fitted_size(image.size, 1600)
    worst = max(high for _, high in ImageChops.difference(banded, whole).getextrema())
    assert worst <= 6
    assert ImageStat.Stat(ImageChops.difference(banded, whole)).mean[0] < 0.5


@pytest.mark.parametrize("size, edge", [((1067, 1600), 400), ((1600, 1200), 400), ((2304, 1728), 1600),
                                        ((6000, 900), 400)])
def test_one_band_is_exactly_pillows_resize_with_its_reducing_gap(monkeypatch, size, edge):
    """The box reduce is per axis, as Pillow's own (a portrait preview to its grid size reduces the
    height by 2 and not the width; reducing neither made that resize three times dearer)."""
    image = Image.radial_gradient("L").resize(size).convert("RGB")
    monkeypatch.setattr(imaging, "resize_bands", lambda size: 1)
    ours = imaging.resize_to_fit(image, edge)
    pillows = image.resize(ours.size, Image.Resampling.BICUBIC, reducing_gap=2.0)
    assert ImageChops.difference(ours, pillows).getbbox() is None


def test_a_large_shrink_is_box_reduced_once_before_the_bands(monkeypatch):
    """A 4x shrink: the box reduce runs on the whole image, so the bands' filters still see past their edges."""
    image = Image.radial_gradient("L").resize((2400, 2400)).convert("RGB")
    monkeypatch.setattr(imaging, "resize_bands", lambda size: 2)
    banded = imaging.resize_to_fit(image, 600)
    whole = image.resize((600, 600), Image.Resampling.BICUBIC, reducing_gap=2.0)
    assert max(high for _, high in ImageChops.difference(banded, whole).getextrema()) <= 2


def test_a_forked_child_resizes_on_a_pool_of_its_own():
    """A forked child (a gunicorn worker of a preloaded app) has none of its parent's pool threads: a
    task sent to the parent's pool would wait for ever. It starts its own, with no fork hook needed."""
    code = """
import os
from app.services import imaging
parent = imaging.resize_pool()
parent.submit(int).result()
child = os.fork()
if child == 0:
    pool = imaging.resize_pool()
    os._exit(0 if pool is not parent and pool.submit(int, "42").result(timeout=20) == 42 else 1)
print(os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]))
"""
    result = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2],
                            capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.strip() == "0", result.stderr


def test_smaller_thumbnails_of_a_megapixel_or_more_finish_with_many_decodes_at_once(photos_dir):
    """The smaller thumbnails are made on the resize pool, in one piece even when large: a pool task
    that waited for band tasks could wait for ever once every pool thread did the same."""
    path = photos_dir / "large/kodak-pixpro-s1_16mp.jpg"  # 4640 x 3480
    sizes = {"large": 3000, "medium": 1500, "grid": 400}
    results: list[dict] = []

    def decode_and_read():
        results.append({name: image.size for name, image in imaging.decode(path, MAX_PIXELS, sizes).thumbnails.items()})

    callers = [threading.Thread(target=decode_and_read, daemon=True) for _ in range(2 * len(os.sched_getaffinity(0)) + 2)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(timeout=60)
    assert results == [{"large": (3000, 2250), "medium": (1500, 1125), "grid": (400, 300)}] * len(callers)


# --- colour profiles -----------------------------------------------------------------------------

@pytest.mark.parametrize("file, icc_bytes, carried", [("odd/icc-400kb-progressive.jpg", 399_788, False),
                                                      ("formats/denali.webp", 6_922, True)])
def test_a_small_colour_profile_is_carried_into_the_thumbnails_and_a_large_one_is_not(photos_dir, file, icc_bytes,
                                                                                      carried):
    decoded = decode(photos_dir / file)
    assert len(decoded.icc_profile) == icc_bytes
    assert decoded.thumbnail_profile == (decoded.icc_profile if carried else None)


# --- files that are refused -----------------------------------------------------------------------

def png_bytes(width: int, height: int, *, pixels: bool = True) -> bytes:
    """An 8-bit greyscale PNG built by hand; with pixels=False only its header claims a size."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    data = chunk(b"IDAT", zlib.compress(b"\0" * (width + 1) * height)) if pixels else b""
    return b"\x89PNG\r\n\x1a\n" + header + data + chunk(b"IEND", b"")


def bmp_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(buffer, "BMP")
    return buffer.getvalue()


def refusal(folder: Path, content: bytes, max_pixels: int = MAX_PIXELS) -> RejectedFile:
    path = folder / "upload.part"
    path.write_bytes(content)
    with pytest.raises(RejectedFile) as caught:
        decode(path, max_pixels)
    assert str(folder) not in caught.value.message  # a reason for a person, no server paths
    return caught.value


def first_half(path: Path) -> bytes:
    content = path.read_bytes()
    return content[: len(content) // 2]


NOT_IMAGES = {
    "zero-bytes": b"",
    "random-bytes": random.Random(7).randbytes(4096),
    "html": b"<!DOCTYPE html>\n<html><head><title>Photo</title></head><body><p>hello</p></body></html>\n",
    "svg": (b'<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" '
            b'width="64" height="64"><rect width="64" height="64" fill="red"/></svg>\n'),
    "bmp": bmp_bytes(),  # an image, but not in a format the gallery takes
}


@pytest.mark.parametrize("content", NOT_IMAGES.values(), ids=NOT_IMAGES.keys())
def test_a_file_that_is_not_a_supported_image_is_refused_as_unsupported(tmp_path, content):
    error = refusal(tmp_path, content)
    assert error.status == 415
    assert "not an image" in error.message and "JPEG" in error.message


def test_a_jpeg_cut_in_half_is_refused_as_damaged(photos_dir, tmp_path):
    error = refusal(tmp_path, first_half(photos_dir / "camera/nikon-coolpix-p6000_gps.jpg"))
    assert error.status == 400
    assert "damaged or truncated" in error.message


def test_a_png_without_pixel_data_is_refused_as_damaged(tmp_path):
    error = refusal(tmp_path, png_bytes(64, 64, pixels=False))
    assert error.status == 400
    assert "damaged or truncated" in error.message


@pytest.mark.parametrize("file", [
    "large/unsplash-craft-beer_24mp_progressive.jpg",
    "odd/icc-400kb-progressive.jpg",
    "formats/density-plot.png",
    "formats/denali.webp",
    "formats/lossless.webp",
    "formats/bsg1.tiff",
    "formats/8bit-srgb.avif",
])
def test_any_truncated_file_is_refused(photos_dir, tmp_path, file):
    assert refusal(tmp_path, first_half(photos_dir / file)).status in (400, 415)


HEIC_FILES = ["formats/iphone-11-pro.heic",  # meta first, then mdat to the end of the file
              "formats/samsung-galaxy-s10plus.heic"]  # mdat first, then meta and Samsung's "sefd" box
HEIF_CUTS = {"30%": lambda n: n * 3 // 10, "60%": lambda n: n * 6 // 10, "90%": lambda n: n * 9 // 10,
             "last-16-bytes-missing": lambda n: n - 16, "last-byte-missing": lambda n: n - 1}


@pytest.mark.parametrize("keep", HEIF_CUTS.values(), ids=HEIF_CUTS.keys())
@pytest.mark.parametrize("file", HEIC_FILES)
def test_a_truncated_heic_is_refused_as_damaged(photos_dir, tmp_path, file, keep):
    """libheif on its own decodes a cut HEIC without an error, the missing tiles grey."""
    content = (photos_dir / file).read_bytes()
    error = refusal(tmp_path, content[: keep(len(content))])
    assert error.status == 400
    assert "damaged or truncated" in error.message


@pytest.mark.parametrize("file", [*HEIC_FILES, "formats/8bit-srgb.avif"])
def test_a_whole_heif_file_passes_the_box_check_and_decodes(photos_dir, file):
    imaging.check_heif_boxes(photos_dir / file)
    assert decode(photos_dir / file).format in ("HEIF", "AVIF")


def box(kind: bytes, payload: bytes = b"", size: int | None = None) -> bytes:
    return struct.pack(">I4s", len(payload) + 8 if size is None else size, kind) + payload


FTYP = box(b"ftyp", b"heic\0\0\0\0mif1heic")
WHOLE_BOXES = {
    "64-bit-size": FTYP + box(b"mdat", struct.pack(">Q", 16 + 4) + b"data", size=1),
    "last-box-to-the-end": FTYP + box(b"mdat", b"data", size=0),
    "not-iso-media": png_bytes(4, 4)[:20],  # not the check's to judge
}
DAMAGED_BOXES = {
    "cut-in-a-box-header": FTYP + box(b"meta")[:5],
    "64-bit-size-past-the-end": FTYP + box(b"mdat", struct.pack(">Q", 16 + 5) + b"data", size=1),
    "impossible-size": FTYP + box(b"mdat", b"data", size=4),
    "too-many-boxes": FTYP + box(b"free") * imaging.MAX_HEIF_BOXES,
}


@pytest.mark.parametrize("content", WHOLE_BOXES.values(), ids=WHOLE_BOXES.keys())
def test_the_box_check_takes_whole_boxes(tmp_path, content):
    (tmp_path / "boxes").write_bytes(content)
    imaging.check_heif_boxes(tmp_path / "boxes")


@pytest.mark.parametrize("content", DAMAGED_BOXES.values(), ids=DAMAGED_BOXES.keys())
def test_the_box_check_refuses_cut_or_nonsense_boxes(tmp_path, content):
    (tmp_path / "boxes").write_bytes(content)
    with pytest.raises((EOFError, ValueError)):
        imaging.check_heif_boxes(tmp_path / "boxes")


def test_a_pixel_bomb_is_refused_before_decoding(tmp_path):
    error = refusal(tmp_path, png_bytes(100_000, 100_000, pixels=False))
    assert error.status == 413
    assert "100 MP" in error.message


@pytest.mark.parametrize("width, height", [(101, 100), (100, 101), (10_001, 1)])
def test_an_image_just_over_the_configured_limit_is_refused(tmp_path, width, height):
    error = refusal(tmp_path, png_bytes(width, height), max_pixels=10_000)
    assert error.status == 413
    assert "0.01 MP" in error.message


def test_an_image_exactly_at_the_configured_limit_is_taken(tmp_path):
    (tmp_path / "limit.png").write_bytes(png_bytes(100, 100))
    assert decode(tmp_path / "limit.png", max_pixels=10_000).width == 100


def test_the_configured_limit_is_what_counts_not_pillows_default(tmp_path):
    """Pillow on its own refuses more than 89.5 MP; the gallery's 100 MP setting must decide instead.

    The 90 MP header has no pixel data, so it is refused as damaged, but not as too large.
    """
    error = refusal(tmp_path, png_bytes(9_000, 10_000, pixels=False))
    assert error.status == 400
