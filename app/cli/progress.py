"""What the long-running commands share: options, a progress bar with a rate, quiet per-file
logs, and the lists of their summaries."""
from __future__ import annotations

import logging
import sys
import time

import click


class Progress:
    """A click progress bar opened once the total is known: count, rate and time left.

    Where the output is not a terminal, click prints the label once and nothing else.
    """

    def __init__(self, label: str, unit: str):
        self.label, self.unit = label, unit
        self.bar = None
        self.started = time.monotonic()

    def start(self, total: int) -> None:
        if total:
            self.started = time.monotonic()
            self.bar = click.progressbar(length=total, label=self.label, show_pos=True, show_eta=True,
                                         item_show_func=self.rate, file=sys.stderr)
            self.bar.__enter__()

    def advance(self, *_) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def rate(self, _item) -> str | None:
        elapsed = time.monotonic() - self.started
        return f"{self.bar.pos / elapsed:.1f} {self.unit}" if self.bar and self.bar.pos and elapsed > 0 else None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        if self.bar is not None:
            self.bar.__exit__(*exc_info)


class quiet_logs:
    """The app's per-file INFO lines would tear the bar apart: only warnings while it runs."""

    def __init__(self, verbose: bool):
        self.verbose = verbose
        self.logger = logging.getLogger("app")
        self.level = self.logger.level

    def __enter__(self):
        if not self.verbose:
            self.logger.setLevel(logging.WARNING)
        return self

    def __exit__(self, *exc_info):
        self.logger.setLevel(self.level)


def workers_option(function):
    return click.option("--workers", type=click.IntRange(1, 64), default=None,
                        help="Worker processes for the image work (default: one per CPU).")(function)


def verbose_option(function):
    return click.option("--verbose", "-v", is_flag=True, help="Log every file, not only problems.")(function)


def shown(name) -> str:
    """A name as printable text: one with control characters (a newline, an escape) is quoted."""
    text = str(name)
    return text if text.isprintable() else ascii(text)


def echo_list(title: str, entries: list[tuple]) -> None:
    """`title:` then one indented line per entry: its names, a colon, the reason."""
    if entries:
        click.echo(f"{title}:")
        for *names, reason in entries:
            click.echo(f"  {' '.join(shown(name) for name in names)}: {reason}")
