"""Flask CLI groups: flask users / photos / thumbnails / gallery (one module a group)."""
from __future__ import annotations

from flask import Flask

from .users import users_cli


def register_cli(app: Flask) -> None:
    for group in (users_cli,):
        app.cli.add_command(group)
