"""Name normalisation: any script, any punctuation, to comparable ASCII tokens.

Business rule: a listed party must be found however a customer record spells it, so both
sides of a comparison go through exactly this function. Each token keeps its role
(normal, particle, organisation form) so scoring can weigh it, and the steps applied are
recorded for the explanation.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

from anyascii import anyascii

from screening.matching.japanese import japanese_reading
from screening.matching.memo import memo_per_word
from screening.matching.tables import (
    ABJAD_SCRIPTS,
    HONORIFICS,
    LEGAL_FORM_PHRASES,
    NUMBER_WORDS,
    ORG_FORMS,
    PARTICLES,
    TENS_WORDS,
    VARIANTS,
)

MAX_NAME_LENGTH = 500
# Particles as abjad romanisation writes them (بن, بنت, ابو, ال, ام).
ABJAD_PARTICLES = frozenset({"AL", "L", "BN", "BNT", "ABW", "BW", "ABU", "AM", "M", "BIN"})

NORMAL = "n"
PARTICLE = "p"
ORG_FORM = "o"
INITIAL = "i"


class NameInputError(ValueError):
    """A name that cannot be screened (empty, too long, only symbols)."""


@dataclass(frozen=True, slots=True)
class NameForm:
    """One reading of a name: folded tokens plus, per token, its role and whether it
    came from an abjad script (compared by consonant skeleton)."""

    tokens: tuple[str, ...]
    roles: tuple[str, ...]
    abjad: tuple[bool, ...]
    reading: str = "latin"  # latin | pinyin | korean | japanese | abjad ...
    raw: tuple[str, ...] = ()  # each token as written (uppercase ASCII), before folding

    @property
    def text(self) -> str:
        return " ".join(self.tokens)


@dataclass(frozen=True, slots=True)
class NormalizedName:
    """A name after normalisation: one or more readings (CJK names have several)."""

    original: str
    forms: tuple[NameForm, ...]
    scripts: tuple[str, ...] = ()
    steps: tuple[str, ...] = field(default=())

    @property
    def primary(self) -> NameForm:
        return self.forms[0]

    @property
    def text(self) -> str:
        return self.forms[0].text if self.forms else ""


# ---------------------------------------------------------------------------- folding


def _generic_fold(token: str) -> str:
    """Fold spelling differences that transliteration systems disagree on."""
    t = token
    if t.startswith("YE") and len(t) > 3:
        t = "E" + t[2:]
    for a, b in (
        ("DZH", "J"),
        ("PH", "F"),
        ("CK", "K"),
        ("Q", "K"),
        ("DJ", "J"),
        ("KH", "H"),
        ("W", "V"),
        ("OU", "U"),
        ("OO", "U"),
        ("EE", "I"),
        ("EO", "O"),
        ("AE", "E"),
        ("Y", "I"),
        ("IE", "I"),
        ("TCH", "CH"),
        ("TSCH", "CH"),
        ("SCH", "SH"),
        ("SZ", "S"),
        ("CZ", "CH"),
    ):
        if a in t:
            t = t.replace(a, b)
    # Hard C and X as transliterations write them (FRANCISCO / ФРАНКИСКО, XIA / КСИА).
    t = _C_NOT_CH.sub("K", t).replace("X", "KS")
    t = _RUNS.sub(r"\1", t)
    if len(t) > 3 and t.endswith("H") and t[-2] in "AEIOU":
        t = t[:-1]
    return t or token


_C_NOT_CH = re.compile(r"C(?!H)")
# A run of one letter written once (HUSSEIN -> HUSEIN); compiled once, not per call: these
# folds run for every listed token at each build and every new query token.
_RUNS = re.compile(r"(.)\1+")
_NO_AEIO = str.maketrans("", "", "AEIO")
_NO_VOWELS = str.maketrans("", "", "AEIOU")


_FOLDED_VARIANTS: dict[str, str] = {}
for _variant, _canonical in VARIANTS.items():
    _FOLDED_VARIANTS[_generic_fold(_variant)] = _generic_fold(_canonical)


@memo_per_word(200_000)
def fold_token(token: str) -> str:
    """Canonical comparison key of one uppercase ASCII token (variant tables first)."""
    canonical = VARIANTS.get(token)
    if canonical is not None:
        return _generic_fold(canonical)
    g = _generic_fold(token)
    return _FOLDED_VARIANTS.get(g, g)


_SKELETON_CLASSES = str.maketrans(
    {
        "V": "",
        "P": "B",
        "C": "K",
        "Q": "K",
        "W": "",
        "A": "",
        "E": "",
        "I": "",
        "O": "",
        "U": "",
        "Y": "",
    }
)


@memo_per_word(200_000)
def skeleton(token: str) -> str:
    """Consonant skeleton: what an abjad romanisation (Arabic, Hebrew) keeps. Consonants
    that abjads do not distinguish share a class (P/B, C/Q/K; V and W are vowel-like)."""
    s = token.replace("KH", "H").replace("DZH", "J").replace("ZH", "J")
    s = _RUNS.sub(r"\1", s.translate(_SKELETON_CLASSES))
    if len(s) > 2 and s.endswith("H"):
        s = s[:-1]
    return s


@memo_per_word(200_000)
def abjad_query_form(token: str) -> str:
    """A romanised abjad token as letters written: consonants plus the long vowels
    (W, Y); alef (A) and hamza carry no comparison value."""
    t = token.replace("KH", "H").replace("DH", "D").replace("V", "W").replace("Q", "K")
    t = _RUNS.sub(r"\1", t.translate(_NO_AEIO))
    if len(t) > 2 and t.endswith("H"):
        t = t[:-1]
    return t


_DIPHTHONGS = (("AI", "Y"), ("EI", "Y"), ("AU", "W"), ("AV", "W"))
_ABJAD_LATIN = str.maketrans({"C": "K", "Q": "K", "P": "B", "G": "J", "X": "K"})


@memo_per_word(200_000)
def abjad_listed_forms(token: str) -> tuple[str, ...]:
    """`abjad_listed_form`, plus the reading where V is a foreign V written with FA
    (VLADIMIR -> FLDMR), as Arabic writes it, when the token has one (folding merged W
    into V, so both readings are kept)."""
    first = abjad_listed_form(token)
    if "V" not in token:
        return (first,)
    return (first, abjad_listed_form(token, foreign_v=True))


@lru_cache(maxsize=200_000)
def abjad_listed_form(token: str, foreign_v: bool = False) -> str:
    """How a folded Latin token would be written in an abjad: short vowels dropped, a
    final I and diphthongs written as long vowels (ALI -> LY, HUSAIN -> HSYN)."""
    t = token.replace("V", "F" if foreign_v else "W")
    # Letters abjads lack are written with their nearest consonant.
    t = t.replace("CH", "SH").translate(_ABJAD_LATIN)
    for a, b in _DIPHTHONGS:
        t = t.replace(a, b)
    final_i = t.endswith("I")
    if t:
        t = t[0] + t[1:].translate(_NO_VOWELS)
        if t[0] in "AEIOU":
            t = t[1:]
    if final_i:
        t += "Y"
    t = _RUNS.sub(r"\1", t)
    if len(t) > 2 and t.endswith("H"):
        t = t[:-1]
    return t


# ---------------------------------------------------------------------------- scripts


@lru_cache(maxsize=65_536)
def _char_script(ch: str) -> str:
    if ch < "\u0250":
        return "Latn" if ch.isalpha() else ""
    try:
        name = unicodedata.name(ch)
    except ValueError:
        return ""
    head = name.split(" ", 1)[0]
    return {
        "CYRILLIC": "Cyrl",
        "GREEK": "Grek",
        "ARABIC": "Arab",
        "HEBREW": "Hebr",
        "CJK": "Hani",
        "HANGUL": "Hang",
        "HIRAGANA": "Hira",
        "KATAKANA": "Kana",
        "THAI": "Thai",
        "DEVANAGARI": "Deva",
        "ARMENIAN": "Armn",
        "GEORGIAN": "Geor",
        "SYRIAC": "Syrc",
        "THAANA": "Thaa",
        "BENGALI": "Beng",
        "TAMIL": "Taml",
        "ETHIOPIC": "Ethi",
        "LATIN": "Latn",
    }.get(head, "Zyyy" if ch.isalpha() else "")


def scripts_of(text: str) -> tuple[str, ...]:
    """Scripts present in a text, in order of first appearance."""
    seen: dict[str, None] = {}
    for ch in text:
        s = _char_script(ch)
        if s:
            seen.setdefault(s, None)
    return tuple(seen)


# ---------------------------------------------------------------------------- cleaning

_CONTROL_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "So", "Sk"})
_INITIAL_DOT = re.compile(r"(?<![A-Za-z])([A-Za-z])\.(?=[A-Za-z](?:\.|\b))")
_APOSTROPHES = re.compile(r"['’‘`´ʼʻ]")
_NON_ALNUM = re.compile(r"[^A-Za-z0-9]+")
_ASCII_CONTROLS = {c: " " for c in range(32)} | {127: " "}


def clean_text(text: str) -> str:
    """NFKC, drop control characters, emoji and symbols, squeeze whitespace."""
    text = unicodedata.normalize("NFKC", text)
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        if cat in _CONTROL_CATEGORIES:
            out.append(" " if ch in "\t\n\r" else "")
        elif cat.startswith("Z"):
            out.append(" ")
        else:
            out.append(ch)
    return " ".join("".join(out).split())


def validate_name(text: object, *, max_length: int = MAX_NAME_LENGTH) -> str:
    """Reject input that cannot be screened, with a message naming the problem."""
    if not isinstance(text, str):
        raise NameInputError("name must be a string")
    if len(text) > max_length:
        raise NameInputError(f"name is too long ({len(text)} characters, maximum {max_length})")
    if not text.strip() or not "".join(ch for ch in text if ch.isprintable()).strip():
        raise NameInputError("name is empty")
    cleaned = clean_text(text)
    if not any(ch.isalnum() for ch in cleaned):
        raise NameInputError(
            "name has no letters or digits (only symbols, emoji or control characters)"
        )
    return cleaned


def _reorder_last_first(text: str) -> tuple[str, bool]:
    """'PUTIN, Vladimir' -> 'Vladimir PUTIN' (only when the tail is not a legal form)."""
    if text.count(",") != 1:
        return text, False
    last, first = (p.strip() for p in text.split(","))
    if not last or not first:
        return text, False
    first_words = _NON_ALNUM.sub(" ", anyascii(first).upper()).split()
    if not first_words or len(first_words) > 5 or all(w in ORG_FORMS for w in first_words):
        return text, False
    return f"{first} {last}", True


_LEET = str.maketrans("0134579", "OIEASTG")
_LEGAL_FIRST_WORDS = frozenset(phrase[0] for phrase, _ in LEGAL_FORM_PHRASES)


_GLUED_INITIALS = re.compile(r"(?<=[A-Za-z]{2})([A-Za-z]\.(?:[A-Za-z]\.)+)")
_LETTERS_DIGITS = re.compile(r"([A-Z]+)([0-9]+)|([0-9]+)([A-Z]+)")
_ORDINAL_ENDINGS = frozenset({"ST", "ND", "RD", "TH"})


def _ascii_words(text: str) -> list[str]:
    # Dotted initials glued to the word before them are a legal form (ROMIKS.A. -> ROMIK
    # S.A., DEC.V. -> DE C.V.).
    text = _GLUED_INITIALS.sub(r" \1", text)
    text = _INITIAL_DOT.sub(r"\1", text)  # J.P. -> JP, S.A. -> SA
    text = _APOSTROPHES.sub("", text)
    words = _NON_ALNUM.sub(" ", text.upper()).split()
    out: list[str] = []
    for w in words:
        if w.isalpha() or w.isdigit() or sum(c.isalpha() for c in w) < 2:
            out.append(w)
        elif m := _LETTERS_DIGITS.fullmatch(w):
            # A number glued to a word (STAR18, 7KARNES) is a number; 1ST is 1.
            if m.group(3) and m.group(4) in _ORDINAL_ENDINGS:
                out.append(m.group(3))
            else:
                out.extend(g for g in m.groups() if g)
        else:
            # Digits inside a word of letters are look-alike letters (IG0R SECH1N).
            out.append(w.translate(_LEET))
    return out


_NUMBER_LIKE = frozenset(NUMBER_WORDS) | frozenset(TENS_WORDS)
_LONG_LEGAL_WORDS = {
    "COMPANY": "CO",
    "LIMITED": "LTD",
    "CORPORATION": "CORP",
    "INCORPORATED": "INC",
    "ESTABLISHMENT": "EST",
}


@lru_cache(maxsize=50_000)
def _misspelt_legal_word(word: str) -> str | None:
    """The abbreviation of a legal word misspelt by one edit or swap (LMITED -> LTD)."""
    from rapidfuzz.distance import OSA

    for full, abbr in _LONG_LEGAL_WORDS.items():
        if abs(len(full) - len(word)) <= 1 and OSA.distance(word, full, score_cutoff=1) <= 1:
            return abbr
    return None


def _legal_forms(words: list[tuple[str, bool]]) -> list[tuple[str, bool]]:
    """Spelled-out legal forms become their abbreviation (GESELLSCHAFT MIT BESCHRANKTER
    HAFTUNG -> GMBH), so both spellings compare equal."""
    plain = [w for w, _ in words]
    if _LEGAL_FIRST_WORDS.isdisjoint(plain):
        return words
    for phrase, abbr in LEGAL_FORM_PHRASES:
        n = len(phrase)
        for i in range(len(plain) - n + 1):
            if tuple(plain[i : i + n]) == phrase:
                words = [*words[:i], (abbr, False), *words[i + n :]]
                plain = [*plain[:i], abbr, *plain[i + n :]]
                break
    return words


# ---------------------------------------------------------------------------- readings


def _split_script_runs(word: str) -> list[tuple[str, str]]:
    runs: list[tuple[str, str]] = []
    for ch in word:
        s = _char_script(ch) or "Zyyy"
        if s in ("Zyyy",) and runs:
            s = runs[-1][0]
        if runs and runs[-1][0] == s:
            runs[-1] = (s, runs[-1][1] + ch)
        else:
            runs.append((s, ch))
    return runs


def _romanise(word: str, *, cjk_mode: str, single_word: bool = False) -> list[tuple[str, bool]]:
    """ASCII words of one raw word, each flagged True when from an abjad script."""
    out: list[tuple[str, bool]] = []
    for script, run in _split_script_runs(word):
        if script == "Hang":
            # Korean: one syllable per block. A lone word is surname + given name (the
            # given name glued, as lists also write KIM Jongun); in a name of several
            # words each word is one name part. Syllables are folded before gluing so
            # that SEONG/SUNG and the like agree.
            syl = [fold_token(w) for ch in run for w in _ascii_words(anyascii(ch))]
            if not syl:
                continue
            if single_word and len(syl) >= 2:
                out.append((syl[0], False))
                out.append(("".join(syl[1:]), False))
            else:
                out.append(("".join(syl), False))
        elif script == "Hani" or script in ("Hira", "Kana"):
            if cjk_mode == "japanese":
                reading = japanese_reading(run)
                if reading:
                    out.extend((w, False) for r in reading for w in _ascii_words(r))
                    continue
            syllables = [anyascii(ch) for ch in run]
            if cjk_mode == "pinyin" and script == "Hani" and 2 <= len(syllables) <= 4:
                # Chinese convention: surname, then the given name glued (XI JINPING).
                out.append(
                    (
                        _ascii_words(syllables[0])[0]
                        if _ascii_words(syllables[0])
                        else syllables[0],
                        False,
                    )
                )
                out.append(("".join(w for s in syllables[1:] for w in _ascii_words(s)), False))
            else:
                out.extend((w, False) for s in syllables for w in _ascii_words(s))
        else:
            abjad = script in ABJAD_SCRIPTS
            if script == "Arab" and run.startswith("ال") and len(run) > 3 and run != "الله":
                # the article is written glued to the word (الخرس -> AL KHRS)
                out.append(("AL", True))
                run = run[2:]
            out.extend((w, abjad) for w in _ascii_words(anyascii(run)))
    return [(w, a) for w, a in out if w]


@memo_per_word(50_000)
def _romanised(word: str, cjk_mode: str, single_word: bool) -> tuple[tuple[str, bool], ...]:
    """`_romanise`, memoised per word: customer names share their first names and
    surnames, and a word's romanisation depends on nothing else."""
    return tuple(_romanise(word, cjk_mode=cjk_mode, single_word=single_word))


