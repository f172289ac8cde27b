"""Delta re-screening when a list version activates."""

from __future__ import annotations

from audit.context import Actor
from cases.models import Case
from cases.services import customer_upsert
from screening.lists.services import list_import
from screening.matcher_cache import current_matcher
from screening.models import ScreeningQuery, Whitelist
from screening.services import screening_rescreen_delta, screening_search, whitelist_add
from tests.screening.conftest import ALT, SDN, write_sdn

ACTOR = Actor.system("test")


def test_new_and_changed_entities_are_screened_against_customers(active_list, tmp_path,
                                                                 analyst):
    customer_upsert(external_id="C-K", name="Kim Jong Un", dob="1984")
    cuba = customer_upsert(external_id="C-B", name="National Bank of Cuba",
                           entity_type="organisation")
    customer_upsert(external_id="C-N", name="Erika Mustermann")
    # the analyst reviewed the Cuba hit as a false positive for this customer
    q = screening_search(name=cuba.name, customer=cuba, actor=ACTOR)
    hit = next(m for m in q.results if m["entity_uid"] == "306")
    whitelist_add(customer=cuba, list_code="ofac-sdn", entity_uid="306",
                  content_hash=hit["content_hash"], reason="not the bank", reviewer=analyst)
    cases_before = Case.objects.count()

    # v2: a new entity matching a customer, the bank's record changed, Kim unchanged
    rows = [r if r[0] != "306" else (*r[:4], "Formerly state bank", r[5]) for r in SDN]
    rows.append(("9001", "MUSTERMAN, Erika", "individual", "SDGT", "", ""))
    v2 = list_import(source="ofac-sdn", path=write_sdn(tmp_path / "v2", rows, ALT),
                     actor=ACTOR).version
    assert v2.is_active
    assert current_matcher().versions == {"ofac-sdn": v2.pk}

    summary = screening_rescreen_delta(version_id=v2.pk)
    assert summary["entities"] == 2  # added 9001 + changed 306; Kim (unchanged) not re-run
    delta_queries = ScreeningQuery.objects.filter(origin="delta")
    screened = {(q.customer.external_id, m["entity_uid"])
                for q in delta_queries for m in q.results}
    assert ("C-B", "306") in screened  # whitelist reopened: the entity changed
    assert not any(uid == "20157" for _, uid in screened)
    assert not Whitelist.objects.get(entity_uid="306").active
    new_cases = Case.objects.filter(source="screening").count() - cases_before
    assert new_cases >= 1
    assert Case.objects.filter(dedupe_key="screening:C-B:ofac-sdn:306").exists()


def test_a_delta_with_no_customers_builds_no_matcher_and_is_still_recorded(
        active_list, tmp_path, monkeypatch):
    """A new deployment activates its lists before it stores a customer: nothing to
    screen, so no index is built (seconds per list), and the run is on the audit trail."""
    from screening import services
    from tests.conftest import sealed_ledger

    assert not services.Customer.objects.exists()
    rows = [*SDN, ("9002", "EXAMPLE, Delta", "individual", "SDGT", "", "")]
    v2 = list_import(source="ofac-sdn", path=write_sdn(tmp_path / "v2", rows, ALT),
                     actor=ACTOR).version

    def refuse(*args, **kwargs):
        raise AssertionError("a matcher was built with no customer to screen")

    monkeypatch.setattr(services, "Matcher", refuse)
    summary = screening_rescreen_delta(version_id=v2.pk)
    assert summary == {"version_id": v2.pk, "list": "ofac-sdn", "mode": "delta",
                       "entities": 1, "customers": 0, "hits": 0}
    entry = sealed_ledger().filter(action="screening.delta_rescreen",
                                   object_id=str(v2.pk)).get()
    assert entry is not None


KEEP_CSV = ("id,name,dob,country,entity_type\r\n"
            "C-10,Usama Bin Laden,1957,SA,\r\n"
            "C-11,Erika Mustermann,1970-02-01,DE,person\r\n"
            "C-12,Ever Given,,PA,vessel\r\n"
            ",Max Mustermann,,,\r\n")


def _batch(keep: bool):
    from screening.services import screening_batch_run, screening_batch_start

    batch = screening_batch_start(file_name="customers.csv", data=KEEP_CSV.encode(),
                                  keep_customers=keep, actor=ACTOR, enqueue=False)
    return screening_batch_run(batch_id=batch.pk, chunk_size=2)


