"""Compare two to four images side by side: the owner's photos (from the grid, an album, a tag, a search,
the trash) and a generation session's downloaded candidates not kept yet, whose files the gallery holds.

Each image's parameters are read in the words of its photo page (exif_text's formatters, the same
labels), then laid out as rows, one per parameter that any of them has: a row whose texts are not all
the same is marked as differing, so that "what changed between these two" reads at a glance (a seed,
a camera), and one the same for all is shown plainly.

A photo in the trash may be compared: it is still the owner's until deleted for good, and choosing
which of two near-twins to delete is what a comparison is for. Comparing reads only; nothing changes.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import contains_eager

from ..errors import UnknownPhotos
from ..extensions import db
from ..models import GenerationImage, GenerationSession, Photo
from . import exif_text
from .selection import BadSelection, ids_in

FEWEST, MOST = 2, 4

# (section, labels in the order shown). A label says what the photo page calls the same value.
SECTIONS = [
    ("Generation", ["Prompt", "Negative prompt", "Model", "Base", "Seed", "Scheduler", "Steps", "CFG scale",
                    "Guidance", "Size", "Strength", "Starting image"]),
    ("Camera", ["Camera", "Lens", "Exposure", "Aperture", "ISO", "Focal length", "Exposure bias", "Program",
                "Metering", "Flash", "White balance", "Taken"]),
    ("Place", ["Location", "Altitude"]),
    ("File", ["Dimensions", "File size", "Format"]),
]


@dataclass
class Compared:
    """One image of a comparison: a Photo, or a GenerationImage (a candidate), with its texts by label."""

    image: Photo | GenerationImage
    name: str
    width: int
    height: int
    values: dict[str, str] = field(default_factory=dict)
    in_trash: bool = False

    @property
    def is_candidate(self) -> bool:
        return isinstance(self.image, GenerationImage)


@dataclass
class Row:
    label: str
    values: list[str | None]  # one per image, in the comparison's order; None: the image has no such value

    @property
    def differs(self) -> bool:
        return len(set(self.values)) > 1


@dataclass
class Comparison:
    images: list[Compared]
    sections: list[tuple[str, list[Row]]]  # only the sections with a row, each only its rows with a value

    @property
    def differing(self) -> int:
        return sum(row.differs for _, rows in self.sections for row in rows)


def compare_photos(owner_id: int, photo_ids: list[int], candidate_ids: list[int] = ()) -> Comparison:
    """The owner's photos `photo_ids` then candidates `candidate_ids`, each in the order given, with their
    parameters as rows. BadSelection for fewer than FEWEST or more than MOST images; UnknownPhotos when
    any id is not the owner's (or, for a candidate, is not downloaded or was rejected)."""
    total = len(photo_ids) + len(candidate_ids)
    if not FEWEST <= total <= MOST:
        raise BadSelection(f"Select {FEWEST} to {MOST} images to compare; {total} "
                           f"{'was' if total == 1 else 'were'} selected.")
    photos = owned_photos(owner_id, photo_ids)
    candidates = owned_candidates(owner_id, candidate_ids)
    strengths = strengths_of([photo.id for photo in photos if photo.has_generation])
    started_from = {photo.derived_from_id for photo in photos} | {image.session.source_photo_id for image in candidates}
    starts = names_of(owner_id, started_from - {None})
    images = [compared_photo(photo, strengths.get(photo.id), starts) for photo in photos]
    images += [compared_candidate(image, starts) for image in candidates]
    return Comparison(images, rows_of(images))


def ids_to_compare(values: list[str], what: str = "photo") -> list[int]:
    """Ids as a URL sends them (repeated, or comma-separated), each once, in order; BadSelection naming
    the value that is not an id. How many is compare's to judge, with the candidates counted in."""
    return ids_in([part for value in values for part in value.split(",") if part], what)


def owned_photos(owner_id: int, photo_ids: list[int]) -> list[Photo]:
    found = {photo.id: photo for photo in db.session.scalars(
        select(Photo).where(Photo.owner_id == owner_id, Photo.id.in_(photo_ids)))} if photo_ids else {}
    if len(found) != len(photo_ids):
        raise UnknownPhotos("No such photo: one of the photos to compare is not in your gallery.")
    return [found[photo_id] for photo_id in photo_ids]


