"""The enrichment steps for one application, resumable through a step store (no Django).

A run is a fixed sequence of provider steps. Each finished step is saved (result plus
every call record) before the next starts, so a run interrupted at any point resumes
from its last saved step and reaches the same final state. The billable credit report is
guarded by an *intent*: saved before the request goes out, so a worker that dies between
sending and saving leaves a visible "outcome unknown" for a human instead of pulling the
report twice.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from .providers.bureau import BureauProvider, select_bureau_match
from .providers.errors import ProviderError, UnknownOutcome
from .providers.http import CallRecord, canonical_json
from .providers.registry import RegistryProvider, select_registry_match

STEP_REGISTRY = "registry.entity"
STEP_DIRECT_PARENT = "registry.direct_parent"
STEP_ULTIMATE_PARENT = "registry.ultimate_parent"
STEP_BUREAU_SEARCH = "bureau.search"
STEP_BUREAU_REPORT = "bureau.report"


@dataclass(frozen=True)
class ApplicantInput:
    """What the pipeline needs to know about the applicant business."""

    application_id: str
    legal_name: str
    country: str
    registration_number: str = ""
    lei: str = ""
    street: str = ""
    city: str = ""
    region: str = ""
    postal_code: str = ""
    tax_id: str = ""


@dataclass
class StepOutcome:
    """A finished step: its serialisable result and the calls that produced it."""

    key: str
    result: dict[str, Any]
    records: list[CallRecord] = field(default_factory=list)
    reused: bool = False


class StepStore(Protocol):
    """Where a run keeps finished steps (the database in production, a dict in tests)."""

    def load(self, key: str, *, fingerprint: str, shared: bool) -> dict[str, Any] | None:
        """A saved result for this step of this run; with ``shared``, also a fresh enough
        result of another run with the same fingerprint (a billable pull is not repeated)."""

    def begin(self, key: str, *, fingerprint: str) -> None:
        """Record the intent to send a non-repeatable request; raise if one is pending."""

    def save(self, key: str, *, fingerprint: str, result: dict[str, Any],
             records: list[CallRecord]) -> None:
        """Persist a finished step (commits: survives a worker killed later)."""

    def fail(self, key: str, *, fingerprint: str, error: ProviderError) -> None:
        """Persist the failed attempts of a step (they are audited too)."""


class MemoryStepStore:
    """In-memory :class:`StepStore` for unit tests and the pure benchmarks."""

    def __init__(self) -> None:
        self.results: dict[str, dict[str, Any]] = {}
        self.by_fingerprint: dict[str, dict[str, Any]] = {}
        self.intents: set[str] = set()
        self.records: list[CallRecord] = []
        self.failures: list[ProviderError] = []

    def load(self, key: str, *, fingerprint: str, shared: bool) -> dict[str, Any] | None:
        if key in self.results:
            return self.results[key]
        return self.by_fingerprint.get(fingerprint) if shared else None

    def begin(self, key: str, *, fingerprint: str) -> None:
        if fingerprint in self.intents:
            raise UnknownOutcome(f"an earlier {key} request has no recorded outcome")
        self.intents.add(fingerprint)

    def save(self, key: str, *, fingerprint: str, result: dict[str, Any],
             records: list[CallRecord]) -> None:
        self.results[key] = result
        self.by_fingerprint[fingerprint] = result
        self.intents.discard(fingerprint)
        self.records.extend(records)

    def fail(self, key: str, *, fingerprint: str, error: ProviderError) -> None:
        # A definite failure (the provider refused) settles the intent; an unknown
        # outcome keeps it, so a retry cannot pull the report again.
        if not isinstance(error, UnknownOutcome):
            self.intents.discard(fingerprint)
        self.records.extend(error.records)
        self.failures.append(error)


def fingerprint(*, provider: str, operation: str, request: Any, application_id: str) -> str:
    """provider + endpoint + canonical request + application: the idempotency fingerprint."""
    payload = canonical_json({"provider": provider, "operation": operation,
                              "request": request, "application": application_id})
    return hashlib.sha256(payload).hexdigest()


def to_jsonable(value: Any) -> Any:
    """Dataclasses/datetimes to plain JSON values; raw provider payloads are dropped
    (they are kept verbatim on the call records)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name))
                for f in dataclasses.fields(value) if f.name != "raw"}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    return value