def test_a_batch_keeps_its_customers_for_ongoing_screening_when_asked(active_list, tmp_path):
    from cases.models import Customer
    from tests.conftest import sealed_ledger

    batch = _batch(keep=True)
    assert batch.status == "succeeded" and batch.keep_customers
    stored = {c.external_id: c for c in Customer.objects.all()}
    assert set(stored) == {"C-10", "C-11", "C-12"}  # the row without an id is not stored
    assert (stored["C-11"].dob, stored["C-11"].country) == ("1970-02-01", "DE")
    assert stored["C-12"].entity_type == "organisation"  # a vessel is kept as one
    # every row with an id is logged against its customer, hits or not
    logged = ScreeningQuery.objects.filter(batch=batch).order_by("row_number")
    assert [q.customer.external_id if q.customer else None for q in logged] == [
        "C-10", "C-11", "C-12", None]
    from audit.selectors import entry_body

    sources = {entry_body(e)["source"] for e in sealed_ledger().filter(
        action="cases.customers_upserted")}
    assert sources == {f"screening batch #{batch.pk}"}

    # a later list version names Erika: the delta re-screen finds the kept customer
    rows = [*SDN, ("9001", "MUSTERMANN, Erika", "individual", "SDGT", "", "")]
    v2 = list_import(source="ofac-sdn", path=write_sdn(tmp_path / "v2", rows, ALT),
                     actor=ACTOR).version
    screening_rescreen_delta(version_id=v2.pk)
    assert Case.objects.filter(dedupe_key="screening:C-11:ofac-sdn:9001").exists()


def test_a_batch_stores_only_its_hits_as_customers_by_default(active_list):
    from cases.models import Customer

    batch = _batch(keep=False)
    assert batch.status == "succeeded" and not batch.keep_customers
    assert set(Customer.objects.values_list("external_id", flat=True)) == {"C-10"}
    assert ScreeningQuery.objects.filter(batch=batch, customer__isnull=False).count() == 1


def test_an_offboarded_customer_is_not_rescreened(active_list, tmp_path):
    from cases.customers import customer_offboard, customer_reinstate

    gone = customer_upsert(external_id="C-GONE", name="Erika Mustermann")
    customer_offboard(customer=gone, reason="account closed")
    rows = [*SDN, ("9001", "MUSTERMANN, Erika", "individual", "SDGT", "", "")]
    v2 = list_import(source="ofac-sdn", path=write_sdn(tmp_path / "v2", rows, ALT),
                     actor=ACTOR).version
    summary = screening_rescreen_delta(version_id=v2.pk)
    assert summary["customers"] == 0 and summary["hits"] == 0
    assert not Case.objects.filter(subject_id="C-GONE").exists()
    customer_reinstate(customer=gone, reason="relationship resumed")
    summary = screening_rescreen_delta(version_id=v2.pk)
    assert summary["customers"] == 1 and summary["hits"] >= 1
    assert Case.objects.filter(dedupe_key="screening:C-GONE:ofac-sdn:9001").exists()


def test_customers_new_to_the_base_are_screened_against_the_active_lists(active_list,
                                                                          tmp_path, capsys):
    """A customer stored after a list activated would otherwise meet only what later
    versions add or change: import_customers screens the new and changed ones."""
    from django.core.management import call_command

    src = tmp_path / "base.csv"
    src.write_text("id,name,entity_type\nN-1,Banco Nacional de Cuba,organisation\n"
                   "N-2,Jane Roe,person\n", encoding="utf-8")
    call_command("import_customers", str(src))
    assert "screened 2 new or changed customers against the active lists: 1 with hits" \
        in capsys.readouterr().out
    logged = ScreeningQuery.objects.filter(origin="customer")
    assert {q.customer.external_id for q in logged} == {"N-1", "N-2"}
    assert Case.objects.filter(dedupe_key="screening:N-1:ofac-sdn:306").exists()
    call_command("import_customers", str(src))  # unchanged: nothing screened again
    assert ScreeningQuery.objects.filter(origin="customer").count() == 2
    src.write_text("id,name,entity_type\nN-1,Banco Nacional de Cuba,organisation\n"
                   "N-2,Jane Roe-Smith,person\n", encoding="utf-8")
    call_command("import_customers", str(src), "--no-screen")
    assert ScreeningQuery.objects.filter(origin="customer").count() == 2
    src.write_text("id,name,entity_type\nN-2,Jane Roe,person\n", encoding="utf-8")
    call_command("import_customers", str(src))
    assert ScreeningQuery.objects.filter(origin="customer").count() == 3


