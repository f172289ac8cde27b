"""The customer base: bulk upsert (service, API, CLI), validation, links to earlier cases."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from cases.customers import CustomerInputError, customer_rows_clean, customers_upsert_many
from cases.models import Case, Customer
from cases.services import case_open
from tests.conftest import sealed_ledger

pytestmark = pytest.mark.django_db

ROWS = [
    {"external_id": "K-1", "name": "Maria Lopez", "dob": "1981-04-02", "country": "es"},
    {"external_id": "K-2", "name": "Acme Trading LLC", "entity_type": "organization"},
]


def test_upsert_creates_updates_and_leaves_unchanged_with_history():
    first = customers_upsert_many(customer_rows_clean(ROWS), source="test")
    assert first.as_dict() == {"created": 2, "updated": 0, "unchanged": 0}
    maria = Customer.objects.get(external_id="K-1")
    assert (maria.country, maria.entity_type) == ("ES", "person")
    assert Customer.objects.get(external_id="K-2").entity_type == "organisation"
    again = customers_upsert_many(customer_rows_clean(
        [{**ROWS[0], "name": "Maria Lopez Garcia"}, ROWS[1]]), source="test")
    assert again.as_dict() == {"created": 0, "updated": 1, "unchanged": 1}
    assert [h.name for h in Customer.history.filter(external_id="K-1").order_by(
        "history_date")] == ["Maria Lopez", "Maria Lopez Garcia"]
    assert sealed_ledger().filter(action="cases.customers_upserted").count() == 2


def test_a_new_customer_is_linked_to_the_cases_opened_about_its_id():
    case = case_open(source="monitoring", title="T1 alert", subject_type="customer",
                     subject_id="K-1", dedupe_key="k1", priority=50)
    assert case.customer_id is None
    customers_upsert_many(customer_rows_clean(ROWS[:1]), source="test")
    case.refresh_from_db()
    assert case.customer.external_id == "K-1" and "maria lopez" in case.search_text


@pytest.mark.parametrize("rows, message", [
    ([{"name": "No Id"}], "row 1: external_id: is required"),
    ([{"external_id": "K-1", "name": ""}], "row 1: name: is required"),
    ([{"external_id": "K-1", "name": "A", "dob": "1970-02-31"}], "is not a calendar date"),
    # the same date rule as a screened date of birth (one `dob_problem`)
    ([{"external_id": "K-1", "name": "A", "dob": "1700"}], "dob: year 1700 is outside 1800-"),
    ([{"external_id": "K-1", "name": "A", "country": "Spain"}], "ISO 3166 alpha-2"),
    ([{"external_id": "K-1", "name": "A", "entity_type": "vessel"}], "entity_type: must be"),
    ([{"external_id": "K-1", "name": "A\x00B"}], "control characters"),
    ([{"external_id": "K-1", "name": "A", "nickname": "x"}], "unknown field(s) nickname"),
    ([{"external_id": "K-1", "name": "A"}, {"external_id": "K-1", "name": "B"}],
     "row 2: external_id: K-1 is also row 1"),
    ([{"external_id": 5, "name": "A"}], "external_id: must be a string"),
])
def test_bad_rows_are_refused_naming_row_and_field(rows, message):
    with pytest.raises(CustomerInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        customer_rows_clean(rows)


def test_api_upserts_all_or_nothing_and_reads_a_customer(api_as, analyst, auditor):
    client = api_as(analyst)
    done = client.post("/api/v1/customers", {"customers": ROWS}, format="json")
    assert done.status_code == 200 and done.json() == {"created": 2, "updated": 0,
                                                         "unchanged": 0, "screening_queued": 2}
    bad = client.post("/api/v1/customers", {"customers": [
        {"external_id": "K-3", "name": "Fine"}, {"external_id": "K-4", "name": "X",
                                                  "country": "ESP"}]}, format="json")
    assert bad.status_code == 400
    assert bad.json()["error"]["fields"] == {"customers[1].country": [
        "must be an ISO 3166 alpha-2 code"]}
    assert not Customer.objects.filter(external_id="K-3").exists()  # nothing half-written
    assert client.post("/api/v1/customers", ROWS, format="json").status_code == 400
    assert client.post("/api/v1/customers", {"customers": ROWS * 501},
                       format="json").status_code == 400
    assert api_as(auditor).post("/api/v1/customers", {"customers": ROWS},
                                format="json").status_code == 403
    got = api_as(auditor).get("/api/v1/customers/K-1")
    assert got.status_code == 200 and got.json()["country"] == "ES"
    assert got.json()["open_cases"] == []
    # no list is active yet: nothing to screen against (the first activation screens all)
    assert got.json()["screening"] == {"state": "no_active_list", "latest_query": None}
    assert api_as(auditor).get("/api/v1/customers/NOPE").status_code == 404


def test_import_customers_command_checks_the_whole_file_first(tmp_path, capsys):
    good = tmp_path / "customers.csv"
    good.write_text("id,name,dob,country,entity_type\nK-1,Maria Lopez,1981-04-02,ES,person\n"
                    "\nK-2,Acme Trading LLC,,AE,organisation\n", encoding="utf-8")
    call_command("import_customers", str(good))
    assert "2 customers: 2 new, 0 updated, 0 unchanged" in capsys.readouterr().out
    call_command("import_customers", str(good))
    assert "0 new, 0 updated, 2 unchanged" in capsys.readouterr().out
    bad = tmp_path / "bad.csv"
    bad.write_bytes("external_id,name,country\nK-9,Zoë Müller,DE\n\nK-10,Bad,Germany\n"
                    .encode("cp1252"))
    with pytest.raises(CommandError, match=r"bad.csv, line 4, country: must be an ISO"):
        call_command("import_customers", str(bad))
    assert not Customer.objects.filter(external_id="K-9").exists()
    nameless = tmp_path / "nameless.csv"
    nameless.write_text("id,full_name\nK-1,x\n", encoding="utf-8")
    with pytest.raises(CommandError, match="needs `external_id` \\(or `id`\\) and `name`"):
        call_command("import_customers", str(nameless))
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\x00\x01\x02")
    with pytest.raises(CommandError, match="binary"):
        call_command("import_customers", str(binary))
    assert Case.objects.count() == 0


def test_import_customers_stores_nothing_when_a_row_past_the_first_chunks_is_bad(tmp_path):
    """The file is stored a chunk at a time, but checked whole before the first chunk."""
    rows = "".join(f"K-{i},Customer Number{i},,DE,person\n" for i in range(1, 8))
    bad = tmp_path / "late.csv"
    bad.write_text("id,name,dob,country,entity_type\n" + rows + "K-3,Again,,DE,person\n",
                   encoding="utf-8")
    with pytest.raises(CommandError, match=r"late.csv, line 9, external_id: K-3 is also row 3"):
        call_command("import_customers", str(bad), "--chunk", "2")
    short = tmp_path / "short.csv"
    short.write_text("id,name,country\n" + "".join(f"K-{i},N{i},DE\n" for i in range(6))
                     + "K-6,N6\n", encoding="utf-8")
    with pytest.raises(CommandError, match=r"short.csv, line 8: 2 fields, the header has 3"):
        call_command("import_customers", str(short), "--chunk", "2")
    assert Customer.objects.count() == 0
    good = tmp_path / "good.csv"
    good.write_text("id,name,dob,country,entity_type\n" + rows, encoding="utf-8")
    call_command("import_customers", str(good), "--chunk", "2")
    assert Customer.objects.count() == 7


def test_import_customers_reads_cp1252_found_past_the_first_block(tmp_path, capsys):
    """The file is decoded as it is read (screening.lists.parsers.source.iter_text_lines):
    a cp1252 line after the first MiB makes it a cp1252 file; a line that is neither
    UTF-8 nor cp1252, or cp1252 in a file already read as UTF-8, is refused by its number
    before anything is stored (decoding the whole file as cp1252 would have stored the
    UTF-8 names garbled)."""
    src = tmp_path / "late-cp1252.csv"
    src.write_bytes(b"id,name,country\nK-1,Anna Berg,SE\n" + b"\n" * (1 << 20)
                    + "K-2,Zoë Müller,DE\n".encode("cp1252"))
    call_command("import_customers", str(src))
    assert "2 customers: 2 new" in capsys.readouterr().out
    assert Customer.objects.get(external_id="K-2").name == "Zoë Müller"
    (tmp_path / "neither.csv").write_bytes(b"id,name\nK-1,Anna\n" + b"\n" * (1 << 20)
                                           + b"K-2,\x81\x8d\n")
    with pytest.raises(CommandError, match=r"neither.csv, line 1048579: bytes .* are not "
                                           r"valid utf-8 or cp1252"):
        call_command("import_customers", str(tmp_path / "neither.csv"))
    mixed = tmp_path / "mixed.csv"
    mixed.write_bytes("id,name\nM-1,Jürgen Groß\n".encode() + "M-2,Zoë Berg\n".encode("cp1252"))
    with pytest.raises(CommandError, match=r"mixed.csv, line 3: bytes .* are not valid"):
        call_command("import_customers", str(mixed))
    assert not Customer.objects.filter(external_id__startswith="M-").exists()
