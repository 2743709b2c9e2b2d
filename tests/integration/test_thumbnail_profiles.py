"""Colour profiles and thumbnails: a thumbnail stays small whatever profile the photo carries, and a
wide-gamut photo (Display P3, Adobe RGB) looks the same in its thumbnails as in its original.

The profiles are built here (matrix/TRC profiles, as cameras and phones embed), padded with a
private tag to the size of the printer and LUT profiles that arrive in the wild.
"""
from __future__ import annotations

import io
import struct

import pytest
from PIL import Image, ImageCms

from app.extensions import db
from app.models import Photo

D50 = (0.9642, 1.0, 0.8249)
# Colorants adapted to D50, as the real profiles carry them.
DISPLAY_P3 = [(0.5151, 0.2412, -0.0011), (0.2920, 0.6922, 0.0419), (0.1571, 0.0666, 0.7841)]
ADOBE_RGB = [(0.6097, 0.3111, 0.0195), (0.2053, 0.6257, 0.0609), (0.1492, 0.0632, 0.7446)]
# Colours inside sRGB's gamut whose code values differ between these spaces by up to 60 levels.
PATCHES = [(200, 100, 50), (60, 160, 90), (90, 110, 200), (230, 200, 160), (128, 128, 128), (40, 40, 40)]
PATCH = 16  # pixels a side: solid enough that JPEG keeps each patch's centre
SAME_COLOUR = 6  # levels per channel: JPEG q85 on a solid patch, and 8-bit rounding of two transforms
SRGB = ImageCms.createProfile("sRGB")


def s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def srgb_curve() -> bytes:
    """The sRGB tone curve (Display P3 uses it) as a parametric curve of type 3."""
    return b"para" + bytes(4) + struct.pack(">HH", 3, 0) + b"".join(
        s15(v) for v in (2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045))


def gamma_curve(gamma: float) -> bytes:
    return b"curv" + bytes(4) + struct.pack(">IH", 1, round(gamma * 256))


def icc_profile(colorants: list[tuple[float, float, float]], curve: bytes, padding: int = 0) -> bytes:
    """An ICC v2 RGB display profile; `padding` bytes of a private tag make it as large as wanted."""
    def xyz(x: float, y: float, z: float) -> bytes:
        return b"XYZ " + bytes(4) + s15(x) + s15(y) + s15(z)

    tags = [(b"wtpt", xyz(*D50)), (b"rXYZ", xyz(*colorants[0])), (b"gXYZ", xyz(*colorants[1])),
            (b"bXYZ", xyz(*colorants[2])), (b"rTRC", curve), (b"gTRC", curve), (b"bTRC", curve)]
    if padding:
        tags.append((b"zpad", b"zpad" + bytes(4 + padding)))
    start = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for signature, body in tags:
        data += bytes(-(start + len(data)) % 4)
        table += signature + struct.pack(">II", start + len(data), len(body))
        data += body
    header = (struct.pack(">I", start + len(data)) + b"lcms" + bytes([2, 0x10, 0, 0]) + b"mntrRGB XYZ "
              + bytes(12) + b"acsp" + bytes(24) + bytes(4) + b"".join(s15(v) for v in D50) + bytes(48))
    return header + struct.pack(">I", len(tags)) + table + data


def patches_image(mode: str = "RGB") -> Image.Image:
    image = Image.new(mode, (PATCH * 3, PATCH * 2))
    for index, colour in enumerate(PATCHES):
        box = (index % 3 * PATCH, index // 3 * PATCH, (index % 3 + 1) * PATCH, (index // 3 + 1) * PATCH)
        image.paste(colour + ((200,) if mode == "RGBA" else ()), box)
    return image


def encoded(image: Image.Image, file_format: str, profile: bytes) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, file_format, icc_profile=profile, **({"quality": 95} if file_format == "JPEG" else {}))
    return buffer.getvalue()


def in_srgb(image: Image.Image) -> Image.Image:
    """What a colour-managed viewer shows: the pixels through the embedded profile (sRGB if none)."""
    profile = image.info.get("icc_profile")
    if not profile:
        return image
    return ImageCms.profileToProfile(image, ImageCms.ImageCmsProfile(io.BytesIO(profile)), SRGB,
                                     outputMode=image.mode)


def patch_colours(image: Image.Image) -> list[tuple[int, ...]]:
    scale = image.width / (PATCH * 3)
    return [image.getpixel((int((index % 3 + 0.5) * PATCH * scale), int((index // 3 + 0.5) * PATCH * scale)))[:3]
            for index in range(len(PATCHES))]


def thumbnails_of(app, client, photo_id: int) -> dict[str, bytes]:
    with app.test_request_context():
        photo = db.session.get(Photo, photo_id)
        urls = {size: photo.thumbnail_url(size) for size in ("grid", "preview")}
    thumbnails = {}
    for size, url in urls.items():
        with client.get(url) as answer:
            assert answer.status_code == 200
            thumbnails[size] = answer.get_data()
    return thumbnails


def test_a_huge_profile_is_not_copied_into_the_thumbnails(app, client, upload):
    """The report: a 32x24 JPEG with a 2 MB profile gave grid and preview files of 2,001,357 bytes."""
    profile = icc_profile(DISPLAY_P3, srgb_curve(), padding=2_000_000)
    response = upload(encoded(patches_image().resize((32, 24)), "JPEG", profile), "wide.jpg")
    assert response.status_code == 201

    for size, data in thumbnails_of(app, client, response.get_json()["files"][0]["photo_id"]).items():
        assert len(data) < 10_000, size  # a 32x24 JPEG; the profile alone was 2 MB


@pytest.mark.parametrize("colorants, curve", [(DISPLAY_P3, srgb_curve()), (ADOBE_RGB, gamma_curve(563 / 256))],
                         ids=["display-p3", "adobe-rgb"])
# Pillow reads a PNG profile of up to 1 MB (it refuses a larger one as damaged): 500 KB fits both formats.
@pytest.mark.parametrize("padding", [0, 500_000], ids=["small-profile", "500-kb-profile"])
@pytest.mark.parametrize("mode, file_format", [("RGB", "JPEG"), ("RGBA", "PNG")], ids=["jpeg", "png-alpha"])
def test_a_wide_gamut_photo_looks_the_same_in_its_thumbnails(app, client, upload, colorants, curve, padding,
                                                             mode, file_format):
    profile = icc_profile(colorants, curve, padding)
    original = encoded(patches_image(mode), file_format, profile)
    response = upload(original, f"wide.{file_format.lower()}")
    assert response.status_code == 201, response.get_json()
    with Image.open(io.BytesIO(original)) as image:
        expected = patch_colours(in_srgb(image))
    assert any(max(abs(a - b) for a, b in zip(shown, typed)) > 10 for shown, typed in zip(expected, PATCHES))

    for size, data in thumbnails_of(app, client, response.get_json()["files"][0]["photo_id"]).items():
        with Image.open(io.BytesIO(data)) as thumbnail:
            if padding:  # a large profile is not carried: the thumbnail's pixels are sRGB
                assert len(thumbnail.info.get("icc_profile") or b"") < 64 * 1024, size
            else:  # a small one is carried as it is, as before
                assert thumbnail.info.get("icc_profile") == profile, size
            assert thumbnail.mode == mode, size
            shown = patch_colours(in_srgb(thumbnail))
        for colour, want in zip(shown, expected):
            assert max(abs(a - b) for a, b in zip(colour, want)) <= SAME_COLOUR, (size, shown, expected)
