"""The gallery: a Flask application factory."""
from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask
from flask_migrate import Config as AlembicConfig

from . import database  # noqa: F401  (registers the SQLite pragmas on every engine)
from .config import ROOT, ConfigError, flask_config, load_settings
from .extensions import cache, csrf, db, login_manager, migrate

__all__ = ["create_app", "ConfigError"]


def create_app(config: dict | None = None) -> Flask:
    """Build the app from defaults, the optional config file, GALLERY_* and `config`.

    Touches neither the database nor the network; a bad setting raises ConfigError.
    """
    app = Flask(__name__, instance_path=str(ROOT / "instance"))
    settings = load_settings(config)
    app.config.update(flask_config(settings, app.instance_path))
    check_data_dir(Path(app.config["DATA_DIR"]))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "alembic"))
    cache.init_app(app)
    csrf.init_app(app)
    login_manager.init_app(app)

    from .blueprints import auth, generation, photos, thumbnails
    app.register_blueprint(auth.bp)
    app.register_blueprint(photos.bp)
    app.register_blueprint(generation.bp)
    app.register_blueprint(thumbnails.bp)

    from .cli import register_cli
    from .errors import register_error_pages
    from .security import register_security_headers
    register_cli(app)
    register_error_pages(app)
    register_security_headers(app)
    return app


@migrate.configure
def use_root_alembic_ini(config: AlembicConfig) -> AlembicConfig:
    """Read the single alembic.ini at the repository root (Flask-Migrate looks in alembic/)."""
    root_config = AlembicConfig(str(ROOT / "alembic.ini"), cmd_opts=config.cmd_opts)
    root_config.set_main_option("script_location", str(ROOT / "alembic"))
    return root_config


def check_data_dir(data_dir: Path) -> None:
    """Stop at start, saying why, when the data folder cannot be written."""
    photos = data_dir / "photos"
    try:
        photos.mkdir(parents=True, exist_ok=True)
        probe = photos / ".write-check"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"GALLERY_DATA_DIR: cannot write to {photos}: {exc.strerror}") from exc
