"""Pillow: decode with limits, orientation, colour, and the resized images thumbnails are made of.

One decode serves both the checks and both thumbnail sizes: JPEGs are decoded at a reduced scale
(draft) when the largest thumbnail allows it, the preview is resized from the decoded image and the
grid size from the preview (in a thread, while the caller encodes the preview), and the rotation
from the EXIF orientation is applied to the small images, never to the full-size one.

Importing this module changes nothing in the process: a process that ingests calls
tune_process_for_ingest() once at its start.
"""
from __future__ import annotations

import ctypes
import io
import logging
import os
import struct
import sys
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageCms, PngImagePlugin, UnidentifiedImageError

from ..errors import RejectedFile
from . import metadata

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3  # glibc's mallopt() parameter
IMAGE_BLOCK_SIZE = 2 << 20  # Pillow allocates an image in blocks of this size ...
IMAGE_BLOCKS_KEPT = 24  # ... and keeps this many freed blocks (48 MB) for the next image
PNG_TEXT_CHUNK = 8 << 20  # bytes a compressed PNG text chunk may inflate to (see tune_process_for_ingest)
_tuned = False


def tune_process_for_ingest() -> None:
    """Set this process up to decode photo after photo: the one place that changes process-wide state.

    Called at the start of every process that ingests (create_app, for the web workers that take
    uploads and the CLI; each import or rebuild worker process); a second call does nothing.

    By default glibc raises its mmap threshold after the first large free and serves later large
    buffers from its heap, which it keeps: a worker's RSS stays high after its first large photo
    (tests/benchmarks/README.md has the figures). A fixed threshold turns that off, so large buffers (Pillow's image blocks,
    libjpeg's coefficient arrays) go back to the system when freed. Fetching them again costs
    page faults on every photo; so Pillow keeps up to 48 MB of its own freed blocks (what a 16 MP
    photo's decode and resize use at once) and reuses them. The peak does not grow by them: a
    decode takes the kept blocks instead of new ones, and before a progressive JPEG's decode, whose
    coefficients libjpeg holds beside the image, those the image will not take are given back
    (make_room_for_the_decoder), as before a HEIC's. PILLOW_BLOCK_SIZE / PILLOW_BLOCKS_MAX, when
    set, win.

    A compressed PNG text chunk may inflate to PNG_TEXT_CHUNK rather than Pillow's 1 MB, past which
    Pillow refuses the whole image: an AI tool's metadata (a 1 MB prompt, a large ComfyUI workflow)
    must not make its picture unreadable; generator_metadata reads at most MAX_RAW of it.
    """
    global _tuned
    if _tuned:
        return
    _tuned = True
    PngImagePlugin.MAX_TEXT_CHUNK = max(PngImagePlugin.MAX_TEXT_CHUNK, PNG_TEXT_CHUNK)
    if "PILLOW_BLOCK_SIZE" not in os.environ:
        Image.core.set_block_size(IMAGE_BLOCK_SIZE)  # above the mmap threshold, so never in glibc's heap
    if "PILLOW_BLOCKS_MAX" not in os.environ:
        Image.core.set_blocks_max(IMAGE_BLOCKS_KEPT)
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return  # not glibc (macOS has no mallopt): its allocator is left as it is
    mallopt(M_MMAP_THRESHOLD, 1 << 20)


