"""Every state change of loan applications and enrichment runs goes through here."""

from __future__ import annotations

import hashlib
import logging
import random
import time
import uuid
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Max
from django.utils import timezone

from audit.context import Actor, audit_context
from audit.services import ledger_append_many, ledger_batch
from cases.choices import CaseSource
from cases.models import Customer
from cases.services import case_open, customer_upsert
from config.rows import fetch_joined, insert_rows
from enrichment.choices import ACTIVE_RUN_STATUSES, EnrichmentStatus, RunStatus
from enrichment.clients import provider_clients, provider_executor
from enrichment.conf import EnrichmentSettings, enrichment_settings
from enrichment.document import (
    SCHEMA_VERSION,
    DocumentInvalid,
    build_document,
    compute_patches,
    validate_document,
)
from enrichment.models import (
    DataPatch,
    EnrichmentDocument,
    EnrichmentRun,
    LoanApplication,
    Principal,
)
from enrichment.pipeline import (
    STEP_DIRECT_PARENT,
    STEP_ULTIMATE_PARENT,
    ApplicantInput,
    EnrichmentPipeline,
)
from enrichment.providers.errors import (
    MalformedResponse,
    ProviderError,
    ProviderRejected,
)
from enrichment.providers.http import canonical_json
from enrichment.store import RUN_OBJECT_TYPE, DatabaseStepStore

logger = logging.getLogger(__name__)

@dataclass(frozen=True)
class UnknownOutcomeRelease:
    """What releasing a step of unknown outcome did: steps released, run started."""

    released: int
    run: EnrichmentRun | None


APPLICATION_FIELDS = ("legal_name", "registration_number", "lei", "country", "address_line",
                      "city", "region", "postal_code", "tax_id", "requested_amount",
                      "currency", "purpose")
PRINCIPAL_FIELDS = ("full_name", "date_of_birth", "nationality", "role", "ownership_percent")


def _actor_scope(actor: Actor | None):
    return audit_context(actor=actor) if actor else nullcontext()


