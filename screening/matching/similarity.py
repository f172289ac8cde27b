"""Token similarity: how alike two folded name tokens are, 0..1.

Business rule: typos, transliteration drift and sound-alike spellings count as near
matches; an initial counts as a partial match of the word it abbreviates; digits must match
exactly (identifiers, vessel numbers), because a different number is a different party.
"""

from __future__ import annotations

from functools import lru_cache

import jellyfish
from rapidfuzz.distance import Indel, JaroWinkler

from screening.matching.memo import memo_per_word
from screening.matching.normalize import abjad_listed_forms, abjad_query_form, skeleton

INITIAL_SIMILARITY = 0.8
SHORT_TOKEN = 4
PHONETIC_FLOOR = 0.86
PHONETIC_MIN_RATIO = 0.6  # sounding alike only rescues tokens that are already close
ABJAD_CAP = 0.95
SKELETON_FACTOR = 0.85
PREFIX_MAX_EDITS = 2  # Indel operations: one substitution or transposition, two ins/dels


@memo_per_word(500_000)
def phonetic_key(token: str) -> str:
    """Metaphone key of a folded token ('' for very short or numeric tokens)."""
    if len(token) < 3 or not token.isalpha():
        return ""
    return jellyfish.metaphone(token)


# (query token, listed token) pairs: about 194 bytes each (1,000,000 held 194 MB), and a
# long-lived worker keeps meeting new pairs (25,461 after 200,000 customer names against a
# list of today's size), so the bound is what keeps the memo small: 200,000 pairs, ~39 MB.
@lru_cache(maxsize=200_000)
def token_similarity(query: str, listed: str, abjad: bool = False) -> float:
    """Similarity of a query token with a listed token (both folded), 0..1."""
    if query == listed:
        return 1.0
    if not query or not listed:
        return 0.0
    if not (query.isalpha() and listed.isalpha()):
        return 0.0
    if abjad:
        # Compare as both would be written in the abjad (consonants + long vowels).
        fq, forms = abjad_query_form(query), abjad_listed_forms(listed)
        fl = max(forms, key=lambda f: Indel.normalized_similarity(fq, f)) if fq else ""
        if not fq or not fl:
            return 0.0
        sim = ABJAD_CAP * Indel.normalized_similarity(fq, fl)
        sq = skeleton(query)
        for sl in {skeleton(listed), skeleton(listed.replace("V", "F"))}:
            if sq and sl:
                # Long vowels are not always written: the bare consonants, less surely.
                sim = max(sim, SKELETON_FACTOR * Indel.normalized_similarity(sq, sl))
        if min(len(fq), len(fl)) <= 2:
            sim *= 0.9  # two letters say little
        return sim
    if len(query) == 1 or len(listed) == 1:
        short, long_ = (query, listed) if len(query) == 1 else (listed, query)
        return INITIAL_SIMILARITY if long_.startswith(short) else 0.0
    ratio = Indel.normalized_similarity(query, listed)
    if min(len(query), len(listed)) <= SHORT_TOKEN:
        # Short tokens resemble each other by chance (FANG/AUNG): one edit at most.
        return ratio if ratio >= 0.8 else 0.9 * ratio
    sim = ratio
    if Indel.distance(query, listed, score_cutoff=PREFIX_MAX_EDITS) <= PREFIX_MAX_EDITS:
        # Jaro-Winkler's credit for a shared beginning only for tokens one edit apart: a
        # shared stem with another ending (RONALDO/RONALDINHO, CASTRO/CASTILLO) is
        # another name.
        sim = max(ratio, (ratio + JaroWinkler.normalized_similarity(query, listed)) / 2)
    if PHONETIC_MIN_RATIO <= sim < PHONETIC_FLOOR:
        pq = phonetic_key(query)
        if pq and pq == phonetic_key(listed):
            sim = PHONETIC_FLOOR
    return sim
