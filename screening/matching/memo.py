"""Bounded memos of the matcher's pure functions.

Business rule: a memo never changes a result (it only holds what the function returned),
and it stays bounded, so that a long-lived worker keeps a steady size.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from itertools import islice
from typing import TypeVar

R = TypeVar("R")


def cache_store(cache: dict, key: object, value: object, limit: int) -> None:
    """`cache[key] = value`, first dropping the older half of the entries when the cache
    holds `limit` (dicts keep insertion order): the recent, likely repeated, ones stay.
    Two threads may drop the same entries at once (the memos are module-wide): `pop`."""
    if len(cache) >= limit:
        for old in list(islice(cache, len(cache) // 2 + 1)):
            cache.pop(old, None)
    cache[key] = value


def memo_per_word(limit: int) -> Callable[[Callable[..., R]], Callable[..., R]]:
    """Memoise `fn(word, *flags)` (never None) in one dictionary per flags, keyed by the
    word alone, at most `limit` words each (`cache_store`).

    Unlike `functools.lru_cache`, a hit writes to no stored object but the result:
    `lru_cache` relinks the entry and its neighbours on every hit and compares a stored
    key tuple (reference counts written), and in a worker forked from a warm process
    each such write copies a shared page (copy-on-write)."""

    def decorate(fn: Callable[..., R]) -> Callable[..., R]:
        memos: dict[tuple, dict[str, R]] = {}

        @wraps(fn)
        def cached(word: str, *flags: object) -> R:
            memo = memos.get(flags)
            if memo is None:
                memo = memos[flags] = {}
            found = memo.get(word)
            if found is None:
                found = fn(word, *flags)
                cache_store(memo, word, found, limit)
            return found

        cached.cache_clear = memos.clear  # type: ignore[attr-defined]
        return cached

    return decorate
