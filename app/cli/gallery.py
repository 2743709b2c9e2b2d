"""flask gallery: check the data folder against the database; back both up; purge the trash."""
from __future__ import annotations

import os
from pathlib import Path

import click
from flask.cli import AppGroup

from ..services import backup as backup_service
from ..services import integrity, trash
from .progress import Progress, quiet_logs

gallery_cli = AppGroup("gallery", help="Check the data folder against the database; back both up; purge the trash.")
PROGRESS_FROM = 100  # rows or files: fewer finish before a bar would be worth reading
# purge-trash runs from cron beside the server: at this niceness the server's requests come first when
# both want the CPU (tests/benchmarks/bench_library.py reads the grid while it purges).
PURGE_NICENESS = 10


def start_when_many(progress: Progress):
    """on_start for a service: the bar opens only for PROGRESS_FROM items or more."""
    return lambda total: progress.start(total) if total >= PROGRESS_FROM else None


@gallery_cli.command("check")
@click.option("--repair", is_flag=True, help="Re-make missing and stale thumbnails, move files no row points "
                                             "to into data/quarantine/. Originals and rows are never deleted.")
@click.option("--verbose", "-v", is_flag=True, help="Log every file, not only problems.")
def check(repair: bool, verbose: bool):
    """Find missing originals, SHA-256 mismatches, undecodable originals, missing or stale thumbnails,
    files no row points to, and rows whose path leaves the photos folder; one line each, then a summary.

    Whatever the mode, it tidies what crashed processes left: stale temp files, and uploads, keeps and
    deletes interrupted before their commit (finished or undone as the process would have).
    Exits 0 when it found nothing, 1 when it repaired everything it found, 2 when problems remain.
    """
    with quiet_logs(verbose), Progress("Checking photos", "photos/s") as progress:
        report = integrity.check_gallery(repair, on_start=start_when_many(progress), on_item=progress.advance)
    for line in report.cleaned:
        click.echo(f"tidied: {line}")
    for finding in report.findings:
        click.echo(finding.line())
    click.echo(report.summary())
    raise SystemExit(report.exit_code)


@gallery_cli.command("backup")
@click.argument("dest", type=click.Path(path_type=Path))
def backup(dest: Path):
    """Back up into DEST (new or empty): the database first (DEST/gallery.db from SQLite's online backup,
    or DEST/gallery.sql from pg_dump), then the originals its rows point to under DEST/photos/, then
    DEST/manifest.json with the path, size and SHA-256 of every file. Thumbnails are not copied.

    Exits 1 when a file could not be copied (the backup holds the rest), with a line for each.
    """
    with Progress("Copying originals", "files/s") as progress:
        try:
            result = backup_service.backup(dest, on_start=start_when_many(progress), on_file=progress.advance)
        except backup_service.BackupError as exc:
            raise click.ClickException(exc.message) from None
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"Backed up the database ({result.database}) and {len(result.files) - 1} files, "
               f"{result.size / 1e6:.1f} MB in all, to {dest}; the list is in {dest / backup_service.MANIFEST}.")
    if result.warnings:
        raise SystemExit(1)


@gallery_cli.command("purge-trash")
@click.option("--verbose", "-v", is_flag=True, help="Log every photo deleted, not only problems.")
def purge_trash(verbose: bool):
    """Delete for good every photo whose GALLERY_TRASH_DAYS in the trash have passed (rows, originals,
    thumbnails), a batch of rows at a time; for cron, at a low CPU priority. Prints how many; exits 0."""
    os.nice(PURGE_NICENESS)
    with quiet_logs(verbose):
        deleted = trash.purge_expired()
    click.echo(f"Deleted {deleted} photo{'' if deleted == 1 else 's'} from the trash for good "
               f"(in the trash for more than {trash.trash_days()} days).")