def _next_id_and_reference() -> tuple[int, str]:
    """The next application id and its ``LA-`` reference. On PostgreSQL the id comes from
    the table's sequence, so concurrent submissions never collide; SQLite has one writer."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id'))",
                           [LoanApplication._meta.db_table])
            pk = int(cursor.fetchone()[0])
    else:
        pk = (LoanApplication.objects.order_by("-pk").values_list("pk", flat=True).first()
              or 0) + 1
    return pk, f"LA-{pk:06d}"


def application_create(*, data: dict[str, Any], principals: list[dict[str, Any]],
                       created_by=None, actor: Actor | None = None) -> LoanApplication:
    """Register a loan application with its principals (validated input only).

    The applicant business is also registered as a customer so screening and cases can
    refer to it."""
    unknown = set(data) - set(APPLICATION_FIELDS)
    if unknown:
        raise ValueError(f"unknown application fields: {sorted(unknown)}")
    with _actor_scope(actor):
        for attempt in range(10):
            if attempt:
                time.sleep(random.uniform(0, 0.02 * attempt))
            try:
                with transaction.atomic():
                    pk, reference = _next_id_and_reference()
                    customer = customer_upsert(
                        external_id=f"loan:{reference}", name=data["legal_name"],
                        country=data.get("country", ""), entity_type="organisation",
                        data={"registration_number": data.get("registration_number", ""),
                              "lei": data.get("lei", "")},
                    )
                    application = LoanApplication.objects.create(
                        pk=pk, reference=reference, customer=customer, created_by=created_by,
                        **{k: v for k, v in data.items() if v is not None},
                    )
                    for item in principals:
                        Principal.objects.create(application=application, **{
                            k: v for k, v in item.items() if k in PRINCIPAL_FIELDS})
                    return application
            except IntegrityError:
                # Two creators took the same reference; take the next one.
                continue
        raise RuntimeError("could not allocate an application reference")


def enrichment_run_request(*, application: LoanApplication, idempotency_key: str | None = None,
                           requested_by: str = "", actor: Actor | None = None,
                           queue: bool = True) -> tuple[EnrichmentRun, bool]:
    """Start an enrichment run, or return the run this request already started.

    The same idempotency key always returns the same run (never a second one); while a
    run of the application is pending or running, a new request returns that run. The
    task is queued only after the run row commits."""
    from enrichment.tasks import enrichment_run_task

    key = idempotency_key or f"{application.reference}:{uuid.uuid4().hex}"
    # ledger_batch: the run's and the application's history entries in one INSERT.
    with _actor_scope(actor), transaction.atomic(), ledger_batch():
        if idempotency_key:
            existing = EnrichmentRun.objects.filter(idempotency_key=key).first()
            if existing is not None:
                if existing.application_id != application.pk:
                    raise ValueError("idempotency key already used for another application")
                return existing, False
        row = fetch_joined((LoanApplication,), _APPLICATION_FROM,
                           [*ACTIVE_RUN_STATUSES, application.pk], extra=(_ACTIVE_RUN,),
                           lock="FOR UPDATE OF t0")
        if row is None:
            raise LoanApplication.DoesNotExist(f"loan application {application.pk} is gone")
        locked, active_id = row
        if active_id is not None:
            return EnrichmentRun.objects.get(pk=active_id), False
        if not idempotency_key:
            # A key made here is new, and the application's row lock keeps any other
            # request from adding a run meanwhile: nothing to look up or to recover from.
            run = EnrichmentRun.objects.create(application=locked, idempotency_key=key,
                                               requested_by=requested_by[:150])
        else:
            try:
                with transaction.atomic():
                    run = EnrichmentRun.objects.create(
                        application=locked, idempotency_key=key,
                        requested_by=requested_by[:150])
            except IntegrityError:
                run = EnrichmentRun.objects.get(idempotency_key=key)
                return run, False
        if locked.enrichment_status != EnrichmentStatus.ENRICHING:
            locked.enrichment_status = EnrichmentStatus.ENRICHING
            locked.save(update_fields=["enrichment_status", "updated_at"])
        run_id = run.pk
        if queue:
            transaction.on_commit(lambda: enrichment_run_task.delay(run_id))
        return run, True


def _case_open(**kwargs: Any):
    """``cases.services.case_open``, retried when a concurrent opener took the same case
    reference (it allocates references from the highest id, which races across workers).
    Each try runs in its own savepoint, so a failed one leaves nothing behind."""
    attempts = 20
    for attempt in range(attempts):
        try:
            with transaction.atomic():
                return case_open(**kwargs)
        except IntegrityError:
            if attempt == attempts - 1:
                raise
            time.sleep(random.uniform(0, 0.05 * (attempt + 1)))
    raise AssertionError("unreachable")


def _last_progress(run: EnrichmentRun):
    progress = run.steps.aggregate(created=Max("created_at"), finished=Max("finished_at"))
    moments = [m for m in (run.started_at, run.created_at, progress["created"],
                           progress["finished"]) if m is not None]
    return max(moments)


_RUN_TABLE = EnrichmentRun._meta.db_table
_APPLICATION_TABLE = LoanApplication._meta.db_table
_CUSTOMER_TABLE = Customer._meta.db_table
# The hot path's reads are fixed statements (config.rows.fetch_joined): compiling the
# equivalent querysets cost 0.5-1 ms of CPU each, several times per run.
# The claim: the run, its application and customer, and whether the application had
# runs before this one (if not, no earlier step of it, a billable pull to reuse or one of
# unknown outcome, can exist).
_CLAIM_MODELS = (EnrichmentRun, LoanApplication, Customer)
_CLAIM_FROM = (
    f'FROM "{_RUN_TABLE}" t0 JOIN "{_APPLICATION_TABLE}" t1 ON t1.id = t0.application_id '  # noqa: S608 - fixed names
    f'LEFT JOIN "{_CUSTOMER_TABLE}" t2 ON t2.id = t1.customer_id WHERE t0.id = %s')
_HAS_EARLIER_RUNS = (
    f'EXISTS (SELECT 1 FROM "{_RUN_TABLE}" earlier WHERE earlier.application_id = '  # noqa: S608 - fixed names
    't0.application_id AND earlier.id <> t0.id)')
# The final transaction: the run and its application, both locked.
_LOCK_FROM = (f'FROM "{_RUN_TABLE}" t0 JOIN "{_APPLICATION_TABLE}" t1 '  # noqa: S608 - fixed names
              "ON t1.id = t0.application_id WHERE t0.id = %s")
# Before the final transaction: is the run still this worker's?
_RUN_STATUS = f'SELECT status FROM "{_RUN_TABLE}" WHERE id = %s'  # noqa: S608 - fixed name
# A run request: the application, locked, and its pending or running run if it has one.
_APPLICATION_FROM = f'FROM "{_APPLICATION_TABLE}" t0 WHERE t0.id = %s'  # noqa: S608 - fixed name
_ACTIVE_RUN = (
    f'(SELECT MIN(r.id) FROM "{_RUN_TABLE}" r WHERE r.application_id = t0.id '  # noqa: S608 - fixed names
    f"AND r.status IN ({', '.join(['%s'] * len(ACTIVE_RUN_STATUSES))}))")


def _claim(run_id: int, *, task_id: str, reclaim_after: float) -> EnrichmentRun | None:
    """Take the run for this worker: pending, or running but silent for ``reclaim_after``
    seconds (its worker died). Returns None when the run is finished or busy elsewhere."""
    with transaction.atomic():
        row = fetch_joined(_CLAIM_MODELS, _CLAIM_FROM, [run_id], extra=(_HAS_EARLIER_RUNS,),
                           lock="FOR UPDATE OF t0 SKIP LOCKED")
        if row is None:
            return None  # gone, or locked by the worker that holds it
        run, application, customer, has_earlier_runs = row
        application.customer = customer
        run.application = application
        run.has_earlier_runs = bool(has_earlier_runs)
        if run.status not in ACTIVE_RUN_STATUSES:
            return None
        if run.status == RunStatus.RUNNING and (
                timezone.now() - _last_progress(run)).total_seconds() < reclaim_after:
            return None
        run.status = RunStatus.RUNNING
        run.attempts += 1
        run.started_at = timezone.now()
        run.task_id = (task_id or "")[:64]
        run.save(update_fields=["status", "attempts", "started_at", "task_id"])
        return run


def applicant_input(application: LoanApplication) -> ApplicantInput:
    return ApplicantInput(
        application_id=application.reference, legal_name=application.legal_name,
        country=application.country, registration_number=application.registration_number,
        lei=application.lei, street=application.address_line, city=application.city,
        region=application.region, postal_code=application.postal_code,
        tax_id=application.tax_id,
    )


def enrichment_run_execute(*, run_id: int, task_id: str = "",
                           reclaim_after: float | None = None,
                           config: EnrichmentSettings | None = None) -> EnrichmentRun | None:
    """Run (or resume) an enrichment run to a final state: succeeded with every patch
    applied in one transaction, or failed with the full error and nothing applied."""
    config = config or enrichment_settings()
    run = _claim(run_id, task_id=task_id,
                 reclaim_after=config.stale_run_seconds if reclaim_after is None
                 else reclaim_after)
    if run is None:
        return EnrichmentRun.objects.filter(pk=run_id).first()
    application = run.application
    registry, bureau = provider_clients(config)
    store = DatabaseStepStore(run, reuse_days=config.bureau_reuse_days,
                              first_run=not run.has_earlier_runs)
    pipeline = EnrichmentPipeline(registry=registry, bureau=bureau, store=store,
                                  executor=provider_executor())
    try:
        steps = pipeline.run(applicant_input(application))
        return _finish_success(run.pk, steps, registry.name, bureau.name, store,
                               application=application)
    except ProviderError as error:
        needs_case = error.needs_human or isinstance(error, MalformedResponse | ProviderRejected)
        return _finish_failure(run.pk, error.as_dict(), needs_case=needs_case, store=store)
    except DocumentInvalid as error:
        return _finish_failure(run.pk, {"code": "document_invalid", "message": str(error),
                                        "errors": error.errors, "needs_human": True},
                               needs_case=True, store=store)
    except Exception as error:  # noqa: BLE001 - a run never stays "running" forever
        logger.exception("enrichment run %s crashed", run_id)
        return _finish_failure(run.pk, {"code": "internal_error",
                                        "message": f"{type(error).__name__}: {error}"},
                               needs_case=False, store=store)


def _screening_function():
    """The screening engine's entry point when the screening app provides it: a function
    that screens a list of subjects (``screening_search`` keywords) as one unit of work
    and returns one result per subject."""
    try:
        from screening.services import screening_search_many
    except ImportError:
        return None

    def search(subjects: list[dict[str, Any]]) -> list[Any]:
        return screening_search_many(subjects=subjects, actor=None)

    return search


def _screening_result(result: Any) -> tuple[int, float | None]:
    """(hits, top score) of one screening result.

    ``screening.services`` returns logged ScreeningQuery rows (hit_count, top_score);
    other shapes (a list of hits, or an object/dict holding ``hits``) are read too so a
    change of the engine's return type does not break enrichment."""
    if hasattr(result, "hit_count"):
        top = getattr(result, "top_score", None)
        return int(result.hit_count), (float(top) if result.hit_count and top else None)
    hits = result
    for attribute in ("hits", "matches", "results"):
        if isinstance(result, dict) and attribute in result:
            hits = result[attribute]
            break
        if hasattr(result, attribute):
            hits = getattr(result, attribute)
            break
    hits = list(hits or [])
    scores = []
    for hit in hits:
        score = hit.get("score") if isinstance(hit, dict) else getattr(hit, "score", None)
        if isinstance(score, int | float):
            scores.append(float(score))
    return len(hits), (max(scores) if scores else None)