def make_room_for_the_decoder(image: Image.Image) -> None:
    """Give back Pillow's kept blocks that would lie idle beside the decoder's own large buffers: a
    progressive JPEG's coefficients, which libjpeg holds all at once (more than the decoded image), or the planes
    libheif decodes a HEIC or AVIF into before the image is copied out of them. They are kept again
    as later images are freed."""
    if image.format in ("HEIF", "AVIF"):
        keep = 0  # the image is made after libheif's decode: no kept block is taken meanwhile
    elif image.info.get("progressive"):
        # The image (at draft scale) is made first, from kept blocks, as Pillow splits 4 bytes a pixel.
        lines_a_block = max(1, (Image.core.get_block_size() - Image.core.get_alignment() + 1) // (image.width * 4))
        keep = -(-image.height // lines_a_block)
    else:
        return
    kept = Image.core.get_blocks_max()
    if kept > keep:
        Image.core.set_blocks_max(keep)  # frees the cached blocks beyond it
        Image.core.set_blocks_max(kept)


# Pillow format name -> (extension for the stored original, content type)
FORMATS = {
    "JPEG": ("jpg", "image/jpeg"),
    "MPO": ("jpg", "image/jpeg"),
    "PNG": ("png", "image/png"),
    "WEBP": ("webp", "image/webp"),
    "GIF": ("gif", "image/gif"),
    "TIFF": ("tif", "image/tiff"),
    "HEIF": ("heic", "image/heic"),
    "AVIF": ("avif", "image/avif"),
}
# Pillow's openers to try; the JPEG opener also yields MPO. Nothing else is ever parsed.
OPENERS = [name for name in FORMATS if name != "MPO"]
OPENERS_WITHOUT_HEIF = [name for name in OPENERS if name != "HEIF"]  # until pillow-heif is registered
SUPPORTED = "JPEG, PNG, WebP, GIF, TIFF, HEIC or AVIF"

# EXIF orientation -> the transposes that make the image upright (0 and junk mean 1).
ORIENTATION_TRANSPOSES = {
    2: [Image.Transpose.FLIP_LEFT_RIGHT],
    3: [Image.Transpose.ROTATE_180],
    4: [Image.Transpose.FLIP_TOP_BOTTOM],
    5: [Image.Transpose.TRANSPOSE],
    6: [Image.Transpose.ROTATE_270],
    7: [Image.Transpose.TRANSVERSE],
    8: [Image.Transpose.ROTATE_90],
}
EXIF_ORIENTATION = 0x0112
SRGB_PROFILE = ImageCms.createProfile("sRGB")
# A photo's colour profile larger than this is not copied into its thumbnails: their pixels are
# converted to sRGB instead, and they carry no profile (a browser takes an untagged image as sRGB).
# The profiles cameras, phones and editors embed (sRGB, Display P3, Adobe RGB, ProPhoto) are matrix
# profiles of well under 10 KB, and even sRGB's v4 LUT profile (60 KB) stays below the bound, so
# those thumbnails keep their profile as before; printer and scanner profiles of hundreds of KB or
# several MB would outweigh a grid thumbnail (tens of KB) many times over.
MAX_THUMBNAIL_PROFILE = 64 * 1024


class Thumbnails(Mapping[str, Image.Image]):
    """A decode's upright thumbnail images by size, largest first. The largest is made before decode()
    returns; the smaller ones are made from it on the resize pool meanwhile, so their resizing runs
    while the caller encodes the largest (Pillow lets go of the GIL in both). Reading one of them
    waits until they are made."""

    def __init__(self, names: list[str], made: dict[str, Image.Image],
                 smaller: Future[dict[str, Image.Image]] | None = None):
        self._names, self._made, self._smaller = names, made, smaller

    def __getitem__(self, name: str) -> Image.Image:
        if name not in self._made and name in self._names and self._smaller is not None:
            self._made.update(self._smaller.result())
        return self._made[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


@dataclass
class DecodedImage:
    """What one decode of a file yields: its facts and its upright thumbnail images."""

    format: str
    width: int  # as displayed, after orientation
    height: int
    exif: Image.Exif
    text: dict[str, str]  # PNG text chunks, and any format's XMP packet under metadata.XMP_KEY
    thumbnails: Thumbnails
    icc_profile: bytes | None = None  # the photo's
    thumbnail_profile: bytes | None = None  # what the thumbnails carry: the photo's, or none when made sRGB
    keywords: tuple[str, ...] = ()  # IPTC Keywords and XMP dc:subject (metadata.keywords)

    @property
    def extension(self) -> str:
        return FORMATS[self.format][0]

    @property
    def mime_type(self) -> str:
        return FORMATS[self.format][1]

    @property
    def has_alpha(self) -> bool:
        return self.thumbnails[next(iter(self.thumbnails))].mode == "RGBA"  # the thumbnails share one mode


def decode(path: Path, max_pixels: int, sizes: dict[str, int]) -> DecodedImage:
    """Open and fully decode `path`, checking format and size; make the thumbnail images.

    `sizes` maps a thumbnail size's name to its long edge. Raises
    RejectedFile with a reason a person can read.
    """
    if Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS < max_pixels:
        Image.MAX_IMAGE_PIXELS = max_pixels  # Pillow's own guard (89.5 MP) must not undercut ours
    try:
        if check_heif_boxes(path):  # HEIC, HEIF or AVIF, whole
            register_heif()
        with Image.open(path, formats=OPENERS if heif_registered() else OPENERS_WITHOUT_HEIF) as image:
            return _decode_open(image, max_pixels, sizes)
    except UnidentifiedImageError:
        raise RejectedFile(f"not an image the gallery can read (it takes {SUPPORTED})", 415) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # Pillow's error (past twice its limit), its warning where warnings are errors (as in the
        # tests), or the gallery's own check right after open (_decode_open), which needs no filter
        raise RejectedFile(f"the image has more than the {max_pixels / 1e6:g} MP the gallery accepts", 413) from None
    except (OSError, SyntaxError, ValueError, EOFError, UserWarning) as exc:
        # a UserWarning is Pillow's "corrupt data" warning when warnings are errors (as in the tests)
        log.info("undecodable image %s: %s", path, exc)
        raise RejectedFile("the image is damaged or truncated and cannot be decoded", 400) from None


MAX_HEIF_BOXES = 1000  # a HEIF photo has a handful of top-level boxes (ftyp, meta, mdat, a vendor's)


def check_heif_boxes(path: Path) -> bool:
    """Whether `path` is an ISO media file ("ftyp" at byte 4: HEIC, HEIF, AVIF); raise EOFError
    (ValueError for a nonsense size) if it is one that was cut short. One read serves both, so
    decode() opens a JPEG's head once.

    libheif decodes a HEIC whose end is missing without an error, filling the lost tiles with grey,
    so the container is checked instead: each top-level box states its size, and a cut file ends
    inside one of them (mdat, or a vendor's box after it). Not caught: a cut exactly between two
    boxes (then meta or mdat is missing and the file is not opened at all, or only a box after the
    image is lost), or a last box of size 0 ("to the end of the file"), which cameras do not write.
    """
    with open(path, "rb") as file:
        if file.read(8)[4:8] != b"ftyp":
            return False  # not an ISO media file: Pillow's openers judge it
        end = file.seek(0, os.SEEK_END)
        position = 0
        for _ in range(MAX_HEIF_BOXES):
            if position == end:
                return True
            file.seek(position)
            header = file.read(16)
            if len(header) < 8:
                raise EOFError("the file ends inside a box header")
            size, kind = struct.unpack(">I4s", header[:8])
            if size == 0:  # the last box runs to the end of the file
                return True
            if size == 1 and len(header) == 16:  # a 64-bit size follows the type
                size = struct.unpack(">Q", header[8:])[0]
            if size < 8:
                raise ValueError(f"box {kind!r} has an impossible size {size}")
            if position + size > end:
                raise EOFError(f"box {kind!r} runs past the end of the file")
            position += size
    raise ValueError(f"more than {MAX_HEIF_BOXES} top-level boxes")


def heif_registered() -> bool:
    return "pillow_heif" in sys.modules and "HEIF" in Image.OPEN


def register_heif() -> None:
    """pillow-heif (libheif and its codecs) is loaded on the first ISO media file, so most processes
    never carry it."""
    if heif_registered():
        return
    import pillow_heif

    pillow_heif.register_heif_opener()


def _decode_open(image: Image.Image, max_pixels: int, sizes: dict[str, int]) -> DecodedImage:
    if image.width * image.height > max_pixels:
        raise Image.DecompressionBombError("over the configured limit")
    if image.width < 1 or image.height < 1:
        raise ValueError("empty image")
    exif = image.getexif()
    orientation = orientation_of(exif)
    upright = orientation in (5, 6, 7, 8)
    width, height = (image.height, image.width) if upright else image.size
    largest = max(sizes.values())
    if image.format in ("JPEG", "MPO"):
        image.draft(image.mode if image.mode in ("L", "CMYK") else "RGB", fitted_size(image.size, largest))
    make_room_for_the_decoder(image)
    image.load()  # the full decode: a truncated or damaged file fails here
    text = {k: v for k, v in getattr(image, "text", {}).items() if isinstance(v, str)}
    xmp = image.info.get("xmp")  # JPEG's APP1 and WebP's XMP chunk: kept under PNG's name for the packet
    if isinstance(xmp, bytes) and metadata.XMP_KEY not in text and len(xmp) <= metadata.MAX_XMP:
        text[metadata.XMP_KEY] = xmp.decode("utf-8", errors="replace")
    exif = image.getexif()  # PNG eXIf chunks after the pixel data are read by load()
    pixels, icc = to_display_mode(image)
    too_large = icc is not None and len(icc) > MAX_THUMBNAIL_PROFILE
    thumbnails = make_thumbnails(pixels, sizes, orientation, srgb_transform(icc, pixels.mode) if too_large else None)
    return DecodedImage(image.format, width, height, exif, text, thumbnails, icc, None if too_large else icc,
                        tuple(metadata.keywords(image)))


def make_thumbnails(pixels: Image.Image, sizes: dict[str, int], orientation: int,
                    to_srgb: ImageCms.ImageCmsTransform | None = None) -> Thumbnails:
    """The largest thumbnail image at once, the smaller ones each from the one before on the resize
    pool (see Thumbnails); each is turned upright after its resize, never the full-size image. With
    `to_srgb`, the largest is converted before the smaller are made from it: one conversion, of a
    small image, and no transform shared between threads."""
    order = sorted(sizes.items(), key=lambda item: -item[1])
    name, edge = order[0]
    largest = resize_to_fit(pixels, edge)
    if to_srgb is not None:
        largest = to_srgb.apply(largest)
    smaller = resize_pool().submit(make_smaller, largest, order[1:], orientation) if len(order) > 1 else None
    return Thumbnails([name for name, _ in order], {name: upright(largest, orientation)}, smaller)


def make_smaller(image: Image.Image, order: list[tuple[str, int]], orientation: int) -> dict[str, Image.Image]:
    made = {}
    for name, edge in order:
        image = resize_to_fit(image, edge, in_bands=False)  # on the pool already: it must not wait on it
        made[name] = upright(image, orientation)
    return made


def upright(image: Image.Image, orientation: int) -> Image.Image:
    for transpose in ORIENTATION_TRANSPOSES.get(orientation, []):
        image = image.transpose(transpose)
    return image


def orientation_of(exif: Image.Exif) -> int:
    value = exif.get(EXIF_ORIENTATION)
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def fitted_size(size: tuple[int, int], edge: int) -> tuple[int, int]:
    """The size of `size` scaled so its long edge is `edge`; never larger than it was."""
    scale = min(1.0, edge / max(size))
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def resize_to_fit(image: Image.Image, edge: int, in_bands: bool = True) -> Image.Image:
    """Bicubic, with a box reduce first when shrinking by 4x or more (Pillow's own thumbnail()):
    about 30 % less CPU than Lanczos (reducing_gap 3), for thumbnails within 2 grey levels RMS of
    Lanczos' (PSNR over 40 dB); tests/benchmarks/bench_ingest.py measures the pipeline.

    A large result is resized in horizontal bands on the CPUs at once (Pillow lets go of the GIL
    while it resamples): the preview of a 16 MP photo in about 60 % of the time on two.
    """
    size = fitted_size(image.size, edge)
    if size == image.size:
        return image
    # What reducing_gap does inside resize(), done once for the whole image: a box reduce by a
    # whole factor on each axis, then the resize reads the reduced image's exact share of it.
    factors = (int(image.width / size[0] / REDUCING_GAP) or 1, int(image.height / size[1] / REDUCING_GAP) or 1)
    box = (0.0, 0.0, image.width / factors[0], image.height / factors[1])
    if factors != (1, 1):
        image = image.reduce(factors)
    bands = resize_bands(size) if in_bands else 1
    if bands == 1:
        return image.resize(size, Image.Resampling.BICUBIC, box=box)
    return paste_bands(image, size, bands, box)


REDUCING_GAP = 2.0
BAND_PIXELS = 1_000_000  # smaller results are not worth a thread
_pool: ThreadPoolExecutor | None = None
_pool_pid = 0  # the process that started _pool


def resize_threads() -> int:
    """One per CPU, at most 4: the resize pool's threads, and the bands a large resize is cut into."""
    return min(len(os.sched_getaffinity(0)), 4)


def resize_pool() -> ThreadPoolExecutor:
    """The threads that resize bands and the smaller thumbnails, started on first use. A forked child
    has none of its parent's threads, so it starts a pool of its own (no fork hook needed)."""
    global _pool, _pool_pid
    if _pool is None or _pool_pid != os.getpid():
        _pool, _pool_pid = ThreadPoolExecutor(max_workers=resize_threads(), thread_name_prefix="resize"), os.getpid()
    return _pool


def resize_bands(size: tuple[int, int]) -> int:
    return resize_threads() if size[0] * size[1] >= BAND_PIXELS else 1


def paste_bands(image: Image.Image, size: tuple[int, int], bands: int, box: tuple[float, ...]) -> Image.Image:
    """Resize the `box` of `image` to `size` as `bands` horizontal bands in threads. Each band's box
    is in the source's coordinates and its filter reads the rows beyond the box, so no seam shows:
    the bands differ from a single resize() by rounding only (at most a few levels)."""
    scale = box[3] / size[1]
    cuts = [round(size[1] * k / bands) for k in range(bands + 1)]

    def band(k: int) -> Image.Image:
        part = (box[0], cuts[k] * scale, box[2], cuts[k + 1] * scale)
        return image.resize((size[0], cuts[k + 1] - cuts[k]), Image.Resampling.BICUBIC, box=part)

    result = Image.new(image.mode, size, None)  # not filled: the bands cover every row
    for k, part in enumerate(resize_pool().map(band, range(bands))):
        result.paste(part, (0, cuts[k]))
    return result


def to_display_mode(image: Image.Image) -> tuple[Image.Image, bytes | None]:
    """Convert to RGB, RGBA or L for display; returns the image and the ICC profile to keep."""
    icc = image.info.get("icc_profile") or None
    mode = image.mode
    if mode == "CMYK":
        return cmyk_to_rgb(image, icc), None
    if mode in ("RGB", "L"):
        return image, icc
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16-bit grey: scale to 8 bits rather than clipping everything above 255 to white
        return image.convert("I").point(lambda v: v * (1 / 256)).convert("L"), icc
    if mode == "F":
        return image.convert("L"), icc
    if mode in ("RGBA", "LA", "La", "RGBa", "PA") or (mode == "P" and "transparency" in image.info):
        converted = image.convert("RGBA")
        if converted.getextrema()[3][0] == 255:  # fully opaque after all
            return converted.convert("RGB"), icc
        return converted, icc
    if mode == "1":
        return image.convert("L"), icc
    return image.convert("RGB"), icc


def srgb_transform(icc: bytes, mode: str) -> ImageCms.ImageCmsTransform | None:
    """A transform from the photo's profile to sRGB for images of `mode` (RGB, RGBA or L; alpha is
    carried over); None, and the profile dropped, when the profile cannot be used."""
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        return ImageCms.buildTransform(source, SRGB_PROFILE, mode, "RGBA" if mode == "RGBA" else "RGB")
    except (ImageCms.PyCMSError, OSError) as exc:
        log.info("ICC profile unusable, thumbnails made without it: %s", exc)
        return None


def cmyk_to_rgb(image: Image.Image, icc: bytes | None) -> Image.Image:
    if icc:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            return ImageCms.profileToProfile(image, source, SRGB_PROFILE, outputMode="RGB")
        except (ImageCms.PyCMSError, OSError) as exc:
            log.info("CMYK ICC profile unusable, converting without it: %s", exc)
    return image.convert("RGB")
