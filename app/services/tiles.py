"""A grid tile: its HTML (tile_html), and what its classes say without a style attribute (the
Content-Security-Policy allows none): its photo's shape, as one of ASPECTS steps, for the justified layout, and
its placeholder colour, as one of LEVELS ** 3 colours. static/tiles.css defines the classes; it is this
module's stylesheet(), written by `python -m app.services.tiles > app/static/tiles.css`
(tests/unit/test_tiles.py holds the two together).
"""
from __future__ import annotations

import html
import math
from functools import lru_cache

from markupsafe import Markup, escape

# A plain string's text for HTML, quotes included (&, <, >, " and '): the C replacements of the standard
# library's html.escape, half the time of markupsafe's escape, which also makes a Markup object of each.
quoted = html.escape

STEPS_PER_DOUBLING = 12  # aspect steps of 2 ** (1/12): a tile is within 3 % of its photo's shape
WIDEST = 24  # 4:1 either way; a wider panorama's tile is cropped to it
LEVELS = 6  # per channel: 216 placeholder colours, near enough to a photo's average


def aspect_step(width: int, height: int) -> int:
    """The photo's aspect ratio as a whole number of steps from square (negative: portrait)."""
    if width <= 0 or height <= 0:
        return 0
    return max(-WIDEST, min(WIDEST, round(STEPS_PER_DOUBLING * math.log2(width / height))))


def colour_level(colour: str) -> str:
    """'#rrggbb' as three digits 0 to LEVELS - 1, e.g. '#ff8000' -> '530'."""
    return "".join(str(round(int(colour[i:i + 2], 16) * (LEVELS - 1) / 255)) for i in (1, 3, 5))


@lru_cache(maxsize=8192)  # a page of the grid renders 60 of these on a cache miss; sizes and colours repeat
def tile_class(width: int, height: int, colour: str | None) -> str:
    """'a5 c530': the aspect class (a-3 for a portrait step) and, when the colour is known, the colour's."""
    step = aspect_step(width, height)
    aspect = f"a{step}" if step >= 0 else f"a_{-step}"
    return f"{aspect} c{colour_level(colour)}" if colour else aspect


def tiles_html(links, selectable: bool = True, link_class: str | None = None, size: int = 400,
               headings: dict[int, str] | None = None, ending=None) -> Markup:
    """The tiles of a grid, for photos/_tiles.html's `tiles`: each with the date heading before it when
    `headings` (photo id -> text) has one, its checkbox of the page's selection form when `selectable`, its
    link and thumbnail, the generated mark, and `ending(link)` (HTML: a call block's own, e.g. the trash's
    buttons) or the favourite heart. `links` are services/photos.py GridLinks; their photos GridPhotos,
    or rows of the trash's without a shape or an alt of their own.

    Written here as one string rather than in Jinja: the template's 60 tiles a page, with some twenty
    attribute look-ups, a dozen escapes and a macro call each, were a third of an uncached grid page's
    CPU (tests/benchmarks/bench_grid.py). Every value from a photo or a URL is escaped (`quoted`).
    """
    headings = headings or {}
    link_open = f'\n    <a class="{quoted(link_class)}" ' if link_class else "\n    <a "
    out = []
    for link in links:
        photo = link.photo
        name = quoted(photo.original_name)
        heading = headings.get(photo.id)
        if heading:
            out.append(f'<li class="heading"><h2>{quoted(heading)}</h2></li>\n  ')
        classes = getattr(photo, "tile_class", "")
        out.append(f'<li id="photo-{photo.id}" class="{classes}">' if classes else f'<li id="photo-{photo.id}">')
        if selectable:
            out.append(f'\n    <label class="pick"><input type="checkbox" name="ids" value="{photo.id}" '
                       f'form="selection"><span class="visually-hidden">Select {name}</span></label>')
        alt = getattr(photo, "alt", None)
        out.append(f'{link_open}href="{quoted(link.detail_url)}" title="{name}">'
                   f'\n      <img src="{quoted(link.grid_url)}" alt="{quoted(alt) if alt else name}"'
                   f'\n           width="{size}" height="{size}" loading="lazy" decoding="async">\n    </a>')
        if photo.source == "generated":
            out.append('\n    <span class="generated-mark" title="Generated image">AI</span>')
        if ending is not None:
            out.append(f"\n    {escape(ending(link))}\n  </li>\n  ")
        else:
            out.append(f'\n    <button type="button" class="heart" data-favourite-url="{quoted(link.favourite_url)}"'
                       f'\n            aria-pressed="{"true" if photo.favourite else "false"}" '
                       'aria-label="Favourite" hidden>♥</button>\n  </li>\n  ')
    return Markup("".join(out))


def stylesheet() -> str:
    lines = ["/* Made by `python -m app.services.tiles`: a grid tile's aspect (--ar, for the justified layout)",
             "   and placeholder colour, by class (services/tiles.py). Do not edit by hand. */"]
    for step in range(-WIDEST, WIDEST + 1):
        name = f"a{step}" if step >= 0 else f"a_{-step}"
        lines.append(f".grid li.{name} {{ --ar: {2 ** (step / STEPS_PER_DOUBLING):.4f}; }}")
    scale = [round(level * 255 / (LEVELS - 1)) for level in range(LEVELS)]
    for r in range(LEVELS):
        for g in range(LEVELS):
            for b in range(LEVELS):
                lines.append(f".grid li.c{r}{g}{b} {{ background-color: #{scale[r]:02x}{scale[g]:02x}{scale[b]:02x}; }}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(stylesheet(), end="")