_PRINCIPALS = (f'SELECT full_name, date_of_birth, nationality FROM "{Principal._meta.db_table}" '  # noqa: S608 - fixed name
               "WHERE application_id = %s ORDER BY id")


def _principals(application_id: int) -> list[tuple]:
    """(full name, date of birth, nationality) of the application's principals (a date
    column comes back as a date on both databases)."""
    with connection.cursor() as cursor:
        cursor.execute(_PRINCIPALS, [application_id])
        return cursor.fetchall()


def _screen(application: LoanApplication, steps: dict[str, dict[str, Any]]
            ) -> dict[str, Any]:
    """Screen applicant, principals and registry parents (when the engine exists), all
    against the same list versions in one call."""
    search = _screening_function()
    if search is None:
        return {"status": "not_available", "subjects": []}
    # Only the applicant is screened as the customer: the engine opens its own
    # customer cases (and applies the customer's whitelist) for it. Principals and
    # parents are screened without a customer; their hits open the enrichment case.
    subjects: list[tuple[str, str, dict[str, Any]]] = [
        ("applicant", application.legal_name,
         {"entity_type": "organisation", "country": application.country,
          "customer": application.customer}),
    ]
    for full_name, date_of_birth, nationality in _principals(application.pk):
        subjects.append(("principal", full_name, {
            "entity_type": "person", "dob": date_of_birth.isoformat(),
            "country": nationality or None}))
    for role, key in (("direct_parent", STEP_DIRECT_PARENT),
                      ("ultimate_parent", STEP_ULTIMATE_PARENT)):
        entity = (steps.get(key) or {}).get("entity")
        if entity:
            subjects.append((role, entity["legal_name"],
                             {"entity_type": "organisation", "country": entity["country"]}))
    results = search([{"name": name, "use": "onboarding", **extra}
                      for _role, name, extra in subjects])
    out = []
    for (role, name, _extra), result in zip(subjects, results, strict=True):
        hits, top = _screening_result(result)
        out.append({"role": role, "name": name, "hits": hits, "top_score": top,
                    "case_id": None})
    return {"status": "screened", "subjects": out}