def owned_candidates(owner_id: int, image_ids: list[int]) -> list[GenerationImage]:
    """The owner's candidates whose files are here: downloaded (done) and not rejected (a rejected one's
    files go with the next discard)."""
    found = {image.id: image for image in db.session.scalars(
        select(GenerationImage).join(GenerationSession).options(contains_eager(GenerationImage.session))
        .where(GenerationSession.owner_id == owner_id, GenerationImage.id.in_(image_ids),
               GenerationImage.state == "done", GenerationImage.file_path.is_not(None),
               GenerationImage.decision != "rejected"))} if image_ids else {}
    if len(found) != len(image_ids):
        raise UnknownPhotos("No such generated image: one of the images to compare is not one of your "
                            "downloaded candidates.")
    return [found[image_id] for image_id in image_ids]


def strengths_of(photo_ids: list[int]) -> dict[int, float]:
    """The image-to-image strength of kept photos, from the sessions they were kept from (one query): the
    session keeps it after the starting photo is deleted (the photo's derived_from_id is then NULL)."""
    if not photo_ids:
        return {}
    return dict(db.session.execute(
        select(GenerationImage.photo_id, GenerationSession.strength).join(GenerationSession)
        .where(GenerationImage.photo_id.in_(photo_ids), GenerationSession.strength.is_not(None))).all())


def names_of(owner_id: int, photo_ids: set[int]) -> dict[int, str]:
    """The starting images' names: what a person recognises them by."""
    if not photo_ids:
        return {}
    return dict(db.session.execute(select(Photo.id, Photo.original_name)
                                   .where(Photo.owner_id == owner_id, Photo.id.in_(photo_ids))).all())


def compared_photo(photo: Photo, strength: float | None, starts: dict[int, str]) -> Compared:
    values = {}
    if photo.has_generation:
        values |= generation_values(photo.prompt, photo.negative_prompt, photo.model_name, photo.model_base)
        values |= dict(exif_text.generation_facts(photo))
        values |= image_to_image_values(strength, photo.derived_from_id, starts)
    values |= dict(exif_text.camera_facts(photo))
    if photo.taken_at:
        values["Taken"] = exif_text.date(photo.taken_at)
    values |= dict(exif_text.place_facts(photo))
    values |= {label: text for label, text in exif_text.file_facts(photo) if label != "Added"}
    return Compared(photo, photo.original_name, photo.width, photo.height, values, photo.trashed_at is not None)


def compared_candidate(image: GenerationImage, starts: dict[int, str]) -> Compared:
    """A candidate's parameters are its session's, but for its seed."""
    session = image.session
    values = generation_values(session.prompt, session.negative_prompt, session.model_name, session.model_base)
    values |= {label: text for label, text in [
        ("Seed", str(image.seed)), ("Steps", str(session.steps)),
        ("CFG scale", exif_text.decimal(session.cfg_scale, 2) if session.cfg_scale is not None else None),
        ("Guidance", exif_text.decimal(session.guidance, 2) if session.guidance is not None else None),
        ("Scheduler", session.scheduler), ("Size", f"{session.width} × {session.height}")] if text}
    values |= image_to_image_values(session.strength, session.source_photo_id, starts)
    values |= {label: text for label, text in [
        ("Dimensions", exif_text.dimensions(image.image_width, image.image_height)),
        ("File size", exif_text.file_size(image.file_size)), ("Format", image.format)] if text}
    return Compared(image, f"Seed {image.seed}", image.image_width or session.width,
                    image.image_height or session.height, values)


def generation_values(prompt, negative_prompt, model_name, model_base) -> dict[str, str]:
    return {label: text for label, text in [
        ("Prompt", prompt or "(empty)"), ("Negative prompt", negative_prompt or None),
        ("Model", model_name), ("Base", model_base)] if text}


def image_to_image_values(strength: float | None, start_id: int | None, starts: dict[int, str]) -> dict[str, str]:
    """Strength as the session page writes it; the starting image by its name (or "deleted")."""
    if strength is None:
        return {}
    start = starts.get(start_id) if start_id is not None else None
    return {"Strength": f"{strength:.2f}", "Starting image": f"{start} (photo {start_id})" if start else "Deleted"}


def rows_of(images: list[Compared]) -> list[tuple[str, list[Row]]]:
    sections = []
    for section, labels in SECTIONS:
        rows = [Row(label, [image.values.get(label) for image in images]) for label in labels]
        rows = [row for row in rows if any(value is not None for value in row.values)]
        if rows:
            sections.append((section, rows))
    return sections
