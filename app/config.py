"""Settings: defaults, then an optional TOML file, then GALLERY_* environment variables.

Every setting is checked once at start; a bad value raises ConfigError naming it,
and the app does not start.
"""
from __future__ import annotations

import os
import secrets
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# name -> (default, type).  A default of None means "no value unless given".
SETTINGS: dict[str, tuple[object, type]] = {
    "SECRET_KEY": (None, str),
    "DATA_DIR": (str(ROOT / "data"), str),
    "DATABASE_URL": (None, str),  # default: SQLite file under DATA_DIR
    "MAX_REQUEST_BYTES": (512 * 1024 * 1024, int),
    "MAX_FILES_PER_UPLOAD": (100, int),
    "MAX_IMAGE_PIXELS": (100_000_000, int),
    "GRID_SIZE": (400, int),
    "PREVIEW_SIZE": (1600, int),
    "JPEG_QUALITY": (85, int),
    "PAGE_SIZE": (60, int),
    "TRASH_DAYS": (30, int),  # days a photo stays in the trash before it is deleted for good
    "MAX_SELECTION": (5000, int),  # photos one selection action may name
    "CACHE_REDIS_URL": (None, str),
    "CACHE_TIMEOUT": (300, int),
    "CACHE_KEY_PREFIX": ("gallery:", str),  # keeps galleries sharing one Redis apart
    "ACCEL_REDIRECT_PREFIX": (None, str),  # e.g. /protected-photos: nginx sends the files (X-Accel-Redirect)
    "DB_RETRY_ATTEMPTS": (3, int),
    "TRUSTED_HOSTS": (None, list),  # host names the gallery answers to; others get 400
    "SECURE_COOKIES": (False, bool),  # set when served over HTTPS
    "LOGIN_ATTEMPTS_PER_MINUTE": (10, int),  # failed logins per account and address
    "PROXY_COUNT": (0, int),  # reverse proxies in front (nginx: 1); their X-Forwarded-* are trusted
    "INVOKEAI_URL": ("http://127.0.0.1:9090", str),  # "" or "off": generation is switched off
    "INVOKEAI_CONNECT_TIMEOUT": (3.0, float),  # seconds to open a connection
    "INVOKEAI_READ_TIMEOUT": (30.0, float),  # seconds between bytes of an answer
    "INVOKEAI_DEADLINE": (60.0, float),  # seconds for a whole call, however it trickles
    "INVOKEAI_MAX_IMAGES": (8, int),  # images in one generation session
    "INVOKEAI_MAX_IMAGE_BYTES": (64 * 1024 * 1024, int),  # largest image download
    "INVOKEAI_EMAIL": (None, str),  # credentials for InvokeAI's multi-user mode
    "INVOKEAI_PASSWORD": (None, str),
    # Map tiles ({z}/{x}/{y}); "" or "off" switches maps off: no map is shown and no tile asked for.
    "MAP_TILE_URL": ("https://tile.openstreetmap.org/{z}/{x}/{y}.png", str),
    "MAP_ATTRIBUTION": ("© OpenStreetMap contributors", str),  # shown on every map, as the tiles' terms ask
}
# Settings that "" or "off" switches off (None).
SWITCHABLE = {"INVOKEAI_URL", "MAP_TILE_URL"}
KIND_NAMES = {int: "whole number", float: "number", str: "string", bool: "true or false",
              list: "list of names"}
TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off"}

ENV_PREFIX = "GALLERY_"


class ConfigError(RuntimeError):
    """A setting has a value the gallery cannot run with."""


def load_settings(overrides: dict | None = None, environ=os.environ) -> dict:
    """Return the checked settings: defaults <- GALLERY_CONFIG file <- GALLERY_* <- overrides."""
    values = {name: default for name, (default, _) in SETTINGS.items()}
    config_file = environ.get(ENV_PREFIX + "CONFIG")
    if config_file:
        values.update(_read_file(config_file))
    for name, (_, kind) in SETTINGS.items():
        raw = environ.get(ENV_PREFIX + name)
        if name in SWITCHABLE and raw is not None and raw.strip().lower() in ("", "off"):
            values[name] = None
        elif raw is not None and raw != "":
            values[name] = _parse(name, raw, kind)
    values.update(overrides or {})
    _check(values)
    return values


