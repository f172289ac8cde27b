"""config.rows: fixed-SQL reads and inserts give exactly the ORM's rows."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from cases.models import Customer
from config.rows import copy_objects, fetch_joined, insert_objects, insert_rows, tables_analyze
from enrichment.models import EnrichmentRun, LoanApplication, ProviderStep
from enrichment.services import application_create, enrichment_run_request
from screening.models import ScreeningQuery

pytestmark = [pytest.mark.django_db]

JOIN = ('FROM "enrichment_enrichmentrun" t0 JOIN "enrichment_loanapplication" t1 '
        'ON t1.id = t0.application_id LEFT JOIN "cases_customer" t2 ON t2.id = t1.customer_id '
        "WHERE t0.id = %s")


def _values(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}


def _application() -> LoanApplication:
    application = application_create(data={
        "legal_name": "Rows Test GmbH", "registration_number": "HRB 1", "country": "DE",
        "requested_amount": Decimal("1234.50"), "currency": "EUR", "purpose": "test"},
        principals=[{"full_name": "Ada Rows", "date_of_birth": dt.date(1970, 1, 2)}])
    application.registered_address = {"city": "Köln", "lines": ["Ring 1"]}
    application.credit_risk_class = {"code": 3}
    application.save()
    return application


def test_fetch_joined_builds_the_same_instances_as_the_orm():
    application = _application()
    run = enrichment_run_request(application=application, queue=False)[0]
    row = fetch_joined((EnrichmentRun, LoanApplication, Customer), JOIN, [run.pk],
                       extra=("1 + 1",), lock="FOR UPDATE OF t0")
    fetched_run, fetched_application, fetched_customer, extra = row
    assert extra == 2
    orm_run = EnrichmentRun.objects.get(pk=run.pk)
    orm_application = LoanApplication.objects.get(pk=application.pk)
    assert _values(fetched_run) == _values(orm_run)
    # JSON, decimal and datetime columns go through the fields' converters.
    assert _values(fetched_application) == _values(orm_application)
    assert fetched_application.registered_address == {"city": "Köln", "lines": ["Ring 1"]}
    assert fetched_application.requested_amount == Decimal("1234.50")
    assert _values(fetched_customer) == _values(Customer.objects.get(pk=application.customer_id))
    assert not fetched_run._state.adding and fetched_run._state.db == "default"


def test_fetch_joined_gives_none_for_an_empty_outer_join_and_for_no_row():
    application = _application()
    run = enrichment_run_request(application=application, queue=False)[0]
    LoanApplication.objects.filter(pk=application.pk).update(customer=None)
    _run, fetched_application, fetched_customer = fetch_joined(
        (EnrichmentRun, LoanApplication, Customer), JOIN, [run.pk])
    assert fetched_application.customer_id is None and fetched_customer is None
    assert fetch_joined((EnrichmentRun, LoanApplication, Customer), JOIN, [-1]) is None


def test_insert_objects_sets_keys_and_stores_what_bulk_create_stores():
    def query(name: str) -> ScreeningQuery:
        return ScreeningQuery(actor_type="system", actor_id="t", input={"name": name},
                              normalized=name.upper(), list_versions={"OFAC_SDN": 7},
                              algorithm_version="x", config={"k": [1, 2]}, threshold=85.0,
                              results=[{"score": 91.5}], hit_count=1, top_score=91.5)

    fast = [query("Ann Fast"), query("Bob Fast")]
    insert_objects(fast)
    slow = [query("Ann Fast"), query("Bob Fast")]
    ScreeningQuery.objects.bulk_create(slow)
    assert all(q.pk and not q._state.adding for q in fast)
    assert fast[0].pk != fast[1].pk and fast[0].created_at is not None
    for mine, orms in zip(fast, slow, strict=True):
        stored = _values(ScreeningQuery.objects.get(pk=mine.pk))
        reference = _values(ScreeningQuery.objects.get(pk=orms.pk))
        for key in ("id", "created_at"):
            stored.pop(key), reference.pop(key)
        assert stored == reference


def test_insert_objects_keeps_a_preset_key():
    preset = ScreeningQuery(pk=987654, actor_type="system", input={"name": "Preset"},
                            algorithm_version="x", threshold=85.0)
    insert_objects([preset])
    assert ScreeningQuery.objects.get(pk=987654).input == {"name": "Preset"}


def _logged(name: str, **extra) -> ScreeningQuery:
    return ScreeningQuery(
        origin="batch", actor_type="system", actor_id="t", actor_label="Zoë \\ \"Q\"",
        input={"name": name, "dob": None, "note": "tab\there\nnew line \\N"},
        normalized=name.upper(), list_versions={"OFAC_SDN": 7}, algorithm_version="x",
        config={"k": [1, 2.5, None, True], "s": "ÄÖ'\""}, threshold=85.0,
        results=[{"score": 91.5, "explanation": {"tokens": [["A", "Á", 0.97]]}}],
        hit_count=1, top_score=91.5, **extra)


@pytest.fixture
def copy_always(monkeypatch):
    """COPY even for the few rows these tests write (below it, copy_objects INSERTs)."""
    import config.rows

    monkeypatch.setattr(config.rows, "COPY_FROM_ROWS", 1)


def test_copy_objects_inserts_fewer_rows_than_copy_from_rows(monkeypatch):
    import config.rows

    inserted = []
    real = config.rows.insert_objects
    monkeypatch.setattr(config.rows, "insert_objects",
                        lambda objs, **kw: (inserted.append(len(objs)), real(objs, **kw)))
    few = [_logged(f"Few {i}") for i in range(config.rows.COPY_FROM_ROWS - 1)]
    many = [_logged(f"Many {i}") for i in range(config.rows.COPY_FROM_ROWS)]
    copy_objects(few)
    copy_objects(many)
    assert inserted == [len(few)]  # the many went in by COPY
    assert None not in [q.pk for q in few + many]
    assert ScreeningQuery.objects.filter(pk__in=[q.pk for q in few + many]).count() == len(
        few) + len(many)


def test_copy_objects_sets_ascending_keys_and_stores_what_bulk_create_stores(copy_always):
    from screening.models import BatchRun

    batch = BatchRun.objects.create(file_name="x.csv", sha256="0" * 64, total=3)
    names = ["Ann Copy", "Борис Копия", "Tab\tand\\backslash"]
    fast = [_logged(n, batch=batch, row_number=i + 1) for i, n in enumerate(names)]
    copy_objects(fast)
    slow = [_logged(n) for n in names]
    ScreeningQuery.objects.bulk_create(slow)
    keys = [q.pk for q in fast]
    assert keys == sorted(keys) and len(set(keys)) == 3
    assert all(not q._state.adding and q._state.db == "default" for q in fast)
    assert all(k < q.pk for k in keys for q in slow)  # the sequence moved past them
    for mine, orms in zip(fast, slow, strict=True):
        stored = _values(ScreeningQuery.objects.get(pk=mine.pk))
        reference = _values(ScreeningQuery.objects.get(pk=orms.pk))
        assert stored["batch_id"] == batch.pk and reference["batch_id"] is None
        assert stored["created_at"] == mine.created_at is not None
        for key in ("id", "created_at", "batch_id", "row_number"):
            stored.pop(key), reference.pop(key)
        assert stored == reference


def test_copy_objects_refuses_a_duplicate_row_whole_and_the_transaction_goes_on(
        copy_always):
    from screening.models import BatchRun

    batch = BatchRun.objects.create(file_name="x.csv", sha256="0" * 64, total=2)
    copy_objects([_logged("First", batch=batch, row_number=1)])
    again = [_logged("Second", batch=batch, row_number=2),
             _logged("First again", batch=batch, row_number=1)]
    with pytest.raises(IntegrityError), transaction.atomic():
        copy_objects(again)
    assert [q.pk for q in again] == [None, None]  # nothing was stored
    assert list(ScreeningQuery.objects.filter(batch=batch).values_list(
        "row_number", flat=True)) == [1]
    copy_objects([_logged("Second", batch=batch, row_number=2)])  # the transaction is usable
    assert ScreeningQuery.objects.filter(batch=batch).count() == 2


def test_copy_objects_keeps_a_preset_key(copy_always):
    preset = _logged("Preset", pk=987655)
    copy_objects([preset])
    assert ScreeningQuery.objects.get(pk=987655).input["name"] == "Preset"


def test_insert_rows_upserts_on_the_conflict_columns():
    application = _application()
    run = enrichment_run_request(application=application, queue=False)[0]
    now = dt.datetime.now(dt.UTC)
    columns = ("run_id", "key", "fingerprint", "status", "result", "created_at", "finished_at")
    insert_rows(ProviderStep, columns, [(run.pk, "a", "f1", "sent", None, now, None)],
                conflict=("run_id", "key"), update=("status", "result", "finished_at"))
    insert_rows(ProviderStep, columns, [(run.pk, "a", "f1", "succeeded", {"ok": True}, now, now),
                                        (run.pk, "b", "f2", "succeeded", None, now, now)],
                conflict=("run_id", "key"), update=("status", "result", "finished_at"))
    steps = {s.key: s for s in ProviderStep.objects.filter(run=run)}
    assert steps["a"].status == "succeeded" and steps["a"].result == {"ok": True}
    assert steps["b"].result is None  # a JSON None stays SQL NULL, as the ORM stores it
    assert connection.vendor == "postgresql"


def test_psycopg_caches_the_parsing_of_multi_row_statements():
    import psycopg._queries

    from config.rows import PSYCOPG_CACHED_PARAMS

    # The constant this tunes still exists in this psycopg and still bounds the cache.
    assert psycopg._queries.MAX_CACHED_STATEMENT_PARAMS == PSYCOPG_CACHED_PARAMS
    source = open(psycopg._queries.__file__).read()
    assert "len(vars) <= MAX_CACHED_STATEMENT_PARAMS" in source


def test_audited_saves_update_through_the_cached_statement_or_the_orm():
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    application = _application()
    application.purpose = "second purpose"
    application.registered_address = {"city": "Bonn"}
    with CaptureQueriesContext(connection) as queries:
        application.save(update_fields=["purpose", "registered_address", "updated_at"])
    update = next(q["sql"] for q in queries if q["sql"].startswith("UPDATE"))
    assert update.startswith('UPDATE "enrichment_loanapplication" SET "purpose" = ')
    stored = LoanApplication.objects.get(pk=application.pk)
    assert stored.purpose == "second purpose" and stored.registered_address == {"city": "Bonn"}
    assert stored.updated_at == application.updated_at
    assert application.history.count() == 3  # create, the save in _application, this one
    assert application.history.first().purpose == "second purpose"


def test_an_audited_save_with_expressions_versions_the_stored_values():
    from django.db.models import F, Value
    from django.db.models.functions import Concat

    from audit.models import LedgerEntry, PendingEntry

    def entries() -> int:  # sealed or waiting for the background sealer
        return LedgerEntry.objects.count() + PendingEntry.objects.count()

    application = _application()
    before = entries()
    application.requested_amount = F("requested_amount") + 1
    application.purpose = Concat(F("purpose"), Value(" (amended)"))
    application.save(update_fields=["requested_amount", "purpose"])
    # the instance holds what the database stored, not the expressions
    assert application.requested_amount == Decimal("1235.50")
    assert application.purpose == "test (amended)"
    version = application.history.first()
    assert version.requested_amount == Decimal("1235.50")
    assert version.purpose == "test (amended)"
    assert entries() > before
    stored = LoanApplication.objects.get(pk=application.pk)
    assert (stored.requested_amount, stored.purpose) == (Decimal("1235.50"), "test (amended)")


def _analysed(model) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables "
                       "WHERE relname = %s", [model._meta.db_table])
        return cursor.fetchone()[0]


def test_tables_analyze_refreshes_the_planner_statistics_after_a_bulk_load():
    """After a bulk load the planner must see the table's real size, or it plans a read of
    a few hundred ids as a scan of the whole table; ANALYZE gives it the row count."""
    assert connection.vendor == "postgresql"
    history = Customer.history.model
    Customer.objects.bulk_create([Customer(external_id=f"AN-{i}", name=f"N {i}", data={})
                                  for i in range(3000)])
    assert tables_analyze(Customer, history)
    assert _analysed(Customer) and _analysed(history)
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = %s",
                       [Customer._meta.db_table])
        assert cursor.fetchone()[0] >= 3000
    assert not tables_analyze()


def test_import_customers_analyses_the_customer_tables_after_a_large_import(
        tmp_path, monkeypatch):
    from django.core.management import call_command

    import cases.management.commands.import_customers as command

    analysed = []
    monkeypatch.setattr(command, "ANALYZE_AFTER_ROWS", 3)
    monkeypatch.setattr(command, "tables_analyze", lambda *models: analysed.append(models))
    src = tmp_path / "c.csv"
    src.write_text("id,name\nA-1,Ann One\nA-2,Bo Two\n", encoding="utf-8")
    call_command("import_customers", str(src), "--no-screen")
    assert analysed == []  # two rows: below the threshold
    src.write_text("id,name\nA-1,Ann One\nA-2,Bo Two\nA-3,Cy Three\nA-4,Di Four\n",
                   encoding="utf-8")
    call_command("import_customers", str(src), "--no-screen")
    assert analysed == []  # two new rows, two unchanged: still below
    src.write_text("id,name\nA-1,Ann Uno\nA-2,Bo Dos\nA-3,Cy Tres\nA-4,Di Four\n",
                   encoding="utf-8")
    call_command("import_customers", str(src), "--no-screen")
    assert analysed == [(Customer, Customer.history.model)]


def test_copy_rows_skip_only_the_preparation_that_changes_nothing(monkeypatch):
    """copy_objects sends a str to a CharField, an int to an integer field or key and a
    bool to a BooleanField as they are; every other value (a lazy string, 1 for a
    boolean, a Decimal, dates, JSON) still goes through the field. Each row equals the one
    full preparation gives, column by column and type by type."""
    from django.utils.translation import gettext_lazy
    from psycopg import Binary
    from psycopg.types.json import Jsonb

    from audit.models import LedgerEntry
    from config.rows import _copy_plan, _copy_row, _stored_as_given

    def full(obj):
        return [f.get_db_prep_save(f.pre_save(obj, True), connection=connection)
                for f in type(obj)._meta.concrete_fields]

    customer = Customer.objects.create(external_id="R-1", name="Ann", data={"k": [1, "é"]})
    history = customer.history.first()
    query = ScreeningQuery(pk=7, origin=gettext_lazy("single"), use="onboarding",
                           customer_id=customer.pk, input={"name": "Ann"}, normalized="ANN",
                           list_versions={}, algorithm_version="v", config={},
                           threshold=Decimal("85.0"), results=[], suppressed=[],
                           hit_count=True, top_score=None)
    entry = LedgerEntry(seq=3, actor_type="user", actor_id="1", action="x", object_type="y",
                        object_id="2", header=b"h", body=b"b", prev_hash="0" * 64,
                        hash="1" * 64, pending_id=None)
    from django.utils import timezone

    frozen = timezone.now()  # auto_now_add fields take "now" at each preparation
    monkeypatch.setattr(timezone, "now", lambda: frozen)

    def typed(row):
        # Django wraps integers as psycopg's Int2/Int4/Int8 (int subclasses, for binding
        # parameters); COPY writes the same text for them as for the int they wrap.
        return [(int, int(v)) if isinstance(v, int) and not isinstance(v, bool)
                else (type(v), v.obj if isinstance(v, Jsonb | Binary) else v) for v in row]

    for obj in (customer, history, query, entry):
        got, want = _copy_row(obj, _copy_plan(type(obj)), connection), full(obj)
        assert typed(got) == typed(want), type(obj)
    kinds = dict((f.name, k) for f, k in _copy_plan(ScreeningQuery))
    assert (kinds["origin"], kinds["hit_count"], kinds["customer"]) == (str, int, int)
    assert kinds["input"] is None and kinds["created_at"] is None  # JSON, dates: prepared
    assert _stored_as_given(Customer._meta.get_field("offboarded_at")) is None
