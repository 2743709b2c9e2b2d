"""flask search: the full-text index of the photos' words (services/search.py)."""
from __future__ import annotations

import click
from flask.cli import AppGroup

from ..extensions import db
from ..services import search

search_cli = AppGroup("search", help="The search index of the photos' words.")


@search_cli.command("rebuild")
def rebuild():
    """Make every photo's search document anew (of every account), in one transaction."""
    count = search.rebuild_search_index()
    db.session.commit()
    click.echo(f"Rebuilt the search index: {count} photos.")