def _read_file(path: str) -> dict:
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"GALLERY_CONFIG: cannot read {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"GALLERY_CONFIG: {path} is not valid TOML: {exc}") from exc
    unknown = sorted(set(data) - set(SETTINGS))
    if unknown:
        raise ConfigError(f"GALLERY_CONFIG: unknown setting(s) in {path}: {', '.join(unknown)}")
    for name in SWITCHABLE & set(data):  # "" or "off" switches it off here as in the environment
        if isinstance(data[name], str) and data[name].strip().lower() in ("", "off"):
            data[name] = None
    return data


def _parse(name: str, raw: str, kind: type):
    if kind is int:
        try:
            return int(raw.replace("_", ""))
        except ValueError:
            raise ConfigError(f"{ENV_PREFIX}{name} must be a whole number, not {raw!r}") from None
    if kind is float:
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(f"{ENV_PREFIX}{name} must be a number, not {raw!r}") from None
    if kind is bool:
        if raw.strip().lower() not in TRUE_WORDS | FALSE_WORDS:
            raise ConfigError(f"{ENV_PREFIX}{name} must be true or false, not {raw!r}")
        return raw.strip().lower() in TRUE_WORDS
    if kind is list:
        return [part.strip() for part in raw.split(",") if part.strip()]
    return raw


def _check(values: dict) -> None:
    for name, (_, kind) in SETTINGS.items():
        value = values.get(name)
        if value is None and SETTINGS[name][0] is not None and name not in SWITCHABLE:
            raise ConfigError(f"{ENV_PREFIX}{name} must be set")
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = values[name] = float(value)
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool) and kind is not bool):
            raise ConfigError(f"{ENV_PREFIX}{name} must be a {KIND_NAMES[kind]}, not {value!r}")
    positive = ["MAX_REQUEST_BYTES", "MAX_FILES_PER_UPLOAD", "MAX_IMAGE_PIXELS", "PAGE_SIZE",
                "CACHE_TIMEOUT", "DB_RETRY_ATTEMPTS", "LOGIN_ATTEMPTS_PER_MINUTE"]
    for name in positive:
        if values[name] < 1:
            raise ConfigError(f"{ENV_PREFIX}{name} must be at least 1, not {values[name]}")
    for name in ("GRID_SIZE", "PREVIEW_SIZE"):
        if not 16 <= values[name] <= 8192:
            raise ConfigError(f"{ENV_PREFIX}{name} must be between 16 and 8192 pixels, not {values[name]}")
    if values["GRID_SIZE"] > values["PREVIEW_SIZE"]:
        raise ConfigError(f"{ENV_PREFIX}GRID_SIZE must not be larger than {ENV_PREFIX}PREVIEW_SIZE")
    if not 1 <= values["JPEG_QUALITY"] <= 95:
        raise ConfigError(f"{ENV_PREFIX}JPEG_QUALITY must be between 1 and 95, not {values['JPEG_QUALITY']}")
    if not 1 <= values["TRASH_DAYS"] <= 3650:
        raise ConfigError(f"{ENV_PREFIX}TRASH_DAYS must be between 1 and 3650 days, not {values['TRASH_DAYS']}")
    # A selection's ids go to the database as one IN list, one bound parameter each: SQLite allows
    # 32766 of them in a statement (PostgreSQL 65535), so a selection stays well under that.
    if not 1 <= values["MAX_SELECTION"] <= 30000:
        raise ConfigError(f"{ENV_PREFIX}MAX_SELECTION must be between 1 and 30000 photos, not {values['MAX_SELECTION']}")
    if values["PAGE_SIZE"] > 500:
        raise ConfigError(f"{ENV_PREFIX}PAGE_SIZE must be at most 500, not {values['PAGE_SIZE']}")
    url = values["DATABASE_URL"]
    if url is not None and not url.startswith(("sqlite://", "postgresql")):
        raise ConfigError(f"{ENV_PREFIX}DATABASE_URL must be a sqlite:// or postgresql+psycopg:// URL")
    accel = values["ACCEL_REDIRECT_PREFIX"]
    if accel is not None and (not accel.startswith("/") or accel.endswith("/") or any(
            ch.isspace() or not ch.isprintable() or ch in "?#%" for ch in accel)):
        raise ConfigError(f"{ENV_PREFIX}ACCEL_REDIRECT_PREFIX must be a path such as /protected-photos: "
                          f"starting with / and not ending with one, not {accel!r}")
    redis_url = values["CACHE_REDIS_URL"]
    if redis_url is not None and not redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"{ENV_PREFIX}CACHE_REDIS_URL must be a redis:// URL")
    if not 0 <= values["PROXY_COUNT"] <= 5:
        raise ConfigError(f"{ENV_PREFIX}PROXY_COUNT must be between 0 and 5, not {values['PROXY_COUNT']}")
    for name in ("INVOKEAI_CONNECT_TIMEOUT", "INVOKEAI_READ_TIMEOUT", "INVOKEAI_DEADLINE"):
        if not 0 < values[name] <= 3600:
            raise ConfigError(f"{ENV_PREFIX}{name} must be between 0 and 3600 seconds, not {values[name]}")
    if not 1 <= values["INVOKEAI_MAX_IMAGES"] <= 64:
        raise ConfigError(f"{ENV_PREFIX}INVOKEAI_MAX_IMAGES must be between 1 and 64")
    if values["INVOKEAI_MAX_IMAGE_BYTES"] < 1024:
        raise ConfigError(f"{ENV_PREFIX}INVOKEAI_MAX_IMAGE_BYTES must be at least 1024")
    invokeai_url = values["INVOKEAI_URL"]
    if invokeai_url is not None and not invokeai_url.startswith(("http://", "https://")):
        raise ConfigError(f"{ENV_PREFIX}INVOKEAI_URL must be an http:// or https:// URL, or off")
    if (values["INVOKEAI_EMAIL"] is None) != (values["INVOKEAI_PASSWORD"] is None):
        raise ConfigError(f"{ENV_PREFIX}INVOKEAI_EMAIL and {ENV_PREFIX}INVOKEAI_PASSWORD go together")
    tiles = values["MAP_TILE_URL"]
    if tiles is not None and (not tiles.startswith(("http://", "https://")) or not all(
            part in tiles for part in ("{z}", "{x}", "{y}")) or any(ch.isspace() or ch in "'\"" for ch in tiles)):
        raise ConfigError(f"{ENV_PREFIX}MAP_TILE_URL must be an http:// or https:// URL with {{z}}, {{x}} and {{y}}, "
                          f"or off, not {tiles!r}")
    hosts = values["TRUSTED_HOSTS"]
    if hosts is not None and (not hosts or not all(isinstance(h, str) and h for h in hosts)):
        raise ConfigError(f"{ENV_PREFIX}TRUSTED_HOSTS must list one or more host names")
    if values["SECRET_KEY"] is not None and len(values["SECRET_KEY"]) < 16:
        raise ConfigError(f"{ENV_PREFIX}SECRET_KEY must be at least 16 characters long")


