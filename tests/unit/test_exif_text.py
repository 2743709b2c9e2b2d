"""The metadata's words: every formatter with what cameras and the stored JSON really hold, and junk."""
from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace

import pytest

from app.services import exif_text

JUNK = [None, "", "abc", "1/0", (1, 0), (1, 2, 3), [], True, float("nan"), float("inf"), 1e300, b"\xff"]


@pytest.mark.parametrize("function", [exif_text.exposure, exif_text.aperture, exif_text.focal_length,
                                      exif_text.iso, exif_text.flash, exif_text.metering_mode,
                                      exif_text.exposure_program, exif_text.white_balance,
                                      exif_text.altitude, exif_text.exposure_bias, exif_text.file_size])
@pytest.mark.parametrize("value", JUNK, ids=repr)
def test_junk_says_nothing(function, value):
    if function is exif_text.iso and isinstance(value, tuple) and value:
        return  # ISOSpeedRatings is a list of speeds, not a rational: its first is the ISO
    assert function(value) is None


@pytest.mark.parametrize("value, expected", [
    (0.013333333333333334, "1/75 s"), ((1, 75), "1/75 s"), ("1/75", "1/75 s"), ("0.004", "1/250 s"),
    (1 / 8000, "1/8000 s"), (0.5, "1/2 s"), (0.4, "0.4 s"), (1, "1 s"), (1.3, "1.3 s"), (30, "30 s"),
    ([10, 1], "10 s"), (0, None), (-1, None), ((0, 1), None)])
def test_exposure(value, expected):
    assert exif_text.exposure(value) == expected


@pytest.mark.parametrize("value, expected", [(5.9, "f/5.9"), (5.85, "f/5.8"), ((28, 10), "f/2.8"), (8, "f/8"),
                                             ("4.0", "f/4"), (0, None), (-2, None)])
def test_aperture(value, expected):
    assert exif_text.aperture(value) == expected


@pytest.mark.parametrize("mm, mm35, expected", [
    (24, 112, "24 mm (112 mm in 35 mm)"), (24.0, None, "24 mm"), (50, 50, "50 mm"), ((183, 10), "0", "18.3 mm"),
    (6.3, "junk", "6.3 mm"), (0, 112, None), (None, 112, None)])
def test_focal_length(mm, mm35, expected):
    assert exif_text.focal_length(mm, mm35) == expected


@pytest.mark.parametrize("value, expected", [(200, "ISO 200"), ([400, 0], "ISO 400"), ("1600", "ISO 1600"), (0, None)])
def test_iso(value, expected):
    assert exif_text.iso(value) == expected


@pytest.mark.parametrize("value, expected", [
    (0, "Did not fire"), (1, "Fired"), (16, "Did not fire (forced off)"), (24, "Did not fire (auto)"),
    (25, "Fired (auto)"), (9, "Fired (forced on)"), (31, "Fired (auto, return light detected)"),
    (15, "Fired (forced on, return light detected)"), (32, "No flash"), (89, "Fired (auto, red-eye reduction)"),
    ("16", "Did not fire (forced off)"), ([1], "Fired"), (16.0, "Did not fire (forced off)"),
    (-1, None), (0x80, None), (2.5, None)])
def test_flash_says_fired_and_its_mode(value, expected):
    assert exif_text.flash(value) == expected


@pytest.mark.parametrize("function, value, expected", [
    (exif_text.metering_mode, 5, "Multi-segment (matrix)"), (exif_text.metering_mode, 2, "Centre-weighted average"),
    (exif_text.metering_mode, 3, "Spot"), (exif_text.metering_mode, 255, "Other"), (exif_text.metering_mode, 7, None),
    (exif_text.exposure_program, 2, "Program AE"), (exif_text.exposure_program, "3", "Aperture priority"),
    (exif_text.exposure_program, 0, None), (exif_text.white_balance, 0, "Auto"), (exif_text.white_balance, 1, "Manual"),
    (exif_text.white_balance, 2, None)])
def test_enumerated_values_in_words(function, value, expected):
    assert function(value) == expected


@pytest.mark.parametrize("value, expected", [(0, "0 EV"), (0.0001, "0 EV"), ((2, 3), "+0.67 EV"), (-1, "−1 EV"),
                                             ("-1/3", "−0.33 EV")])
def test_exposure_bias(value, expected):
    assert exif_text.exposure_bias(value) == expected


