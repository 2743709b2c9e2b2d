"""metadata: EXIF and InvokeAI columns from real photos, and from metadata that is broken on purpose."""
from __future__ import annotations

import json
import struct
from datetime import datetime
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin
from PIL.ExifTags import GPS, IFD, Base
from PIL.TiffImagePlugin import IFDRational

from app.services import generator_metadata, imaging, metadata

SMALL = {"grid": 64}  # the metadata does not depend on the thumbnail sizes


def columns_of(path: Path) -> dict:
    """The columns the upload path would store: decode, then read what the decode found."""
    decoded = imaging.decode(path, 100_000_000, SMALL)
    return metadata.photo_columns(decoded.exif, decoded.text)


# --- the real photos ----------------------------------------------------------------------------

# The manifest's dates are EXIF's; these files say theirs in PNG text ("Creation Time").
TEXT_DATES = {"formats/density-plot.png": datetime(2007, 2, 13, 6, 34, 38)}


def test_camera_columns_match_the_manifest(corpus_row):
    columns = columns_of(corpus_row["path"])
    taken = corpus_row["datetime_original"]

    assert columns["camera_make"] == (corpus_row["make"] or None)
    assert columns["camera_model"] == (corpus_row["model"] or None)
    expected = datetime.strptime(taken, "%Y:%m:%d %H:%M:%S") if taken else TEXT_DATES.get(corpus_row["file"])
    assert columns["taken_at"] == expected
    has_gps = corpus_row["gps"] == "yes"
    assert (columns["gps_latitude"] is not None) == has_gps
    assert (columns["gps_longitude"] is not None) == has_gps
    json.dumps(columns["exif"], allow_nan=False)  # the readable set is storable as JSON


@pytest.mark.parametrize("file, latitude, longitude", [
    ("camera/nikon-coolpix-p6000_gps.jpg", (43.4, 43.5), (11.8, 11.9)),  # Tuscany
    ("large/samsung-galaxy-s7-edge_12mp.jpg", (48.8, 48.9), (2.2, 2.3)),  # Paris, La Défense
])
def test_gps_position_is_in_the_right_place(photos_dir, file, latitude, longitude):
    columns = columns_of(photos_dir / file)
    assert latitude[0] < columns["gps_latitude"] < latitude[1]
    assert longitude[0] < columns["gps_longitude"] < longitude[1]


def test_an_empty_gps_block_gives_no_position(photos_dir):
    columns = columns_of(photos_dir / "large/moto-g9-plus_16mp_emptygps.jpg")
    assert columns["gps_latitude"] is columns["gps_longitude"] is columns["gps_altitude"] is None


def test_exposure_columns_of_a_real_photo(photos_dir):
    columns = columns_of(photos_dir / "camera/canon-eos-40d_tiny.jpg")
    assert (columns["focal_length"], columns["aperture"], columns["iso"]) == (135.0, 7.1, 100)
    assert columns["exposure_time"] == 1 / 160
    assert columns["exif"]["Model"] == "Canon EOS 40D"


# --- EXIF broken on purpose ---------------------------------------------------------------------

def exif_with(where: str, tag: int, value) -> Image.Exif:
    """An Exif holding one value: in IFD0 ("ifd0"), the Exif sub-IFD ("exif") or the GPS IFD ("gps")."""
    exif = Image.Exif()
    if where == "ifd0":
        exif[tag] = value
    else:
        exif.get_ifd(IFD.Exif if where == "exif" else IFD.GPSInfo)[tag] = value
    if where == "gps" and tag != GPS.GPSLongitude:
        exif.get_ifd(IFD.GPSInfo)[GPS.GPSLongitude] = (11.0, 53.0, 6.0)  # a good one beside the bad
    return exif