class EnrichmentPipeline:
    """Registry entity → parents → bureau search → bureau report, each step resumable."""

    def __init__(self, *, registry: RegistryProvider, bureau: BureauProvider,
                 store: StepStore, executor: Executor | None = None) -> None:
        self.registry = registry
        self.bureau = bureau
        self.store = store
        self.executor = executor

    def _step(
        self,
        key: str,
        *,
        provider: str,
        operation: str,
        request: Any,
        applicant: ApplicantInput,
        call: Callable[[], tuple[dict[str, Any], list[CallRecord]]],
        guarded: bool = False,
    ) -> StepOutcome:
        fp = fingerprint(provider=provider, operation=operation, request=request,
                         application_id=applicant.application_id)
        saved = self.store.load(key, fingerprint=fp, shared=guarded)
        if saved is not None:
            return StepOutcome(key, saved, reused=True)
        if guarded:
            self.store.begin(key, fingerprint=fp)
        result, records = self._finish(key, fp, call)
        return StepOutcome(key, result, records)

    def run(self, applicant: ApplicantInput) -> dict[str, dict[str, Any]]:
        """Run (or resume) every step; return step key → result. Raises ProviderError."""
        steps: dict[str, dict[str, Any]] = {}
        registry_name = self.registry.name

        def registry_entity() -> tuple[dict[str, Any], list[CallRecord]]:
            if applicant.lei:
                found = self.registry.lookup(applicant.lei)
                match = found.entities[0] if found.entities else None
                status = "matched" if match else "not_found"
            else:
                found = self.registry.search(legal_name=applicant.legal_name,
                                             country=applicant.country)
                match = select_registry_match(
                    found.entities, legal_name=applicant.legal_name,
                    registration_number=applicant.registration_number,
                )
                status = ("matched" if match else "ambiguous" if found.entities
                          else "not_found")
            last = found.records[-1] if found.records else None
            return ({
                "status": status,
                "candidates": len(found.entities),
                "entity": to_jsonable(match) if match else None,
                "call_id": last.call_id if last else "",
                "fetched_at": last.started_at.isoformat() if last else "",
            }, found.records)

        request = {"lei": applicant.lei} if applicant.lei else {
            "legal_name": applicant.legal_name, "country": applicant.country}
        steps[STEP_REGISTRY] = self._step(
            STEP_REGISTRY, provider=registry_name, operation="entity", request=request,
            applicant=applicant, call=registry_entity,
        ).result

        entity = steps[STEP_REGISTRY]["entity"]
        # The parents need only the registry's answer: with an executor they are fetched
        # while the bureau is asked (the run's latency is three calls, not five). Only the
        # HTTP calls run on the executor; every step store operation stays on this thread.
        parents: list[tuple[str, str, Any]] = []
        if entity:
            for key, fetch in ((STEP_DIRECT_PARENT, self.registry.direct_parent),
                               (STEP_ULTIMATE_PARENT, self.registry.ultimate_parent)):
                def parent(fetch=fetch) -> tuple[dict[str, Any], list[CallRecord]]:
                    found = fetch(entity["lei"])
                    last = found.records[-1]
                    return ({
                        "entity": to_jsonable(found.entities[0]) if found.entities else None,
                        "call_id": last.call_id,
                        "fetched_at": last.started_at.isoformat(),
                    }, found.records)

                fp = fingerprint(provider=registry_name, operation=key,
                                 request={"lei": entity["lei"]},
                                 application_id=applicant.application_id)
                saved = self.store.load(key, fingerprint=fp, shared=False)
                if saved is not None:
                    steps[key] = saved
                elif self.executor is None:
                    steps[key] = self._finish(key, fp, parent)[0]
                else:
                    parents.append((key, fp, self.executor.submit(parent)))
        try:
            self._bureau_steps(applicant, entity, steps)
        finally:
            # Whatever the bureau did, the parents' calls were made: every one is stored
            # (and audited). The bureau's error, else the first parent's, fails the run.
            failure: ProviderError | None = None
            for key, fp, future in parents:
                try:
                    steps[key] = self._finish(key, fp, future.result)[0]
                except ProviderError as error:
                    failure = failure or error
        if failure is not None:
            raise failure
        return steps

    def _finish(self, key: str, fp: str,
                call: Callable[[], tuple[dict[str, Any], list[CallRecord]]],
                ) -> tuple[dict[str, Any], list[CallRecord]]:
        """Save (or record the failure of) a step whose (result, records) ``call`` returns."""
        try:
            result, records = call()
        except ProviderError as error:
            self.store.fail(key, fingerprint=fp, error=error)
            raise
        self.store.save(key, fingerprint=fp, result=result, records=records)
        return result, records

    def _bureau_steps(self, applicant: ApplicantInput, entity: dict[str, Any] | None,
                      steps: dict[str, dict[str, Any]]) -> None:
        legal_name = entity["legal_name"] if entity else applicant.legal_name
        search_request = {"name": legal_name, "street": applicant.street,
                          "city": applicant.city, "state": applicant.region,
                          "zip_code": applicant.postal_code, "tax_id": applicant.tax_id}

        def bureau_search() -> tuple[dict[str, Any], list[CallRecord]]:
            found = self.bureau.search(**search_request)
            match = select_bureau_match(found.candidates, name=legal_name)
            last = found.records[-1]
            return ({
                "status": "matched" if match else "not_found",
                "candidates": len(found.candidates),
                "bin": match.bin if match else None,
                "call_id": last.call_id,
                "fetched_at": last.started_at.isoformat(),
            }, found.records)

        steps[STEP_BUREAU_SEARCH] = self._step(
            STEP_BUREAU_SEARCH, provider=self.bureau.name, operation="search",
            request=search_request, applicant=applicant, call=bureau_search,
        ).result

        bin_number = steps[STEP_BUREAU_SEARCH]["bin"]
        if bin_number:
            def bureau_report() -> tuple[dict[str, Any], list[CallRecord]]:
                pulled = self.bureau.report(bin_number=bin_number)
                return {"report": to_jsonable(pulled.report)}, pulled.records

            steps[STEP_BUREAU_REPORT] = self._step(
                STEP_BUREAU_REPORT, provider=self.bureau.name, operation="premier_profile",
                request={"bin": bin_number}, applicant=applicant, call=bureau_report,
                guarded=True,
            ).result
