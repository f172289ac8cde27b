"""OFAC-parity score: an emulation of OFAC's Sanctions List Search score (0-100).

Business rule: analysts compare our score with what the regulator's own tool would show.
OFAC documents its tool as Jaro-Winkler based with a character and a word approach; we
emulate it as the best of (a) Jaro-Winkler of the two names as written, (b) the same with
spaces removed (character approach) and (c) the mean over query words of at least three
letters of their best Jaro-Winkler against the listed words, word scores under 0.5 counting
as 0 (word approach). Calibrated on `ofac_sls_scores.csv` (see docs/screening.md).
Transliteration is *not* applied: OFAC's tool finds nothing for non-Latin queries.
"""

from __future__ import annotations

import re
from functools import lru_cache

from rapidfuzz.distance import JaroWinkler

WORD_CUTOFF = 0.5
MIN_WORD_LENGTH = 3
_NON_WORD = re.compile(r"[^A-Z0-9 ]")


def _words(text: str) -> list[str]:
    text = text.upper().replace("'", "").replace(".", "").replace(",", " ").replace("-", " ")
    return _NON_WORD.sub(" ", text).split()


@lru_cache(maxsize=100_000)
def ofac_score(query: str, listed: str) -> float:
    """What OFAC Sanctions List Search would score `listed` for `query` (0-100)."""
    q = _words(query)
    r = _words(listed)
    if not q or not r:
        return 0.0
    full = JaroWinkler.normalized_similarity(" ".join(q), " ".join(r))
    glued = JaroWinkler.normalized_similarity("".join(q), "".join(r))
    long_words = [w for w in q if len(w) >= MIN_WORD_LENGTH] or q
    word_scores = []
    for w in long_words:
        best = max(JaroWinkler.normalized_similarity(w, x) for x in r)
        word_scores.append(best if best >= WORD_CUTOFF else 0.0)
    words = sum(word_scores) / len(word_scores)
    return round(100.0 * max(full, glued, words), 1)
