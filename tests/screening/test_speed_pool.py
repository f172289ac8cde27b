"""Worker processes send matches back naming each entity by its position in the index;
the parent gets exactly the matches of one search per query (pure, no database)."""

from __future__ import annotations

from pathlib import Path

import pytest

from screening.lists.parsers import parse_list
from screening.matching.engine import Matcher, MatcherPool

FIXTURE_SDN = Path(__file__).resolve().parents[2] / "fixtures" / "sanctions" / "ofac-sdn-2021-07"


@pytest.fixture(scope="module")
def sdn_matcher():
    return Matcher(parse_list("ofac-sdn", FIXTURE_SDN).entities)


def test_pool_matches_equal_in_process_matches_with_the_parents_entities(sdn_matcher):
    entities = sdn_matcher.index.entities
    # listed names (primary names and aliases, many entities far apart in the index),
    # altered ones, and names that match nothing, with and without qualifiers
    names = [entities[i].names[-1].name for i in range(0, len(entities), 97)]
    queries = [{"name": n} for n in names]
    queries += [{"name": n.upper()[::-1], "threshold": 40.0} for n in names[:40]]
    queries += [{"name": "Erika Mustermann"}, {"name": ""},
                {"name": "Usama Bin Ladin", "dob": "1957-03-10", "country": "SA"}]
    single = [sdn_matcher.search(**q) for q in queries]
    with MatcherPool(sdn_matcher, workers=2, chunk_size=5) as pool:
        pooled = pool.search_many(queries)
    assert pooled == single
    matched = [m for matches in pooled for m in matches]
    assert len({m.entity.uid for m in matched}) > 100
    # the parent's own entity objects, not copies pickled back by the workers
    own = {id(e) for e in entities}
    assert all(id(m.entity) in own for m in matched)
