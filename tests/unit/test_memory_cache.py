"""The in-process cache (services/cache.MemoryCache): full, it drops its oldest quarter at once, keeps
what was set last, and answers what it holds."""
from __future__ import annotations

from app.services.cache import MemoryCache


def test_a_full_cache_drops_its_oldest_quarter_and_keeps_the_newest():
    cache = MemoryCache(threshold=20, default_timeout=300)
    for n in range(21):  # as SimpleCache, it holds one over the threshold before it prunes
        cache.set(f"k{n}", n, timeout=1000 + n)  # k0 expires first: the oldest
    assert all(cache.get(f"k{n}") == n for n in range(21))
    cache.set("k21", 21, timeout=2000)  # over the threshold: room is made first, down to 15
    assert [n for n in range(22) if cache.get(f"k{n}") is not None] == list(range(6, 22))
    for n in range(22, 27):  # room for five more without another prune
        cache.set(f"k{n}", n, timeout=2000 + n)
    assert [n for n in range(27) if cache.get(f"k{n}") is not None] == list(range(6, 27))


def test_expired_entries_go_before_live_ones():
    cache = MemoryCache(threshold=4, default_timeout=300)
    cache.set("gone", 1, timeout=1)
    cache._cache["gone"] = (1.0, cache._cache["gone"][1])  # expired long ago
    for n in range(4):
        cache.set(f"k{n}", n)
    assert cache.get("gone") is None and [cache.get(f"k{n}") for n in range(4)] == [0, 1, 2, 3]
