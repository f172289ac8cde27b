"""OFAC-parity score: an emulation of OFAC's Sanctions List Search score (0-100).

Business rule: analysts compare our score with what the regulator's own tool would show.
OFAC documents its tool as Jaro-Winkler based with a character and a word approach; we
emulate it as the best of (a) Jaro-Winkler of the two names as written, the common-prefix
boost applied whatever the Jaro similarity (OFAC's scores show it: VLADIMIR PUTIN scores
82-84 against VLADIMIROV..., where textbook Jaro-Winkler gives 64-68), (b) Jaro-Winkler
with spaces removed (character approach) and (c) the mean over query words of at least
three letters of their best Jaro-Winkler against the listed words, word scores under 0.7
counting as 0 (word approach). Calibrated on `ofac_sls_scores.csv` (see docs/screening.md
and docs/screening-matching.md).
Transliteration is *not* applied: OFAC's tool finds nothing for non-Latin queries.
"""

from __future__ import annotations

import re
from functools import lru_cache

from rapidfuzz.distance import Jaro, JaroWinkler

WORD_CUTOFF = 0.7
PREFIX_WEIGHT = 0.1
MAX_PREFIX = 4
MIN_WORD_LENGTH = 3
_NON_WORD = re.compile(r"[^A-Z0-9 ]")


def _words(text: str) -> list[str]:
    text = text.upper().replace("'", "").replace(".", "").replace(",", " ").replace("-", " ")
    return _NON_WORD.sub(" ", text).split()


def _prefix_boosted(a: str, b: str) -> float:
    """Jaro similarity raised by the common prefix (up to 4 characters, 0.1 each)."""
    jaro = Jaro.normalized_similarity(a, b)
    prefix = 0
    for x, y in zip(a[:MAX_PREFIX], b[:MAX_PREFIX], strict=False):
        if x != y:
            break
        prefix += 1
    return jaro + prefix * PREFIX_WEIGHT * (1.0 - jaro)


@lru_cache(maxsize=100_000)
def ofac_score(query: str, listed: str) -> float:
    """What OFAC Sanctions List Search would score `listed` for `query` (0-100)."""
    q = _words(query)
    r = _words(listed)
    if not q or not r:
        return 0.0
    full = _prefix_boosted(" ".join(q), " ".join(r))
    glued = JaroWinkler.normalized_similarity("".join(q), "".join(r))
    long_words = [w for w in q if len(w) >= MIN_WORD_LENGTH] or q
    word_scores = []
    for w in long_words:
        best = max(JaroWinkler.normalized_similarity(w, x) for x in r)
        word_scores.append(best if best >= WORD_CUTOFF else 0.0)
    words = sum(word_scores) / len(word_scores)
    return round(100.0 * max(full, glued, words), 1)
