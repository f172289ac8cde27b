"""Stub GLEIF and Experian servers for development, tests, the demo and benchmarks.

A stdlib ``ThreadingHTTPServer`` on loopback that speaks both providers' real API shapes
(GLEIF JSON:API under ``/gleif/api/v1``, Experian Business Information Services under
``/experian``) over deterministic demo data, with injectable faults:

* per request: header ``X-Stub-Fault: <kind>`` or query ``stub_fault=<kind>``;
* by rate or by script: ``POST /_stub/config`` with ``{"fault_rate": 0.3, "fault_kinds":
  [...], "latency_ms": 50, "script": [{"match": "premierprofiles", "fault": "503",
  "times": 2}], ...}``; ``GET /_stub/stats``; ``POST /_stub/reset``.

Fault kinds: ``latency`` (extra ``latency_ms``), ``timeout`` (sleep ``timeout_s``),
``429`` (with Retry-After), ``500``, ``502``, ``503``, ``drop`` (close the connection
without answering), ``malformed`` (truncated JSON), ``content_type`` (HTML page),
``empty`` (200 without body), ``bad_shape`` (valid JSON, wrong document), and for GLEIF
searches the pagination edge cases ``page_overflow`` (lastPage one too high),
``page_shift`` (records move up a place: one is repeated
across pages) and ``page_total_drift`` (total changes).
No Django here: ``python manage.py run_stub_providers`` and tests import it directly.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from bisect import bisect_left
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from .providers.registry import lei_with_check_digits, normalise_name

GLEIF_PREFIX = "/gleif/api/v1"
EXPERIAN_PREFIX = "/experian/businessinformation/businesses"
EXPERIAN_TOKEN_PATH = "/experian/oauth2/v1/token"
JSONAPI = "application/vnd.api+json"
STUB_CLIENT_ID = "vigil-stub-client"
STUB_CLIENT_SECRET = "vigil-stub-secret"  # noqa: S105 - a stub credential, not a secret
GOLDEN_COPY = "2026-11-28T00:00:00Z"
RATE_FAULTS = ("latency", "timeout", "429", "500", "502", "503", "drop")
ALL_FAULTS = RATE_FAULTS + (
    "malformed", "content_type", "empty", "bad_shape",
    "page_overflow", "page_shift", "page_total_drift",
)

# --------------------------------------------------------------------------- demo data

NAMED = [
    ("Société Générale Effekten GmbH", "DE", "HRB 32283", "Frankfurt am Main"),
    ("Northwind Traders Inc.", "US", "DE-4471120", "Wilmington"),
    ("Contoso Pharmaceuticals Ltd", "GB", "04471120", "London"),
    ("Fabrikam Logistics B.V.", "NL", "17087985", "Rotterdam"),
    ("Tailspin Aviation SAS", "FR", "RCS 552 100 554", "Toulouse"),
    ("Adventure Works Cycles Inc.", "US", "CA-C2215589", "San Francisco"),
    ("Blue Yonder Airlines Ltd", "GB", "SC229764", "Edinburgh"),
    ("Woodgrove Bank AG", "DE", "HRB 87110", "München"),
]
WORDS_A = ["Acme", "Apex", "Atlas", "Beacon", "Cedar", "Delta", "Evergreen", "Falcon",
           "Granite", "Harbor", "Iron", "Juniper", "Keystone", "Lumen", "Meridian", "Nova",
           "Orchard", "Pioneer", "Quarry", "Summit"]
WORDS_B = ["Analytics", "Bakery", "Builders", "Capital", "Ceramics", "Dairy", "Electric",
           "Foods", "Freight", "Glassworks", "Health", "Industries", "Logistics", "Machining",
           "Media", "Metals", "Mills", "Outfitters", "Plastics", "Printing", "Robotics",
           "Shipping", "Textiles", "Tooling", "Ventures"]
COUNTRIES = [("US", "Inc.", "Chicago", "US-IL"), ("DE", "GmbH", "Hamburg", "DE-HH"),
             ("GB", "Ltd", "Manchester", "GB-MAN"), ("FR", "SARL", "Lyon", "FR-ARA"),
             ("NL", "B.V.", "Utrecht", "NL-UT")]
US_STATES = ["IL", "DE", "CA", "NY", "TX"]


@dataclass(frozen=True)
class DemoCompany:
    index: int
    lei: str | None
    legal_name: str
    country: str
    registration_number: str
    city: str
    region: str
    postal_code: str
    street: str
    bin: str
    kind: str = "company"  # company | holding | group


def _lei(tag: str, number: int) -> str:
    return lei_with_check_digits(f"5299{tag}{number:012X}")


def demo_company(index: int) -> DemoCompany:
    """The deterministic demo company number ``index`` (0 ≤ index < 100 000)."""
    if index < len(NAMED):
        name, country, reg, city = NAMED[index]
        region = {"US": "US-DE", "DE": "DE-HE", "GB": "GB-LND", "NL": "NL-ZH", "FR": "FR-OCC"}[
            country]
    else:
        country, suffix, city, region = COUNTRIES[index % len(COUNTRIES)]
        serial = index // (len(WORDS_A) * len(WORDS_B))
        name = (f"{WORDS_A[index % len(WORDS_A)]} {WORDS_B[(index // len(WORDS_A)) % len(WORDS_B)]}"
                f"{f' {serial + 1}' if serial else ''} {suffix}")
        reg = {"US": f"DE-{5_000_000 + index}", "DE": f"HRB {100_000 + index}",
               "GB": f"{10_000_000 + index:08d}", "FR": f"RCS {300_000_000 + index}",
               "NL": f"{50_000_000 + index}"}[country]
    # Some applicants have no LEI at all (small businesses rarely do).
    lei = None if index % 25 == 24 else _lei("00", index)
    return DemoCompany(
        index=index, lei=lei, legal_name=name, country=country, registration_number=reg,
        city=city, region=region, postal_code=f"{10000 + index % 89999:05d}",
        street=f"{1 + index % 400} Commerce Street", bin=f"{700_000_000 + index}",
    )


def holding_company(number: int) -> DemoCompany:
    return DemoCompany(
        index=-1, lei=_lei("10", number), legal_name=f"{WORDS_A[number % 20]} Holdings {number}",
        country="LU", registration_number=f"B{200_000 + number}", city="Luxembourg",
        region="LU-LU", postal_code="L-1855", street="2 Avenue J.F. Kennedy",
        bin=f"{800_000_000 + number}", kind="holding",
    )


def group_company(number: int) -> DemoCompany:
    return DemoCompany(
        index=-1, lei=_lei("20", number), legal_name=f"{WORDS_A[number % 20]} Global Group plc",
        country="IE", registration_number=f"{600_000 + number}", city="Dublin",
        region="IE-D", postal_code="D02", street="1 Grand Canal Square",
        bin=f"{900_000_000 + number}", kind="group",
    )


def direct_parent_of(company: DemoCompany) -> DemoCompany | None:
    if company.kind == "company" and company.index % 4 == 0:
        return holding_company(company.index // 40)
    if company.kind == "holding":
        return group_company(_holding_number(company) % 5)
    return None


def ultimate_parent_of(company: DemoCompany) -> DemoCompany | None:
    if company.kind == "company" and company.index % 8 == 0:
        return group_company((company.index // 40) % 5)
    if company.kind == "holding":
        return group_company(_holding_number(company) % 5)
    return None


def _holding_number(company: DemoCompany) -> int:
    return int(company.registration_number[1:]) - 200_000


class DemoRegistry:
    """Index of the first ``size`` demo companies plus their holdings and groups."""

    def __init__(self, size: int = 2000) -> None:
        self.size = size
        self.by_lei: dict[str, DemoCompany] = {}
        self.by_bin: dict[str, DemoCompany] = {}
        self.companies: list[DemoCompany] = []
        for i in range(size):
            company = demo_company(i)
            self.companies.append(company)
            self._add(company)
            for parent in (direct_parent_of(company), ultimate_parent_of(company)):
                if parent is not None and parent.lei not in self.by_lei:
                    self.companies.append(parent)
                    self._add(parent)

    def _add(self, company: DemoCompany) -> None:
        if company.lei:
            self.by_lei[company.lei] = company
        self.by_bin[company.bin] = company

    def search(self, prefix: str, country: str | None) -> list[DemoCompany]:
        """Companies with an LEI whose normalised name starts with ``prefix`` (normalised),
        in registry order, optionally of one country."""
        found = _PrefixIndex.of(self, "_lei_index", lambda c: bool(c.lei)).starting_with(
            normalise_name(prefix))
        return [c for c in found if not country or c.country == country.upper()]

    def bureau_search(self, name: str) -> list[DemoCompany]:
        """Operating companies whose normalised name starts with ``name`` (normalised), in
        registry order."""
        return _PrefixIndex.of(self, "_bureau_index",
                               lambda c: c.kind == "company").starting_with(name)


class _PrefixIndex:
    """Normalised names sorted once, so a prefix search costs a binary search rather than a
    pass over the whole registry (which would make the stub, not Vigil, the benchmark's
    bottleneck). Results keep registry order."""

    def __init__(self, companies: list[DemoCompany]) -> None:
        self.companies = companies
        entries = sorted((normalise_name(c.legal_name), position)
                         for position, c in enumerate(companies))
        self.names = [name for name, _position in entries]
        self.positions = [position for _name, position in entries]

    @classmethod
    def of(cls, registry: DemoRegistry, attribute: str, keep) -> _PrefixIndex:
        index = getattr(registry, attribute, None)
        if index is None:
            index = cls([c for c in registry.companies if keep(c)])
            setattr(registry, attribute, index)
        return index

    def starting_with(self, prefix: str) -> list[DemoCompany]:
        first = bisect_left(self.names, prefix)
        last = first
        while last < len(self.names) and self.names[last].startswith(prefix):
            last += 1
        return [self.companies[p] for p in sorted(self.positions[first:last])]


def lei_record(company: DemoCompany, base: str) -> dict[str, Any]:
    """A GLEIF ``lei-records`` resource with the real field names."""
    assert company.lei
    lapsed = company.index >= 0 and company.index % 10 == 9
    address = {
        "language": None, "addressLines": [company.street], "addressNumber": None,
        "addressNumberWithinBuilding": None, "mailRouting": None, "city": company.city,
        "region": company.region, "country": company.country, "postalCode": company.postal_code,
    }
    self_url = f"{base}/lei-records/{company.lei}"
    return {
        "type": "lei-records",
        "id": company.lei,
        "attributes": {
            "lei": company.lei,
            "entity": {
                "legalName": {"name": company.legal_name, "language": None},
                "otherNames": [], "transliteratedOtherNames": [],
                "legalAddress": address, "headquartersAddress": dict(address),
                "registeredAt": {"id": "RA000242", "other": None},
                "registeredAs": company.registration_number,
                "jurisdiction": company.country,
                "category": "GENERAL",
                "legalForm": {"id": "2HBR", "other": None},
                "associatedEntity": {"lei": None, "name": None},
                "status": "ACTIVE",
                "expiration": {"date": None, "reason": None},
                "successorEntity": {"lei": None, "name": None}, "successorEntities": [],
                "creationDate": f"{1990 + abs(company.index) % 30}-03-08T00:00:00Z",
                "subCategory": None, "otherAddresses": [], "eventGroups": [],
            },
            "registration": {
                "initialRegistrationDate": "2014-01-27T07:37:54Z",
                "lastUpdateDate": "2026-09-11T06:35:58Z",
                "status": "LAPSED" if lapsed else "ISSUED",
                "nextRenewalDate": "2027-10-17T22:00:00Z",
                "managingLou": "5299000J2N45DDNE4Y28",
                "corroborationLevel": "FULLY_CORROBORATED",
                "validatedAt": {"id": "RA000242", "other": None},
                "validatedAs": company.registration_number,
                "otherValidationAuthorities": [],
            },
            "bic": [], "mic": None, "ocid": None, "qcc": None, "spglobal": [],
            "conformityFlag": "CONFORMING",
        },
        "relationships": {
            "managing-lou": {"links": {"related": f"{self_url}/managing-lou"}},
            "direct-parent": {"links": {"lei-record": f"{self_url}/direct-parent"}},
            "ultimate-parent": {"links": {"lei-record": f"{self_url}/ultimate-parent"}},
        },
        "links": {"self": self_url},
    }


def premier_profile(company: DemoCompany) -> dict[str, Any]:
    """An Experian Premier Profile ``results`` object with the real field names."""
    i = max(company.index, 0)
    score = 5 + (i * 37) % 95
    if i % 50 == 7:
        score = 998  # bankruptcy in the last two years
    elif i % 50 == 13:
        score = 999  # insufficient data
    risk = ("LOW" if score >= 76 else "LOW-MEDIUM" if score >= 51 else "MEDIUM"
            if score >= 26 else "HIGH") if score < 998 else "HIGH"
    ofac = i % 97 == 5
    state = US_STATES[i % len(US_STATES)]
    return {
        "businessHeader": {
            "bin": company.bin, "businessName": company.legal_name.upper(),
            "legalBusinessName": company.legal_name, "dbaNames": [],
            "address": {"street": company.street, "city": company.city, "state": state,
                        "zip": company.postal_code, "zipExtension": None},
            "phone": f"+1312555{i % 10000:04d}", "taxId": f"{10_000_000 + i}",
            "websiteUrl": None, "customerDisputeIndicator": False,
            "corporateLinkageIndicator": i % 4 == 0,
        },
        "expandedCreditSummary": {
            "bankruptcyCount": 1 if score == 998 else 0, "taxLienCount": i % 7 == 3,
            "judgmentCount": 1 if i % 11 == 4 else 0, "collectionCount": i % 5 == 2,
            "collectionBalance": 1200 if i % 5 == 2 else 0, "legalBalance": 0,
            "uccFilings": i % 3, "uccDerogatoryCount": 0,
            "currentAccountBalance": 10_000 + i * 13, "currentTradelineCount": 3 + i % 9,
            "monthlyAverageDbt": i % 30, "currentDbt": i % 45, "highestDbt6Months": i % 60,
            "highestDbt5Quarters": i % 60, "allTradelineBalance": 20_000 + i * 17,
            "allTradelineCount": 5 + i % 11, "singleHighCredit": 15_000,
            "bankruptcyIndicator": score == 998, "judgmentIndicator": i % 11 == 4,
            "taxLienIndicator": i % 7 == 3,
            "ofacMatchWarning": (
                {"code": 1, "definition": "OFAC match", "detailStatement":
                 "Business name matches a name on the OFAC SDN list"}
                if ofac else {"code": 0, "definition": "No OFAC match", "detailStatement": None}
            ),
            "victimStatementIndicator": False, "commercialFraudRiskIndicatorCount": 0,
        },
        "executiveSummary": {"businessDbt": i % 45, "predictedDbt": i % 40,
                             "industryDbt": 8, "paymentTrendIndicator": "STABLE",
                             "currentTotalAccountBalance": 10_000 + i * 13,
                             "highCreditAmountExtended": 15_000},
        "scoreInformation": {
            "commercialScore": {
                "modelCode": "000254", "modelTitle": "Intelliscore Plus v3",
                "score": score, "percentileRanking": score if score < 998 else None,
                "recommendedCreditLimitAmount": 0 if score >= 998 else 1000 * score,
                "riskClass": {"code": {"LOW": 1, "LOW-MEDIUM": 2, "MEDIUM": 3, "HIGH": 4}[risk],
                              "definition": risk},
            },
            "fsrScore": {"modelCode": "000223", "modelTitle": "Financial Stability Risk",
                         "score": 1 + (i * 13) % 100, "percentileRanking": 1 + (i * 13) % 100,
                         "riskClass": {"code": 3, "definition": "MEDIUM"}},
            "commercialScoreFactors": [
                {"code": "025", "definition": "Number of active tradelines"}],
            "fsrScoreFactors": [], "commercialScoreTrends": [], "fsrScoreTrends": [],
        },
        "businessFacts": {"fileEstablishedDate": "2001-05-01", "yearsInBusiness": 3 + i % 40,
                          "stateOfIncorporation": state, "dateOfIncorporation": "2001-04-12",
                          "businessType": "Corporation", "salesRevenue": 1_000_000 + i * 1000,
                          "employeeSize": 10 + i % 200, "publicIndicator": False,
                          "nonProfitIndicator": False},
        "tradePaymentExperiences": {"tradePaymentTotals": {}, "tradeNewAndContinuous": []},
        "corporateLinkage": {},
        "inquiries": [],
    }


# --------------------------------------------------------------------------- server

DEFAULT_CONFIG: dict[str, Any] = {
    "latency_ms": 0,
    "fault_rate": 0.0,
    "fault_kinds": ["429", "500", "503", "drop"],
    "path_filter": "",
    "retry_after": 1,
    "timeout_s": 10.0,
    "seed": None,
    "gleif_rate_limit_per_minute": 0,
    "script": [],
}


class StubState:
    """Fault configuration and counters shared by all handler threads."""

    def __init__(self, registry_size: int = 2000) -> None:
        self.registry = DemoRegistry(registry_size)
        self.lock = threading.Lock()
        #: rendered GLEIF answers by (path with query, base URL): a fault-free answer
        #: depends on nothing else, so each is built once (the stub's CPU is not Vigil's)
        self.rendered: dict[tuple[str, str], tuple[int, bytes, str, dict[str, str] | None]] = {}
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.config = json.loads(json.dumps(DEFAULT_CONFIG))
            self.rng = random.Random(self.config["seed"])
            self.stats: dict[str, Any] = {"requests": 0, "by_path": {}, "faults": {},
                                          "report_pulls": {}, "tokens_issued": 0}
            self.gleif_window: list[float] = []

    def configure(self, changes: dict[str, Any]) -> dict[str, Any]:
        unknown = set(changes) - set(DEFAULT_CONFIG)
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        kinds = changes.get("fault_kinds")
        if kinds is not None and (not isinstance(kinds, list) or set(kinds) - set(ALL_FAULTS)):
            raise ValueError(f"fault_kinds must be a list drawn from {list(ALL_FAULTS)}")
        for entry in changes.get("script") or []:
            if not isinstance(entry, dict) or entry.get("fault") not in ALL_FAULTS:
                raise ValueError("script entries need a known 'fault'")
        rate = changes.get("fault_rate")
        if rate is not None and not (isinstance(rate, int | float) and 0 <= rate <= 1):
            raise ValueError("fault_rate must be between 0 and 1")
        with self.lock:
            self.config.update(changes)
            if "seed" in changes:
                self.rng = random.Random(changes["seed"])
            self.config["script"] = [dict(e, times=int(e.get("times", 1)))
                                     for e in self.config["script"]]
            return dict(self.config)

    def choose_fault(self, path: str, explicit: str | None) -> str | None:
        with self.lock:
            self.stats["requests"] += 1
            key = re.sub(r"/[0-9A-Z]{20}", "/{lei}", path)
            self.stats["by_path"][key] = self.stats["by_path"].get(key, 0) + 1
            fault = explicit
            if fault is None:
                for entry in self.config["script"]:
                    if entry["times"] > 0 and re.search(entry.get("match", ""), path):
                        entry["times"] -= 1
                        fault = entry["fault"]
                        break
            if fault is None and self.config["fault_rate"] > 0:
                pattern = self.config["path_filter"]
                if (not pattern or re.search(pattern, path)) and \
                        self.rng.random() < self.config["fault_rate"]:
                    fault = self.rng.choice(self.config["fault_kinds"])
            if fault:
                self.stats["faults"][fault] = self.stats["faults"].get(fault, 0) + 1
            return fault

    def gleif_rate_limited(self) -> bool:
        limit = self.config["gleif_rate_limit_per_minute"]
        if not limit:
            return False
        with self.lock:
            now = time.monotonic()
            self.gleif_window = [t for t in self.gleif_window if now - t < 60]
            if len(self.gleif_window) >= limit:
                return True
            self.gleif_window.append(now)
            return False

    def count_pull(self, bin_number: str) -> None:
        with self.lock:
            pulls = self.stats["report_pulls"]
            pulls[bin_number] = pulls.get(bin_number, 0) + 1

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return json.loads(json.dumps({"config": self.config, **self.stats}))


class _Dropped(Exception):
    pass


class StubHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # one small JSON answer per request: send it now
    server_version = "VigilStub/1.0"
    state: StubState  # set on the server class

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return  # quiet: tests and benchmarks read /_stub/stats instead

    # -- plumbing
    def _send(self, status: int, body: bytes, content_type: str,
              headers: dict[str, str] | None = None) -> None:
        render_key = getattr(self, "_render_key", None)
        if render_key is not None:
            self._render_key = None
            self.state.rendered[render_key] = (status, body, content_type, headers)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, data: Any, content_type: str = "application/json",
              headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(data).encode(), content_type, headers)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        self._render_key = None
        parts = urlsplit(self.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        path = parts.path
        body = self._read_body() if method == "POST" else b""
        try:
            if path.startswith("/_stub/"):
                self._control(method, path, body)
                return
            explicit = self.headers.get("X-Stub-Fault") or (query.pop("stub_fault", [None])[0])
            fault = self.state.choose_fault(path, explicit)
            latency = self.state.config["latency_ms"] / 1000.0
            if latency:
                time.sleep(latency)
            if fault and self._apply_transport_fault(fault, path):
                return
            if path.startswith(GLEIF_PREFIX):
                if method != "GET":
                    self._jsonapi_error(405, "Method Not Allowed")
                    return
                if self.state.gleif_rate_limited():
                    self._jsonapi_error(429, "Too Many Requests: 60 requests/minute",
                                        {"Retry-After": "60"})
                    return
                self._gleif(path[len(GLEIF_PREFIX):], query, fault)
            elif path == EXPERIAN_TOKEN_PATH and method == "POST":
                self._experian_token(body, fault)
            elif path.startswith(EXPERIAN_PREFIX) and method == "POST":
                self._experian(path[len(EXPERIAN_PREFIX):], body, fault)
            else:
                self._json(404, {"errors": [{"status": "404", "title": "Not Found"}]})
        except _Dropped:
            return
        except (BrokenPipeError, ConnectionResetError):
            return

    def _apply_transport_fault(self, fault: str, path: str) -> bool:
        """Faults that replace the answer entirely; returns True when handled."""
        config = self.state.config
        gleif = path.startswith(GLEIF_PREFIX)
        if fault == "latency":
            time.sleep(max(config["latency_ms"], 50) / 1000.0)
            return False
        if fault == "timeout":
            time.sleep(config["timeout_s"])
            self._drop()
        if fault == "drop":
            self._drop()
        if fault in {"429", "500", "502", "503"}:
            status = int(fault)
            headers = {"Retry-After": str(config["retry_after"])} if status in {429, 503} else {}
            if gleif:
                self._jsonapi_error(status, {429: "Too Many Requests", 500: "Internal Server "
                                             "Error", 502: "Bad Gateway", 503: "Service "
                                             "Unavailable"}[status], headers)
            else:
                self._json(status, {"errors": [{"errorCode": f"{status}.0", "errorType":
                                                "Server Error", "message": f"HTTP {status}"}]},
                           headers=headers)
            return True
        if fault == "malformed":  # each provider's own document, cut off mid-value
            self._send(200, b'{"data": {"type": "lei-records", "attributes": {"lei": "52'
                       if gleif else b'{"requestId": "7f3c2a", "success": true, "results": '
                       b'[{"bin": "70000', JSONAPI if gleif else "application/json")
            return True
        if fault == "content_type":
            self._send(200, b"<html><body>Service temporarily degraded</body></html>",
                       "text/html; charset=utf-8")
            return True
        if fault == "empty":
            self._send(200, b"", JSONAPI if gleif else "application/json")
            return True
        if fault == "bad_shape":
            self._json(200, {"meta": {"goldenCopy": {"publishDate": GOLDEN_COPY}}, "result": []},
                       JSONAPI if gleif else "application/json")
            return True
        return False

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        raise _Dropped()

    def _control(self, method: str, path: str, body: bytes) -> None:
        if path == "/_stub/stats" and method == "GET":
            self._json(200, self.state.snapshot())
        elif path == "/_stub/reset" and method == "POST":
            self.state.reset()
            self._json(200, self.state.snapshot())
        elif path == "/_stub/config" and method == "POST":
            try:
                changes = json.loads(body or b"{}")
                if not isinstance(changes, dict):
                    raise ValueError("config must be a JSON object")
                config = self.state.configure(changes)
            except ValueError as exc:
                self._json(400, {"error": str(exc)})
                return
            self._json(200, config)
        else:
            self._json(404, {"error": "unknown control endpoint"})

    # -- GLEIF
    def _base(self) -> str:
        host = self.headers.get("Host") or "127.0.0.1"
        return f"http://{host}{GLEIF_PREFIX}"

    def _jsonapi_error(self, status: int, title: str, headers: dict[str, str] | None = None
                       ) -> None:
        self._json(status, {"errors": [{"status": str(status), "title": title}]}, JSONAPI,
                   headers)

    def _gleif(self, path: str, query: dict[str, list[str]], fault: str | None) -> None:
        base = self._base()
        if fault is None:
            key = (self.path, base)
            rendered = self.state.rendered.get(key)
            if rendered is not None:
                self._send(*rendered)
                return
            self._render_key = key
        self._gleif_render(path, query, fault, base)

    def _gleif_render(self, path: str, query: dict[str, list[str]], fault: str | None,
                      base: str) -> None:
        registry = self.state.registry
        match = re.fullmatch(r"/lei-records/([A-Z0-9]{20})(?:/(direct-parent|ultimate-parent))?",
                             path)
        if match:
            company = registry.by_lei.get(match.group(1))
            if company is None:
                self._jsonapi_error(404, "Not Found")
                return
            if match.group(2):
                parent = (direct_parent_of if match.group(2) == "direct-parent"
                          else ultimate_parent_of)(company)
                if parent is None:
                    # GLEIF: no relationship record (a reporting exception instead) → 404
                    self._jsonapi_error(404, "Not Found")
                    return
                company = parent
            self._json(200, {"meta": {"goldenCopy": {"publishDate": GOLDEN_COPY}},
                             "data": lei_record(company, base)}, JSONAPI)
            return
        if path != "/lei-records":
            self._jsonapi_error(404, "Not Found")
            return
        name = (query.get("filter[entity.legalName]") or [""])[0]
        country = (query.get("filter[entity.legalAddress.country]") or [""])[0]
        leis = [x for x in (query.get("filter[lei]") or [""])[0].split(",") if x]
        try:
            size = int((query.get("page[size]") or ["15"])[0])
            number = int((query.get("page[number]") or ["1"])[0])
        except ValueError:
            self._jsonapi_error(400, "page[size] and page[number] must be integers")
            return
        if not 1 <= size <= 200 or number < 1:
            self._jsonapi_error(400, "page[size] must be between 1 and 200; page[number] >= 1")
            return
        if leis:
            found = [registry.by_lei[x] for x in leis if x in registry.by_lei]
        elif name:
            found = registry.search(name, country or None)
        else:
            self._jsonapi_error(400, "a filter is required")
            return
        total = len(found)
        last_page = max(1, -(-total // size))
        start = (number - 1) * size
        page = found[start:start + size]
        if fault == "page_shift" and number > 1:
            # A record before this page disappeared since the previous page was served:
            # everything moves up one place, so this page repeats the last one's tail.
            page = found[start - 1:start - 1 + size]
        if fault == "page_overflow":
            last_page += 1
            total += size
        if fault == "page_total_drift":
            total += 3
            last_page = max(1, -(-total // size))
        qs = "&".join(f"{quote(k)}={quote(v[0])}" for k, v in sorted(query.items())
                      if not k.startswith("page["))
        def link(n: int) -> str:
            return f"{base}/lei-records?{qs}&page%5Bnumber%5D={n}&page%5Bsize%5D={size}"
        links = {"first": link(1), "last": link(last_page)}
        if number > 1:
            links["prev"] = link(number - 1)
        if number < last_page:
            links["next"] = link(number + 1)
        self._json(200, {
            "meta": {"goldenCopy": {"publishDate": GOLDEN_COPY},
                     "pagination": {"currentPage": number, "perPage": size,
                                    "from": start + 1 if page else 0,
                                    "to": start + len(page), "total": total,
                                    "lastPage": last_page}},
            "links": links,
            "data": [lei_record(c, base) for c in page],
        }, JSONAPI)

    # -- Experian
    def _experian_error(self, status: int, code: str, message: str) -> None:
        self._json(status, {"errors": [{"errorCode": code, "errorType": "Client Error",
                                        "message": message}]})

    def _experian_token(self, body: bytes, fault: str | None) -> None:
        if (self.headers.get("Client_id") != STUB_CLIENT_ID
                or self.headers.get("Client_secret") != STUB_CLIENT_SECRET):
            self._experian_error(401, "401.1", "invalid client credentials")
            return
        with self.state.lock:
            self.state.stats["tokens_issued"] += 1
        now = int(time.time() * 1000)
        self._json(200, {"issued_at": str(now), "expires_in": "1800", "token_type": "Bearer",
                         "access_token": f"stub-token-{uuid.uuid4().hex}",
                         "refresh_token": uuid.uuid4().hex})

    def _experian(self, path: str, body: bytes, fault: str | None) -> None:
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer stub-token-"):
            self._experian_error(401, "401.0", "missing or invalid bearer token")
            return
        try:
            request = json.loads(body or b"")
            if not isinstance(request, dict):
                raise ValueError
        except ValueError:
            self._experian_error(400, "400.1", "request body must be a JSON object")
            return
        envelope = {"requestId": str(uuid.uuid4()), "success": True, "comments":
                    request.get("comments", "")}
        if path == "/v1/search":
            name = normalise_name(str(request.get("name") or ""))
            if not name:
                self._experian_error(400, "400.2", "name is required")
                return
            results = [
                {"bin": c.bin, "reliabilityCode": 97.0 if normalise_name(c.legal_name) == name
                 else 61.0, "businessName": c.legal_name.upper(), "phone": None,
                 "address": {"street": c.street, "city": c.city, "state": None,
                             "zip": c.postal_code, "zipExtension": None},
                 "numberOfTradelines": 5, "financialStatementIndicator": False,
                 "keyFactsIndicator": True, "inquiryIndicator": True, "bankDataIndicator": False,
                 "governmentDataIndicator": False, "executiveSummaryIndicator": True,
                 "uccIndicator": True, "matchingNameAndAddress": None, "businessGeocode": None}
                for c in self.state.registry.bureau_search(name)[:10]
            ]
            self._json(200, {**envelope, "results": results})
            return
        if path == "/v1/reports/premierprofiles":
            bin_number = str(request.get("bin") or "")
            company = self.state.registry.by_bin.get(bin_number)
            if company is None:
                self._experian_error(404, "404.1", f"BIN {bin_number} not found")
                return
            self.state.count_pull(bin_number)
            self._json(200, {**envelope, "results": premier_profile(company)})
            return
        self._experian_error(404, "404.0", "unknown report")


class _StubEndpoints:
    """The providers' URLs under a stub server's root (``http://host:port``)."""

    root: str

    @property
    def gleif_base_url(self) -> str:
        return f"{self.root}{GLEIF_PREFIX}"

    @property
    def experian_base_url(self) -> str:
        return f"{self.root}{EXPERIAN_PREFIX}"

    @property
    def experian_token_url(self) -> str:
        return f"{self.root}{EXPERIAN_TOKEN_PATH}"


class StubProviders(_StubEndpoints):
    """Run the stub server in a background thread (tests, demo, benchmarks)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, registry_size: int = 2000):
        self.state = StubState(registry_size)
        handler = type("BoundStubHandler", (StubHandler,), {"state": self.state})
        ThreadingHTTPServer.request_queue_size = 256
        self.server = ThreadingHTTPServer((host, port), handler)
        self.server.daemon_threads = True
        self.host, self.port = self.server.server_address[:2]
        self._thread: threading.Thread | None = None

    @property
    def root(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> StubProviders:
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True,
                                        name="stub-providers")
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def configure(self, **changes: Any) -> dict[str, Any]:
        return self.state.configure(changes)

    def reset(self) -> None:
        self.state.reset()

    def stats(self) -> dict[str, Any]:
        return self.state.snapshot()

    def __enter__(self) -> StubProviders:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# The child serves until its standard input closes: when the process that started it
# ends, however it ends, the stub ends too.
_STUB_PROCESS_SCRIPT = """
import sys
from enrichment.stubs import StubProviders
stub = StubProviders(registry_size=int(sys.argv[1])).start()
print(stub.port, flush=True)
sys.stdin.read()
stub.stop()
"""


class StubProcess(_StubEndpoints):
    """The stub server in a Python process of its own, driven over its control endpoints
    (the interface of `StubProviders`, less the in-process state). A provider's API does
    not share its caller's interpreter: served from a thread of a process that runs many
    busy threads itself, the stub's answers wait for the GIL, and a test with a short
    read timeout sees time-outs it did not inject."""

    def __init__(self, *, registry_size: int = 2000) -> None:
        root_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        self.process = subprocess.Popen(
            [sys.executable, "-c", _STUB_PROCESS_SCRIPT, str(registry_size)], cwd=root_dir,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True)
        port = self.process.stdout.readline().strip()
        if not port.isdigit():
            self.stop()
            raise RuntimeError("the stub process did not start")
        self.port = int(port)
        self.root = f"http://127.0.0.1:{port}"

    def _call(self, path: str, payload: dict | None = None) -> dict[str, Any]:
        request = urllib.request.Request(  # noqa: S310 - our own loopback stub
            f"{self.root}{path}", method="POST" if payload is not None else "GET",
            data=json.dumps(payload).encode() if payload is not None else None,
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            return json.loads(response.read())

    def configure(self, **changes: Any) -> dict[str, Any]:
        return self._call("/_stub/config", changes)

    def reset(self) -> None:
        self._call("/_stub/reset", {})

    def stats(self) -> dict[str, Any]:
        return self._call("/_stub/stats")

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                self.process.stdin.close()
                self.process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=10)

    def __enter__(self) -> StubProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat()