GOOD_VALUES = [
    ("ifd0", Base.Make, "Canon", "camera_make", "Canon"),
    ("ifd0", Base.Model, "NIKON D70\x00\x00\x00", "camera_model", "NIKON D70"),  # NUL padding
    ("exif", Base.LensModel, b"EF-S 18-55mm", "lens", "EF-S 18-55mm"),
    ("exif", Base.DateTimeOriginal, "2008:05:30 15:56:01", "taken_at", datetime(2008, 5, 30, 15, 56, 1)),
    ("exif", Base.FocalLength, IFDRational(50, 1), "focal_length", 50.0),
    ("exif", Base.FNumber, IFDRational(28, 10), "aperture", 2.8),
    ("exif", Base.ExposureTime, IFDRational(1, 250), "exposure_time", 0.004),
    ("exif", Base.ISOSpeedRatings, 400, "iso", 400),
    ("gps", GPS.GPSLatitude, (43.0, 28.0, 2.8), "gps_latitude", pytest.approx(43.4674444)),
]


def bad(case_id: str, where: str, tag: int, value, column: str):
    return pytest.param(where, tag, value, column, id=case_id)


BAD_VALUES = [
    bad("make-not-utf8", "ifd0", Base.Make, b"\xff\xfe\xfd\xfc", "camera_make"),
    bad("make-a-number", "ifd0", Base.Make, 12345, "camera_make"),
    bad("model-only-nuls", "ifd0", Base.Model, "\x00" * 32, "camera_model"),
    bad("lens-only-nul-bytes", "exif", Base.LensModel, b"\x00" * 32, "lens"),
    bad("lens-a-tuple", "exif", Base.LensModel, ("EF", "50mm"), "lens"),
    bad("date-zero", "exif", Base.DateTimeOriginal, "0000:00:00 00:00:00", "taken_at"),
    bad("date-blank", "exif", Base.DateTimeOriginal, "    :  :     :  :  ", "taken_at"),
    bad("date-30-february", "exif", Base.DateTimeOriginal, "2019:02:30 10:00:00", "taken_at"),
    bad("date-year-1", "exif", Base.DateTimeOriginal, "0001:01:01 00:00:00", "taken_at"),  # clock never set
    bad("date-a-number", "exif", Base.DateTimeOriginal, 20190101, "taken_at"),
    bad("date-not-utf8", "exif", Base.DateTimeOriginal, b"\xff\xff\xff", "taken_at"),
    bad("focal-length-x/0", "exif", Base.FocalLength, IFDRational(1, 0), "focal_length"),
    bad("focal-length-text", "exif", Base.FocalLength, "fifty", "focal_length"),
    bad("aperture-0/0", "exif", Base.FNumber, IFDRational(0, 0), "aperture"),
    bad("aperture-a-bool", "exif", Base.FNumber, True, "aperture"),
    bad("exposure-text", "exif", Base.ExposureTime, "1/250", "exposure_time"),
    bad("exposure-negative", "exif", Base.ExposureTime, IFDRational(-1, 250), "exposure_time"),
    bad("iso-text", "exif", Base.ISOSpeedRatings, "400", "iso"),
    bad("iso-negative", "exif", Base.ISOSpeedRatings, -400, "iso"),
    bad("iso-empty-tuple", "exif", Base.ISOSpeedRatings, (), "iso"),
    bad("latitude-x/0", "gps", GPS.GPSLatitude, (IFDRational(1, 0), 28.0, 2.8), "gps_latitude"),
    bad("latitude-over-90", "gps", GPS.GPSLatitude, (95.0, 0.0, 0.0), "gps_latitude"),
    bad("latitude-two-parts", "gps", GPS.GPSLatitude, (43.0, 28.0), "gps_latitude"),
    bad("latitude-text", "gps", GPS.GPSLatitude, "43.4674", "gps_latitude"),
    bad("latitude-zero", "gps", GPS.GPSLatitude, (0.0, 0.0, 0.0), "gps_latitude"),  # unset, not off Africa
    bad("latitude-a-bool", "gps", GPS.GPSLatitude, (True, 28.0, 2.8), "gps_latitude"),
]


@pytest.mark.parametrize("where, tag, value, column, expected", GOOD_VALUES,
                         ids=[case[3] for case in GOOD_VALUES])
