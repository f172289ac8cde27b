"""The batch path (`Matcher.search_many`) returns exactly what one `Matcher.search` per
query returns: matches, scores and explanations (pure matcher, no database)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from screening.lists.parsers import parse_list
from screening.matching import batch as batch_module
from screening.matching.engine import Matcher, screen_many
from screening.matching.normalize import normalize_name

FIXTURE_SDN = Path(__file__).resolve().parents[2] / "fixtures" / "sanctions" / "ofac-sdn-2021-07"

FIRST = ["John", "Maria", "Ali", "Mohammed", "Ahmad", "Juan", "Carlos", "Vladimir", "Olga",
         "Wei", "Li", "Kim", "Jose", "Fatima", "Hassan", "Ivan", "Anna", "Pedro", "Omar",
         "Yusuf", "Abdul", "Sergei", "Elena", "Jean", "Pierre", "Hans", "Giulia", "Mehmet",
         "Aisha", "Ibrahim", "Samir", "Lei", "Chen", "Kwame", "Priya", "Raj", "Jorge"]
LAST = ["Smith", "Garcia", "Rahman", "Hussein", "Ivanov", "Petrov", "Zhang", "Wang",
        "Lopez", "Martinez", "Khan", "Ahmed", "Said", "Haddad", "Mueller", "Rossi",
        "Nguyen", "Kowalski", "Yilmaz", "Sharma", "Okafor", "Silva", "Bin Laden",
        "Al Masri", "Trading Ltd", "Shipping Co", "Holdings SA", "Bank"]
# Hostile and edge inputs: empty, symbols only, control characters, emoji, scripts,
# initials only, digits, glued words, very long names, odd punctuation.
HOSTILE = [
    "", " ", "\t\n", "---", "!!!", "🙂🙂", "Bob 🙂 Lee", "Mr\u200b Bob\tLee\x00", "J", "Y",
    "A B C", "J. R. R.", "J Smith", "Smith, J", "SMITH, J. R.", "0000", "IG0R SECH1N",
    "Banco Nacional de Cuba S.A.", "ALQAEDA", "ALQAIDA NETWORK", "SHIPPINGCOMPANY",
    "MOHAMMEDBENHAMMEDI", "Владимир Путин", "أسامة بن لادن", "김정은", "金正恩", "习近平",
    "Ким Чен Ын", "Ελευθέριος Βενιζέλος", "Müller-Lüdenscheidt, Hans-Jürgen",
    "X" * 400, "ab " * 160, "'", "O'Brien", "D'Angelo-Smith", "abd al-rahman",
    "Abd Al Rahman Bin Abd Al Aziz Al Saud Al Qahtani Al Harbi Al Shehri Al Ghamdi",
    "ISLAMIC REVOLUTIONARY GUARD CORPS ELECTRONIC WARFARE AND CYBER DEFENSE ORGANIZATION",
    "DEFENSE INDUSTRIES ORGANIZATION", "1234 5678", "Vessel 9187629", "AL", "BIN", "EL",
]


@pytest.fixture(scope="module")
def sdn_entities():
    return list(parse_list("ofac-sdn", FIXTURE_SDN).entities)


@pytest.fixture(scope="module")
def sdn_matcher(sdn_entities):
    return Matcher(sdn_entities)


def _listed_variants(entities, rng: random.Random, n: int) -> list[str]:
    """Listed names as written, reordered, with a typo, glued, lower-cased."""
    out: list[str] = []
    while len(out) < n:
        e = rng.choice(entities)
        name = rng.choice(e.names).name
        kind = rng.randrange(6)
        if kind == 1 and "," in name:
            last, _, first = name.partition(",")
            name = f"{first.strip()} {last.strip()}"
        elif kind == 2 and len(name) > 4:
            i = rng.randrange(1, len(name) - 1)
            name = name[:i] + name[i + 1:]
        elif kind == 3:
            name = name.replace(" ", "", 1)
        elif kind == 4:
            name = name.lower()
        elif kind == 5:
            words = name.replace(",", " ").split()
            name = " ".join(words[:2]) if len(words) > 2 else name
        out.append(name)
    return out


def _mixed_queries(entities, n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    names = _listed_variants(entities, rng, n // 5)
    # non-listed names that share tokens with listed ones (the common case)
    names += [f"{rng.choice(FIRST)} {rng.choice(FIRST) + ' ' if rng.random() < 0.3 else ''}"
              f"{rng.choice(LAST)}" for _ in range(n - len(names) - len(HOSTILE))]
    names += HOSTILE
    rng.shuffle(names)
    queries: list[dict] = []
    for name in names:
        q: dict = {"name": name}
        roll = rng.random()
        if roll < 0.1:
            q["threshold"] = rng.choice([40.0, 60.0, 75.0, 95.0])
        elif roll < 0.15:
            q.update(dob="1957-03-10", country="SA")
        elif roll < 0.2:
            q.update(use="payments", entity_type="organisation")
        elif roll < 0.22:
            q["lists"] = ("un",)
        queries.append(q)
    return queries


def _as_dicts(results) -> list[list[dict]]:
    return [[m.as_dict() for m in r] for r in results]


def test_batch_path_equals_single_search_on_the_full_sdn_list(sdn_entities, monkeypatch):
    """A few thousand mixed queries (altered listed names, non-listed names sharing
    tokens with listed ones, hostile input, thresholds and qualifiers): the batch path
    gives each exactly what a search of its own gives, explanations included."""
    queries = _mixed_queries(sdn_entities, 3000, seed=7)
    matcher = Matcher(sdn_entities)
    full = []
    search = matcher.search

    def counting(*args, **kwargs):
        full.append(kwargs["name"])
        return search(*args, **kwargs)

    monkeypatch.setattr(matcher, "search", counting)
    batch = _as_dicts(matcher.search_many(queries))  # cold caches first
    monkeypatch.setattr(matcher, "search", search)
    single = _as_dicts(matcher.search(**q) for q in queries)
    assert batch == single
    hits = sum(bool(r) for r in single)
    assert 300 < hits < len(queries)
    # the bounds settle most names without a full search (else it is no batch path)
    assert len(full) < 0.6 * len(queries), (len(full), hits)


def test_batch_path_equals_single_search_at_low_thresholds(sdn_entities, sdn_matcher):
    """Low thresholds let far more rows through every bound: still equal."""
    queries = [dict(q, threshold=t) for q in _mixed_queries(sdn_entities, 400, seed=8)
               for t in (30.0, 55.0)]
    matcher = sdn_matcher
    assert _as_dicts(matcher.search_many(queries)) == _as_dicts(
        matcher.search(**q) for q in queries)


_WORDS = st.sampled_from(FIRST + LAST + ["AL", "BIN", "J", "Y", "DE", "LTD", "OOO", "S.A.",
                                         "USAMA", "LADIN", "KIM", "JONG", "UN", "CUBA",
                                         "BANCO", "NACIONAL", "PUTIN", "HUSSEIN"])
_TEXT = st.text(alphabet=st.characters(codec="utf-8", categories=("L", "N", "P", "Z", "S",
                                                                   "Cc")),
                max_size=40)
_NAME = st.one_of(st.lists(_WORDS, min_size=1, max_size=6).map(" ".join), _TEXT,
                  st.lists(_WORDS, min_size=1, max_size=3).map("".join))


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(names=st.lists(_NAME, min_size=1, max_size=25),
       threshold=st.one_of(st.none(), st.floats(min_value=20.0, max_value=100.0)))
def test_batch_path_equals_single_search_on_random_input(sdn_matcher, names, threshold):
    matcher = sdn_matcher
    queries = [{"name": n, "threshold": threshold} for n in names]
    assert _as_dicts(matcher.search_many(queries)) == _as_dicts(
        matcher.search(**q) for q in queries)


def test_screen_many_gives_the_searched_form_and_searches_repeats_once(sdn_matcher,
                                                                       monkeypatch):
    matcher = sdn_matcher
    seen: list[int] = []
    search_many = batch_module.search_many

    def spy(m, queries, normalized=None):
        seen.append(len(queries))
        return search_many(m, queries, normalized)

    monkeypatch.setattr(batch_module, "search_many", spy)
    queries = [{"name": "BIN LADIN, Usama"}, {"name": "John Smith"},
               {"name": "BIN LADIN, Usama"}, {"name": "Владимир Путин"}]
    out = screen_many(matcher, queries)
    assert seen == [3]
    assert [_as_dicts([m])[0] for m, _ in out] == _as_dicts(
        matcher.search(**q) for q in queries)
    assert [text for _, text in out] == [
        " | ".join(f.text for f in normalize_name(q["name"]).forms) for q in queries]
    assert out[0][1] == normalize_name("Usama Bin Ladin").text
    assert out[3][1] == "VLADIMIR PUTIN"
    assert out[0][0] and not out[1][0]


def test_batch_path_credits_one_letter_listed_tokens_as_search_does():
    """Listed names with initials (SMITH, J) get credit from query words starting with
    that letter, in the bounds too: the batch path still finds what search finds."""
    from screening.lists.records import ListedEntity, ListedName

    def person(uid: str, *names: str) -> ListedEntity:
        return ListedEntity("ofac-sdn", uid, "person",
                            tuple(ListedName(n, "primary" if i == 0 else "aka")
                                  for i, n in enumerate(names)), programs=("SDGT",))

    entities = [person("901", "SMITH, J", "SMITH, J. R."), person("902", "DOE, John"),
                person("903", "ALPHA BRAVO, A B C D E F G H I J K L M N"),
                *(person(str(1000 + i), f"{last}, {first}") for i, (first, last) in
                  enumerate((f, la) for f in FIRST[:8] for la in LAST[:8]))]
    matcher = Matcher(entities)
    names = ["James Smith", "J R Smith", "John Smith", "Jim Smith", "Smith James Robert",
             "J Smith", "Alpha Bravo", "Alpha Bravo Charlie Delta", "A B C D Alpha Bravo",
             "Jane Doe", "J Doe", "Maria Garcia", "M Garcia"]
    queries = [{"name": n, "threshold": t} for n in names for t in (None, 80.0, 60.0)]
    batch = _as_dicts(matcher.search_many(queries))
    assert batch == _as_dicts(matcher.search(**q) for q in queries)
    assert any(m["entity_uid"] == "901" for r in batch for m in r)