def _patch_value(value: Any) -> Any:
    return "" if value is None else value


def _finish_success(run_id: int, steps: dict[str, dict[str, Any]], registry_name: str,
                    bureau_name: str, store: DatabaseStepStore, *,
                    application: LoanApplication) -> EnrichmentRun:
    """Screen, then apply the run's results in one transaction.

    Screening queries are logged events of their own (the engine commits them); the cases
    they call for, the patches, the document and the run's success commit together. The
    ledger is one hash chain with a global lock taken at the first entry of a transaction,
    so every ledger write comes last here: the lock is held for the commit, not for the
    document's validation."""
    # ``application`` is the row as claimed (its applicant fields never change during a
    # run); the patches below are computed on the row locked in the final transaction.
    with connection.cursor() as cursor:
        cursor.execute(_RUN_STATUS, [run_id])
        if cursor.fetchone()[0] != RunStatus.RUNNING:
            return EnrichmentRun.objects.get(pk=run_id)  # finished by another worker meanwhile
    # One transaction of its own inside the engine: its queries and their cases.
    screening = _screen(application, steps)
    # ledger_batch: the entries of this transaction (calls, patches, document and the
    # history of the application and the run) go to the ledger in one INSERT.
    with transaction.atomic(), ledger_batch():
        run, application = fetch_joined((EnrichmentRun, LoanApplication), _LOCK_FROM,
                                        [run_id], lock="FOR UPDATE OF t0, t1")
        run.application = application
        if run.status != RunStatus.RUNNING:
            return run  # finished by another worker meanwhile
        now = timezone.now()
        document = build_document(
            application_id=application.reference, run_id=str(run.pk),
            idempotency_key=run.idempotency_key, generated_at=now.isoformat(), steps=steps,
            registry_provider=registry_name, bureau_provider=bureau_name, screening=screening,
        )
        validate_document(document)
        reasons = _case_reasons(document)
        if reasons:
            # Fills the case reference into the screening subjects (a string, as the
            # schema allows): the document stays valid.
            _open_case(run, application, document, reasons)
        current = {}
        for attribute in ("lei", "registered_name", "registered_address",
                          "registry_entity_status", "registry_registration_status",
                          "direct_parent_lei", "ultimate_parent_lei", "credit_score",
                          "credit_risk_class", "bureau_ofac_match"):
            value = getattr(application, attribute)
            current[attribute] = None if value == "" else value
        patches = compute_patches(current, document)
        insert_rows(
            DataPatch,
            ("run_id", "application_id", "field", "path", "before", "after", "source",
             "applied_at"),
            [(run.pk, application.pk, p.field, p.path, p.before, p.after, p.source, now)
             for p in patches])
        body = canonical_json(document)
        digest = hashlib.sha256(body).hexdigest()
        insert_rows(
            EnrichmentDocument,
            ("run_id", "application_id", "schema_version", "document", "sha256", "created_at"),
            [(run.pk, application.pk, SCHEMA_VERSION, document, digest, now)])
        call_items = store.flush_rows()
        # From here on every statement writes the ledger: keep them back to back.
        for patch in patches:
            setattr(application, patch.field, _patch_value(patch.after))
        application.enrichment_status = EnrichmentStatus.ENRICHED
        application.enriched_at = now
        application.save(update_fields=[p.field for p in patches] + [
            "enrichment_status", "enriched_at", "updated_at"])
        # The run's patches are one change set, applied together: one entry holds them
        # all (field, path, before, after, source each), not one entry per field.
        ledger_append_many(call_items + ([(
            "enrichment.patches", "enrichment.loanapplication", str(application.pk),
            {"run": run.pk, "patches": [
                {"field": p.field, "path": p.path, "before": p.before, "after": p.after,
                 "source": p.source} for p in patches]},
        )] if patches else []) + [(
            "enrichment.document", RUN_OBJECT_TYPE, str(run.pk),
            {"application": application.reference, "sha256": digest,
             "schema_version": SCHEMA_VERSION, "patches": len(patches),
             "registry_match": document["business"]["match"]["status"],
             "bureau_match": document["credit"]["match"]["status"]},
        )])
        run.status = RunStatus.SUCCEEDED
        run.finished_at = timezone.now()
        run.duration_ms = int((run.finished_at - run.started_at).total_seconds() * 1000)
        run.error = None
        run.save(update_fields=["status", "finished_at", "duration_ms", "error",
                                "case_reference"])
        return run


