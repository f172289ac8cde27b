"""Every state change of the screening engine: queries, batches, whitelist, re-screening.

Each unit of work commits whole or not at all: a query's log row, its audit entry and the
cases it opens share one transaction; a batch commits chunk by chunk together with its
progress, so a crashed run resumes where it stopped.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.context import Actor, audit_context, current_context
from audit.services import audit_record, ledger_append_many
from cases.choices import CaseSource
from cases.customers import COUNTRY_CODE, dob_problem
from cases.models import Customer
from cases.selectors import customers_rescreened
from cases.services import case_open, customer_upsert
from config.exports import csv_cell
from config.forking import forget_inherited_connections
from config.rows import ANALYZE_AFTER_ROWS, copy_objects, tables_analyze
from screening.choices import BatchStatus, QueryOrigin, ScreeningUse
from screening.demo import demo_cases_work, demo_customers_create
from screening.index_store import store_dir
from screening.lists.parsers import SOURCES
from screening.matcher_cache import (
    CachedMatcher,
    current_matcher,
    matcher_cache_clear,
    matcher_config,
)
from screening.matching.engine import (
    ALGORITHM_VERSION,
    Match,
    Matcher,
    MatcherPool,
    screen_many,
)
from screening.matching.normalize import NameInputError, normalize_name, validate_name
from screening.models import BatchInput, BatchRun, ScreeningQuery, Whitelist
from screening.presentation import logged_dicts
from screening.selectors import customers_awaiting_screening

ENTITY_TYPES = ("person", "organisation", "vessel", "aircraft")
# (an enum's `.values` is rebuilt on every access: a sixth of a validation's cost)
USES = tuple(ScreeningUse.values)
REPORT_COLUMNS = ("input_id", "input_name", "score", "list", "entity_uid", "matched_name",
                  "matched_name_kind", "entity_type", "programs", "explanation",
                  "name_score", "ofac_score", "query_id")


class ScreeningInputError(ValueError):
    """Input that cannot be screened; `field` names the offending field when known."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class ScreeningInput:
    """Validated query input."""

    name: str
    dob: str | None = None
    country: str | None = None
    entity_type: str | None = None
    lists: tuple[str, ...] | None = None
    threshold: float | None = None
    use: str = ScreeningUse.ONBOARDING

    def as_dict(self) -> dict:
        return {"name": self.name, "dob": self.dob, "country": self.country,
                "entity_type": self.entity_type,
                "lists": list(self.lists) if self.lists else None,
                "threshold": self.threshold, "use": self.use}


def screening_input_clean(
    *, name: object, dob: object = None, country: object = None, entity_type: object = None,
    lists: object = None, threshold: object = None, use: object = ScreeningUse.ONBOARDING,
) -> ScreeningInput:
    """Validate query input, naming the field and the problem on error."""
    try:
        validate_name(name, max_length=int(getattr(settings, "SCREENING_MAX_NAME_LENGTH", 300)))
    except NameInputError as exc:
        raise ScreeningInputError(str(exc), field="name") from None
    assert isinstance(name, str)
    dob_s = str(dob).strip() if dob not in (None, "") else None
    problem = dob_problem(dob_s) if dob_s is not None else None
    if problem:
        raise ScreeningInputError(f"dob {problem}", field="dob")
    country_s = str(country).strip().upper() if country not in (None, "") else None
    if country_s is not None and not COUNTRY_CODE.match(country_s):
        raise ScreeningInputError("country must be an ISO 3166 alpha-2 code", field="country")
    et = str(entity_type).strip().lower() if entity_type not in (None, "") else None
    if et == "organization":
        et = "organisation"
    if et is not None and et not in ENTITY_TYPES:
        raise ScreeningInputError(f"entity_type must be one of {', '.join(ENTITY_TYPES)}",
                                  field="entity_type")
    codes: tuple[str, ...] | None = None
    if lists not in (None, "", []):
        raw = lists.split(",") if isinstance(lists, str) else lists
        if not isinstance(raw, list | tuple):
            raise ScreeningInputError("lists must be a list of list codes", field="lists")
        codes = tuple(str(c).strip() for c in raw if str(c).strip())
        unknown = [c for c in codes if c not in SOURCES]
        if unknown:
            raise ScreeningInputError(f"unknown list(s) {', '.join(unknown)}; known: "
                                      f"{', '.join(SOURCES)}", field="lists")
    thr: float | None = None
    if threshold not in (None, ""):
        try:
            thr = float(threshold)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ScreeningInputError("threshold must be a number", field="threshold") from None
        if not 0 <= thr <= 100:
            raise ScreeningInputError("threshold must be between 0 and 100", field="threshold")
    if use not in USES:
        raise ScreeningInputError(f"use must be one of {', '.join(USES)}",
                                  field="use")
    return ScreeningInput(name=name, dob=dob_s, country=country_s, entity_type=et,
                          lists=codes, threshold=thr, use=str(use))


def _threshold(cm: CachedMatcher, clean: ScreeningInput) -> float:
    if clean.threshold is not None:
        return clean.threshold
    cfg = cm.matcher.config
    codes = clean.lists or tuple(cm.versions) or ("",)
    return min(cfg.threshold_for(c, clean.use) for c in codes)


def _search_kwargs(clean: ScreeningInput) -> dict:
    return {"name": clean.name, "dob": clean.dob, "country": clean.country,
            "entity_type": clean.entity_type, "lists": clean.lists,
            "threshold": clean.threshold,
            "use": clean.use if clean.use != "rescreening" else "onboarding"}


def _match(matcher: Matcher, clean: ScreeningInput) -> list[Match]:
    return matcher.search(**_search_kwargs(clean))


def _whitelist_split(customer: Customer | None, matches: list[Match]
                     ) -> tuple[list[Match], list[dict]]:
    """Drop matches whitelisted for this customer with the entity's *current* content
    hash; a whitelist entry for an older content of the entity no longer suppresses."""
    if customer is None or not matches:
        return matches, []
    active = {
        (w.list_code, w.entity_uid): w
        for w in Whitelist.objects.filter(customer=customer, active=True,
                                          entity_uid__in=[m.entity.uid for m in matches])
    }
    kept: list[Match] = []
    suppressed: list[dict] = []
    for m in matches:
        w = active.get((m.entity.list_code, m.entity.uid))
        if w is not None and w.content_hash == m.entity.content_hash:
            suppressed.append({"list": m.entity.list_code, "entity_uid": m.entity.uid,
                               "score": round(m.score, 1), "whitelist_id": w.pk})
        else:
            kept.append(m)
    return kept, suppressed


def _actor_fields() -> dict:
    ctx = current_context()
    actor = ctx.resolve_actor() if ctx else Actor.system("screening")
    return {"actor_type": actor.type, "actor_id": actor.id, "actor_label": actor.label,
            "correlation_id": (ctx.correlation_id if ctx else "")[:64]}


