"""Provider clients over real HTTP against the stub server (no database)."""

from __future__ import annotations

import hashlib
import time

import pytest

from enrichment.providers.errors import (
    CircuitOpenError,
    MalformedResponse,
    NotFound,
    ProviderUnavailable,
    UnknownOutcome,
)
from enrichment.providers.http import ProviderHttpClient, redact_url
from enrichment.providers.registry import lei_is_valid, select_registry_match
from enrichment.providers.resilience import CircuitBreaker, RateLimiter, RetryPolicy
from enrichment.stubs import demo_company, direct_parent_of, ultimate_parent_of

from .conftest import make_clients


def test_lookup_by_lei_returns_the_normalised_entity_with_call_record(stub):
    records = []
    gleif, _ = make_clients(stub, records=records)
    company = demo_company(40)
    result = gleif.lookup(company.lei)
    [entity] = result.entities
    assert entity.lei == company.lei and lei_is_valid(entity.lei)
    assert entity.legal_name == company.legal_name
    assert entity.registration_number == company.registration_number
    assert entity.legal_address["country"] == company.country
    [record] = result.records
    assert records == [record]
    assert record.status == 200 and record.attempt == 1 and record.outcome == "ok"
    assert record.method == "GET" and record.url.endswith(f"/lei-records/{company.lei}")
    assert record.response_sha256 == hashlib.sha256(record.response_excerpt.encode()).hexdigest()
    assert record.content_type.startswith("application/vnd.api+json")
    assert entity.call_id == record.call_id


def test_lookup_of_unknown_lei_is_empty_not_an_error(clients):
    gleif, _ = clients
    unknown = "5299009999999999ZZ00"
    from enrichment.providers.registry import lei_with_check_digits

    unknown = lei_with_check_digits("529900FFFFFFFFFFFF")
    assert gleif.lookup(unknown).entities == []


def test_lookup_rejects_an_invalid_lei_before_calling(clients, stub):
    gleif, _ = clients
    with pytest.raises(ValueError, match="check digits"):
        gleif.lookup("52990000000000000000")
    assert stub.stats()["requests"] == 0


