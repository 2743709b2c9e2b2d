"""The gallery: a Flask application factory.

Importing this package loads nothing heavy (Flask, SQLAlchemy and the extensions are imported by
create_app), so a worker process that imports only app.services.processing stays small.
"""
from __future__ import annotations

import gc
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from .config import ROOT, ConfigError, flask_config, load_settings
from .services.storage import new_temp_path, photos_root, remove_stale_temp_files

if TYPE_CHECKING:
    from flask import Flask

__all__ = ["create_app", "ConfigError"]


def create_app(config: dict | None = None) -> Flask:
    """Build the app from defaults, the optional config file, GALLERY_* and `config`.

    Touches neither the database nor the network (on disk it checks the data folder and removes the
    temp files crashed processes left); a bad setting raises ConfigError. Every process that builds
    the app may ingest (web workers take uploads; the CLI imports, rebuilds and checks), so it tunes
    the process for that once (imaging.tune_process_for_ingest).
    """
    from flask import Flask
    from werkzeug.middleware.proxy_fix import ProxyFix

    from . import database  # registers the SQLite pragmas on every engine
    from .extensions import cache, csrf, db, login_manager, migrate
    from .services.imaging import tune_process_for_ingest

    app = Flask(__name__, instance_path=str(ROOT / "instance"))
    try:
        settings = load_settings(config)
        app.config.update(flask_config(settings, app.instance_path))
        check_data_dir(Path(app.config["DATA_DIR"]))
    except ConfigError as exc:
        exit_command_line(exc)
        raise
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    remove_stale_temp_files(photos_root(app.config["DATA_DIR"]))  # what a crashed worker left; no database
    remove_stale_temp_files(Path(app.config["DATA_DIR"]) / "shares")  # a crashed share link's copy (services/shares.py)
    tune_process_for_ingest()

    if app.config["PROXY_COUNT"]:
        # Behind nginx: the client's address (login throttling) and scheme come from X-Forwarded-*.
        count = app.config["PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "alembic"))
    cache.init_app(app)
    csrf.init_app(app)
    login_manager.init_app(app)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        app.before_request(database.read_without_transaction)  # first: before the user's row is read

    from .blueprints import (admin, albums, api, auth, compare, generation, maps, photos, search, selection, shares,
                             slideshow, tags, thumbnails, tokens, trash)
    app.register_blueprint(auth.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(photos.bp)
    app.register_blueprint(tags.bp)
    app.register_blueprint(albums.bp)
    app.register_blueprint(trash.bp)
    app.register_blueprint(search.bp)
    app.register_blueprint(selection.bp)
    app.register_blueprint(shares.bp)
    app.register_blueprint(generation.bp)
    app.register_blueprint(thumbnails.bp)
    app.register_blueprint(maps.bp)
    app.register_blueprint(slideshow.bp)
    app.register_blueprint(compare.bp)
    app.register_blueprint(tokens.bp)
    app.register_blueprint(api.bp)

    from .cli import register_cli
    from .errors import register_error_pages
    from .links import fixed_url, query_url
    from .security import register_security_headers
    app.add_template_global(fixed_url)
    app.add_template_global(query_url)
    register_cli(app)
    register_error_pages(app)
    register_security_headers(app)
    if not app.testing:
        # What this process made to get here (modules, the app, its routes and templates: some 130,000
        # objects) lives as long as the process: out of the cycle collector's sight, a full collection
        # takes about 0.01 ms instead of 60, a pause every request queued behind it would wait out
        # (tests/benchmarks/bench_search.py). Not under tests, whose apps come and go by the hundred.
        gc.freeze()
    return app


def exit_command_line(exc: ConfigError) -> None:
    """Under the `flask` command (any of its commands, `flask run` too), a bad setting is one line on
    stderr and exit status 2, as click reports a bad option; elsewhere (gunicorn, tests) this returns
    and the ConfigError goes on, its message naming the setting.

    The factory is where this can be done: Flask's CLI shows a traceback for any exception the
    factory raises, and a SystemExit is the one thing it lets through untouched.
    """
    import click

    if click.get_current_context(silent=True) is None:
        return
    click.echo(f"Error: {exc}", err=True)
    raise SystemExit(2)


def check_data_dir(data_dir: Path) -> None:
    """Stop at start, saying why, when the data folder cannot be written: photos/.tmp, where every
    write starts, and photos/ itself, where new folders (a new day's) are made."""
    photos = photos_root(data_dir)
    try:
        photos.mkdir(parents=True, exist_ok=True)
        probe = new_temp_path(photos)  # a temp name in .tmp: never taken for a stray photo
        probe.write_bytes(b"")
        probe.unlink()
        (photos / probe.name).mkdir()  # a folder: one a crash leaves here is no stray file either
        (photos / probe.name).rmdir()
    except OSError as exc:
        where = Path(exc.filename).parent if exc.filename else photos
        raise ConfigError(f"GALLERY_DATA_DIR: cannot write to {where}: {exc.strerror}") from exc