def _query_row(*, clean: ScreeningInput, versions: dict, threshold: float, matches: list[Match],
               suppressed: list[dict], origin: str, customer: Customer | None,
               batch: BatchRun | None = None, row_number: int | None = None,
               actor_fields: dict, config: dict, normalized: str | None = None
               ) -> ScreeningQuery:
    results = [m.as_dict() for m in matches]
    if normalized is None:
        normalized = " | ".join(f.text for f in normalize_name(clean.name).forms)[:1000]
    return ScreeningQuery(
        origin=origin, use=clean.use, batch=batch, row_number=row_number, customer=customer,
        input=clean.as_dict(), normalized=normalized,
        list_versions=versions, algorithm_version=ALGORITHM_VERSION, config=config,
        threshold=threshold, results=results, suppressed=suppressed,
        hit_count=len(results), top_score=max((m.score for m in matches), default=0.0),
        **actor_fields,
    )


def _query_audit_data(clean: ScreeningInput, cm: CachedMatcher, query: ScreeningQuery,
                      customer: Customer | None, kept: list[Match]) -> dict:
    """The body of a query's `screening.query` ledger entry."""
    return {"input": clean.as_dict(), "list_versions": cm.versions,
            "algorithm": ALGORITHM_VERSION, "hits": query.hit_count,
            "top_score": round(query.top_score, 1),
            "customer": customer.external_id if customer else None,
            "matches": [[m.entity.list_code, m.entity.uid, round(m.score, 1)]
                        for m in kept[:20]]}


def _open_cases(customer: Customer, query: ScreeningQuery, matches: list[Match]) -> None:
    """One case per customer and listed entity; a new hit adds evidence to the open one."""
    for m, logged in zip(matches, query.results, strict=True):
        e = m.entity
        case_open(
            source=CaseSource.SCREENING,
            title=f"Screening hit: {customer.name} ~ {m.matched_name} ({e.list_code} {e.uid})",
            subject_type="customer",
            subject_id=customer.external_id,
            dedupe_key=f"screening:{customer.external_id}:{e.list_code}:{e.uid}",
            customer=customer,
            priority=int(round(m.score)),
            summary=f"{customer.name!r} matched {m.matched_name!r} ({m.matched_name_kind}) "
                    f"of {e.list_code} {e.uid} with score {m.score:.1f}",
            evidence={"kind": "screening_match",
                      "object_id": query.hit_evidence_id(e.list_code, e.uid),
                      # the logged match (as the query's results hold it), plus the
                      # query it came from: the case page shows it as the screening
                      # pages do (screening.presentation)
                      "summary": {**logged, "query_id": query.pk,
                                  "query_name": (query.input or {}).get("name", "")}},
        )


# From this many names at once, `screening_search_many` takes the batch path.
MANY_FROM = 16
CUSTOMER_CHUNK = 500


def screening_customers_screen(*, customer_ids: Iterable[int], actor: Actor | None = None,
                               progress=None, processes: int = 1) -> dict:
    """Screen customers against the active lists now: those new to the customer base and
    those whose screened details (name, date of birth, country, type) changed. Without
    this, a customer who joins the base after a list version activated would be screened
    only against what later versions add or change. Offboarded customers are left out;
    a customer whose stored details cannot be screened is counted and skipped. Each chunk
    of customers is one unit of work (queries logged, cases opened, ledger entries); a
    customer already screened on arrival since their last change is not screened again,
    so running it again (a redelivered task) logs nothing twice.
    `processes` > 1: the next chunk is screened on that many cores while this process
    logs the one before (as `manage.py screen` does)."""
    ids = sorted(set(customer_ids))
    summary = {"customers": 0, "with_hits": 0, "skipped": 0}
    cm = current_matcher()
    if not ids or not cm.versions:
        return summary  # no active list yet: its first activation screens the whole base
    if len(ids) >= ANALYZE_AFTER_ROWS:  # the chunks' reads by customer id use its index
        tables_analyze(ScreeningQuery)

    def log(subjects: list[dict], cleans: list[ScreeningInput], pending) -> None:
        found = pending.get() if subjects else []
        queries = screening_search_many(subjects=subjects, actor=actor, cm=cm, found=found,
                                        origin=QueryOrigin.CUSTOMER, cleans=cleans)
        summary["customers"] += len(queries)
        summary["with_hits"] += sum(1 for q in queries if q.hit_count)

    with MatcherPool(cm.matcher, workers=processes) as pool:
        previous: tuple[list[dict], list[ScreeningInput], object] | None = None
        for start in range(0, len(ids), CUSTOMER_CHUNK):
            subjects, cleans = [], []
            for customer in customers_awaiting_screening(
                    ids[start:start + CUSTOMER_CHUNK]):
                subject = {"name": customer.name, "dob": customer.dob or None,
                           "country": customer.country or None,
                           "entity_type": customer.entity_type or None, "customer": customer}
                try:
                    cleans.append(_subject_clean(subject))
                except ScreeningInputError:
                    summary["skipped"] += 1
                    continue
                subjects.append(subject)
            pending = pool.screen_async([_search_kwargs(c) for c in cleans])
            if previous is not None:
                log(*previous)
                if progress is not None:
                    progress(min(start, len(ids)), len(ids))
            previous = (subjects, cleans, pending)
        if previous is not None:
            log(*previous)
    if progress is not None:
        progress(len(ids), len(ids))
    return summary


def screening_search(
    *,
    name: str,
    dob: str | None = None,
    country: str | None = None,
    entity_type: str | None = None,
    lists: Iterable[str] | None = None,
    threshold: float | None = None,
    use: str = ScreeningUse.ONBOARDING,
    customer: Customer | None = None,
    actor: Actor | None,
) -> ScreeningQuery:
    """Screen one name against the active lists; log the query (append-only) with its
    list versions, algorithm and configuration; hits of a customer open or update cases."""
    return screening_search_many(subjects=[{
        "name": name, "dob": dob, "country": country, "entity_type": entity_type,
        "lists": lists, "threshold": threshold, "use": use, "customer": customer,
    }], actor=actor)[0]


def _subject_clean(s: Mapping[str, object]) -> ScreeningInput:
    return screening_input_clean(
        name=s.get("name"), dob=s.get("dob"), country=s.get("country"),
        entity_type=s.get("entity_type"),
        lists=list(s["lists"]) if s.get("lists") is not None else None,  # type: ignore[call-overload]
        threshold=s.get("threshold"), use=s.get("use", ScreeningUse.ONBOARDING))


