"""Values read from a file's metadata, made fit for the Photo columns: typed, in range and capped.

A value of the wrong type, out of its column's range or not finite is None (its column left empty),
never an error: the parsers of generator_metadata and comfyui_metadata read untrusted files.
"""
from __future__ import annotations

import json
import math
import re

MAX_PROMPT = 10_000  # characters kept of a prompt or negative prompt
MAX_SEED = 2**63 - 1  # the seed column is a signed 64-bit integer; ComfyUI's seeds reach 2**64 - 1


def parse_json(raw: str):
    """json.loads, or None for text that is not JSON (or nests past the interpreter's depth)."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError, TypeError):
        return None


def prompt_text(value) -> str | None:
    """A prompt as stored: its line breaks kept, other control characters, NUL and lone surrogates
    (which neither database stores) dropped, at most MAX_PROMPT characters."""
    if not isinstance(value, str):
        return None
    value = value[:MAX_PROMPT * 2]
    kept = "".join(ch if ch.isprintable() or ch == "\n" else " " if ch.isspace() else "" for ch in value)
    return kept.strip()[:MAX_PROMPT] or None


def short_text(value, limit: int) -> str | None:
    """A name on one line, at most `limit` characters."""
    if not isinstance(value, str):
        return None
    value = value[:limit * 4]
    kept = "".join(ch if ch.isprintable() else " " if ch.isspace() else "" for ch in value)
    return kept.strip()[:limit] or None


def whole(value, low: int, high: int, text: bool = False) -> int | None:
    """A whole number in [low, high], else None; with `text`, digits in a string count too (a JSON
    value of the wrong type does not)."""
    if text and isinstance(value, str):
        value = value.strip()
        value = int(value) if re.fullmatch(r"-?\d{1,20}", value) else None
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, int) and low <= value <= high else None


def number(value, text: bool = False) -> float | None:
    """A finite number, else None; with `text`, a decimal in a string counts too."""
    if text and isinstance(value, str) and re.fullmatch(r"\s*-?\d{1,12}(\.\d{1,12})?\s*", value):
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        value = float(value)
    except OverflowError:
        return None
    return value if math.isfinite(value) else None
