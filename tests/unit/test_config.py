"""config: defaults <- TOML file <- GALLERY_* environment; a bad value stops the start and names itself."""
from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from app import config
from app.config import ConfigError, load_settings

GOOD_KEY = "k" * 32


def write_toml(folder: Path, text: str) -> dict:
    """An environment whose GALLERY_CONFIG names a file holding `text`."""
    path = folder / "gallery.toml"
    path.write_text(text)
    return {"GALLERY_CONFIG": str(path)}


def test_defaults():
    settings = load_settings(environ={})
    assert settings["PAGE_SIZE"] == 60
    assert settings["TRASH_DAYS"] == 30
    assert settings["MAX_SELECTION"] == 5000
    assert (settings["GRID_SIZE"], settings["PREVIEW_SIZE"], settings["JPEG_QUALITY"]) == (400, 1600, 85)
    assert settings["MAX_IMAGE_PIXELS"] == 100_000_000
    assert settings["SECRET_KEY"] is None and settings["DATABASE_URL"] is None
    assert settings["CACHE_REDIS_URL"] is None
    assert Path(settings["DATA_DIR"]) == config.ROOT / "data"


def test_environment_values_are_parsed():
    settings = load_settings(environ={
        "GALLERY_PAGE_SIZE": "24",
        "GALLERY_MAX_IMAGE_PIXELS": "50_000_000",
        "GALLERY_DATABASE_URL": "postgresql+psycopg://gallery@127.0.0.1:5432/gallery",
        "GALLERY_CACHE_REDIS_URL": "redis://127.0.0.1:6379/0",
        "GALLERY_SECRET_KEY": GOOD_KEY,
        "GALLERY_DATA_DIR": "/srv/gallery",
        "GALLERY_GRID_SIZE": "",  # empty means unset
        "PAGE_SIZE": "7",  # no prefix: not ours
    })
    assert settings["PAGE_SIZE"] == 24
    assert settings["MAX_IMAGE_PIXELS"] == 50_000_000
    assert settings["DATABASE_URL"] == "postgresql+psycopg://gallery@127.0.0.1:5432/gallery"
    assert settings["CACHE_REDIS_URL"] == "redis://127.0.0.1:6379/0"
    assert settings["SECRET_KEY"] == GOOD_KEY
    assert settings["DATA_DIR"] == "/srv/gallery"
    assert settings["GRID_SIZE"] == 400


def test_a_toml_file_is_read_and_the_environment_wins_over_it(tmp_path):
    environ = write_toml(tmp_path, 'PAGE_SIZE = 30\nJPEG_QUALITY = 90\nDATA_DIR = "/srv/photos"\n')
    assert load_settings(environ=environ)["PAGE_SIZE"] == 30
    settings = load_settings(environ={**environ, "GALLERY_PAGE_SIZE": "40"})
    assert (settings["PAGE_SIZE"], settings["JPEG_QUALITY"], settings["DATA_DIR"]) == (40, 90, "/srv/photos")


def test_overrides_win_over_everything(tmp_path):
    environ = {**write_toml(tmp_path, "PAGE_SIZE = 30\n"), "GALLERY_PAGE_SIZE": "40"}
    assert load_settings({"PAGE_SIZE": 50}, environ=environ)["PAGE_SIZE"] == 50


@pytest.mark.parametrize("name, value", [
    ("GALLERY_PAGE_SIZE", "sixty"),
    ("GALLERY_PAGE_SIZE", "1.5"),
    ("GALLERY_PAGE_SIZE", "-5"),
    ("GALLERY_PAGE_SIZE", "0"),
    ("GALLERY_PAGE_SIZE", "501"),
    ("GALLERY_MAX_IMAGE_PIXELS", "0"),
    ("GALLERY_MAX_REQUEST_BYTES", "-1"),
    ("GALLERY_GRID_SIZE", "2000"),  # larger than the 1600 px preview
    ("GALLERY_GRID_SIZE", "8"),
    ("GALLERY_PREVIEW_SIZE", "100000"),
    ("GALLERY_JPEG_QUALITY", "0"),
    ("GALLERY_JPEG_QUALITY", "100"),
    ("GALLERY_DATABASE_URL", "mysql://gallery@localhost/gallery"),
    ("GALLERY_DATABASE_URL", "gallery.db"),
    ("GALLERY_CACHE_REDIS_URL", "http://127.0.0.1:6379"),
    ("GALLERY_SECRET_KEY", "short"),
    ("GALLERY_DB_RETRY_ATTEMPTS", "0"),
    ("GALLERY_TRASH_DAYS", "0"),
    ("GALLERY_TRASH_DAYS", "3651"),
    ("GALLERY_TRASH_DAYS", "a month"),
    ("GALLERY_MAX_SELECTION", "0"),
    ("GALLERY_MAX_SELECTION", "30001"),  # one IN list of ids must stay under SQLite's 32766 parameters
])
def test_a_bad_environment_value_is_refused_by_name(name, value):
    with pytest.raises(ConfigError, match=name):
        load_settings(environ={name: value})