def screening_search_many(
    *, subjects: Sequence[Mapping[str, object]], actor: Actor | None,
    origin: str = QueryOrigin.SINGLE, cm: CachedMatcher | None = None,
    found: list[tuple[list[Match], str | None]] | None = None,
    cleans: Sequence[ScreeningInput] | None = None,
) -> list[ScreeningQuery]:
    """Screen several names as one unit of work (e.g. an applicant and its owners); each
    subject takes `screening_search`'s keywords and is logged, audited and turned into
    cases as one query, all against the same active list versions and in one
    transaction, with one lookup of those versions, one insert of the query rows and one
    ledger append instead of one of each per name. `found`: each subject's matches and
    normalised form, already screened by `cm`'s matcher (e.g. on other cores); `cleans`:
    each subject's `screening_input_clean`, when the caller has it already."""
    if cleans is None:
        cleans = [_subject_clean(s) for s in subjects]
    elif len(cleans) != len(subjects):
        raise ValueError("one clean input per subject")
    customers: list[Customer | None] = [s.get("customer") for s in subjects]  # type: ignore[misc]
    if not cleans:
        return []
    cm = cm or current_matcher()
    config = cm.matcher.config.as_dict()
    with audit_context(actor=actor) if actor else nullcontext(), transaction.atomic():
        actor_fields = _actor_fields()
        kept_per_subject = []
        queries = []
        if found is None and len(cleans) >= MANY_FROM:  # the batch path: same results
            found = screen_many(cm.matcher, [_search_kwargs(c) for c in cleans])
        elif found is None:
            found = [(_match(cm.matcher, clean), None) for clean in cleans]
        for clean, customer, (matches, normalized) in zip(cleans, customers, found,
                                                         strict=True):
            kept, suppressed = _whitelist_split(customer, matches)
            kept_per_subject.append(kept)
            queries.append(_query_row(
                clean=clean, versions=cm.versions, threshold=_threshold(cm, clean),
                matches=kept, suppressed=suppressed, origin=origin,
                customer=customer, actor_fields=actor_fields, config=config,
                normalized=normalized))
        copy_objects(queries)  # by COPY when many (customers screened on arrival)
        ledger_append_many([
            ("screening.query", "screening.screeningquery", str(query.pk),
             _query_audit_data(clean, cm, query, customer, kept))
            for query, clean, customer, kept in zip(queries, cleans, customers,
                                                    kept_per_subject, strict=True)])
        for query, customer, kept in zip(queries, customers, kept_per_subject, strict=True):
            if customer is not None and kept:
                _open_cases(customer, query, kept)
        return queries


def screen_counterparty(name: str, country: str | None = None) -> list[dict]:
    """Screen a payment counterparty for the monitoring sanctions rule (use `payments`).

    Returns the matches at or above the payments threshold as plain dicts with a 0..1
    score. It writes no query row: monitoring caches results per name and records any hit
    in the alert's trace (rule, list version, score), which is what goes on the record."""
    if not name or not name.strip():
        return []
    cm = current_matcher()
    matches = cm.matcher.search(name=name[:300], country=(country or None), use="payments")
    return [
        {"score": round(m.score / 100, 4), "list": m.entity.list_code, "uid": m.entity.uid,
         "name": m.matched_name, "list_version": cm.versions.get(m.entity.list_code)}
        for m in matches
    ]


def screening_query_reproduce(*, query: ScreeningQuery) -> list[dict]:
    """Re-run a logged query against its logged list versions (for audits). Only a query
    logged by the running algorithm version can be reproduced exactly; another version
    is refused with a clear error rather than answered with different results."""
    from screening.matcher_cache import matcher_for_versions

    if query.algorithm_version != ALGORITHM_VERSION:
        raise ScreeningInputError(
            f"query #{query.pk} was screened by {query.algorithm_version}; this process "
            f"runs {ALGORITHM_VERSION}, so its result cannot be reproduced exactly here",
            field="algorithm_version")

    clean = screening_input_clean(**{k: v for k, v in query.input.items()})
    matcher = matcher_for_versions(tuple(query.list_versions.values()))
    return [m.as_dict() for m in _match(matcher, clean)]


def _match_ref(match: dict | None) -> str:
    if not match:
        return "none"
    return f"{match.get('list')} {match.get('entity_uid')} at {match.get('score')}"


def screening_query_verify(*, query: ScreeningQuery) -> dict:
    """Re-run a logged query against its logged list versions and compare with what was
    logged, match by match and in rank order (score, explanation and all), the matches
    the whitelist suppressed at the time by their scores. The check goes on the ledger
    (`screening.query_reproduced`) with its outcome; an auditor may run it (it changes no
    record). Raises `ScreeningInputError` for a query of another algorithm version."""
    reproduced = screening_query_reproduce(query=query)
    suppressed = {(s.get("list"), s.get("entity_uid")): s for s in logged_dicts(query.suppressed)}
    kept = [m for m in reproduced if (m["list"], m["entity_uid"]) not in suppressed]
    again = {(m["list"], m["entity_uid"]): m for m in reproduced
             if (m["list"], m["entity_uid"]) in suppressed}
    logged = logged_dicts(query.results)
    differences = []
    for rank in range(max(len(logged), len(kept))):
        before = logged[rank] if rank < len(logged) else None
        after = kept[rank] if rank < len(kept) else None
        if _canonical(before) != _canonical(after):
            differences.append({"rank": rank + 1, "logged": _match_ref(before),
                                "reproduced": _match_ref(after)})
    for key, entry in suppressed.items():
        match = again.get(key)
        if match is None or match.get("score") != entry.get("score"):
            differences.append({"rank": None, "logged": f"suppressed {_match_ref(entry)}",
                                "reproduced": _match_ref(match)})
    outcome = {
        "query_id": query.pk,
        "identical": not differences,
        "matches": len(logged),
        "suppressed": len(suppressed),
        "algorithm_version": query.algorithm_version,
        "list_versions": query.list_versions,
        "differences": differences[:50],
    }
    audit_record(action="screening.query_reproduced", object_type="screening.screeningquery",
                 object_id=str(query.pk), data=outcome)
    return outcome


def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


# ---------------------------------------------------------------------------- batches


def _decode(data: bytes) -> str:
    for enc in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    raise ScreeningInputError("file is neither UTF-8 nor cp1252 text", field="file")


def batch_rows_parse(data: bytes, *, max_rows: int | None = None) -> list[dict]:
    """Validated rows of a customer CSV (header with `name`, optional `id`, `dob`,
    `country`, `entity_type`). Any bad row rejects the file, naming line and problem."""
    max_rows = max_rows or int(getattr(settings, "SCREENING_BATCH_MAX_ROWS", 200_000))
    if b"\x00" in data[:65536]:
        raise ScreeningInputError("file is binary, not a CSV text file", field="file")
    text = _decode(data)
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        header = next(reader, None)
    except csv.Error as exc:
        raise ScreeningInputError(f"malformed CSV header ({exc})", field="file") from None
    if not header:
        raise ScreeningInputError("file is empty (a header row with `name` is expected)",
                                  field="file")
    cols = [h.strip().lower() for h in header]
    if "name" not in cols:
        raise ScreeningInputError(f"CSV has no `name` column (found: {', '.join(cols)[:200]})",
                                  field="file")
    idx = {c: cols.index(c) for c in ("id", "name", "dob", "country", "entity_type")
           if c in cols}
    rows: list[dict] = []
    problems: list[str] = []
    seen_ids: set[str] = set()
    try:
        for values in reader:
            line = reader.line_num
            if not any(v.strip() for v in values):
                continue
            if len(rows) >= max_rows:
                raise ScreeningInputError(f"too many rows (maximum {max_rows})", field="file")
            raw = {c: (values[i].strip() if i < len(values) else "") for c, i in idx.items()}
            try:
                clean = screening_input_clean(name=raw.get("name", ""), dob=raw.get("dob"),
                                              country=raw.get("country"),
                                              entity_type=raw.get("entity_type"))
            except ScreeningInputError as exc:
                problems.append(f"line {line}: {exc.field}: {exc}")
                if len(problems) >= 5:
                    break
                continue
            rid = raw.get("id", "")
            if rid and rid in seen_ids:
                problems.append(f"line {line}: id {rid!r} appears twice")
                continue
            seen_ids.add(rid)
            rows.append({"line": line, "id": rid, "name": clean.name, "dob": clean.dob,
                         "country": clean.country, "entity_type": clean.entity_type})
    except csv.Error as exc:
        raise ScreeningInputError(f"malformed CSV at line {reader.line_num} ({exc})",
                                  field="file") from None
    if problems:
        raise ScreeningInputError("; ".join(problems), field="file")
    if not rows:
        raise ScreeningInputError("file has no data rows", field="file")
    return rows