def test_a_good_exif_value_fills_its_column(where, tag, value, column, expected):
    assert metadata.photo_columns(exif_with(where, tag, value), {})[column] == expected


@pytest.mark.parametrize("where, tag, value, column", BAD_VALUES)
def test_a_bad_exif_value_leaves_its_column_empty(where, tag, value, column):
    columns = metadata.photo_columns(exif_with(where, tag, value), {})
    assert columns[column] is None
    json.dumps(columns["exif"], allow_nan=False)


def test_a_huge_exif_string_is_cut_to_the_column_and_left_out_of_the_readable_set():
    columns = metadata.photo_columns(exif_with("ifd0", Base.Make, "Canon " * 200_000), {})
    assert columns["camera_make"].startswith("Canon")
    assert len(columns["camera_make"]) <= 128
    assert columns["exif"] is None


def test_multi_line_exif_text_keeps_its_words_apart():
    columns = metadata.photo_columns(exif_with("ifd0", Base.Model, "Canon\nEOS\t5D"), {})
    assert columns["camera_model"].split() == ["Canon", "EOS", "5D"]


def test_gps_south_and_west_are_negative_and_altitude_below_sea_level_too():
    exif = Image.Exif()
    gps = exif.get_ifd(IFD.GPSInfo)
    gps.update({GPS.GPSLatitudeRef: "S", GPS.GPSLatitude: (33.0, 52.0, 0.0),
                GPS.GPSLongitudeRef: "W", GPS.GPSLongitude: (70.0, 30.0, 0.0),
                GPS.GPSAltitudeRef: b"\x01", GPS.GPSAltitude: IFDRational(12, 1)})
    columns = metadata.photo_columns(exif, {})
    assert columns["gps_latitude"] == pytest.approx(-33.8666667)
    assert columns["gps_longitude"] == -70.5
    assert columns["gps_altitude"] == -12.0


def tiff_bytes(*entries: tuple[int, int, int, bytes]) -> bytes:
    """A little-endian TIFF header and one IFD of (tag, type, count, 4-byte value) entries."""
    ifd = struct.pack("<H", len(entries))
    ifd += b"".join(struct.pack("<HHI", tag, kind, count) + value for tag, kind, count, value in entries)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + b"\x00\x00\x00\x00"


MAKE = (Base.Make, 2, 4, b"Can\x00")
CORRUPT_BLOCKS = {
    "exif-ifd-past-the-end": tiff_bytes(MAKE, (Base.ExifOffset, 4, 1, struct.pack("<I", 99_999))),
    "exif-ifd-pointing-at-itself": tiff_bytes(MAKE, (Base.ExifOffset, 4, 1, struct.pack("<I", 8))),
    "exif-ifd-pointer-as-text": tiff_bytes(MAKE, (Base.ExifOffset, 2, 4, b"abc\x00")),
    "gps-ifd-past-the-end": tiff_bytes(MAKE, (Base.GPSInfo, 4, 1, struct.pack("<I", 4_000))),
    "gps-ifd-inside-the-header": tiff_bytes(MAKE, (Base.GPSInfo, 3, 1, struct.pack("<HH", 10, 0))),
}


@pytest.mark.parametrize("block", CORRUPT_BLOCKS.values(), ids=CORRUPT_BLOCKS.keys())
def test_a_corrupt_exif_block_never_raises(block):
    exif = Image.Exif()
    exif.load(block)
    columns = metadata.photo_columns(exif, {})
    assert columns["camera_make"] == "Can"
    assert columns["taken_at"] is None and columns["gps_latitude"] is None


# --- InvokeAI -----------------------------------------------------------------------------------