def _case_reasons(document: dict[str, Any]) -> list[str]:
    reasons = []
    for subject in document["screening"]["subjects"]:
        if subject["hits"]:
            reasons.append(f"screening: {subject['role']} {subject['name']} "
                           f"({subject['hits']} hit(s))")
    ofac = document["credit"].get("ofac_match")
    if ofac and ofac["value"]:
        reasons.append("credit bureau reports an OFAC match warning")
    return reasons


def _open_case(run: EnrichmentRun, application: LoanApplication, document: dict[str, Any],
               reasons: list[str]) -> None:
    """Screening hits and the bureau's own OFAC flag need a human: open (or add to) a case
    linked to the application, in the same transaction as the results."""
    case = _case_open(
        source=CaseSource.SCREENING if any(r.startswith("screening") for r in reasons)
        else CaseSource.ENRICHMENT,
        title=f"Loan application {application.reference}: possible sanctions exposure",
        subject_type="loan_application", subject_id=application.reference,
        dedupe_key=f"enrichment:{application.reference}:screening",
        customer=application.customer, priority=80, summary="; ".join(reasons),
        evidence={"kind": "enrichment_run", "object_id": str(run.pk),
                  "summary": {"reasons": reasons, "application": application.reference}},
    )
    for subject in document["screening"]["subjects"]:
        if subject["hits"]:
            subject["case_id"] = case.reference
    run.case_reference = case.reference


