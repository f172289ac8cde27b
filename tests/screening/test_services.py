"""Service tests of the screening engine (real PostgreSQL)."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from audit.context import Actor
from cases.models import Case, CaseEvidence
from screening.models import BatchRun, ScreeningQuery
from screening.services import (
    ScreeningInputError,
    batch_report_rows,
    screening_batch_run,
    screening_batch_start,
    screening_query_reproduce,
    screening_search,
    whitelist_add,
)
from tests.conftest import sealed_ledger

ACTOR = Actor.system("test")


def test_search_logs_query_with_versions_algorithm_and_audit(active_list):
    before = sealed_ledger().filter(action="screening.query").count()
    q = screening_search(name="Usama Bin Laden", actor=ACTOR)
    assert q.hit_count >= 1
    top = q.results[0]
    assert (top["list"], top["entity_uid"]) == ("ofac-sdn", "6365")
    assert top["explanation"]["aligned"]
    assert q.list_versions == {"ofac-sdn": active_list.pk}
    assert q.algorithm_version.startswith("vigil-match/")
    assert q.config["threshold"] == q.threshold
    assert q.normalized == "OSAMA BIN LADEN"  # variant groups fold to their first spelling
    assert sealed_ledger().filter(action="screening.query").count() == before + 1
    assert screening_query_reproduce(query=q)[0]["score"] == top["score"]


def test_query_log_is_append_only(active_list):
    q = screening_search(name="Kim Jong Un", actor=ACTOR)
    with pytest.raises(Exception), transaction.atomic():  # noqa: B017 - trigger error class
        ScreeningQuery.objects.filter(pk=q.pk).update(hit_count=0)
    with pytest.raises(Exception), transaction.atomic():  # noqa: B017
        with connection.cursor() as cur:
            cur.execute("DELETE FROM screening_screeningquery WHERE id = %s", [q.pk])


@pytest.mark.parametrize("kwargs, field", [
    ({"name": ""}, "name"), ({"name": "\x00\x01"}, "name"), ({"name": "🙂🙂"}, "name"),
    ({"name": "x" * 5000}, "name"), ({"name": "Kim", "dob": "1984/01/08"}, "dob"),
    ({"name": "Kim", "dob": "1984-13-01"}, "dob"), ({"name": "Kim", "dob": "1984-02-30"}, "dob"),
    ({"name": "Kim", "dob": "0984"}, "dob"), ({"name": "Kim", "dob": "2999-01"}, "dob"),
    ({"name": "Kim", "country": "KOR"}, "country"),
    ({"name": "Kim", "entity_type": "robot"}, "entity_type"),
    ({"name": "Kim", "lists": ["nope"]}, "lists"), ({"name": "Kim", "threshold": 120}, "threshold"),
])
def test_bad_input_is_rejected_with_the_field(active_list, kwargs, field):
    with pytest.raises(ScreeningInputError) as err:
        screening_search(**kwargs, actor=ACTOR)
    assert err.value.field == field
    assert not ScreeningQuery.objects.exists()


def test_hits_open_one_case_per_customer_and_entity(active_list, customer):
    screening_search(name=customer.name, customer=customer, actor=ACTOR)
    screening_search(name="Usama bin Ladin", customer=customer, actor=ACTOR)
    cases = Case.objects.filter(customer=customer)
    assert cases.count() == 1
    case = cases.get()
    assert case.dedupe_key == "screening:C-1:ofac-sdn:6365"
    assert CaseEvidence.objects.filter(case=case, kind="screening_match").count() == 2


def test_whitelist_suppresses_until_the_entity_changes(active_list, customer, analyst):
    q = screening_search(name=customer.name, customer=customer, actor=ACTOR)
    hit = q.results[0]
    whitelist_add(customer=customer, list_code=hit["list"], entity_uid=hit["entity_uid"],
                  content_hash=hit["content_hash"], reason="different person (DOB)",
                  reviewer=analyst)
    q2 = screening_search(name=customer.name, customer=customer, actor=ACTOR)
    assert q2.hit_count == 0 and q2.suppressed[0]["entity_uid"] == "6365"
    whitelist_add(customer=customer, list_code="ofac-sdn", entity_uid="6365",
                  content_hash="0" * 64, reason="old content", reviewer=analyst)
    with pytest.raises(ScreeningInputError):
        whitelist_add(customer=customer, list_code="ofac-sdn", entity_uid="6365",
                      content_hash="x", reason=" ", reviewer=analyst)


CSV = ("id,name,dob,country\r\nC-10,Usama Bin Laden,1957,SA\r\nC-11,Jane Doe,,\r\n"
       "C-12,Banco Nacional de Cuba S.A.,,\r\n")


def test_batch_runs_logs_every_row_and_reports_matches(active_list):
    batch = screening_batch_start(file_name="c.csv", data=CSV.encode(), actor=ACTOR,
                                  enqueue=False)
    assert batch.total == 3 and batch.status == "pending"
    batch = screening_batch_run(batch_id=batch.pk, chunk_size=2)
    assert batch.status == "succeeded" and batch.processed == 3
    assert ScreeningQuery.objects.filter(batch=batch).count() == 3
    rows = list(batch_report_rows(batch))
    assert {(r["input_id"], r["entity_uid"]) for r in rows} >= {("C-10", "6365"),
                                                                ("C-12", "306")}
    assert all(r["explanation"] for r in rows)
    # a finished batch is not run twice
    assert screening_batch_run(batch_id=batch.pk).processed == 3
    assert ScreeningQuery.objects.filter(batch=batch).count() == 3


def test_batch_accepts_cp1252(active_list):
    data = "name\r\nJosé Müller\r\n".encode("cp1252")
    batch = screening_batch_start(file_name="c.csv", data=data, actor=ACTOR, enqueue=False)
    assert batch.input.rows[0]["name"] == "José Müller"


@pytest.mark.parametrize("data, message", [
    (b"id,fullname\r\n1,Bob\r\n", "no `name` column"),
    (b"", "empty"),
    (b"name\r\n\x00\x01\x02\r\n", "binary"),
    (b"name\r\nBob\r\n\x01\x02\r\n", "line 3"),
])
def test_bad_batch_files_are_recorded_as_failed(active_list, data, message):
    with pytest.raises(ScreeningInputError, match=message):
        screening_batch_start(file_name="bad.csv", data=data, actor=ACTOR, enqueue=False)
    failed = BatchRun.objects.get()
    assert failed.status == "failed" and message.split("`")[0] in failed.error
    assert not ScreeningQuery.objects.exists()


def test_oversized_batch_is_refused(active_list, settings):
    settings.SCREENING_BATCH_MAX_BYTES = 100
    with pytest.raises(ScreeningInputError, match="too large"):
        screening_batch_start(file_name="big.csv", data=b"name\r\n" + b"A" * 200,
                              actor=ACTOR, enqueue=False)
    assert BatchRun.objects.get().status == "failed"


def test_reproducing_a_query_of_another_algorithm_version_is_refused(active_list):
    q = screening_search(name="Kim Jong Un", actor=ACTOR)
    assert screening_query_reproduce(query=q)[0]["entity_uid"] == "20157"
    q.algorithm_version = "vigil-match/1.1"  # as logged by the previous release
    with pytest.raises(ScreeningInputError, match="cannot be reproduced exactly"):
        screening_query_reproduce(query=q)


def test_a_batch_row_with_an_impossible_date_rejects_the_file_naming_it():
    from screening.services import batch_rows_parse

    with pytest.raises(ScreeningInputError, match="line 3: dob: dob 1970-02-31 is not a"):
        batch_rows_parse(b"id,name,dob\n1,Ann Lee,1970-02-28\n2,Bo Li,1970-02-31\n")
    assert [r["dob"] for r in batch_rows_parse(b"name,dob\nAnn Lee,1970-02\nBo,1970\n")] == [
        "1970-02", "1970"]


def test_new_service_events_are_recorded_under_the_model_label(active_list):
    from screening.services import screening_batch_start

    batch = screening_batch_start(file_name="c.csv", data=b"name\r\nJane Roe\r\n",
                                  actor=Actor.system("test"), enqueue=False)
    from audit.services import ledger_seal_pending

    ledger_seal_pending()
    entry = sealed_ledger().get(action="screening.batch_created")
    assert (entry.object_type, entry.object_id) == ("screening.batchrun", str(batch.pk))


def test_many_subjects_take_the_batch_path_with_the_same_results(active_list):
    from screening.services import MANY_FROM, screening_search_many

    names = ["Usama Bin Laden", "Banco Nacional de Cuba", "Jane Doe", "Kim Jong Un",
             "Osama bin Ladin", "Erika Mustermann"] * 3
    assert len(names) >= MANY_FROM
    many = screening_search_many(subjects=[{"name": n} for n in names], actor=ACTOR)
    for name, query in zip(names, many, strict=True):
        single = screening_search(name=name, actor=ACTOR)
        assert query.results == single.results and query.normalized == single.normalized
    assert any(q.hit_count for q in many) and not all(q.hit_count for q in many)
