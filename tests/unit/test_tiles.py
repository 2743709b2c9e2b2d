"""A grid tile's classes (its aspect step and placeholder colour) and the stylesheet that defines them."""
from __future__ import annotations

from pathlib import Path

import pytest

from app.services import tiles

STATIC = Path(__file__).resolve().parents[2] / "app" / "static"


def test_the_committed_stylesheet_is_the_one_the_module_writes():
    assert (STATIC / "tiles.css").read_text() == tiles.stylesheet(), \
        "run: python -m app.services.tiles > app/static/tiles.css"


@pytest.mark.parametrize("size, colour, expected", [
    ((80, 60), "#ff1414", "a5 c500"),  # 4:3, red
    ((60, 90), None, "a_7"),  # 2:3 portrait, no colour known yet
    ((100, 100), "#808080", "a0 c333"),
    ((10_000, 100), "#ffffff", "a24 c555"),  # a panorama past 4:1 takes the widest class
    ((0, 0), "#000000", "a0 c000"),
])
def test_a_tile_class_names_its_aspect_step_and_colour(size, colour, expected):
    assert tiles.tile_class(*size, colour) == expected


def test_every_class_a_tile_can_have_is_in_the_stylesheet():
    css = tiles.stylesheet()
    for width, height in [(1, 100), (100, 1), (4, 3), (3, 4), (16, 9)]:
        for name in tiles.tile_class(width, height, "#7f3a09").split():
            assert f".grid li.{name} {{" in css
