"""Flask CLI groups: flask users / photos / thumbnails / gallery / search / tokens (one module a group)."""
from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup, ScriptInfo
from sqlalchemy.exc import DBAPIError

from ..database import schema_gap
from .gallery import gallery_cli
from .photos import photos_cli
from .search import search_cli
from .thumbnails import thumbnails_cli
from .tokens import tokens_cli
from .users import users_cli

GROUPS = (users_cli, photos_cli, thumbnails_cli, gallery_cli, search_cli, tokens_cli)


def register_cli(app: Flask) -> None:
    for group in GROUPS:
        app.cli.add_command(group)


def say_when_upgrade_is_needed(group: AppGroup) -> None:
    """Make a database error of `group`'s commands one line naming `flask db upgrade` (exit 2), as the web
    pages answer 503, when the cause is a schema the migrations have not brought to this code's head."""
    run = group.invoke

    def invoke(ctx: click.Context):
        try:
            return run(ctx)
        except DBAPIError as exc:
            with ctx.ensure_object(ScriptInfo).load_app().app_context():  # the command's own has ended
                gap = schema_gap(exc)
            if gap is None:
                raise
            click.echo(f"Error: {gap}: run `flask --app app db upgrade` first.", err=True)
            ctx.exit(2)

    group.invoke = invoke


for _group in GROUPS:  # once a process: the groups are module objects every create_app registers again
    say_when_upgrade_is_needed(_group)
