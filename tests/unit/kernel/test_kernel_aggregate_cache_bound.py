"""The aggregate cache alone: bounded, least recently used first out, newer state kept."""

from __future__ import annotations

from kernel.aggregate_cache import AggregateCache, Entry


def test_the_least_recently_used_stream_leaves_when_the_bound_is_reached() -> None:
    cache = AggregateCache(max_entries=2)
    cache.keep({"stock/A": Entry(1, "a"), "stock/B": Entry(1, "b")})
    assert cache.get("stock/A") == Entry(1, "a")  # A is now the most recently used

    cache.keep({"stock/C": Entry(1, "c")})

    assert len(cache) == 2
    assert "stock/B" not in cache
    assert cache.get("stock/A") == Entry(1, "a")
    assert cache.get("stock/C") == Entry(1, "c")


def test_an_older_state_committed_later_does_not_replace_a_newer_one() -> None:
    cache = AggregateCache()
    cache.keep({"stock/A": Entry(5, "five")})
    cache.keep({"stock/A": Entry(4, "four")})
    assert cache.get("stock/A") == Entry(5, "five")
    cache.keep({"stock/A": Entry(6, "six")})
    assert cache.get("stock/A") == Entry(6, "six")


def test_dropped_streams_miss_and_a_zero_bound_keeps_nothing() -> None:
    cache = AggregateCache()
    cache.keep({"stock/A": Entry(1, "a"), "stock/B": Entry(2, "b")})
    cache.drop(["stock/A", "stock/unknown"])
    assert cache.get("stock/A") is None
    assert cache.get("stock/B") == Entry(2, "b")
    assert (cache.hits, cache.misses) == (1, 1)

    off = AggregateCache(max_entries=0)
    off.keep({"stock/A": Entry(1, "a")})
    assert len(off) == 0
