"""Parsers of every format on the real files (no database)."""

from __future__ import annotations

from collections import Counter

import pytest

from screening.lists.parsers import detect_format, parse_list
from screening.lists.parsers.common import entity_country
from screening.lists.parsers.ofac_common import parse_remarks, programs, split_remarks
from screening.lists.parsers.ofac_csv import build_entity, parse_ofac_csv
from screening.lists.parsers.ofac_xml import parse_ofac_xml


def by_uid(parsed):
    return {e.uid: e for e in parsed.entities}


def test_programs_field_holding_several_programs_is_split():
    assert programs("IRAN] [SDGT] [IRGC] [IFSR") == ("IRAN", "SDGT", "IRGC", "IFSR")
    assert programs("SDGT") == ("SDGT",)


def test_remarks_yield_dob_pob_ids_aliases_and_links():
    facts = parse_remarks(
        "DOB 31 Aug 1960; alt. DOB circa 1953; POB Al Basuriyah, Lebanon; nationality Lebanon; "
        "Gender Male; Passport 042833 (Lebanon) issued 01 Jan 2001; alt. Passport 19820215; "
        "SWIFT/BIC BKIDIRTH; Vessel Registration Identification IMO 7406784; "
        "a.k.a. 'ABU; HASSAN'; f.k.a. 'OLD NAME'; Linked To: HIZBALLAH."
    )
    assert facts["dobs"] == ["1960-08-31", "1953"]
    assert facts["pobs"] == ["Al Basuriyah, Lebanon"]
    assert facts["nationalities"] == ["Lebanon"]
    assert facts["ids"] == [
        ("passport", "042833"),
        ("passport", "19820215"),
        ("bic", "BKIDIRTH"),
        ("imo", "7406784"),
    ]
    assert facts["aliases"] == ["ABU; HASSAN", "OLD NAME"]
    assert facts["linked_to"] == ["HIZBALLAH"]
    assert split_remarks("a; b.") == ["a", "b"]


def test_a_parenthesis_that_names_no_country_stays_in_the_number():
    """SDN remarks write telephones as 'Telephone (357)(22660766)': the digits are not a
    country (they once became the entity's 'countries', and the phone number '(357)')."""
    facts = parse_remarks("Telephone (357)(22660766); Fax (357)(22678777); Registration "
                          "Number IT022428/2014(G); Passport J16661804 (Iran)")
    assert facts["ids"] == [("phone", "(357)(22660766)"), ("fax", "(357)(22678777)"),
                            ("registration", "IT022428/2014(G)"), ("passport", "J16661804")]
    assert facts["countries"] == ["Iran"]


def test_a_place_that_is_not_a_country_is_not_an_entity_country():
    """Colombian registrations name the chamber's city ('(Cali)'), addresses and flags say
    'None Identified': neither is a country, so neither lands among the entity's
    countries (they showed there, and on the country qualifier's 'listed' side). The
    number stays without the place, so an identifier given with a query still equals it;
    a country followed by a note keeps the country."""
    facts = parse_remarks("Matricula Mercantil No 818178-2 (Cali); Passport I066302 "
                          "(Cabo Verde. Previously Cape Verde.); NIT # 805012595-1 (Colombia)")
    assert facts["ids"] == [("registration", "818178-2"), ("passport", "I066302"),
                            ("tax_id", "805012595-1")]
    assert facts["countries"] == ["Cabo Verde", "Colombia"]
    entity = build_entity(
        list_code="ofac-sdn", uid="1", name="X SHIP", sdn_type="vessel", program="CUBA",
        title="", remarks="", aliases=[],
        addresses=[{"country": "None Identified"}, {"city": "Havana", "country": "Cuba"},
                   {"country": "undetermined"}, {"country": "Region: Crimea"}],
        vessel={"flag": "None Identified"})
    assert entity.countries == ("Cuba", "Region: Crimea")
    assert {"country": "None Identified"} in entity.addresses
    # The UK list notes when an address was known: the country is still the country.
    assert entity_country("Afghanistan (since 2009)") == "Afghanistan"
    assert entity_country("Libya (possible location as at Jul 2017)") == "Libya"
    assert entity_country("Korea, North") == "Korea, North"
    assert entity_country("Somewhere (else)") == "Somewhere (else)"