def screening_batch_start(
    *,
    file_name: str,
    data: bytes,
    threshold: float | None = None,
    lists: Iterable[str] | None = None,
    use: str = ScreeningUse.ONBOARDING,
    keep_customers: bool = False,
    actor: Actor | None,
    user=None,
    enqueue: bool = True,
) -> BatchRun:
    """Record a batch and queue its run (`enqueue=False`: the caller runs it, e.g. the
    CLI). A file that fails validation is recorded as a failed batch with the reason, and
    ScreeningInputError is raised. `keep_customers`: every row with an id is stored in
    the customer base (re-screened when a list changes); otherwise only rows with hits."""
    max_bytes = int(getattr(settings, "SCREENING_BATCH_MAX_BYTES", 50 * 2**20))
    digest = hashlib.sha256(data).hexdigest()
    opts = screening_input_clean(name="x", lists=list(lists) if lists else None,
                                 threshold=threshold, use=use)
    with audit_context(actor=actor) if actor else nullcontext():
        label = (actor.label if actor else "")[:150]
        try:
            if len(data) > max_bytes:
                raise ScreeningInputError(
                    f"file is too large ({len(data):,} bytes, maximum {max_bytes:,})",
                    field="file")
            rows = batch_rows_parse(data)
        except ScreeningInputError as exc:
            with transaction.atomic():
                failed = BatchRun.objects.create(
                    file_name=file_name[:255], sha256=digest, size=len(data),
                    status=BatchStatus.FAILED, use=opts.use, threshold=opts.threshold,
                    lists=list(opts.lists or []), keep_customers=keep_customers,
                    error=str(exc)[:2000], created_by=user,
                    actor_label=label, finished_at=timezone.now())
                audit_record(action="screening.batch_rejected", object_type="screening.batchrun",
                             object_id=str(failed.pk), data={"file": file_name[:255],
                                                             "sha256": digest,
                                                             "error": str(exc)[:500]})
            exc.batch = failed  # type: ignore[attr-defined]
            raise
        with transaction.atomic():
            batch = BatchRun.objects.create(
                file_name=file_name[:255], sha256=digest, size=len(data), use=opts.use,
                threshold=opts.threshold, lists=list(opts.lists or []), total=len(rows),
                keep_customers=keep_customers, created_by=user, actor_label=label)
            BatchInput.objects.create(batch=batch, rows=rows)
            audit_record(action="screening.batch_created", object_type="screening.batchrun",
                         object_id=str(batch.pk),
                         data={"file": file_name[:255], "sha256": digest, "rows": len(rows),
                               "keep_customers": keep_customers})
            if enqueue:
                from screening.tasks import screening_batch_run_task

                transaction.on_commit(lambda: screening_batch_run_task.delay(batch.pk))
    return batch


def screening_batch_reject(*, file_name: str, size: int, reason: str, actor: Actor | None,
                           user=None) -> BatchRun:
    """Record an upload refused before it was read (e.g. larger than the limit) as a
    failed batch, so the refusal is on the record like any other batch."""
    with audit_context(actor=actor) if actor else nullcontext(), transaction.atomic():
        batch = BatchRun.objects.create(
            file_name=file_name[:255], sha256="", size=size, status=BatchStatus.FAILED,
            error=reason[:2000], created_by=user,
            actor_label=(actor.label if actor else "")[:150], finished_at=timezone.now())
        audit_record(action="screening.batch_rejected", object_type="screening.batchrun",
                     object_id=str(batch.pk),
                     data={"file": file_name[:255], "size": size, "error": reason[:500]})
        return batch


def _batch_begin(batch_id: int, *, dispatch: bool = False) -> BatchRun | None:
    """The batch, marked running unless it is finished (None if it does not exist).
    `dispatch`: this is a new dispatch of the batch to the workers; it is counted, and the
    tasks of earlier dispatches stop when they next look (see `BatchRun.dispatches`)."""
    with transaction.atomic():
        batch = BatchRun.objects.select_for_update().filter(pk=batch_id).first()
        if batch is None or batch.is_finished:
            return batch
        fields = []
        if batch.status != BatchStatus.RUNNING:
            batch.status = BatchStatus.RUNNING
            batch.started_at = batch.started_at or timezone.now()
            fields += ["status", "started_at"]
        if dispatch:
            batch.dispatches += 1
            batch.dispatched_at = timezone.now()
            fields += ["dispatches", "dispatched_at"]
        if fields:
            batch.save(update_fields=fields)
        return batch


def _superseded(batch: BatchRun, dispatch: int | None) -> bool:
    """True if the batch was dispatched again after the dispatch a task belongs to."""
    return dispatch is not None and batch.dispatches != dispatch


_ROWS_SLICE_SQL = ('SELECT jsonb_path_query_array("rows", %s::jsonpath) '
                   'FROM "screening_batchinput" WHERE batch_id = %s')


def _batch_rows(batch_id: int, lo: int, hi: int | None) -> list[dict]:
    """The input rows `lo`..`hi` (exclusive; None: to the end) of a batch. On PostgreSQL
    a slice is cut in the database: a slice task of a 100,000-row batch does not load and
    parse every row."""
    from django.db import connection

    if lo == 0 and hi is None:
        return BatchInput.objects.get(batch_id=batch_id).rows
    if connection.vendor == "postgresql":
        last = (hi - 1) if hi is not None else "last"
        with connection.cursor() as cursor:
            cursor.execute(_ROWS_SLICE_SQL, [f"$[{int(lo)} to {last}]", batch_id])
            found = cursor.fetchone()
        if found is None:
            raise BatchInput.DoesNotExist(f"batch #{batch_id} has no input")
        rows = found[0]
        return json.loads(rows) if isinstance(rows, str) else rows
    return BatchInput.objects.get(batch_id=batch_id).rows[lo:hi]


def _batch_logged(batch_id: int, lo: int = 0, hi: int | None = None) -> set[int]:
    """Row numbers (1-based) of the batch's rows in `lo`..`hi` already in the query log."""
    found = ScreeningQuery.objects.filter(batch_id=batch_id, row_number__gt=lo)
    if hi is not None:
        found = found.filter(row_number__lte=hi)
    return set(found.values_list("row_number", flat=True))