def _finish_failure(run_id: int, error: dict[str, Any], *, needs_case: bool,
                    store: DatabaseStepStore | None = None) -> EnrichmentRun:
    with transaction.atomic(), ledger_batch():
        run = EnrichmentRun.objects.select_for_update().get(pk=run_id)
        if run.status != RunStatus.RUNNING:
            return run
        call_items: list = []
        if store is not None:
            # Calls made before the failure are audited even when the run fails.
            store.restore_after_rollback()
            call_items = store.flush_rows()
        application = LoanApplication.objects.select_for_update().get(pk=run.application_id)
        now = timezone.now()
        if needs_case:
            try:
                case = _case_open(
                    source=CaseSource.ENRICHMENT,
                    title=f"Enrichment of {application.reference} needs review: "
                          f"{error.get('code', 'error')}",
                    subject_type="loan_application", subject_id=application.reference,
                    dedupe_key=f"enrichment:{application.reference}:failure",
                    customer=application.customer, priority=60,
                    summary=str(error.get("message", ""))[:2000],
                    evidence={"kind": "enrichment_run", "object_id": str(run.pk),
                              "summary": error},
                )
                run.case_reference = case.reference
            except IntegrityError as exc:
                # The run still fails cleanly; the missing case is named in its error.
                logger.error("could not open a case for run %s: %s", run.pk, exc)
                error = {**error, "case_error": str(exc)[:300]}
        # A failed run applies nothing; an application enriched earlier keeps its data.
        application.enrichment_status = (EnrichmentStatus.ENRICHED if application.enriched_at
                                         else EnrichmentStatus.FAILED)
        application.save(update_fields=["enrichment_status", "updated_at"])
        run.status = RunStatus.FAILED
        run.error = error
        run.finished_at = now
        run.duration_ms = int((now - run.started_at).total_seconds() * 1000)
        run.save(update_fields=["status", "error", "finished_at", "duration_ms",
                                "case_reference"])
        ledger_append_many(call_items + [(
            "enrichment.run_failed", RUN_OBJECT_TYPE, str(run.pk),
            {"application": application.reference, "error": error,
             "case": run.case_reference})])
        return run


def enrichment_runs_resume_stale(*, older_than_seconds: float | None = None) -> list[int]:
    """Re-queue runs whose worker died (pending or running with no progress for
    ``older_than_seconds``); the run resumes from its last saved step."""
    from enrichment.tasks import enrichment_run_task

    threshold = older_than_seconds if older_than_seconds is not None else (
        enrichment_settings().stale_run_seconds)
    cutoff = timezone.now() - timedelta(seconds=threshold)
    queued = []
    for run in EnrichmentRun.objects.filter(status__in=ACTIVE_RUN_STATUSES,
                                            created_at__lt=cutoff):
        if _last_progress(run) < cutoff:
            enrichment_run_task.delay(run.pk, reclaim_after=threshold)
            queued.append(run.pk)
    return queued


DEMO_COMPANIES = (0, 1, 2, 3, 4, 5, 6, 7, 40, 57, 63, 102, 24, 49, 77)
#: The demo company whose credit report arrives malformed: its run fails and opens a case.
DEMO_BUREAU_FAILURE = 77
DEMO_PRINCIPALS = (("Maria Keller", "1975-04-02", "DE"), ("James O'Connor", "1968-11-23", "IE"),
                   ("Aiko Tanaka", "1982-07-14", "JP"), ("Pierre Laurent", "1959-01-30", "FR"),
                   ("Emily Carter", "1990-09-05", "US"))