def test_sdn_csv_set_joins_alt_add_and_comment_continuations(sanctions):
    parsed = parse_ofac_csv(sanctions / "ofac" / "sdn-csv-2021-07")
    entities = by_uid(parsed)
    assert len(entities) == 8976
    cuba = entities["306"]
    assert cuba.primary_name == "BANCO NACIONAL DE CUBA"
    assert cuba.entity_type == "organisation" and cuba.programs == ("CUBA",)
    assert ("NATIONAL BANK OF CUBA", "aka") in [(n.name, n.kind) for n in cuba.names]
    assert ("BNC", "weak") in [(n.name, n.kind) for n in cuba.names]
    assert {
        "street": "Zweierstrasse 35",
        "city": "Zurich CH-8022",
        "country": "Switzerland",
    } in cuba.addresses
    # sdn_comments.csv continues remarks cut at 1,000 characters.
    continued = entities["28264"]
    assert continued.remarks.endswith("Linked To: LAZARUS GROUP.")
    assert "LAZARUS GROUP" in continued.extra["linked_to"]
    assert ("blackjack1987", "weak") in [(n.name, n.kind) for n in continued.names]


def test_sdn_csv_quirks_nulls_types_and_vessels(fixtures_dir):
    """The shipped 2024-05-03 capture (gzip) parses whole with every quirk handled."""
    entities = by_uid(parse_list("ofac-sdn", fixtures_dir / "ofac-sdn-2024-05-03" / "sdn.csv.gz"))
    assert len(entities) == 14965
    types = Counter(e.entity_type for e in entities.values())
    assert set(types) == {"person", "organisation", "vessel", "aircraft"}
    nasrallah = entities["2686"]
    assert nasrallah.programs == ("SDGT", "SYRIA")
    assert nasrallah.dates_of_birth[0] == "1960-08-31"
    assert ("passport", "042833") in nasrallah.identifiers
    assert nasrallah.extra["title"] == "Secretary General of Hizballah"
    vessel = entities["4243"]
    assert vessel.entity_type == "vessel" and ("imo", "7406784") in vessel.identifiers
    assert vessel.extra["vessel"]["flag"] == "Panama"
    assert all(e.remarks.strip() != "-0-" and e.primary_name for e in entities.values())


def test_consolidated_csv_and_legacy_xml_give_the_same_entities(sanctions):
    """Parity: one publication (2018-04-06) parsed from CSV and from XML."""
    folder = sanctions / "ofac" / "consolidated-2018-04"
    from_csv = by_uid(parse_ofac_csv(folder, list_code="ofac-cons"))
    xml = parse_ofac_xml(folder / "consolidated.xml", list_code="ofac-cons")
    from_xml = by_uid(xml)
    assert xml.publication_date.isoformat() == "2018-04-06" and xml.declared_count == 639
    assert set(from_csv) == set(from_xml) and len(from_csv) == 639

    def projection(e):
        return (
            e.entity_type,
            sorted((n.name, n.kind) for n in e.names),
            sorted(e.programs),
            sorted(e.dates_of_birth),
            sorted(e.places_of_birth),
            sorted(e.nationalities),
            sorted(e.identifiers),
            sorted(
                tuple(sorted((k, v) for k, v in a.items() if k != "remarks")) for a in e.addresses
            ),
        )

    mismatched = [uid for uid in from_csv if projection(from_csv[uid]) != projection(from_xml[uid])]
    assert mismatched == []