def screening_batch_run(*, batch_id: int, chunk_size: int = 500, progress=None,
                        workers: int | None = None, lo: int = 0, hi: int | None = None,
                        dispatch: int | None = None, claim: bool = False) -> BatchRun | None:
    """Run (or resume) a batch, or only its rows `lo`..`hi` (a slice, see
    `screening_batch_dispatch`): the rows not yet in the query log are screened in chunks,
    each chunk logged, its cases opened and the progress counter moved in one transaction.
    A row is logged once only (unique batch and row number), so two workers on the same
    rows never log one twice; the last chunk marks the batch succeeded. Any failure marks
    the batch failed. `workers` > 1 screens each chunk on several cores (the CLI does).
    `dispatch`: the dispatch this run belongs to (a slice task's); it stops, before its
    next chunk is logged, once the batch has been dispatched again. `claim`: this run is a
    dispatch of its own (the whole batch as one task)."""
    batch = _batch_begin(batch_id, dispatch=claim)
    if batch is None or batch.is_finished:
        return batch
    if claim:
        dispatch = batch.dispatches
    if _superseded(batch, dispatch):
        return batch  # a later dispatch's tasks screen what is left
    try:
        rows = _batch_rows(batch_id, lo, hi)
        logged = _batch_logged(batch_id, lo, lo + len(rows))
        pending = [lo + i for i in range(len(rows)) if lo + i + 1 not in logged]
        cm = current_matcher()
        actor_fields = _actor_fields()
        if progress is not None:
            progress(batch.processed, batch.total)
        workers = workers or int(getattr(settings, "SCREENING_BATCH_WORKERS", 1))
        with MatcherPool(cm.matcher, workers=workers) as pool:
            _batch_chunks(batch, rows, lo, pending, chunk_size, cm, actor_fields, pool,
                          progress, dispatch)
        if hi is None and lo == 0:
            return _batch_finish(batch_id)  # e.g. every row was logged by another worker
        return BatchRun.objects.get(pk=batch_id)
    except Exception as exc:
        screening_batch_fail(batch_id=batch_id, error=f"{type(exc).__name__}: {exc}")
        raise


def _succeeded_fields(batch: BatchRun) -> list[str]:
    """Mark a running batch whose every row is logged succeeded; the fields to save."""
    if batch.status == BatchStatus.FAILED or batch.processed < batch.total:
        return []
    batch.status = BatchStatus.SUCCEEDED
    batch.finished_at = timezone.now()
    return ["status", "finished_at"]


def _batch_finish(batch_id: int) -> BatchRun:
    """The batch, marked succeeded if every row is logged and it is not finished yet."""
    with transaction.atomic():
        batch = BatchRun.objects.select_for_update().get(pk=batch_id)
        if not batch.is_finished and (fields := _succeeded_fields(batch)):
            batch.save(update_fields=fields)
        return batch


def _batch_chunks(batch: BatchRun, rows: list[dict], lo: int, pending: list[int],
                  chunk_size: int, cm: CachedMatcher, actor_fields: dict,
                  pool: MatcherPool, progress, dispatch: int | None = None) -> None:
    """The chunk loop of `screening_batch_run` over the `pending` row indices (`rows`
    starts at index `lo`): matching outside, writes inside each chunk's transaction. The
    next chunk is matched on the worker processes while this one is written."""
    cfg = cm.matcher.config.as_dict()

    def cleans_of(indices: list[int]) -> list[ScreeningInput]:
        return [ScreeningInput(name=row["name"], dob=row["dob"], country=row["country"],
                               entity_type=row["entity_type"],
                               lists=tuple(batch.lists) or None,
                               threshold=batch.threshold, use=batch.use)
                for row in (rows[i - lo] for i in indices)]

    def start_chunk(indices: list[int]):
        cleans = cleans_of(indices)
        return indices, cleans, pool.screen_async([_search_kwargs(c) for c in cleans])

    groups = [pending[i:i + chunk_size] for i in range(0, len(pending), chunk_size)]
    if not groups:
        return
    started = start_chunk(groups[0])
    for number in range(len(groups)):
        indices, cleans, screening = started
        screened = screening.get()
        if number + 1 < len(groups):
            started = start_chunk(groups[number + 1])
        items = [(i, rows[i - lo], clean, found)
                 for i, clean, found in zip(indices, cleans, screened, strict=True)]
        done = _batch_commit(batch.pk, items, cm, cfg, actor_fields, dispatch)
        if done is None:
            return  # the batch was failed or dispatched again meanwhile: stop
        if progress is not None:
            progress(done.processed, done.total)


_CHUNK_ATTEMPTS = 4


def _batch_commit(batch_id: int, items: list, cm: CachedMatcher, cfg: dict,
                  actor_fields: dict, dispatch: int | None = None) -> BatchRun | None:
    """Log one chunk's rows (`items`: row index, input row, clean input, (matches,
    normalised form)), open their cases and move the batch's counters, in one
    transaction. Rows another worker logged meanwhile are left out (the unique batch and
    row number refuses a second copy: the transaction is retried without them, as after
    a deadlock with another worker over the same customer). None if the batch failed
    or was dispatched again after `dispatch` (nothing is logged then)."""
    from django.db import IntegrityError, OperationalError

    for attempt in range(_CHUNK_ATTEMPTS):
        if attempt:
            logged = _batch_logged(batch_id, min(i for i, *_ in items),
                                   max(i for i, *_ in items) + 1)
            items = [item for item in items if item[0] + 1 not in logged]
        try:
            with transaction.atomic():
                return _batch_commit_once(batch_id, items, cm, cfg, actor_fields,
                                          dispatch)
        except (IntegrityError, OperationalError):
            if attempt + 1 == _CHUNK_ATTEMPTS:
                raise
    return None  # pragma: no cover (the loop returns or raises)


def _customer_fields(row: dict) -> dict:
    """A batch row as a stored customer (vessels and aircraft are kept as organisations:
    the customer base holds persons and organisations)."""
    return {"external_id": row["id"], "name": row["name"], "dob": row["dob"] or "",
            "country": row["country"] or "",
            "entity_type": "person" if row["entity_type"] in ("", None, "person")
            else "organisation"}


def _batch_customers_keep(batch: BatchRun, items: list) -> dict[str, Customer]:
    """Store every row of a chunk that has an id in the customer base (one insert, one
    update, one ledger entry per chunk; a file's ids are unique)."""
    from cases.customers import customers_upsert_many

    rows = [_customer_fields(row) for _, row, _, _ in items if row["id"]]
    if not rows:
        return {}
    return customers_upsert_many(rows, source=f"screening batch #{batch.pk}").stored