@pytest.mark.parametrize("lat, lon, expected", [
    (43.4674483, 11.8851056, "43.46745° N, 11.88511° E"), (-33.8688, -151.2093, "33.86880° S, 151.20930° W"),
    (0, 0, "0.00000° N, 0.00000° E"), ("43.5", "-1.25", "43.50000° N, 1.25000° W"),
    (91, 0, None), (0, 181, None), (None, 10, None), ("north", 10, None)])
def test_coordinates_in_degrees_with_their_hemisphere(lat, lon, expected):
    assert exif_text.coordinates(lat, lon) == expected


@pytest.mark.parametrize("value, expected", [(120.4, "120 m above sea level"), (-27.6, "28 m below sea level"),
                                             (0.2, "At sea level"), (8848, "8,848 m above sea level"),
                                             ((1234, 10), "123 m above sea level")])
def test_altitude_above_and_below_sea_level(value, expected):
    assert exif_text.altitude(value) == expected


@pytest.mark.parametrize("w, h, expected", [(4032, 3024, "4,032 × 3,024 (12.2 MP)"), (100, 68, "100 × 68"),
                                            (640, 480, "640 × 480 (0.3 MP)"), (0, 10, None), ("wide", 10, None)])
def test_dimensions_with_megapixels(w, h, expected):
    assert exif_text.dimensions(w, h) == expected


@pytest.mark.parametrize("value, expected", [(0, "0 bytes"), (1, "1 byte"), (999, "999 bytes"), (1000, "1 KB"),
                                             (161_713, "162 KB"), (1_602_061, "1.6 MB"), (123_456_789, "123 MB"),
                                             (2_100_000_000, "2.1 GB"), (5e15, None), (-1, None)])
def test_file_size_in_kb_and_mb(value, expected):
    assert exif_text.file_size(value) == expected


def test_raw_values_as_the_table_shows_them():
    assert exif_text.raw([43.0, 28.0, 2.814]) == "43, 28, 2.814"
    assert exif_text.raw(0.013333333333333334) == "0.0133333"
    assert exif_text.raw("NIKON") == "NIKON"


def photo(**columns):
    empty = dict(camera_make=None, camera_model=None, lens=None, exposure_time=None, aperture=None,
                 focal_length=None, iso=None, exif=None, gps_latitude=None, gps_longitude=None, gps_altitude=None,
                 width=640, height=480, file_size=161_713, format="JPEG", taken_at=None,
                 uploaded_at=datetime(2026, 12, 5, 9, 47, 12))
    return SimpleNamespace(**{**empty, **columns})


def test_a_camera_photos_facts_in_words():
    facts = dict(exif_text.camera_facts(photo(
        camera_make="Canon", camera_model="Canon EOS 5D", exposure_time=1 / 75, aperture=5.9, focal_length=24,
        iso=200, exif={"FocalLengthIn35mmFilm": 112, "Flash": 16, "MeteringMode": 5, "ExposureProgram": 2,
                       "WhiteBalance": 0, "ExposureBiasValue": 0})))
    assert facts == {"Camera": "Canon EOS 5D", "Exposure": "1/75 s", "Aperture": "f/5.9",
                     "Focal length": "24 mm (112 mm in 35 mm)", "ISO": "ISO 200", "Exposure bias": "0 EV",
                     "Program": "Program AE", "Metering": "Multi-segment (matrix)",
                     "Flash": "Did not fire (forced off)", "White balance": "Auto"}


@pytest.mark.parametrize("make, model, expected", [
    ("Canon", "Canon EOS 5D", "Canon EOS 5D"), ("NIKON CORPORATION", "NIKON D70", "NIKON D70"),
    ("samsung", "SM-G935L", "samsung SM-G935L"), ("JK Imaging, Ltd.", "KODAK PIXPRO S-1", "JK Imaging, Ltd. KODAK PIXPRO S-1"),
    (None, "X100", "X100"), ("Fujifilm", None, "Fujifilm"), ("  ", None, None), (None, None, None)])
def test_the_camera_names_its_make_once(make, model, expected):
    assert exif_text.camera_name(make, model) == expected


def test_no_date_in_the_file_says_when_it_was_added():
    assert exif_text.date_line(photo()) == ("Added", "5 December 2026, 09:47 UTC")
    assert exif_text.date_line(photo(taken_at=datetime(2008, 10, 22, 16, 28, 39))) == ("Taken", "22 October 2008, 16:28")


def test_place_needs_both_coordinates():
    assert exif_text.place_facts(photo(gps_latitude=43.5, gps_altitude=-3)) == []
    assert exif_text.place_facts(photo(gps_latitude=43.5, gps_longitude=11.25, gps_altitude=-3)) == [
        ("Location", "43.50000° N, 11.25000° E"), ("Altitude", "3 m below sea level")]
