"""CLI and portal page tests."""

from __future__ import annotations

import csv
import json

import pytest
from django.core.management import CommandError, call_command

from screening.models import BatchRun, ScreeningQuery


def test_screen_command_writes_the_report(active_list, tmp_path):
    src = tmp_path / "in.csv"
    src.write_bytes("id,name,country\r\n1,Usama Bin Laden,SA\r\n2,José Pérez,ES\r\n"
                    "3,BANCO NACIONAL DE CUBA,\r\n".encode("cp1252"))
    out = tmp_path / "report.csv"
    call_command("screen", str(src), "--output", str(out))
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert {r["entity_uid"] for r in rows} >= {"6365", "306"}
    assert {"input_id", "input_name", "score", "list", "entity_uid", "matched_name",
            "matched_name_kind", "entity_type", "programs", "explanation"} <= set(rows[0])
    assert json.loads(rows[0]["explanation"])["format"] == 1
    assert ScreeningQuery.objects.filter(origin="batch").count() == 3
    out_json = tmp_path / "report.json"
    call_command("screen", str(src), "--output", str(out_json), "--format", "json",
                 "--threshold", "95")
    data = json.loads(out_json.read_text())
    assert all(r["score"] >= 95 for r in data)


def test_screen_command_rejects_a_csv_without_name(active_list, tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("id,fullname\n1,Bob\n")
    with pytest.raises(CommandError, match="no `name` column"):
        call_command("screen", str(src), "--output", str(tmp_path / "r.csv"))
    assert not (tmp_path / "r.csv").exists()
    assert BatchRun.objects.get().status == "failed"


def test_search_page_shows_explanations(portal_as, analyst, active_list):
    c = portal_as(analyst)
    assert c.get("/screening/").status_code == 200
    resp = c.post("/screening/search", {"name": "Osama bin Laden", "use": "onboarding"})
    assert resp.status_code == 200
    assert b"BIN LADIN, Usama" in resp.content and b"Similarity" in resp.content


def test_auditor_reads_the_log_but_cannot_search(portal_as, auditor, active_list):
    c = portal_as(auditor)
    assert c.get("/screening/queries/").status_code == 200
    assert c.post("/screening/search", {"name": "Kim"}).status_code == 403
    assert c.get("/screening/batches/new").status_code == 403


def test_outsider_gets_403(portal_as, outsider, active_list):
    assert portal_as(outsider).get("/screening/").status_code == 403


def test_batch_page_lists_the_rows_with_hits_in_file_order(portal_as, analyst, auditor,
                                                           active_list, tmp_path,
                                                           django_assert_max_num_queries):
    src = tmp_path / "in.csv"
    src.write_text("id,name\nC-1,Usama Bin Laden\nC-2,José Pérez\nC-3,BANCO NACIONAL DE CUBA\n",
                   encoding="utf-8")
    call_command("screen", str(src), "--output", str(tmp_path / "r.csv"))
    batch = BatchRun.objects.get()
    first = ScreeningQuery.objects.get(batch=batch, row_number=1)
    for user in (analyst, auditor):
        # session, user and role; the batch, the hits' count and one page of hits with
        # their customers (one query for the page, not one per row)
        client = portal_as(user)
        with django_assert_max_num_queries(6):
            html = client.get(f"/screening/batches/{batch.pk}/").content.decode()
        assert "Rows with hits (2)" in html
        table = html[html.index('class="batch-hits"'):html.index("</table>")]
        assert "José Pérez" not in table
        assert table.index("Usama Bin Laden") < table.index("BANCO NACIONAL DE CUBA")
        assert f'href="/screening/queries/{first.pk}/"' in table
        assert "C-1" in table and "6365" in table and "306" in table

    clean = tmp_path / "clean.csv"
    clean.write_text("id,name\nC-9,Erika Mustermann\n", encoding="utf-8")
    call_command("screen", str(clean), "--output", str(tmp_path / "r2.csv"))
    quiet = BatchRun.objects.order_by("-pk").first()
    html = portal_as(analyst).get(f"/screening/batches/{quiet.pk}/").content.decode()
    assert "No row matched at or above the threshold." in html and "batch-hits" not in html


def test_report_cells_a_spreadsheet_would_run_are_quoted(active_list, tmp_path):
    src = tmp_path / "in.csv"
    src.write_text('id,name\n=1+1,"+Banco Nacional de Cuba"\n2,Banco Nacional de Cuba\n',
                   encoding="utf-8")
    out = tmp_path / "report.csv"
    call_command("screen", str(src), "--output", str(out))
    rows = {r["input_id"]: r for r in csv.DictReader(out.open(encoding="utf-8"))}
    assert rows["'=1+1"]["input_name"] == "'+Banco Nacional de Cuba"
    assert rows["2"]["input_name"] == "Banco Nacional de Cuba"
    out_json = tmp_path / "report.json"
    call_command("screen", str(src), "--output", str(out_json), "--format", "json")
    assert {r["input_name"] for r in json.loads(out_json.read_text())} == {
        "+Banco Nacional de Cuba", "Banco Nacional de Cuba"}  # JSON is data, not a sheet


def test_batch_upload_page_takes_lists_and_keep_customers(portal_as, analyst, active_list,
                                                          django_capture_on_commit_callbacks):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from config.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        f = SimpleUploadedFile("book.csv", b"id,name\r\nK-1,Usama bin Ladin\r\nK-2,Jane Roe\r\n")
        with django_capture_on_commit_callbacks(execute=True):
            resp = portal_as(analyst).post(
                "/screening/batches/new",
                {"file": f, "use": "payments", "lists": ["ofac-sdn"], "keep_customers": "on"})
        resp = portal_as(analyst).get(resp.url)
    finally:
        app.conf.task_always_eager = previous
    assert resp.status_code == 200
    batch = BatchRun.objects.get()
    assert (batch.use, batch.lists, batch.keep_customers) == ("payments", ["ofac-sdn"], True)
    facts = resp.content.decode()
    assert "every row with an id kept in the customer base" in facts
    assert "Payments" in facts and "ofac-sdn" in facts
    assert batch.status == "succeeded"
    from cases.models import Customer

    assert set(Customer.objects.values_list("external_id", flat=True)) == {"K-1", "K-2"}
    assert 'href="/cases/customers/K-1/"' in facts  # the hit row links its customer


def test_screen_command_keeps_customers_when_asked(active_list, tmp_path):
    from cases.models import Customer

    src = tmp_path / "in.csv"
    src.write_text("id,name\nP-1,Jane Roe\nP-2,John Smith\n")
    call_command("screen", str(src), "--output", str(tmp_path / "r.csv"))
    assert not Customer.objects.exists()
    call_command("screen", str(src), "--output", str(tmp_path / "r.csv"), "--keep-customers")
    assert set(Customer.objects.values_list("external_id", flat=True)) == {"P-1", "P-2"}