def _number_words(words: list[tuple[str, bool]]) -> list[tuple[str, bool]]:
    """Number words as digits (FORTY FOUR and FORTY 4 -> 44, THREE -> 3, FIRST -> 1), so
    that they compare equal with the digits (numbers must be equal)."""
    out: list[tuple[str, bool]] = []
    tens = False  # the last word out is a tens word, which a unit may complete
    for w, a in words:
        unit = None
        if not a and w not in PARTICLES:
            unit = NUMBER_WORDS.get(w, int(w) if len(w) == 1 and w.isdigit() else None)
        if tens and unit is not None and 0 < unit < 10:
            out[-1] = (str(int(out[-1][0]) + unit), False)
            tens = False
        elif not a and w in TENS_WORDS:
            out.append((str(TENS_WORDS[w]), False))
            tens = True
        else:
            out.append((str(unit), False) if unit is not None else (w, a))
            tens = False
    return out


def _tokens_to_form(words: list[tuple[str, bool]], reading: str) -> tuple[NameForm, list[str]]:
    steps: list[str] = []
    words = _legal_forms(words)
    if not _NUMBER_LIKE.isdisjoint(w for w, _ in words):
        words = _number_words(words)
    # ABD AL RAHMAN / ABD-AL-RAHMAN -> ABDUL RAHMAN (one Arabic compound, many spellings)
    merged: list[tuple[str, bool]] = []
    i = 0
    while i < len(words):
        w, a = words[i]
        if (
            w == "ABD"
            and i + 1 < len(words)
            and words[i + 1][0] in ("AL", "EL", "UL", "AR", "AS", "AN", "ER")
        ):
            merged.append(("ABDUL", a))
            i += 2
            steps.append("abd_al_merged")
            continue
        if (
            w == "ABD"
            and i + 1 < len(words)
            and len(words[i + 1][0]) >= 5
            and words[i + 1][0][:2] in ("AL", "EL")
        ):
            # the article glued to the next word (ABD ALRAHMAN, as Cyrillic writes it)
            merged.extend((("ABDUL", a), (words[i + 1][0][2:], words[i + 1][1])))
            i += 2
            steps.append("abd_al_merged")
            continue
        merged.append((w, a))
        i += 1
    # Short abbreviations (MR, DR, SR) are Latin honorifics: in an abjad they are a word
    # romanised without vowels (مرا -> MR), not a title.
    # In an organisation's name (one with a legal form) they are words: GENERAL TRADING.
    kept = (
        merged
        if not ORG_FORMS.isdisjoint(w for w, _ in merged)
        else [(w, a) for w, a in merged if w not in HONORIFICS or (a and len(w) <= 3)]
    )
    if kept and len(kept) < len(merged):
        steps.append("honorifics_dropped")
        merged = kept
    parts = [_word_token(w, a) for w, a in merged]
    return NameForm(
        tuple(t for t, _ in parts),
        tuple(r for _, r in parts),
        tuple(a for _, a in merged),
        reading,
        tuple(w for w, _ in merged),
    ), steps


