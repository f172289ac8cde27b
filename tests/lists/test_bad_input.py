"""Bad files are refused with a message naming the file, the place and the problem."""

from __future__ import annotations

import gzip

import pytest

from screening.lists.parsers import ListParseError, parse_list

SDN_ROW = '36,"AEROCARIBBEAN AIRLINES",-0- ,"CUBA",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \r\n'


def refuse(source, path, **kwargs) -> ListParseError:
    with pytest.raises(ListParseError) as info:
        list(parse_list(source, path, **kwargs).entities)
    return info.value


def write(tmp_path, name, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_empty_file(tmp_path):
    err = refuse("ofac-sdn", write(tmp_path, "sdn.csv", b""))
    assert "sdn.csv" in str(err) and "empty" in err.problem


def test_csv_with_only_the_eof_marker_has_no_records(tmp_path):
    err = refuse("ofac-sdn", write(tmp_path, "sdn.csv", b"\x1a"))
    assert "no records" in err.problem


def test_wrong_column_count_names_the_line(tmp_path):
    data = (SDN_ROW * 2 + '37,"SHORT ROW","CUBA"\r\n').encode()
    err = refuse("ofac-sdn", write(tmp_path, "sdn.csv", data))
    assert err.location == "line 3" and "expected 12 columns, found 3" in err.problem


def test_truncated_csv_inside_a_quoted_field(tmp_path):
    data = (SDN_ROW + '38,"TRUNCATED NAME').encode()
    err = refuse("ofac-sdn", write(tmp_path, "sdn.csv", data))
    assert "line 2" in str(err)


def test_cp1252_bytes_in_an_ofac_file_are_refused_with_line(tmp_path):
    data = SDN_ROW.encode() + SDN_ROW.replace("AEROCARIBBEAN", "A\xc9RO").encode("cp1252")
    err = refuse("ofac-sdn", write(tmp_path, "sdn.csv", data))
    assert err.location == "line 2" and "wrong encoding" in err.problem


def test_conlist_in_cp1252_or_utf8_is_read_alike(tmp_path, sanctions):
    original = (sanctions / "uk/ConList_excerpt.csv").read_bytes()
    as_utf8 = original.decode("cp1252").encode("utf-8")
    a = list(parse_list("uk", sanctions / "uk/ConList_excerpt.csv").entities)
    b = list(parse_list("uk", write(tmp_path, "ConList.csv", as_utf8)).entities)
    assert a == b


def test_oversized_file_is_refused_before_reading(tmp_path):
    path = tmp_path / "sdn.csv"
    with path.open("wb") as fh:  # a sparse 2 GB file: costs no disk, must not be read
        fh.truncate(2 * 1024**3)
    err = refuse("ofac-sdn", path)
    assert "over the size limit" in err.problem


def test_compressed_file_expanding_past_the_limit_is_refused(tmp_path):
    path = write(tmp_path, "sdn.csv.gz", gzip.compress(SDN_ROW.encode() * 5000))
    err = refuse("ofac-sdn", path, max_bytes=50_000)
    assert "exceeds the size limit" in err.problem


def test_corrupt_gzip_is_refused(tmp_path):
    data = gzip.compress(SDN_ROW.encode() * 200)
    err = refuse("ofac-sdn", write(tmp_path, "sdn.csv.gz", data[: len(data) // 2]))
    assert "corrupt or truncated" in err.problem


def test_xml_entity_expansion_bomb_is_refused(tmp_path):
    bomb = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<CONSOLIDATED_LIST><INDIVIDUALS><INDIVIDUAL><DATAID>1</DATAID>
<FIRST_NAME>&lol2;</FIRST_NAME></INDIVIDUAL></INDIVIDUALS></CONSOLIDATED_LIST>"""
    err = refuse("un", write(tmp_path, "un.xml", bomb))
    assert "un.xml" in str(err) and ("DTD" in err.problem or "entity" in err.problem)


def test_xml_external_entity_is_refused(tmp_path):
    xxe = b"""<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY ext SYSTEM "file:///etc/passwd">]>
<sdnList><sdnEntry><uid>1</uid><lastName>&ext;</lastName></sdnEntry></sdnList>"""
    err = refuse("ofac-sdn", write(tmp_path, "sdn.xml", xxe))
    assert "refused" in err.problem


def test_truncated_xml_names_line_and_column(tmp_path, sanctions):
    data = (sanctions / "un/UN_consolidated_2026-02-27.xml").read_bytes()
    err = refuse("un", write(tmp_path, "un.xml", data[: len(data) // 3]))
    assert err.location.startswith("line ") and "truncated" in err.problem


def test_cp1252_bytes_in_utf8_xml_are_refused(tmp_path):
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<CONSOLIDATED_LIST><INDIVIDUALS>'
        "<INDIVIDUAL><DATAID>1</DATAID><FIRST_NAME>Jos\xe9</FIRST_NAME></INDIVIDUAL>"
        "</INDIVIDUALS></CONSOLIDATED_LIST>"
    ).encode("cp1252")
    err = refuse("un", write(tmp_path, "un.xml", xml))
    assert "line 2" in err.location and "not well-formed" in err.problem


def test_wrong_document_element_is_refused(tmp_path, sanctions):
    err = refuse("un", sanctions / "eu/sample_eu_fsf.xml")
    assert "<export>" in err.location and "CONSOLIDATED_LIST" in err.problem


def test_record_without_identifier_is_refused(tmp_path):
    xml = b"<sdnList><sdnEntry><lastName>NO UID</lastName></sdnEntry></sdnList>"
    err = refuse("ofac-sdn", write(tmp_path, "sdn.xml", xml))
    assert "<sdnEntry> #1" in err.location and "uid" in err.problem


def test_conlist_row_with_wrong_column_count(tmp_path, sanctions):
    lines = (sanctions / "uk/ConList_excerpt.csv").read_bytes().split(b"\n")
    lines[5] = b",".join(lines[5].split(b",")[:10])
    err = refuse("uk", write(tmp_path, "ConList.csv", b"\n".join(lines)))
    assert err.location == "line 6" and "expected 29 columns, found 10" in err.problem


def test_conlist_without_its_header_is_refused(tmp_path):
    err = refuse("uk", write(tmp_path, "ConList.csv", b"a,b,c\r\n1,2,3\r\n"))
    assert err.location == "line 1" and "Group ID" in err.problem


@pytest.mark.parametrize(
    "source, name",
    [("ofac-sdn", "sdn.csv"), ("un", "un.xml"), ("uk", "ConList.csv"), ("eu", "eu.xml")],
)
def test_hostile_bytes_are_parsed_or_refused_cleanly(tmp_path, source, name):
    """Whatever the bytes, a parser either yields entities or raises ListParseError."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    seeds = [
        SDN_ROW.encode(),
        b"<CONSOLIDATED_LIST><INDIVIDUALS>",
        b'"',
        b"\x1a",
        b"\xff\xfe",
        b"<!DOCTYPE x [",
        b"-0- ,",
        b"\r\n",
        b"<export>",
        b"Name 6,Group ID\r\n",
    ]

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(st.one_of(st.sampled_from(seeds), st.binary(max_size=40)), max_size=12))
    def check(chunks):
        path = write(tmp_path, name, b"".join(chunks))
        try:
            for entity in parse_list(source, path).entities:
                assert entity.uid and entity.names
        except ListParseError as exc:
            assert name in str(exc)

    check()
