"""flask photos: import folders of photos into a library."""
from __future__ import annotations

from collections import Counter
from pathlib import Path, PurePath

import click
from flask.cli import AppGroup

from ..services import batch, names
from .progress import Progress, echo_list, quiet_logs, shown, verbose_option, workers_option

photos_cli = AppGroup("photos", help="Import photos from folders.")


@photos_cli.command("import")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--recursive", "-r", is_flag=True, help="Import the sub-folders too.")
@click.option("--user", "username", help="The account to import into (needed when there is more than one).")
@workers_option
@verbose_option
def import_photos(folder: Path, recursive: bool, username: str | None, workers: int | None, verbose: bool):
    """Import the image files of FOLDER with the checks of an upload; duplicates are skipped.

    Hidden files are left out, files not named as images (README, notes.txt, sidecar .json) are
    skipped, and symbolic links are not followed out of FOLDER. An image made by InvokeAI, A1111 /
    Forge or ComfyUI becomes a generated photo with its parameters, read from the file or from a
    sidecar of its name (image.txt with A1111's text, image.json or image.png.json); a prompt is
    kept to its first 10,000 characters. Exits 1 when an image file was
    rejected or failed; Ctrl-C stops it between files (exit 130), keeping what was
    imported, and a second Ctrl-C stops the workers at once.
    """
    try:
        owner = batch.import_owner(username)
    except batch.BatchError as exc:
        raise click.ClickException(exc.message) from None
    with quiet_logs(verbose), Progress(f"Importing into {owner.username}'s library", "files/s") as progress:
        try:
            report = batch.import_folder(folder, owner, recursive, workers, on_start=progress.start,
                                         on_file=progress.advance)
        except batch.BatchError as exc:
            raise click.ClickException(exc.message) from None
    click.echo(f"Imported {report.imported}, duplicates {report.duplicates}, rejected {len(report.rejected)}, "
               f"failed {len(report.failed)}, skipped {len(report.skipped)} "
               f"(of {report.found + len(report.skipped)} files).")
    echo_list("Rejected", report.rejected)
    echo_list("Failed", report.failed)
    echo_list("Skipped", [entry for entry in report.skipped if entry[1] != batch.NOT_AN_IMAGE])
    echo_not_images([path for path, reason in report.skipped if reason == batch.NOT_AN_IMAGE])
    if report.stopped_by:
        click.echo("Stopped before the end; run the same command again to import the rest.")
        raise SystemExit(128 + report.stopped_by)  # the shell's code for a command ended by that signal
    if not report.ok:
        raise SystemExit(1)


def echo_not_images(paths: list[str], listed: int = 10) -> None:
    """One line for the files skipped as not images: their names when few, else a count by extension
    (a Google Takeout folder holds a .json beside every photo)."""
    if not paths:
        return
    if len(paths) <= listed:
        click.echo(f"Skipped, not images by their names: {', '.join(shown(path) for path in paths)}")
        return
    kinds = Counter(f".{ext}" if (ext := names.extension(PurePath(path).name)) else "with no extension"
                    for path in paths)
    counts = ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0])))
    click.echo(f"Skipped, not images by their names: {len(paths)} files ({counts})")