@memo_per_word(50_000)
def _word_token(w: str, a: bool) -> tuple[str, str]:
    """(folded token, role) of one word (`a`: from an abjad script); depends on the word
    alone, so it is memoised (customer names share first names and surnames)."""
    if a and w in ABJAD_PARTICLES:
        role = PARTICLE
    elif w in ORG_FORMS:
        role = ORG_FORM
    elif not a and len(w) >= 5 and (abbr := _misspelt_legal_word(w)):
        role = ORG_FORM  # COMPNY, LMITED: still a legal form, not a distinctive word
        w = abbr
    elif w in PARTICLES:
        role = PARTICLE
    elif len(w) == 1 and w.isalpha():
        role = INITIAL
    else:
        role = NORMAL
    # Abjad tokens keep their letters: vowel letters (W, Y) matter to the skeleton.
    return (w if w.isdigit() or a else fold_token(w)), role


# Whole names rarely repeat in a batch (about 1.7 kB each; 547 hits in 60,000 customer
# names): their words' caches (`_word_token`, `_romanised`, `fold_token`) keep a miss
# cheap. The batch path passes its normalised names along; what this memo serves is a
# single query normalised for the log and again by the matcher.
@lru_cache(maxsize=4_096)
def normalize_name(text: str) -> NormalizedName:
    """Normalise a name (query or listed) into one or more comparable readings.

    Never raises on odd input: callers validate with `validate_name` first when they
    want a clear error instead of an empty result.
    """
    steps: list[str] = []
    if text.isascii():
        # Fast path (most listed and customer names): no script handling needed.
        cleaned = " ".join(text.translate(_ASCII_CONTROLS).split())
        reordered, did = _reorder_last_first(cleaned)
        if did:
            steps.append("last_first_reordered")
        words = [(w, False) for w in _ascii_words(reordered)]
        if not words:
            return NormalizedName(original=text, forms=(), scripts=(), steps=tuple(steps))
        form, form_steps = _tokens_to_form(words, "latin")
        steps.extend(form_steps)
        return NormalizedName(
            original=text,
            forms=(form,) if form.tokens else (),
            scripts=("Latn",),
            steps=tuple(steps),
        )
    cleaned = clean_text(text)
    reordered, did = _reorder_last_first(cleaned)
    if did:
        steps.append("last_first_reordered")
    if reordered and max(reordered) < "\u0250" and not any(c.isdigit() for c in reordered):
        # Latin letters with diacritics only (MÜLLER, KÅRE): the same result as the
        # per-script path below (one Latin run per word), without its per-character work.
        words = [(w, False) for w in _ascii_words(anyascii(reordered))]
        scripts = ("Latn",) if any(c.isalpha() for c in reordered) else ()
        if not words:
            return NormalizedName(original=text, forms=(), scripts=scripts, steps=tuple(steps))
        form, form_steps = _tokens_to_form(words, "latin")
        steps.extend(s for s in form_steps if s not in steps)
        return NormalizedName(
            original=text, forms=(form,) if form.tokens else (), scripts=scripts, steps=tuple(steps)
        )
    scripts = scripts_of(reordered)
    has_cjk = any(s in ("Hani", "Hira", "Kana") for s in scripts)
    modes = ["pinyin", "japanese"] if has_cjk else ["default"]
    forms: list[NameForm] = []
    seen: set[tuple[str, ...]] = set()
    for mode in modes:
        words: list[tuple[str, bool]] = []
        raw_words = reordered.split()
        for raw in raw_words:
            words.extend(_romanised(raw, mode, len(raw_words) == 1))
        if not words:
            continue
        reading = mode if mode != "default" else ("abjad" if any(a for _, a in words) else "latin")
        form, form_steps = _tokens_to_form(words, reading)
        if form.tokens and form.tokens not in seen:
            seen.add(form.tokens)
            forms.append(form)
            steps.extend(s for s in form_steps if s not in steps)
    if any(s not in ("Latn",) for s in scripts):
        steps.append("transliterated")
    return NormalizedName(original=text, forms=tuple(forms), scripts=scripts, steps=tuple(steps))