@pytest.mark.parametrize("text, name", [
    ('PAGE_SIZE = "60"\n', "GALLERY_PAGE_SIZE"),  # a string where a number belongs
    ("PAGE_SIZE = true\n", "GALLERY_PAGE_SIZE"),
    ("PAGE_SIZE = 6.0\n", "GALLERY_PAGE_SIZE"),
    ("DATA_DIR = 5\n", "GALLERY_DATA_DIR"),
    ("GRID_SIZE = 1600\nPREVIEW_SIZE = 800\n", "GALLERY_GRID_SIZE"),
    ('SECRET_KEY = "short"\n', "GALLERY_SECRET_KEY"),
    ("PAGE_SIZE = 60\nTHUMB_SIZE = 200\n", "THUMB_SIZE"),  # unknown key
    ("[gallery]\nPAGE_SIZE = 60\n", "gallery"),  # a table is an unknown key too
    ("PAGE_SIZE = \n", "GALLERY_CONFIG"),  # not TOML
])
def test_a_bad_file_value_is_refused_by_name(tmp_path, text, name):
    with pytest.raises(ConfigError, match=name):
        load_settings(environ=write_toml(tmp_path, text))


@pytest.mark.parametrize("target", ["missing.toml", "."], ids=["missing", "a-folder"])
def test_an_unreadable_config_file_is_refused_by_name(tmp_path, target):
    path = tmp_path / target
    with pytest.raises(ConfigError, match="GALLERY_CONFIG: cannot read") as caught:
        load_settings(environ={"GALLERY_CONFIG": str(path)})
    assert str(path) in str(caught.value)


def test_instance_secret_key_is_made_once_and_kept_private(tmp_path):
    instance = tmp_path / "instance"
    key = config.instance_secret_key(str(instance))
    path = instance / "secret_key"
    assert len(key) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert config.instance_secret_key(str(instance)) == key
    assert [p.name for p in instance.iterdir()] == ["secret_key"]  # no temp file left behind


def test_instance_secret_key_differs_between_instances(tmp_path):
    assert config.instance_secret_key(str(tmp_path / "a")) != config.instance_secret_key(str(tmp_path / "b"))


def test_flask_config_fills_in_the_database_and_secret_key(tmp_path):
    settings = load_settings(environ={"GALLERY_DATA_DIR": str(tmp_path / "data")})
    flask = config.flask_config(settings, str(tmp_path / "instance"))
    assert flask["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'data' / 'gallery.db'}"
    assert flask["SECRET_KEY"] == (tmp_path / "instance" / "secret_key").read_text().strip()
    assert flask["MAX_CONTENT_LENGTH"] == settings["MAX_REQUEST_BYTES"]
    assert flask["CACHE_TYPE"] == "app.services.cache.MemoryCache"


# --- the README's settings table names every setting -------------------------------------------

def readme_settings_table() -> dict[str, list[str]]:
    """{backticked name in the first column: the row's cells} of the table under README's "## Settings"."""
    text = (config.ROOT / "README.md").read_text()
    section = text.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| `"):
            for name in re.findall(r"`([^`]+)`", cells[0]):
                rows[name] = cells
    return rows


def test_the_readme_lists_every_setting_and_only_those():
    table = readme_settings_table()
    assert set(table) == {config.ENV_PREFIX + name for name in config.SETTINGS} | {"GALLERY_CONFIG"}


def test_the_readme_gives_the_numeric_defaults_of_config_py():
    table = readme_settings_table()
    for name, (default, kind) in config.SETTINGS.items():
        if kind in (int, float):
            assert float(table[config.ENV_PREFIX + name][1]) == default, name


def test_the_readmes_toml_example_is_read_as_it_says(tmp_path):
    text = (config.ROOT / "README.md").read_text().split("\n## Settings\n", 1)[1]
    example = text.split("```toml\n", 1)[1].split("```", 1)[0]

    settings = load_settings(environ=write_toml(tmp_path, example))

    assert settings["PAGE_SIZE"] == 48 and settings["SECURE_COOKIES"] is True
    assert settings["TRUSTED_HOSTS"] == ["photos.example.org"]
    assert settings["INVOKEAI_URL"] is None  # "off" in the file switches generation off, as in the environment
