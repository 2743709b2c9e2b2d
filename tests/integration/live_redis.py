"""The machine's Redis for tests that share a cache between workers: skipped, saying why, when it is absent.

Each test gets its own key prefix, and its keys are deleted afterwards.
"""
from __future__ import annotations

import os
import secrets

import pytest
import redis

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def delete_keys(url: str, prefix: str) -> int:
    """Delete every key under `prefix`; how many there were."""
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=500))
        if keys:
            client.delete(*keys)
        return len(keys)
    finally:
        client.close()


@pytest.fixture(name="redis_cache")
def redis_cache_fixture() -> tuple[str, str]:
    """(url, key prefix) of the machine's Redis, with a prefix no other test run uses."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"no Redis at {REDIS_URL} ({exc}); set TEST_REDIS_URL to run the shared-cache tests")
    finally:
        client.close()
    prefix = f"gallery-test-{secrets.token_hex(6)}:"
    yield REDIS_URL, prefix
    delete_keys(REDIS_URL, prefix)
