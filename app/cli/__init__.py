"""Flask CLI groups: flask users / photos / thumbnails / gallery (one module a group)."""
from __future__ import annotations

from flask import Flask

from .gallery import gallery_cli
from .photos import photos_cli
from .thumbnails import thumbnails_cli
from .users import users_cli


def register_cli(app: Flask) -> None:
    for group in (users_cli, photos_cli, thumbnails_cli, gallery_cli):
        app.cli.add_command(group)
