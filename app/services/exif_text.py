"""A photo's metadata as words a person reads: "1/75 s", "f/5.9", "Fired (auto)", "43.47° N".

Pure functions of plain values. Each takes what a column or the stored EXIF dict may hold (a number,
a numeric string, a (numerator, denominator) pair, None, or junk a camera wrote) and returns text, or
None when there is nothing sensible to say: the page then leaves the row out.
"""
from __future__ import annotations

import math
from datetime import datetime
from fractions import Fraction

# EXIF 2.32 tag values (CIPA DC-008), in the words photo tools use for them.
METERING_MODES = {0: "Unknown", 1: "Average", 2: "Centre-weighted average", 3: "Spot", 4: "Multi-spot",
                  5: "Multi-segment (matrix)", 6: "Partial", 255: "Other"}
EXPOSURE_PROGRAMS = {1: "Manual", 2: "Program AE", 3: "Aperture priority", 4: "Shutter priority",
                     5: "Creative (slow speed)", 6: "Action (high speed)", 7: "Portrait", 8: "Landscape",
                     9: "Bulb"}
WHITE_BALANCES = {0: "Auto", 1: "Manual"}
FLASH_MODES = {1: "forced on", 2: "forced off", 3: "auto"}
FLASH_RETURNS = {2: "no return light detected", 3: "return light detected"}
LARGEST = 1e12  # past this no camera value is meant; huge numbers read as junk


