"""config for running behind a proxy with several workers: the cache's key prefix, X-Accel-Redirect."""
from __future__ import annotations

import pytest

from app import config
from app.config import ConfigError, load_settings


def test_the_cache_prefix_and_accel_prefix_defaults():
    settings = load_settings(environ={})
    assert settings["CACHE_KEY_PREFIX"] == "gallery:"
    assert settings["ACCEL_REDIRECT_PREFIX"] is None


def test_the_cache_prefix_reaches_flask_caching_with_redis(tmp_path):
    settings = load_settings(environ={"GALLERY_CACHE_REDIS_URL": "redis://127.0.0.1:6379/0",
                                      "GALLERY_CACHE_KEY_PREFIX": "photos-b:", "GALLERY_DATA_DIR": str(tmp_path)})
    flask = config.flask_config(settings, str(tmp_path / "instance"))
    assert (flask["CACHE_TYPE"], flask["CACHE_KEY_PREFIX"]) == ("RedisCache", "photos-b:")


@pytest.mark.parametrize("value", ["/protected-photos", "/internal/photos", "/p"])
def test_an_accel_redirect_prefix_is_a_path(value):
    assert load_settings(environ={"GALLERY_ACCEL_REDIRECT_PREFIX": value})["ACCEL_REDIRECT_PREFIX"] == value


@pytest.mark.parametrize("value", ["protected-photos", "/", "/protected-photos/", "/protected photos",
                                   "/photos?x=1", "/photos#top", "/photos%2F", "http://nginx/protected"])
def test_a_bad_accel_redirect_prefix_is_refused_by_name(value):
    with pytest.raises(ConfigError, match="GALLERY_ACCEL_REDIRECT_PREFIX"):
        load_settings(environ={"GALLERY_ACCEL_REDIRECT_PREFIX": value})
