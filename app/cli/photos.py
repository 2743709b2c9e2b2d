"""flask photos: import folders of photos into a library."""
from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from ..services import batch
from .progress import Progress, echo_list, quiet_logs, verbose_option, workers_option

photos_cli = AppGroup("photos", help="Import photos from folders.")


@photos_cli.command("import")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--recursive", "-r", is_flag=True, help="Import the sub-folders too.")
@click.option("--user", "username", help="The account to import into (needed when there is more than one).")
@workers_option
@verbose_option
def import_photos(folder: Path, recursive: bool, username: str | None, workers: int | None, verbose: bool):
    """Import the image files of FOLDER with the checks of an upload; duplicates are skipped.

    Hidden files are left out and symbolic links are not followed out of FOLDER. Exits 1 when
    a file was rejected or failed; Ctrl-C stops it between files (exit 130), keeping what was
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
               f"failed {len(report.failed)} (of {report.found} files).")
    echo_list("Rejected", report.rejected)
    echo_list("Failed", report.failed)
    echo_list("Skipped", report.skipped)
    if report.stopped_by:
        click.echo("Stopped before the end; run the same command again to import the rest.")
        raise SystemExit(128 + report.stopped_by)  # the shell's code for a command ended by that signal
    if not report.ok:
        raise SystemExit(1)