def _batch_commit_once(batch_id: int, items: list, cm: CachedMatcher, cfg: dict,
                       actor_fields: dict, dispatch: int | None = None) -> BatchRun | None:
    batch = BatchRun.objects.get(pk=batch_id)
    if batch.status == BatchStatus.FAILED or _superseded(batch, dispatch):
        return None
    if not items:
        return batch
    queries: list[ScreeningQuery] = []
    hits: list[tuple[Customer, int, list[Match]]] = []
    matches_total = hit_rows = 0
    kept_customers = _batch_customers_keep(batch, items) if batch.keep_customers else {}
    for index, row, clean, (matches, normalized) in items:
        customer = kept_customers.get(row["id"]) if row["id"] else None
        if row["id"] and matches and customer is None:
            customer = customer_upsert(**_customer_fields(row))
        kept, suppressed = _whitelist_split(customer, matches)
        queries.append(_query_row(
            clean=clean, versions=cm.versions, threshold=_threshold(cm, clean),
            matches=kept, suppressed=suppressed, origin=QueryOrigin.BATCH,
            customer=customer, batch=batch, row_number=index + 1,
            actor_fields=actor_fields, config=cfg, normalized=normalized))
        if kept:
            hit_rows += 1
            matches_total += len(kept)
            if customer is not None:
                hits.append((customer, len(queries) - 1, kept))
    copy_objects(queries)  # a chunk's query log in one COPY; sets each query's key
    for customer, i, kept in hits:
        _open_cases(customer, queries[i], kept)
    # The batch row is the last lock a chunk takes (after customers and cases), and it
    # is held only for the counters: chunks of one batch commit side by side.
    locked = BatchRun.objects.select_for_update().get(pk=batch_id)
    locked.processed += len(queries)
    locked.hit_rows += hit_rows
    locked.match_count += matches_total
    fields = ["processed", "hit_rows", "match_count", *_succeeded_fields(locked)]
    locked.save(update_fields=fields)  # one audited save: counters and, last, the status
    audit_record(action="screening.batch_chunk", object_type="screening.batchrun",
                 object_id=str(batch_id),
                 data={"rows": [items[0][0] + 1, items[-1][0] + 1], "count": len(items),
                       "hit_rows": hit_rows, "matches": matches_total,
                       "list_versions": cm.versions,
                       "first_query": queries[0].pk if queries else None})
    return locked


def _pending_slices(batch: BatchRun, size: int) -> list[tuple[int, int]]:
    """The batch's slices of `size` rows, (first row index, end), that hold a row not yet
    logged."""
    logged = _batch_logged(batch.pk)
    slices = [(lo, min(lo + size, batch.total)) for lo in range(0, batch.total, size)]
    return [(lo, hi) for lo, hi in slices
            if any(n not in logged for n in range(lo + 1, hi + 1))]


def screening_batch_dispatch(*, batch_id: int, slice_rows: int | None = None,
                             queue: str | None = None) -> list[tuple[int, int]]:
    """Queue a batch as slices of `slice_rows` rows (SCREENING_BATCH_SLICE_ROWS), one
    `screening.batch_slice` task each, so every Celery worker process screens a share of
    it at once (each with its own warm matcher); with 0 rows per slice the batch runs
    here, whole, as a dispatch of its own. Only slices with rows not yet logged are
    queued, so dispatching again (a redelivered message, the stale-batch sweep) resumes;
    the slices of an earlier dispatch then stop, when they start or before their next
    chunk is logged, so rows are not screened twice by both. Returns the slices queued,
    as (first row index, end). `queue`: where to send them (default: the task's default
    routing)."""
    from screening.tasks import screening_batch_slice_task

    size = settings.SCREENING_BATCH_SLICE_ROWS if slice_rows is None else slice_rows
    if not size:
        screening_batch_run(batch_id=batch_id, claim=True)
        return []
    batch = _batch_begin(batch_id, dispatch=True)
    if batch is None or batch.is_finished:
        return []
    slices = _pending_slices(batch, size)
    if not slices:
        _batch_finish(batch_id)  # every row logged: only the status is left
        return []
    dispatch = batch.dispatches
    for lo, hi in slices:
        transaction.on_commit(lambda lo=lo, hi=hi: screening_batch_slice_task.apply_async(
            (batch_id, lo, hi, dispatch), **({"queue": queue} if queue else {})))
    return slices


def _slice_in_child(args: tuple[int, int, int]) -> int:
    batch_id, lo, hi = args
    batch = screening_batch_run(batch_id=batch_id, lo=lo, hi=hi, workers=1)
    return batch.processed if batch is not None else 0