def flask_config(settings: dict, instance_path: str) -> dict:
    """Translate checked settings into the keys Flask and its extensions read."""
    data_dir = Path(settings["DATA_DIR"]).resolve()
    database_url = settings["DATABASE_URL"] or f"sqlite:///{data_dir / 'gallery.db'}"
    config = dict(settings)
    config.update(
        DATA_DIR=str(data_dir),
        SECRET_KEY=settings["SECRET_KEY"] or instance_secret_key(instance_path),
        SQLALCHEMY_DATABASE_URI=database_url,
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": False},  # an idle connection is pinged (database._ping_if_idle)
        MAX_CONTENT_LENGTH=settings["MAX_REQUEST_BYTES"],
        CACHE_DEFAULT_TIMEOUT=settings["CACHE_TIMEOUT"],
        CACHE_KEY_PREFIX=settings["CACHE_KEY_PREFIX"],
        TRUSTED_HOSTS=settings["TRUSTED_HOSTS"],
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings["SECURE_COOKIES"],
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=settings["SECURE_COOKIES"],
    )
    if settings["CACHE_REDIS_URL"]:
        config.update(CACHE_TYPE="RedisCache", CACHE_REDIS_URL=settings["CACHE_REDIS_URL"])
    else:
        config.setdefault("CACHE_TYPE", "app.services.cache.MemoryCache")  # SimpleCache, pruned in batches
    return config


def instance_secret_key(instance_path: str) -> str:
    """Read the secret key from the instance folder, making one on first start."""
    path = Path(instance_path) / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".secret_key.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # never readable by others
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32))
    try:
        os.link(temp, path)  # atomic: a second worker starting at once keeps the first key
    except FileExistsError:
        pass
    finally:
        temp.unlink()
    return path.read_text().strip()