INVOKEAI = {  # what /api/v1/images/i/{name}/metadata returns, and the PNG's invokeai_metadata chunk holds
    "generation_mode": "txt2img", "positive_prompt": "a lighthouse on a cliff at sunset",
    "negative_prompt": "blurry", "width": 512, "height": 768, "seed": 1234, "rand_device": "cpu",
    "cfg_scale": 7.5, "steps": 30, "scheduler": "euler", "clip_skip": 0,
    "model": {"key": "a1b2c3", "hash": "blake3:00ff", "name": "stable-diffusion-v1-5", "base": "sd-1",
              "type": "main"},
    "app_version": "6.14.2",
}
INVOKEAI_COLUMNS = {
    "prompt": "a lighthouse on a cliff at sunset", "negative_prompt": "blurry", "seed": 1234,
    "model_name": "stable-diffusion-v1-5", "model_key": "a1b2c3", "steps": 30, "cfg_scale": 7.5,
    "scheduler": "euler", "generation_width": 512, "generation_height": 768,
}


def test_invokeai_metadata_fills_the_generation_columns():
    assert generator_metadata.invokeai_columns(json.dumps(INVOKEAI)) == INVOKEAI_COLUMNS


def test_an_empty_positive_prompt_stays_an_empty_prompt():
    assert generator_metadata.invokeai_columns(json.dumps({**INVOKEAI, "positive_prompt": ""}))["prompt"] == ""


def test_a_multi_line_prompt_keeps_its_words_apart():
    raw = json.dumps({**INVOKEAI, "positive_prompt": "a lighthouse\non a cliff"})
    columns = generator_metadata.invokeai_columns(raw)
    assert columns["prompt"].split() == ["a", "lighthouse", "on", "a", "cliff"]


@pytest.mark.parametrize("raw", ["", "not json", "{", "[1, 2]", "null", "42", '"a prompt"', "[" * 100_000],
                         ids=["empty", "text", "unclosed", "list", "null", "number", "string", "deep"])
def test_invokeai_metadata_that_is_not_an_object_gives_nothing(raw):
    assert generator_metadata.invokeai_columns(raw) == {}


WRONG_TYPES = {
    "positive_prompt": 5, "negative_prompt": ["blurry"], "seed": "1234", "steps": 0, "cfg_scale": "high",
    "scheduler": {"name": "euler"}, "width": -512, "height": 1.5, "model": "stable-diffusion-v1-5",
}


@pytest.mark.parametrize("key, value", WRONG_TYPES.items(), ids=WRONG_TYPES.keys())
def test_invokeai_value_of_the_wrong_type_leaves_its_column_empty(key, value):
    columns = generator_metadata.invokeai_columns(json.dumps({**INVOKEAI, key: value}))
    emptied = {column for column, filled in INVOKEAI_COLUMNS.items() if columns[column] != filled}
    assert emptied and all(columns[column] is None for column in emptied)


@pytest.mark.parametrize("value", [True, "7.5", float("nan"), float("inf")],
                         ids=["bool", "text", "nan", "inf"])
def test_cfg_scale_must_be_a_finite_number(value):
    assert generator_metadata.invokeai_columns(json.dumps({**INVOKEAI, "cfg_scale": value}))["cfg_scale"] is None


@pytest.mark.parametrize("value", [True, 2**64, -1, 12.5], ids=["bool", "too-big", "negative", "fraction"])
def test_seed_must_be_a_whole_number_in_range(value):
    assert generator_metadata.invokeai_columns(json.dumps({**INVOKEAI, "seed": value}))["seed"] is None


def test_an_invokeai_png_gives_its_columns_through_the_upload_path(tmp_path):
    info = PngImagePlugin.PngInfo()
    info.add_text("invokeai_metadata", json.dumps(INVOKEAI))
    info.add_text("invokeai_graph", json.dumps({"id": "graph", "nodes": {}, "edges": []}))
    Image.new("RGB", (64, 96), "navy").save(tmp_path / "generated.png", pnginfo=info)

    columns = columns_of(tmp_path / "generated.png")
    assert {name: columns[name] for name in INVOKEAI_COLUMNS} == INVOKEAI_COLUMNS
    assert columns["camera_make"] is None and columns["taken_at"] is None