def screening_batch_run_local(*, batch_id: int, processes: int, progress=None,
                              slice_rows: int | None = None) -> BatchRun | None:
    """Run a batch on `processes` local processes (the CLI), each screening and logging
    its own slices as a Celery worker process does: matching and writes on every core.
    The processes are forked after the matcher is built (they share its index). Where that
    cannot be done, the batch runs in this process (`screening_batch_run`, matching on
    forked processes, writes here): on SQLite (one writer at a time), inside a caller's
    transaction (the processes could not see its rows), or with one process."""
    import gc
    import multiprocessing

    from django.db import connection, connections

    if processes < 2 or connection.vendor != "postgresql" or connection.in_atomic_block:
        return screening_batch_run(batch_id=batch_id, progress=progress, workers=processes)
    batch = _batch_begin(batch_id)
    if batch is None or batch.is_finished:
        return batch
    # slices small enough that the processes finish together
    size = slice_rows or max(500, min(settings.SCREENING_BATCH_SLICE_ROWS or 2000,
                                      -(-batch.total // (4 * processes))))
    slices = [(batch_id, lo, hi) for lo, hi in _pending_slices(batch, size)]
    if not slices:  # every row logged: only the status is left
        return _batch_finish(batch_id)
    current_matcher()  # built here, shared copy-on-write by the processes
    if progress is not None:
        progress(batch.processed, batch.total)
    # Each process opens its own connections (a forked copy of this one would share its
    # socket: closed here, and set aside unused in each child, see config.forking); the
    # cyclic collector stays off the shared index's pages.
    connections.close_all()
    gc.collect()
    gc.freeze()
    try:
        with multiprocessing.get_context("fork").Pool(
                processes, initializer=forget_inherited_connections) as pool:
            pending = pool.map_async(_slice_in_child, slices, chunksize=1)
            while not pending.ready():
                pending.wait(0.5)
                if progress is not None:
                    done = BatchRun.objects.values_list("processed", "total").get(pk=batch_id)
                    progress(*done)
            pending.get()  # a slice's error (the batch is marked failed by then)
    except Exception as exc:
        screening_batch_fail(batch_id=batch_id, error=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        gc.unfreeze()
        # Background sealing: the processes exited without their sealer's last pass.
        from audit.services import ledger_seal_pending

        ledger_seal_pending()
    done = _batch_finish(batch_id)
    if progress is not None:
        progress(done.processed, done.total)
    return done


def screening_batch_fail(*, batch_id: int, error: str) -> None:
    """Mark a batch failed with the reason (rows already committed stay, and resuming
    is possible by resetting the status)."""
    with transaction.atomic():
        batch = BatchRun.objects.select_for_update().get(pk=batch_id)
        batch.status = BatchStatus.FAILED
        batch.error = error[:2000]
        batch.finished_at = timezone.now()
        batch.save(update_fields=["status", "error", "finished_at"])


def screening_batch_resume(*, batch_id: int, actor: Actor) -> BatchRun:
    """Resume a failed batch (e.g. after the database or a worker was down): queued again,
    only its rows not yet logged are screened, against the lists active now (each row's
    logged query names its list versions). A batch refused at upload has no rows to
    resume: ScreeningInputError."""
    from screening.tasks import screening_batch_run_task

    with audit_context(actor=actor), transaction.atomic():
        batch = BatchRun.objects.select_for_update().filter(pk=batch_id).first()
        if batch is None:
            raise ScreeningInputError("no such batch", field="batch")
        if batch.status != BatchStatus.FAILED:
            raise ScreeningInputError(f"batch #{batch.pk} is {batch.status}: only a failed "
                                      "batch can be resumed", field="batch")
        if not BatchInput.objects.filter(batch_id=batch.pk).exists():
            raise ScreeningInputError(f"batch #{batch.pk} was refused at upload: there are "
                                      "no rows to resume", field="batch")
        previous = batch.error
        batch.status = BatchStatus.PENDING
        batch.error = ""
        batch.finished_at = None
        batch.save(update_fields=["status", "error", "finished_at"])
        audit_record(action="screening.batch_resumed", object_type="screening.batchrun",
                     object_id=str(batch.pk),
                     data={"by": actor.label, "processed": batch.processed,
                           "total": batch.total, "previous_error": previous[:500]})
        transaction.on_commit(lambda: screening_batch_run_task.delay(batch.pk))
    return batch


def screening_batch_resume_stale(*, stale_after_seconds: float | None = None) -> list[int]:
    """Re-queue batches whose worker died: pending or running batches whose last sign of
    life (their newest logged query, last dispatch to the workers, start or creation,
    whichever is newest) is older than `stale_after_seconds`
    (SCREENING_BATCH_STALE_SECONDS, default 600). Safe to repeat: a resumed run screens
    only the rows not yet logged, each row is logged once, and the tasks of the earlier
    dispatch stop (a batch that was only waiting in a long queue is not screened twice)."""
    from django.db.models import Max
    from django.db.models.functions import Coalesce, Greatest

    from screening.tasks import screening_batch_run_task

    seconds = float(stale_after_seconds if stale_after_seconds is not None else
                    getattr(settings, "SCREENING_BATCH_STALE_SECONDS", 600))
    cutoff = timezone.now() - timedelta(seconds=seconds)
    stale = list(
        BatchRun.objects.filter(status__in=[BatchStatus.PENDING, BatchStatus.RUNNING])
        # a dispatch is never older than the start (both NULL-safe for SQLite's MAX())
        .annotate(last_seen=Greatest(Coalesce(Max("queries__created_at"), "created_at"),
                                     Coalesce("dispatched_at", "started_at", "created_at")))
        .filter(last_seen__lt=cutoff).order_by("pk").values_list("pk", "processed", "total"))
    if not stale:
        return []
    with audit_context(actor=Actor.system("screening.batch_resume_stale")), \
            transaction.atomic():
        for pk, processed, total in stale:
            audit_record(action="screening.batch_resumed", object_type="screening.batchrun",
                         object_id=str(pk),
                         data={"processed": processed, "total": total,
                               "stale_after_seconds": seconds})
            transaction.on_commit(lambda pk=pk: screening_batch_run_task.delay(pk))
    return [pk for pk, _, _ in stale]


def batch_report_rows(batch: BatchRun) -> Iterator[dict]:
    """One report row per match at or above the threshold, in input order."""
    queries = (ScreeningQuery.objects.filter(batch=batch, hit_count__gt=0)
               .order_by("row_number").values_list("pk", "input", "results", "row_number"))
    ids = {i + 1: r.get("id", "") for i, r in enumerate(batch.input.rows)}
    for pk, inp, results, row_number in queries.iterator(chunk_size=1000):
        for m in results:
            yield {
                "input_id": ids.get(row_number, ""), "input_name": inp.get("name", ""),
                "score": m["score"], "list": m["list"], "entity_uid": m["entity_uid"],
                "matched_name": m["matched_name"], "matched_name_kind": m["matched_name_kind"],
                "entity_type": m["entity_type"], "programs": ";".join(m["programs"]),
                "explanation": json.dumps(m["explanation"], ensure_ascii=False,
                                          sort_keys=True),
                "name_score": m["name_score"], "ofac_score": m["ofac_score"], "query_id": pk,
            }


QUERY_LOG_COLUMNS = ("query_id", "created_at", "actor", "actor_type", "origin", "use",
                     "batch_id", "row_number", "customer_id", "name", "dob", "country",
                     "entity_type", "normalized", "list_versions", "algorithm_version",
                     "threshold", "hit_count", "top_score", "matches", "suppressed")


def query_log_export(*, queries, filters: dict, limit: int) -> Iterator[str]:
    """Export the (filtered) query log as CSV lines, at most `limit` queries; the export
    itself is on the ledger with its filters, since it takes personal data out."""
    audit_record(action="screening.query_log_exported", object_type="screening.screeningquery",
                 object_id="", data={"filters": filters, "limit": limit})
    return query_log_rows(queries[:limit])


def query_log_rows(queries) -> Iterator[str]:
    """The query log as CSV text, a line at a time (header first), for a streamed export:
    one row per logged query, its matches as `list:entity_uid:score` separated by `; `."""
    buf = io.StringIO()
    writer = csv.writer(buf)

    def line(values) -> str:
        buf.seek(0)
        buf.truncate()
        writer.writerow(values)
        return buf.getvalue()

    yield line(QUERY_LOG_COLUMNS)
    for q in queries.select_related("customer").iterator(chunk_size=2000):
        data = q.input or {}
        yield line([
            q.pk, q.created_at.isoformat(), q.actor_label, q.actor_type, q.origin, q.use,
            q.batch_id or "", q.row_number or "",
            csv_cell(q.customer.external_id) if q.customer_id else "",
            *(csv_cell(data.get(k) or "") for k in ("name", "dob", "country", "entity_type")),
            q.normalized, json.dumps(q.list_versions, sort_keys=True), q.algorithm_version,
            q.threshold, q.hit_count, round(q.top_score, 1),
            _match_refs(q.results), _match_refs(q.suppressed),
        ])


def _match_refs(matches) -> str:
    """Logged matches as `list:entity_uid:score`, separated by `; `."""
    return "; ".join(f"{m.get('list')}:{m.get('entity_uid')}:{m.get('score')}"
                     for m in matches or ())


def batch_report_write(batch: BatchRun, fh, *, fmt: str = "csv") -> int:
    """Write the report to a text file handle; returns the number of match rows."""
    n = 0
    if fmt == "json":
        fh.write("[")
        for row in batch_report_rows(batch):
            row = {**row, "explanation": json.loads(row["explanation"])}
            fh.write(("," if n else "") + "\n" + json.dumps(row, ensure_ascii=False))
            n += 1
        fh.write("\n]\n")
        return n
    writer = csv.DictWriter(fh, fieldnames=REPORT_COLUMNS)
    writer.writeheader()
    for row in batch_report_rows(batch):
        writer.writerow({**row, "input_id": csv_cell(row["input_id"]),
                         "input_name": csv_cell(row["input_name"])})
        n += 1
    return n


# ---------------------------------------------------------------------------- whitelist


@transaction.atomic
def whitelist_add(*, customer: Customer, list_code: str, entity_uid: str, content_hash: str,
                  reason: str, reviewer, actor: Actor | None = None) -> Whitelist:
    """Record a reviewed false positive for this customer and this content of the entity."""
    if not (reason or "").strip():
        raise ScreeningInputError("a reason is required", field="reason")
    if not content_hash:
        raise ScreeningInputError("the entity's content hash is required", field="content_hash")
    with audit_context(actor=actor) if actor else nullcontext():
        existing = Whitelist.objects.filter(customer=customer, list_code=list_code,
                                            entity_uid=entity_uid, content_hash=content_hash,
                                            active=True).first()
        if existing:
            return existing
        return Whitelist.objects.create(customer=customer, list_code=list_code,
                                        entity_uid=entity_uid, content_hash=content_hash,
                                        reviewer=reviewer, reason=reason.strip())


def screening_hit_whitelist(*, query: ScreeningQuery, list_code: str, entity_uid: str,
                            reason: str, reviewer, actor: Actor | None = None) -> Whitelist:
    """Whitelist one hit of a logged query of a customer (reviewed false positive): the
    entity's content hash is taken from the logged result, never from the caller."""
    if query.customer_id is None:
        raise ScreeningInputError("only a customer's hit can be whitelisted (this query "
                                  "was not made for a stored customer)", field="query")
    hit = next((m for m in query.results
                if m.get("list") == list_code and m.get("entity_uid") == entity_uid), None)
    if hit is None:
        raise ScreeningInputError(f"{list_code} {entity_uid} is not a hit of query "
                                  f"#{query.pk}", field="entity_uid")
    return whitelist_add(customer=query.customer, list_code=list_code, entity_uid=entity_uid,
                         content_hash=hit.get("content_hash", ""), reason=reason,
                         reviewer=reviewer, actor=actor)


def _whitelist_reopen(customer: Customer, list_code: str, uid: str, new_hash: str) -> None:
    for w in Whitelist.objects.select_for_update().filter(
            customer=customer, list_code=list_code, entity_uid=uid, active=True
    ).exclude(content_hash=new_hash):
        w.active = False
        w.reopened_at = timezone.now()
        w.reopened_reason = "listed entity changed (content hash differs)"
        w.save(update_fields=["active", "reopened_at", "reopened_reason"])


# ---------------------------------------------------------------------------- delta


# Inside `matcher_warm_batched`: whether a version was activated (None outside it).
_warm_batched: ContextVar[bool | None] = ContextVar("screening_warm_batched", default=None)


@contextmanager
def matcher_warm_batched() -> Iterator[None]:
    """Several lists activated in one go (the demo's load): the matcher of the lists
    active at the end is built and stored once, when the block ends without error,
    instead of once per activation (each build reads every listed entity: seconds). If
    the block fails, the processes build the matcher when they next need it."""
    token = _warm_batched.set(False)
    try:
        yield
        activated = _warm_batched.get()
    finally:
        _warm_batched.reset(token)
    if activated and store_dir() is not None:
        from screening.tasks import screening_matcher_warm_task

        screening_matcher_warm_task.delay()


def screening_version_activated(*, version_id: int) -> None:
    """What screening does once a list version is active (after its commit): the cached
    matcher is dropped; the new one is built once, by a worker, when built indexes are
    kept (SCREENING_INDEX_DIR), so the other processes load it (once for several
    activations inside `matcher_warm_batched`); and the customer base is re-screened
    against what the version changed (SCREENING_DELTA_ON_ACTIVATION)."""
    from screening.tasks import screening_delta_task, screening_matcher_warm_task

    matcher_cache_clear()
    if _warm_batched.get() is not None:
        _warm_batched.set(True)
    elif store_dir() is not None:
        screening_matcher_warm_task.delay()
    if getattr(settings, "SCREENING_DELTA_ON_ACTIVATION", True):
        screening_delta_task.delay(version_id)


def screening_rescreen_delta(*, version_id: int, actor: Actor | None = None) -> dict:
    """Screen the stored customer base (offboarded customers left out) against only the
    entities a version added or changed (against every entity when the list is activated
    for the first time); cases open only for those new or changed hits. Whitelist entries
    of changed entities are reopened."""
    from screening.lists.selectors import listed_entities, version_delta

    delta = version_delta(version_id)
    if delta.previous_version_id is None:
        # The list's first activation: it has no delta, every entity is new to the
        # customer base, so the whole base is screened against the whole list.
        mode = "full"
        entities = list(listed_entities([version_id]))
    else:
        mode = "delta"
        entities = list(delta.entities_to_rescreen())
    summary = {"version_id": version_id, "list": delta.list_code, "mode": mode,
               "entities": len(entities), "customers": 0, "hits": 0}
    if not entities:
        return summary
    versions = {delta.list_code: version_id}
    config = matcher_config()
    cfg = config.as_dict()
    matcher = None  # built for the first customer: a new deployment has none
    with audit_context(actor=actor or Actor.system("screening.delta")):
        actor_fields = _actor_fields()
        for customer in customers_rescreened().order_by("pk").iterator(chunk_size=1000):
            matcher = matcher or Matcher(entities, config)
            summary["customers"] += 1
            try:
                clean = screening_input_clean(name=customer.name, dob=customer.dob or None,
                                              country=customer.country or None,
                                              entity_type=customer.entity_type or None,
                                              use=ScreeningUse.RESCREENING)
            except ScreeningInputError:
                continue
            matches = _match(matcher, clean)
            if not matches:
                continue
            with transaction.atomic():
                for m in matches:
                    _whitelist_reopen(customer, m.entity.list_code, m.entity.uid,
                                      m.entity.content_hash)
                kept, suppressed = _whitelist_split(customer, matches)
                query = _query_row(clean=clean, versions=versions,
                                   threshold=config.threshold, matches=kept,
                                   suppressed=suppressed, origin=QueryOrigin.DELTA,
                                   customer=customer, actor_fields=actor_fields, config=cfg)
                query.save()
                if kept:
                    summary["hits"] += len(kept)
                    _open_cases(customer, query, kept)
        audit_record(action="screening.delta_rescreen", object_type="lists.listversion",
                     object_id=str(version_id), data=summary)
    return summary


def demo_screening_load(*, actor: Actor) -> int:
    """Screen every stored customer against the active lists (demo data), the demo's
    screening customers among them, and work the cases their real hits open into the
    states an analyst meets (`screening.demo`); returns the number of customers
    screened."""
    plans = demo_customers_create(actor=actor)
    n = 0
    for customer in Customer.objects.order_by("pk"):
        try:
            screening_search(name=customer.name, dob=customer.dob or None,
                             country=customer.country or None,
                             entity_type=customer.entity_type or None, customer=customer,
                             actor=actor)
        except ScreeningInputError:
            continue
        n += 1
    demo_cases_work(plans, actor=actor)
    return n
