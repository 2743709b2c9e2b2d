"""The starting image of image to image: a photo's original as InvokeAI is given it.

The original is decoded once (at a reduced scale where JPEG allows), turned upright, cropped at its
centre to the shape of the chosen size and scaled to exactly that size: InvokeAI encodes the image
into latents of the image's own size, which must be the noise's. It goes as an RGB PNG (a photo's
colours converted to sRGB first), never the stored file itself, which stays as it is.
"""
from __future__ import annotations

import io
import math

from PIL import Image

from ..errors import RejectedFile
from ..models import Photo
from . import imaging, photos
from .graphs import Family
from .invokeai_models import InvalidParameter

MAX_STARTING_PIXELS = 16_777_216  # InvokeAI's upload takes images of at most this many pixels (resize_to)
DEFAULT_STRENGTH = 0.75  # InvokeAI's UI default for image to image


def default_size(photo: Photo, family: Family) -> tuple[int, int]:
    """The photo's shape at about the base's trained area, in multiples of the base's grid, at most 2048."""
    area = family.size * family.size
    scale = math.sqrt(area / (photo.width * photo.height))
    def fit(edge: float) -> int:
        return max(family.grid, min(2048, round(edge * scale / family.grid) * family.grid))
    return fit(photo.width), fit(photo.height)


def starting_image(photo: Photo, width: int, height: int) -> bytes:
    """The photo's original cropped to the shape of width x height and scaled to it, as PNG bytes.

    Raises InvalidParameter (field source_photo) when the original is larger than the gallery decodes or
    InvokeAI takes, or cannot be decoded any more."""
    if width * height > MAX_STARTING_PIXELS:
        raise InvalidParameter("width", f"InvokeAI takes starting images of at most {MAX_STARTING_PIXELS / 1e6:.1f} "
                                        "MP: choose a smaller size.")
    settings = photos.image_settings()
    cover = max(width / photo.width, height / photo.height)  # the scale at which the photo covers the size
    edge = max(1, math.ceil(max(photo.width, photo.height) * min(cover, 1.0)))
    try:
        decoded = imaging.decode(photos.original_file(photo), settings.max_pixels, {"start": edge})
    except RejectedFile as exc:
        raise InvalidParameter("source_photo", f"This photo cannot be a starting image: {exc.message}.") from None
    image = decoded.thumbnails["start"]
    profile = decoded.thumbnail_profile
    if profile is not None and (to_srgb := imaging.srgb_transform(profile, image.mode)) is not None:
        image = to_srgb.apply(image)
    image = flattened(image)
    scale = max(width / image.width, height / image.height)
    crop_w, crop_h = width / scale, height / scale
    left, top = (image.width - crop_w) / 2, (image.height - crop_h) / 2
    image = image.resize((width, height), Image.Resampling.LANCZOS, box=(left, top, left + crop_w, top + crop_h))
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=1)  # sent once over the local network: speed over size
    return buffer.getvalue()


def flattened(image: Image.Image) -> Image.Image:
    """RGB, transparency laid over white (as a viewer shows it), grey as grey."""
    if image.mode == "RGBA":
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image, mask=image.getchannel("A"))
        return background
    return image.convert("RGB")