def test_a_png_with_garbage_invokeai_metadata_still_gives_its_other_columns(tmp_path):
    info = PngImagePlugin.PngInfo()
    info.add_text("invokeai_metadata", "{not json")
    Image.new("RGB", (8, 8)).save(tmp_path / "generated.png", pnginfo=info)
    columns = columns_of(tmp_path / "generated.png")
    assert "prompt" not in columns and columns["camera_make"] is None


# --- a date for a file without EXIF's: PNG text, XMP, the tIME chunk ---------------------------

def png_file(tmp_path: Path, text: dict[str, str] | None = None, time_chunk: bytes | None = None) -> Path:
    info = PngImagePlugin.PngInfo()
    for key, value in (text or {}).items():
        info.add_itxt(key, value) if key.startswith("XML") else info.add_text(key, value)
    if time_chunk is not None:
        info.add(b"tIME", time_chunk)
    path = tmp_path / "made.png"
    Image.new("RGB", (8, 8), (10, 20, 30)).save(path, pnginfo=info)
    return path


XMP = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
       '<rdf:Description xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:CreateDate="{}"/></rdf:RDF></x:xmpmeta>')


@pytest.mark.parametrize("text, expected", [
    ({"Creation Time": "2024:03:01 10:20:30"}, datetime(2024, 3, 1, 10, 20, 30)),
    ({"Creation Time": "Sat, 05 Dec 2026 09:47:00 GMT"}, datetime(2026, 12, 5, 9, 47)),
    ({"Creation Time": "2025-07-14T08:00:00+02:00"}, datetime(2025, 7, 14, 8, 0)),
    ({"XML:com.adobe.xmp": XMP.format("2023-05-06T07:08:09Z")}, datetime(2023, 5, 6, 7, 8, 9)),
    ({"XML:com.adobe.xmp": "<x:xmpmeta><exif:DateTimeOriginal>2022-01-02T03:04:05</exif:DateTimeOriginal></x:xmpmeta>"},
     datetime(2022, 1, 2, 3, 4, 5)),
    ({"Creation Time": "yesterday", "XML:com.adobe.xmp": XMP.format("0000-00-00")}, None),
    ({"Creation Time": "0000:00:00 00:00:00"}, None),
])
def test_a_pngs_date_from_its_text(tmp_path, text, expected):
    assert columns_of(png_file(tmp_path, text))["taken_at"] == expected


def test_a_pngs_time_chunk_and_nothing_else_reads_as_none(tmp_path):
    assert metadata.png_time(png_file(tmp_path, time_chunk=struct.pack(">HBBBBB", 2026, 12, 5, 9, 47, 60))) == \
        datetime(2026, 12, 5, 9, 47, 59)  # 60: a leap second, allowed by PNG
    assert metadata.png_time(png_file(tmp_path, time_chunk=struct.pack(">HBBBBB", 2026, 13, 5, 9, 47, 0))) is None
    assert metadata.png_time(png_file(tmp_path)) is None
    jpeg = tmp_path / "a.jpg"
    Image.new("RGB", (8, 8)).save(jpeg)
    assert metadata.png_time(jpeg) is None


@pytest.mark.parametrize("format", ["JPEG", "WEBP"])
def test_an_xmp_create_date_of_a_jpeg_or_webp_without_exif(tmp_path, format):
    path = tmp_path / f"made.{format.lower()}"
    Image.new("RGB", (8, 8)).save(path, format, xmp=XMP.format("2021-04-05T06:07:08+02:00").encode())
    assert columns_of(path)["taken_at"] == datetime(2021, 4, 5, 6, 7, 8)


def test_exif_date_comes_before_the_pngs_text():
    exif = Image.Exif()
    exif.get_ifd(IFD.Exif)[Base.DateTimeOriginal] = "2020:01:01 12:00:00"
    columns = metadata.photo_columns(exif, {"Creation Time": "2024:03:01 10:20:30"})
    assert columns["taken_at"] == datetime(2020, 1, 1, 12, 0)