def demo_enrichment_load(*, actor: Actor) -> list[LoanApplication]:
    """Register a demo set of loan applications and enrich them against an in-process
    stub (for ``make run``). Safe to run again: existing demo applications are reused
    and a run with the same idempotency key is not repeated."""
    import dataclasses
    import datetime as dt

    from enrichment.stubs import StubProviders, demo_company

    applications = []
    with audit_context(actor=actor, reason="demo data"), StubProviders() as stub:
        config = dataclasses.replace(
            enrichment_settings(), gleif_base_url=stub.gleif_base_url,
            experian_base_url=stub.experian_base_url,
            experian_token_url=stub.experian_token_url, gleif_rate_per_minute=6000)
        for position, index in enumerate(DEMO_COMPANIES):
            company = demo_company(index)
            application = LoanApplication.objects.filter(
                legal_name=company.legal_name,
                registration_number=company.registration_number).first()
            if application is None:
                name, dob, nationality = DEMO_PRINCIPALS[position % len(DEMO_PRINCIPALS)]
                application = application_create(data={
                    "legal_name": company.legal_name,
                    "registration_number": company.registration_number,
                    "country": company.country, "address_line": company.street,
                    "city": company.city, "postal_code": company.postal_code,
                    "requested_amount": 50_000 + 25_000 * position, "currency": "USD",
                    "purpose": "Working capital (demo)",
                }, principals=[{"full_name": name, "date_of_birth": dt.date.fromisoformat(dob),
                                "nationality": nationality, "role": "owner",
                                "ownership_percent": 75}])
            run, created = enrichment_run_request(
                application=application, idempotency_key=f"demo:{company.registration_number}",
                requested_by="demo", queue=False)
            if created or run.status in ACTIVE_RUN_STATUSES:
                if index == DEMO_BUREAU_FAILURE:  # the bureau answers with a cut-off body
                    stub.configure(script=[{"match": "businessinformation",
                                            "fault": "malformed", "times": 50}])
                enrichment_run_execute(run_id=run.pk, reclaim_after=0, config=config)
                stub.configure(script=[])
                if index == DEMO_BUREAU_FAILURE:
                    _demo_failure_work(application, actor=actor)
            applications.append(application)
    return applications


def _demo_failure_work(application: LoanApplication, *, actor: Actor) -> None:
    """The case the demo's failed run opened, taken up by an analyst."""
    from cases.demo import WorkNotes, demo_cases_work
    from cases.models import Case

    case = Case.objects.filter(dedupe_key=f"enrichment:{application.reference}:failure",
                               state="new").first()
    if case is not None:
        demo_cases_work([case], actor=actor, plans=["investigating"], notes=[WorkNotes(
            comment="Experian's report arrived cut off; asked Experian support to re-send "
                    "it before running the enrichment again.")])


def enrichment_unknown_outcome_release(*, run_id: int, note: str, retry: bool = False,
                                       requested_by: str = "",
                                       actor: Actor | None = None) -> UnknownOutcomeRelease:
    """A human reconciled a billable request of unknown outcome with the provider: release
    the step so a run may request it again (with ``retry``, start that run now, queued on
    commit). The note (what the provider said) is required and goes on the ledger with
    the step, the decision and the new run; a run with nothing to release is refused."""
    from enrichment.choices import StepStatus
    from enrichment.models import ProviderStep

    note = (note or "").strip()
    if not note:
        raise ValueError("a note on how the outcome was reconciled is required")
    with _actor_scope(actor), transaction.atomic():
        run = EnrichmentRun.objects.select_related("application").get(pk=run_id)
        if run.status in ACTIVE_RUN_STATUSES:
            raise ValueError("the run is still active; release only a finished run's steps")
        steps = list(ProviderStep.objects.select_for_update().filter(
            run_id=run_id, status__in=[StepStatus.UNKNOWN, StepStatus.SENT]))
        if not steps:
            raise ValueError(f"run {run_id} has no step of unknown outcome to release")
        for step in steps:
            ProviderStep.objects.filter(pk=step.pk).update(
                status=StepStatus.FAILED,
                result={**(step.result or {}), "released": note[:1000]},
                finished_at=timezone.now())
        new_run = None
        if retry:
            new_run, _created = enrichment_run_request(
                application=run.application, requested_by=requested_by,
                idempotency_key=f"release:{run_id}")
        ledger_append_many([
            ("enrichment.unknown_outcome_released", RUN_OBJECT_TYPE, str(run_id),
             {"step": step.key, "fingerprint": step.fingerprint, "note": note[:1000],
              "application": run.application.reference, "retry": retry,
              "new_run": new_run.pk if new_run else None})
            for step in steps
        ])
        return UnknownOutcomeRelease(released=len(steps), run=new_run)