def number(value) -> float | None:
    """A finite number from an int, a float, a numeric string or a (numerator, denominator) pair; None
    for anything else, a zero denominator included."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            return None
        top, bottom = number(value[0]), number(value[1])
        return top / bottom if top is not None and bottom else None
    if isinstance(value, (bytes, str)):
        text = value.decode("ascii", "replace") if isinstance(value, bytes) else value
        try:
            value = float(Fraction(text.strip())) if "/" in text else float(text)
        except (ValueError, ZeroDivisionError):
            return None
    try:
        result = float(value)
    except (TypeError, ValueError, OverflowError, ZeroDivisionError):
        return None
    return result if math.isfinite(result) and abs(result) <= LARGEST else None


def code(value) -> int | None:
    """An EXIF enumerated value as an int (EXIF readers give 5, 5.0, "5" or [5])."""
    if isinstance(value, (list, tuple)) and len(value) == 1:
        value = value[0]
    result = number(value)
    return int(result) if result is not None and result.is_integer() and result >= 0 else None


def decimal(value: float, places: int = 1) -> str:
    """2.0 -> "2", 5.85 -> "5.9": no trailing zeros."""
    text = f"{round(value, places):.{places}f}"
    return text.rstrip("0").rstrip(".") if places else text


def exposure(seconds) -> str | None:
    """1/75 s for a fraction of a second, 2 s or 1.3 s from a second on."""
    value = number(seconds)
    if value is None or value <= 0:
        return None
    if value >= 1:
        return f"{decimal(value)} s"
    if value > 0.3:  # 0.4 s reads better than 1/2.5 s
        denominator = 1 / value
        if abs(denominator - round(denominator)) > 0.05:
            return f"{decimal(value, 2)} s"
    return f"1/{round(1 / value)} s"


def aperture(f_number) -> str | None:
    value = number(f_number)
    return f"f/{decimal(value)}" if value is not None and value > 0 else None


def focal_length(mm, mm_35=None) -> str | None:
    """24 mm, or 24 mm (112 mm in 35 mm) when the camera says its 35 mm equivalent and it differs."""
    value, equivalent = number(mm), number(mm_35)
    if value is None or value <= 0:
        return None
    text = f"{decimal(value)} mm"
    if equivalent is not None and equivalent > 0 and round(equivalent) != round(value):
        text += f" ({decimal(equivalent, 0)} mm in 35 mm)"
    return text


def iso(speed) -> str | None:
    if isinstance(speed, (list, tuple)) and speed:
        speed = speed[0]
    value = number(speed)
    return f"ISO {decimal(value, 0)}" if value is not None and value > 0 else None


def exposure_bias(ev) -> str | None:
    value = number(ev)
    if value is None:
        return None
    return "0 EV" if round(value, 2) == 0 else f"{'+' if value > 0 else '−'}{decimal(abs(value), 2)} EV"


def flash(value) -> str | None:
    """EXIF Flash bits: 0 fired, 1-2 return light, 3-4 mode, 5 no flash, 6 red-eye reduction."""
    bits = code(value)
    if bits is None or bits > 0x7F:
        return None
    if bits & 0x20:
        return "No flash"
    details = [FLASH_MODES.get((bits >> 3) & 3), FLASH_RETURNS.get((bits >> 1) & 3),
               "red-eye reduction" if bits & 0x40 else None]
    words = "Fired" if bits & 1 else "Did not fire"
    details = [word for word in details if word]
    return f"{words} ({', '.join(details)})" if details else words


def _named(names: dict[int, str], value) -> str | None:
    key = code(value)
    return names.get(key) if key is not None else None


def metering_mode(value) -> str | None:
    return _named(METERING_MODES, value)


def exposure_program(value) -> str | None:
    return _named(EXPOSURE_PROGRAMS, value)


def white_balance(value) -> str | None:
    return _named(WHITE_BALANCES, value)


def coordinates(latitude, longitude) -> str | None:
    """43.47434° N, 11.88134° E (five places: about a metre)."""
    lat, lon = number(latitude), number(longitude)
    if lat is None or lon is None or abs(lat) > 90 or abs(lon) > 180:
        return None
    return (f"{abs(lat):.5f}° {'S' if lat < 0 else 'N'}, "
            f"{abs(lon):.5f}° {'W' if lon < 0 else 'E'}")


def altitude(metres) -> str | None:
    value = number(metres)
    if value is None:
        return None
    if round(value) == 0:
        return "At sea level"
    return f"{abs(value):,.0f} m {'below' if value < 0 else 'above'} sea level"


def dimensions(width, height) -> str | None:
    """4032 × 3024 (12.2 MP); megapixels only from 0.1 MP up."""
    w, h = number(width), number(height)
    if w is None or h is None or w <= 0 or h <= 0:
        return None
    text = f"{w:,.0f} × {h:,.0f}"
    megapixels = w * h / 1_000_000
    return f"{text} ({decimal(megapixels)} MP)" if megapixels >= 0.1 else text


def file_size(size) -> str | None:
    """Decimal units, as file managers and phones show them: 512 bytes, 156 KB, 1.6 MB, 2.1 GB."""
    value = number(size)
    if value is None or value < 0:
        return None
    if value < 1000:
        return f"{value:.0f} byte{'' if value == 1 else 's'}"
    for unit in ("KB", "MB", "GB", "TB"):
        value /= 1000
        if value < 1000 or unit == "TB":
            return f"{decimal(value, 0 if value >= 100 or unit == 'KB' else 1)} {unit}"
    return None


def date(moment: datetime | None) -> str | None:
    """5 December 2026, 09:47 (seconds are noise on a photo's page)."""
    if not isinstance(moment, datetime):
        return None
    return f"{moment.day} {moment:%B %Y, %H:%M}"


def raw(value) -> str:
    """A stored EXIF value as the raw table shows it: lists joined, rationals as their float."""
    if isinstance(value, (list, tuple)):
        return ", ".join(raw(item) for item in value)
    if isinstance(value, float):
        return f"{value:g}" if abs(value) < LARGEST else repr(value)
    return str(value)


# --- a photo's page: (label, text) rows, the ones with nothing to say left out -------------------

def camera_facts(photo) -> list[tuple[str, str]]:
    """What the camera recorded, from the photo's columns and its stored EXIF dict."""
    exif = photo.exif if isinstance(photo.exif, dict) else {}
    rows = [("Camera", camera_name(photo.camera_make, photo.camera_model)), ("Lens", photo.lens),
            ("Exposure", exposure(photo.exposure_time or exif.get("ExposureTime"))),
            ("Aperture", aperture(photo.aperture or exif.get("FNumber"))),
            ("Focal length", focal_length(photo.focal_length or exif.get("FocalLength"),
                                          exif.get("FocalLengthIn35mmFilm"))),
            ("ISO", iso(photo.iso or exif.get("ISOSpeedRatings"))),
            ("Exposure bias", exposure_bias(exif.get("ExposureBiasValue"))),
            ("Program", exposure_program(exif.get("ExposureProgram"))),
            ("Metering", metering_mode(exif.get("MeteringMode"))),
            ("Flash", flash(exif.get("Flash"))),
            ("White balance", white_balance(exif.get("WhiteBalance")))]
    return [(label, text) for label, text in rows if text]


def camera_name(make: str | None, model: str | None) -> str | None:
    """Make and model, the make left out when the model starts with its first word: "Canon EOS 5D",
    not "Canon Canon EOS 5D"; "NIKON D70", not "NIKON CORPORATION NIKON D70"."""
    make, model = (make or "").strip(), (model or "").strip()
    brand = make.split()[0].lower() if make else ""
    if brand and model.lower().startswith(brand):
        return model
    return " ".join(part for part in (make, model) if part) or None


def place_facts(photo) -> list[tuple[str, str]]:
    rows = [("Location", coordinates(photo.gps_latitude, photo.gps_longitude))]
    if rows[0][1]:
        rows.append(("Altitude", altitude(photo.gps_altitude)))
    return [(label, text) for label, text in rows if text]


def file_facts(photo) -> list[tuple[str, str]]:
    rows = [("Dimensions", dimensions(photo.width, photo.height)), ("File size", file_size(photo.file_size)),
            ("Format", photo.format)]
    if photo.taken_at:  # else the date line above says "Added"
        rows.append(("Added", date(photo.uploaded_at) + " UTC" if photo.uploaded_at else None))
    return [(label, text) for label, text in rows if text]


def date_line(photo) -> tuple[str, str]:
    """("Taken", its date) from the file's metadata, else ("Added", the upload's date in UTC)."""
    if photo.taken_at:
        return "Taken", date(photo.taken_at)
    return "Added", f"{date(photo.uploaded_at)} UTC"


def generation_facts(photo) -> list[tuple[str, str]]:
    """A generated image's parameters (the prompt is shown on its own, with a Copy button)."""
    size = (f"{photo.generation_width} × {photo.generation_height}"
            if photo.generation_width and photo.generation_height else None)
    rows = [("Model", photo.model_name), ("Seed", None if photo.seed is None else str(photo.seed)),
            ("Steps", str(photo.steps) if photo.steps else None),
            ("CFG scale", decimal(photo.cfg_scale, 2) if number(photo.cfg_scale) is not None else None),
            ("Guidance", decimal(photo.guidance, 2) if number(photo.guidance) is not None else None),
            ("Scheduler", photo.scheduler), ("Size", size)]
    return [(label, text) for label, text in rows if text]