def test_search_follows_pagination_and_filters_by_country(stub):
    gleif, _ = make_clients(stub, page_size=2)
    gleif.max_pages = 100
    result = gleif.search(legal_name="Acme", country="US")
    expected = {c.lei for c in stub.state.registry.search("Acme", "US")}
    assert len(expected) > 4
    assert {e.lei for e in result.entities} == expected
    assert len(result.records) == -(-len(expected) // 2)  # one call per page
    assert all(e.country == "US" for e in result.entities)


def test_search_stops_at_max_pages(stub):
    gleif, _ = make_clients(stub, page_size=2)
    gleif.max_pages = 2
    result = gleif.search(legal_name="Acme", country="US")
    assert len(result.records) == 2 and len(result.entities) == 4


@pytest.mark.parametrize("fault", ["page_overflow", "page_shift", "page_total_drift"])
def test_search_survives_pagination_edge_cases(stub, fault):
    gleif, _ = make_clients(stub, page_size=2)
    gleif.max_pages = 100
    stub.configure(script=[{"match": "/lei-records$", "fault": fault, "times": 50}])
    result = gleif.search(legal_name="Acme", country="US")
    expected = {c.lei for c in stub.state.registry.search("Acme", "US")}
    leis = [e.lei for e in result.entities]
    assert set(leis) == expected
    assert len(leis) == len(set(leis))  # no duplicates across shifted pages


def test_parents_direct_and_ultimate(clients):
    gleif, _ = clients
    company = demo_company(80)
    direct = gleif.direct_parent(company.lei).entities[0]
    ultimate = gleif.ultimate_parent(company.lei).entities[0]
    assert direct.lei == direct_parent_of(company).lei
    assert ultimate.lei == ultimate_parent_of(company).lei
    orphan = demo_company(41)
    assert gleif.direct_parent(orphan.lei).entities == []


def test_registry_match_prefers_registration_number_and_refuses_ambiguity(clients):
    gleif, _ = clients
    company = demo_company(40)
    found = gleif.search(legal_name="Acme", country="US").entities
    match = select_registry_match(found, legal_name="whatever",
                                  registration_number=company.registration_number)
    assert match is not None and match.lei == company.lei
    assert select_registry_match(found, legal_name="Acme", registration_number="") is None


@pytest.mark.parametrize("fault", ["429", "500", "502", "503", "drop"])
def test_transient_faults_on_reads_are_retried(stub, fault):
    records = []
    gleif, _ = make_clients(stub, records=records)
    stub.configure(script=[{"match": "/lei-records/", "fault": fault, "times": 2}],
                   retry_after=0)
    company = demo_company(41)
    assert gleif.lookup(company.lei).entities[0].lei == company.lei
    assert [r.attempt for r in records] == [1, 2, 3]
    assert [r.outcome for r in records] == ["retry", "retry", "ok"]


def test_retry_after_is_honoured(stub):
    records = []
    gleif, _ = make_clients(stub, records=records)
    stub.configure(script=[{"match": "/lei-records/", "fault": "429", "times": 1}],
                   retry_after=1)
    started = time.monotonic()
    gleif.lookup(demo_company(41).lei)
    assert time.monotonic() - started >= 1.0
    assert records[0].status == 429 and records[0].retry_after == 1.0


def test_retry_after_beyond_the_limit_gives_up(stub):
    gleif, _ = make_clients(stub)
    stub.configure(script=[{"match": "/lei-records/", "fault": "503", "times": 1}],
                   retry_after=3600)
    with pytest.raises(ProviderUnavailable, match="Retry-After") as info:
        gleif.lookup(demo_company(41).lei)
    assert info.value.status == 503 and info.value.attempts == 1


def test_persistent_failure_reports_provider_url_status_attempts_and_excerpt(stub):
    gleif, _ = make_clients(stub)
    stub.configure(script=[{"match": "/lei-records/", "fault": "500", "times": 10}])
    with pytest.raises(ProviderUnavailable) as info:
        gleif.lookup(demo_company(41).lei)
    error = info.value.as_dict()
    assert error["provider"] == "gleif" and error["status"] == 500
    assert error["attempts"] == 4 and "Internal Server Error" in error["excerpt"]
    assert "/lei-records/" in error["url"] and "gave up after 4 attempts" in error["message"]
    assert len(info.value.records) == 4


def test_timeout_is_retried_on_reads(stub):
    records = []
    gleif, _ = make_clients(stub, records=records, read_timeout=0.3)
    stub.configure(script=[{"match": "/lei-records/", "fault": "timeout", "times": 1}],
                   timeout_s=0.6)
    gleif.lookup(demo_company(41).lei)
    assert "Timeout" in records[0].error and records[1].outcome == "ok"


@pytest.mark.parametrize("fault,message", [
    ("malformed", "not valid JSON"),
    ("content_type", "unexpected content type 'text/html'"),
    ("empty", "empty response body"),
    ("bad_shape", "without a single 'data' object"),
])
def test_malformed_responses_are_rejected_with_a_clear_error(stub, fault, message):
    records = []
    gleif, _ = make_clients(stub, records=records)
    stub.configure(script=[{"match": "/lei-records/", "fault": fault, "times": 1}])
    with pytest.raises(MalformedResponse, match=message) as info:
        gleif.lookup(demo_company(41).lei)
    assert info.value.status == 200 and info.value.provider == "gleif"
    assert len(records) == 1 and records[0].outcome == "failed"  # not retried


def test_not_found_is_not_retried(clients, stub):
    _, bureau = clients
    with pytest.raises(NotFound, match="BIN 1 not found"):
        bureau.report(bin_number="1")
    assert stub.stats()["report_pulls"] == {}


def test_bureau_search_and_report(clients, stub):
    _, bureau = clients
    company = demo_company(57)  # 57 % 50 == 7: bankruptcy score 998
    found = bureau.search(name=company.legal_name, street="", city="", state="", zip_code="")
    assert found.candidates[0].bin == company.bin
    assert found.records[0].operation == "oauth_token"
    assert found.records[0].response_excerpt == "[redacted: credentials]"
    report = bureau.report(bin_number=company.bin).report
    assert report.commercial_score is None and report.score_note == "bankruptcy_last_2_years"
    assert report.bankruptcy_count == 1 and report.bankruptcy_indicator is True
    assert stub.stats()["report_pulls"] == {company.bin: 1}
    assert stub.stats()["tokens_issued"] == 1


def test_bureau_ofac_flag_is_read(clients):
    _, bureau = clients
    company = demo_company(102)  # 102 % 97 == 5
    report = bureau.report(bin_number=company.bin).report
    assert report.ofac_match is True
    assert bureau.report(bin_number=demo_company(103).bin).report.ofac_match is False


@pytest.mark.parametrize("fault", ["429", "503", "502"])
def test_billable_pull_is_retried_only_when_not_processed(stub, fault):
    _, bureau = make_clients(stub)
    stub.configure(script=[{"match": "premierprofiles", "fault": fault, "times": 1}],
                   retry_after=0)
    company = demo_company(60)
    assert bureau.report(bin_number=company.bin).report.bin == company.bin
    assert stub.stats()["report_pulls"] == {company.bin: 1}


@pytest.mark.parametrize("fault", ["500", "drop"])
def test_billable_pull_with_unknown_outcome_is_not_repeated(stub, fault):
    _, bureau = make_clients(stub)
    stub.configure(script=[{"match": "premierprofiles", "fault": fault, "times": 1}])
    with pytest.raises(UnknownOutcome) as info:
        bureau.report(bin_number=demo_company(60).bin)
    assert info.value.needs_human and info.value.attempts == 1
    assert stub.stats()["by_path"][
        "/experian/businessinformation/businesses/v1/reports/premierprofiles"] == 1


def test_breaker_opens_while_provider_is_down_and_recovers(stub):
    breaker = CircuitBreaker(window=6, min_calls=4, failure_ratio=0.75, reset_timeout=0.5)
    gleif, _ = make_clients(stub, breaker=breaker, retry=RetryPolicy(
        max_attempts=2, base_delay=0.001, max_delay=0.002))
    stub.configure(script=[{"match": "/lei-records/", "fault": "503", "times": 4}],
                   retry_after=0)
    lei = demo_company(41).lei
    for _ in range(2):
        with pytest.raises(ProviderUnavailable):
            gleif.lookup(lei)
    requests_before = stub.stats()["requests"]
    with pytest.raises(CircuitOpenError):
        gleif.lookup(lei)
    assert stub.stats()["requests"] == requests_before  # failed fast, nothing sent
    time.sleep(0.55)
    assert gleif.lookup(lei).entities[0].lei == lei  # half-open probe succeeds


def test_rate_limit_paces_requests(stub):
    http = ProviderHttpClient(provider="gleif", base_url=stub.gleif_base_url,
                              accept="application/vnd.api+json",
                              content_types=("application/vnd.api+json",),
                              rate_limiter=RateLimiter(600, burst=1))
    started = time.monotonic()
    for _ in range(4):
        http.request("GET", f"lei-records/{demo_company(41).lei}", operation="lei_record")
    assert time.monotonic() - started >= 0.3  # 600/min = one per 0.1 s after the first


def test_stub_enforces_gleif_rate_limit_and_client_honours_it(stub):
    gleif, _ = make_clients(stub, retry=RetryPolicy(max_attempts=2, max_retry_after=1))
    stub.configure(gleif_rate_limit_per_minute=2)
    lei = demo_company(41).lei
    gleif.lookup(lei)
    gleif.lookup(lei)
    with pytest.raises(ProviderUnavailable, match="Retry-After 60s exceeds"):
        gleif.lookup(lei)


def test_urls_are_recorded_without_secrets():
    url = redact_url("https://user:pw@api.example.com/v0.4/companies/gb/1?api_token=abc&q=x")
    assert "abc" not in url and "pw" not in url and "user" not in url
    assert "api_token=[redacted]" in url and "q=x" in url


def test_expired_bureau_token_is_renewed_once(clients, stub):
    _, bureau = clients
    company = demo_company(61)
    bureau.search(name=company.legal_name, street="", city="", state="", zip_code="")
    bureau._token = "revoked"  # the bureau no longer accepts it
    pulled = bureau.report(bin_number=company.bin)
    operations = [(r.operation, r.status) for r in pulled.records]
    assert operations == [("premier_profile", 401), ("oauth_token", 200),
                          ("premier_profile", 200)]
    assert stub.stats()["tokens_issued"] == 2
    assert stub.stats()["report_pulls"] == {company.bin: 1}
