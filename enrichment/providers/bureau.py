"""Credit bureaus: the interface, the normalised report, and the Experian-shaped client.

Experian Business Information Services: POST JSON with an OAuth2 bearer token; first
``/v1/search`` finds the business (BIN), then ``/v1/reports/premierprofiles`` pulls the
report. A report pull is billable and records an inquiry on the business's file, so it is
never repeated when its outcome is unknown (see ``ProviderHttpClient``).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from .errors import MalformedResponse, ProviderError, ProviderRejected
from .http import CallRecord, ProviderHttpClient, ProviderResponse

#: Intelliscore Plus special values: not scores, but facts about the file
SCORE_BANKRUPTCY = 998
SCORE_INSUFFICIENT_DATA = 999
PREMIER_PROFILE_MODEL = "000254"


@dataclass
class BureauCandidate:
    bin: str
    business_name: str
    reliability_code: float | None
    address: dict[str, Any]
    call_id: str


@dataclass
class CreditReport:
    """A commercial credit report reduced to what underwriting reads (CreditReportV1)."""

    provider: str
    bin: str
    business_name: str
    commercial_score: int | None
    score_note: str | None
    percentile: int | None
    risk_class: dict[str, Any] | None
    recommended_credit_limit: float | None
    fsr_score: int | None
    current_dbt: int | None
    monthly_average_dbt: int | None
    bankruptcy_count: int
    tax_lien_count: int
    judgment_count: int
    collection_count: int
    bankruptcy_indicator: bool
    ofac_match: bool
    ofac_match_detail: dict[str, Any] | None
    years_in_business: int | None
    call_id: str
    fetched_at: datetime
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class BureauSearchResult:
    candidates: list[BureauCandidate]
    records: list[CallRecord]


@dataclass
class BureauReportResult:
    report: CreditReport
    records: list[CallRecord]


class BureauProvider(Protocol):
    """What enrichment needs from any commercial credit bureau."""

    name: str

    def search(self, *, name: str, street: str, city: str, state: str, zip_code: str,
               tax_id: str = "") -> BureauSearchResult:
        """Candidate businesses for an applicant (not billable)."""

    def report(self, *, bin_number: str) -> BureauReportResult:
        """The credit report for one business (billable)."""


class ExperianClient:
    """Experian-shaped Business Information Services client (OAuth2 password grant)."""

    name = "experian"

    def __init__(
        self,
        http: ProviderHttpClient,
        *,
        token_url: str,
        client_id: str,
        client_secret: str,
        username: str,
        password: str,
        subcode: str,
    ) -> None:
        self.http = http
        self.token_url = token_url
        self._credentials = {
            "client_id": client_id, "client_secret": client_secret,
            "username": username, "password": password,
        }
        self.subcode = subcode
        self._token: str | None = None
        self._token_expires = 0.0
        self._token_lock = threading.Lock()

    def _bearer(self) -> tuple[dict[str, str], list[CallRecord]]:
        """The bearer header, plus the token call records when a token was fetched now."""
        fetched: list[CallRecord] = []
        with self._token_lock:
            if self._token is None or time.monotonic() >= self._token_expires:
                response = self.http.request(
                    "POST", self.token_url, operation="oauth_token",
                    json_body={
                        "username": self._credentials["username"],
                        "password": self._credentials["password"],
                    },
                    headers={
                        "Client_id": self._credentials["client_id"],
                        "Client_secret": self._credentials["client_secret"],
                    },
                    redact_response=True,
                )
                fetched = list(response.records)
                data = response.data
                token = data.get("access_token") if isinstance(data, dict) else None
                if not isinstance(token, str) or not token:
                    raise MalformedResponse(
                        "experian: token response without access_token", provider=self.name,
                        method="POST", url=response.url, status=response.status,
                        attempts=len(response.records), call_id=response.call_id,
                    )
                try:
                    expires_in = float(data.get("expires_in", 1800))
                except (TypeError, ValueError):
                    expires_in = 1800.0
                self._token = token
                # Renew a minute early so a token never expires mid-request.
                self._token_expires = time.monotonic() + max(30.0, expires_in - 60)
            return {"Authorization": f"Bearer {self._token}"}, fetched

    def _authorised(self, path: str, operation: str, body: dict[str, Any], *,
                    billable: bool) -> ProviderResponse:
        """POST with the bearer token; on 401 (token expired or revoked early) fetch a new
        token and send once more. A 401 proves the request was not processed, so this is
        safe for a billable pull too."""
        records: list[CallRecord] = []
        for attempt in (1, 2):
            bearer, token_records = self._bearer()
            records += token_records
            try:
                response = self.http.request(
                    "POST", path, operation=operation, json_body=body, headers=bearer,
                    idempotent=not billable, billable=billable,
                )
            except ProviderRejected as exc:
                records += exc.records
                if exc.status == 401 and attempt == 1:
                    with self._token_lock:
                        self._token = None
                    continue
                exc.records = records
                raise
            except ProviderError as exc:
                exc.records = records + exc.records
                raise
            response.records[:0] = records
            return response
        raise AssertionError("unreachable")

    def search(self, *, name: str, street: str, city: str, state: str, zip_code: str,
               tax_id: str = "") -> BureauSearchResult:
        body = {
            "name": name, "street": street, "city": city, "state": state, "zip": zip_code,
            "taxId": tax_id, "subcode": self.subcode, "comments": "vigil-enrichment",
        }
        # Search records no inquiry, so it may be retried like a read.
        response = self._authorised("v1/search", "business_search", body, billable=False)
        results = self._envelope(response).get("results")
        if not isinstance(results, list):
            raise self._malformed(response, "search envelope without a 'results' array")
        candidates = []
        for item in results:
            if not isinstance(item, dict) or not isinstance(item.get("bin"), str):
                raise self._malformed(response, "search result without a 'bin'")
            candidates.append(BureauCandidate(
                bin=item["bin"],
                business_name=str(item.get("businessName") or ""),
                reliability_code=_number(item.get("reliabilityCode")),
                address=item.get("address") if isinstance(item.get("address"), dict) else {},
                call_id=response.call_id,
            ))
        return BureauSearchResult(candidates, response.records)

    def report(self, *, bin_number: str) -> BureauReportResult:
        body = {"bin": bin_number, "subcode": self.subcode, "modelCode": PREMIER_PROFILE_MODEL,
                "comments": "vigil-enrichment"}
        response = self._authorised("v1/reports/premierprofiles", "premier_profile", body,
                                    billable=True)
        results = self._envelope(response).get("results")
        if not isinstance(results, dict):
            raise self._malformed(response, "report envelope without a 'results' object")
        return BureauReportResult(self._report(results, response), response.records)

    def _envelope(self, response: ProviderResponse) -> dict[str, Any]:
        data = response.data
        if not isinstance(data, dict):
            raise self._malformed(response, "response is not a JSON object")
        if data.get("success") is not True:
            errors = data.get("errors") or []
            message = errors[0].get("message") if errors and isinstance(errors[0], dict) else ""
            last = response.records[-1]
            error = ProviderRejected(
                f"experian: request not successful: {message or 'success is not true'}",
                provider=self.name, method=last.method, url=response.url,
                status=response.status, attempts=last.attempt,
                excerpt=last.response_excerpt[:2000], call_id=response.call_id,
            )
            error.records = list(response.records)
            raise error
        return data

    def _malformed(self, response: ProviderResponse, message: str) -> MalformedResponse:
        last = response.records[-1]
        last.outcome = "failed"
        last.error = message
        error = MalformedResponse(
            f"experian: {message}", provider=self.name, method=last.method, url=response.url,
            status=response.status, attempts=last.attempt,
            excerpt=last.response_excerpt[:2000], call_id=response.call_id,
        )
        error.records = list(response.records)
        return error

    def _report(self, results: dict[str, Any], response: ProviderResponse) -> CreditReport:
        header = results.get("businessHeader")
        scores = results.get("scoreInformation")
        summary = results.get("expandedCreditSummary")
        if not all(isinstance(x, dict) for x in (header, scores, summary)):
            raise self._malformed(
                response,
                "report without businessHeader/scoreInformation/expandedCreditSummary objects",
            )
        assert isinstance(header, dict) and isinstance(scores, dict) and isinstance(summary, dict)
        if not isinstance(header.get("bin"), str):
            raise self._malformed(response, "businessHeader without bin")
        commercial = scores.get("commercialScore") or {}
        fsr = scores.get("fsrScore") or {}
        if not isinstance(commercial, dict) or not isinstance(fsr, dict):
            raise self._malformed(response, "commercialScore/fsrScore are not objects")
        raw_score = commercial.get("score")
        if raw_score is not None and not isinstance(raw_score, int | float):
            raise self._malformed(response, f"commercialScore.score is not a number: {raw_score!r}")
        score: int | None = int(raw_score) if raw_score is not None else None
        note = None
        if score == SCORE_BANKRUPTCY:
            score, note = None, "bankruptcy_last_2_years"
        elif score == SCORE_INSUFFICIENT_DATA:
            score, note = None, "insufficient_data"
        elif score is not None and not 0 <= score <= 100:
            raise self._malformed(response, f"commercialScore.score out of range: {score}")
        ofac = summary.get("ofacMatchWarning")
        ofac_code = ofac.get("code") if isinstance(ofac, dict) else None
        facts = results.get("businessFacts")
        facts = facts if isinstance(facts, dict) else {}
        risk = commercial.get("riskClass")
        return CreditReport(
            provider=self.name,
            bin=header["bin"],
            business_name=str(header.get("legalBusinessName") or header.get("businessName") or ""),
            commercial_score=score,
            score_note=note,
            percentile=_int(commercial.get("percentileRanking")),
            risk_class=risk if isinstance(risk, dict) else None,
            recommended_credit_limit=_number(commercial.get("recommendedCreditLimitAmount")),
            fsr_score=_int(fsr.get("score")),
            current_dbt=_int(summary.get("currentDbt")),
            monthly_average_dbt=_int(summary.get("monthlyAverageDbt")),
            bankruptcy_count=_int(summary.get("bankruptcyCount")) or 0,
            tax_lien_count=_int(summary.get("taxLienCount")) or 0,
            judgment_count=_int(summary.get("judgmentCount")) or 0,
            collection_count=_int(summary.get("collectionCount")) or 0,
            bankruptcy_indicator=bool(summary.get("bankruptcyIndicator")),
            # Experian flags an OFAC match with a non-zero code; 0/absent means none.
            ofac_match=bool(ofac_code) and str(ofac_code) not in {"0", "00"},
            ofac_match_detail=ofac if isinstance(ofac, dict) else None,
            years_in_business=_int(facts.get("yearsInBusiness")),
            call_id=response.call_id,
            fetched_at=response.fetched_at,
            raw=results,
        )


def select_bureau_match(candidates: list[BureauCandidate], *, name: str) -> BureauCandidate | None:
    """The bureau's best candidate: highest reliability code, name must match exactly."""
    from .registry import normalise_name

    wanted = normalise_name(name)
    matching = [c for c in candidates if normalise_name(c.business_name) == wanted]
    if not matching:
        return None
    return max(matching, key=lambda c: c.reliability_code or 0)


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str) and value.isascii() and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def experian_http(**kwargs: Any) -> ProviderHttpClient:
    """A :class:`ProviderHttpClient` set up for Experian's JSON API."""
    return ProviderHttpClient(provider="experian", **kwargs)