def test_screening_many_customers_refreshes_the_query_table_statistics_first(
        active_list, monkeypatch):
    """A large on-arrival screening reads the query table by customer id every chunk; it
    analyses that table first so those reads use its index (config.rows.tables_analyze)."""
    import screening.services as services

    analysed = []
    monkeypatch.setattr(services, "tables_analyze", lambda *models: analysed.append(models))
    ids = [customer_upsert(external_id=f"AN-{i}", name=n).pk
           for i, n in enumerate(["Jane Roe", "John Doe"])]
    monkeypatch.setattr(services, "ANALYZE_AFTER_ROWS", 3)
    services.screening_customers_screen(customer_ids=ids, actor=None)
    assert analysed == []
    monkeypatch.setattr(services, "ANALYZE_AFTER_ROWS", 2)
    services.screening_customers_screen(customer_ids=ids, actor=None)
    assert analysed == [(ScreeningQuery,)]


def test_customers_sent_by_the_api_are_screened_in_the_background(
        active_list, api_as, integration_client, django_capture_on_commit_callbacks):
    from cases.customers import customer_offboard
    from config.celery import app

    gone = customer_upsert(external_id="A-GONE", name="Kim Jong Un")
    customer_offboard(customer=gone, reason="account closed")
    client = api_as(token=integration_client[1])
    # stored but not yet screened (the task is queued, not run): the customer says so
    with django_capture_on_commit_callbacks(execute=False):
        client.post("/api/v1/customers", {"customers": [
            {"external_id": "A-WAIT", "name": "Jane Roe"}]}, format="json")
    waiting = client.get("/api/v1/customers/A-WAIT").json()["screening"]
    assert waiting == {"state": "pending", "latest_query": None}
    assert client.get("/api/v1/customers/A-GONE").json()["screening"]["state"] == "offboarded"
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        with django_capture_on_commit_callbacks(execute=True):
            resp = api_as(token=integration_client[1]).post("/api/v1/customers", {
                "customers": [{"external_id": "A-1", "name": "National Bank of Cuba",
                               "entity_type": "organisation"},
                              {"external_id": "A-GONE", "name": "Kim Jong-un"}]},
                format="json")
    finally:
        app.conf.task_always_eager = previous
    assert resp.status_code == 200
    assert resp.json()["screening_queued"] == 1  # the offboarded customer is not screened
    query = ScreeningQuery.objects.get(origin="customer")
    assert query.customer.external_id == "A-1" and query.hit_count >= 1
    assert query.actor_label == "screening.customers_screen"
    screening = client.get("/api/v1/customers/A-1").json()["screening"]
    assert screening["state"] == "screened"
    assert screening["latest_query"]["id"] == query.pk
    assert screening["latest_query"]["origin"] == "customer"
    assert screening["latest_query"]["hit_count"] == query.hit_count >= 1
    # the task run again (redelivered after a worker died) screens nobody twice ...
    from screening.tasks import screening_customers_task

    a1 = query.customer
    assert screening_customers_task(customer_ids=[a1.pk])["customers"] == 0
    assert ScreeningQuery.objects.filter(origin="customer").count() == 1
    # ... until the customer changes again
    customer_upsert(external_id="A-1", name="Banco Nacional de Cuba",
                    entity_type="organisation")
    assert screening_customers_task(customer_ids=[a1.pk])["customers"] == 1


def test_screening_new_customers_on_two_cores_gives_what_one_core_gives(active_list):
    """More customers than one pool chunk: screened on forked workers while the parent
    logs the chunk before; every customer is logged once with the single-search result."""
    from cases.customers import customer_rows_clean, customers_upsert_many
    from screening.services import screening_customers_screen, screening_search

    names = ["Banco Nacional de Cuba", "Jane Roe", "Kim Jong Un", "Erika Mustermann",
             "Maria Lopez Garcia", "Usama bin Ladin"]
    rows = customer_rows_clean([{"external_id": f"P-{i}", "name": f"{names[i % 6]}"}
                                for i in range(900)])
    outcome = customers_upsert_many(rows, source="test")
    seen = []
    summary = screening_customers_screen(customer_ids=outcome.to_screen, actor=ACTOR,
                                         processes=2, progress=lambda d, t: seen.append(d))
    assert summary == {"customers": 900, "with_hits": summary["with_hits"], "skipped": 0}
    assert seen[-1] == 900 and seen == sorted(seen)
    logged = ScreeningQuery.objects.filter(origin="customer")
    assert logged.count() == 900
    expected = {n: screening_search(name=n, entity_type="person", actor=ACTOR).results
                for n in names}
    for q in logged.select_related("customer"):  # every name, each customer a person
        assert q.results == expected[q.customer.name], q.customer.name
    assert summary["with_hits"] == sum(1 for q in logged if q.hit_count) > 0
