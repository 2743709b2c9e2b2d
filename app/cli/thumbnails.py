"""flask thumbnails: re-make the thumbnails of photos from their originals."""
from __future__ import annotations

import click
from flask.cli import AppGroup

from ..services import batch
from .progress import Progress, echo_list, quiet_logs, verbose_option, workers_option

thumbnails_cli = AppGroup("thumbnails", help="Re-make the thumbnails of photos.")


@thumbnails_cli.command("rebuild")
@click.option("--missing-only", is_flag=True, help="Make only the thumbnail files that are missing.")
@workers_option
@verbose_option
def rebuild(missing_only: bool, workers: int | None, verbose: bool):
    """Re-make the grid and preview thumbnails of every photo (of every account).

    Exits 1 when an original is missing or cannot be decoded; Ctrl-C stops it (exit 130).
    """
    with quiet_logs(verbose), Progress("Re-making thumbnails", "photos/s") as progress:
        try:
            report = batch.rebuild_thumbnails(missing_only, workers, on_start=progress.start,
                                              on_photo=progress.advance)
        except batch.BatchError as exc:
            raise click.ClickException(exc.message) from None
    click.echo(f"Re-made the thumbnails of {report.remade} of {report.to_remake} photos "
               f"({report.photos} in the gallery); {len(report.problems)} with problems.")
    echo_list("Problems (photo id, original)", report.problems)
    if report.stopped_by:
        click.echo("Stopped before the end.")
        raise SystemExit(128 + report.stopped_by)
    if not report.ok:
        raise SystemExit(1)


@thumbnails_cli.command("colours")
def colours():
    """Give the photos stored before placeholder colours were kept the colour of their grid thumbnail.

    Exits 1 when a grid thumbnail cannot be read (`flask thumbnails rebuild --missing-only` re-makes it).
    """
    from ..services import thumbnails
    report = thumbnails.fill_missing_colours()
    click.echo(f"Coloured {report.coloured} photos; {len(report.problems)} with problems.")
    echo_list("Problems (photo id, reason)", report.problems)
    if report.problems:
        raise SystemExit(1)
