"""Process-level cache of the matcher over the active list versions.

Business rule: screening always uses exactly the active version of each list, and says
which; when a version activates, the next query builds a new matcher (a few seconds) and
the old one is dropped, so no query ever mixes versions.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from screening import index_store
from screening.lists import selectors as list_selectors
from screening.matching.engine import Matcher, MatcherConfig

_lock = threading.Lock()
_cached: CachedMatcher | None = None


@dataclass(frozen=True)
class CachedMatcher:
    """A matcher and the list versions it was built from ({list_code: version_id})."""

    matcher: Matcher
    versions: dict[str, int]
    key: tuple[int, ...]


def matcher_config() -> MatcherConfig:
    """The configuration from settings (SCREENING_THRESHOLD, SCREENING_*_THRESHOLDS)."""
    from django.conf import settings

    base = MatcherConfig()
    return MatcherConfig(
        threshold=float(getattr(settings, "SCREENING_THRESHOLD", base.threshold)),
        use_thresholds=dict(getattr(settings, "SCREENING_USE_THRESHOLDS",
                                    base.use_thresholds)),
        list_thresholds=dict(getattr(settings, "SCREENING_LIST_THRESHOLDS", {})),
    )


def current_matcher() -> CachedMatcher:
    """The matcher of the currently active versions (built on first use or change)."""
    global _cached
    key = list_selectors.active_version_ids()
    cached = _cached
    if cached is not None and cached.key == key:
        return cached
    with _lock:
        if _cached is not None and _cached.key == key:
            return _cached
        versions = list_selectors.active_versions()  # with their list codes, read anew
        built = CachedMatcher(
            matcher=_matcher(versions),
            versions={v.source.code: v.pk for v in versions},
            key=tuple(sorted(v.pk for v in versions)),
        )
        _cached = built
        return built


def _matcher(versions: list) -> Matcher:
    """The matcher over these list versions: its index loaded from the store when a
    process has built it already (screening.index_store), else built and stored."""
    if not versions:
        return Matcher([], matcher_config())
    store_key = index_store.index_key(versions)
    index = index_store.load_index(store_key)
    if index is not None:
        return Matcher((), matcher_config(), index=index)
    matcher = Matcher(list(list_selectors.listed_entities([v.pk for v in versions])),
                      matcher_config())
    index_store.save_index(store_key, matcher.index)
    return matcher


def matcher_for_versions(version_ids: tuple[int, ...]) -> Matcher:
    """A matcher over given (possibly past) versions: to reproduce a logged query."""
    cached = _cached
    if cached is not None and cached.key == tuple(sorted(version_ids)):
        return cached.matcher
    return _matcher(list_selectors.versions_by_id(version_ids))


def matcher_cache_clear() -> None:
    """Forget the cached matcher (called when a list version activates)."""
    global _cached
    with _lock:
        _cached = None