def test_legacy_xml_accepts_the_newer_treasury_namespace(tmp_path, sanctions):
    text = (sanctions / "ofac/consolidated-2018-04/consolidated.xml").read_text()
    newer = text.replace(
        "http://tempuri.org/sdnList.xsd",
        "https://sanctionslistservice.ofac.treas.gov/api/PublicationPreview/exports/XML",
    )
    path = tmp_path / "cons.xml"
    path.write_text(newer)
    assert len(list(parse_ofac_xml(path).entities)) == 639


def test_advanced_xml_parties_with_programs_dates_and_documents(sanctions):
    parsed = parse_list(
        "ofac-cons", sanctions / "ofac/advanced-xml-2020-03/cons_advanced_2020-03-17.xml"
    )
    assert parsed.format == "ofac-advanced-xml"
    entities = by_uid(parsed)
    assert parsed.publication_date.isoformat() == "2020-03-17"
    assert len(entities) == 375
    haniya = entities["9639"]
    assert haniya.primary_name == "HANIYA, Ismail Abdul Salah"
    assert haniya.programs == ("NS-PLC",) and haniya.dates_of_birth == ("1962",)
    assert haniya.places_of_birth == ("Shati",)
    assert any(e.identifiers for e in entities.values())
    assert all(e.programs for e in entities.values())


def test_un_consolidated_list(sanctions):
    parsed = parse_list("un", sanctions / "un/UN_consolidated_2026-02-27.xml")
    entities = by_uid(parsed)
    assert parsed.publication_date.isoformat() == "2026-02-27"
    assert Counter(e.entity_type for e in entities.values()) == {"person": 730, "organisation": 273}
    adf = entities["6908402"]
    assert adf.programs == ("DRC",)
    assert ("NALU", "fka") in [(n.name, n.kind) for n in adf.names]
    assert entities["6907993"].dates_of_birth == ("1971",)


def test_uk_xml_and_conlist(sanctions):
    uk = by_uid(parse_list("uk", sanctions / "uk/sample_uk_sanctions.xml"))
    assert len(uk) == 5
    akhund = uk["AFG0006"]
    assert akhund.primary_name == "MOHAMMAD HASSAN AKHUND"
    assert "Arab" in {n.script for n in akhund.names}
    assert {"1958-05-12", "1945"} <= set(akhund.dates_of_birth)
    assert ("passport", "P04581926") in akhund.identifiers
    assert {e.entity_type for e in uk.values()} >= {"person", "organisation", "vessel"}
    conlist = parse_list("uk", sanctions / "uk/ConList_excerpt.csv")
    assert conlist.format == "uk-conlist"
    groups = by_uid(conlist)
    assert len(groups) == 41  # 77 rows grouped by Group ID
    assert len(groups["13720"].names) > 1
    assert groups["13349"].dates_of_birth == ("1980", "1981")


def test_eu_financial_sanctions_file(sanctions):
    parsed = parse_list("eu", sanctions / "eu/sample_eu_fsf.xml")
    entities = list(parsed.entities)
    assert len(entities) == 5 and parsed.publication_date.isoformat() == "2026-08-05"
    assert {e.entity_type for e in entities} == {"person", "organisation"}
    assert all("00" not in e.nationalities for e in entities)


def test_shipped_fixtures_parse(fixtures_dir):
    full = parse_list("ofac-sdn", fixtures_dir / "ofac-sdn-2021-07")
    assert len(full.files) == 4
    assert (
        detect_format("un", fixtures_dir / "un" / "UN_consolidated_2026-02-27.xml.gz") == "un-xml"
    )


@pytest.mark.parametrize("source", ["ofac-sdn", "un"])
def test_unknown_source_or_folder_is_refused(tmp_path, source):
    from screening.lists.parsers import ListParseError

    with pytest.raises(ListParseError, match="unknown list source"):
        parse_list("nope", tmp_path)
    if source == "un":
        with pytest.raises(ListParseError, match="only accepted for OFAC"):
            parse_list(source, tmp_path)
    else:
        with pytest.raises(ListParseError, match="no sdn.csv"):
            list(parse_list(source, tmp_path).entities)
