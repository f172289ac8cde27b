"""The case API: permission triad per endpoint, transitions with version checks, comments,
claim-next, match resolution, filters, query counts and the OpenAPI schema."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cases import services
from cases.choices import CaseState
from tests.cases.factories import CustomerFactory, monitoring_case, screening_case
from tests.conftest import sealed_ledger

pytestmark = pytest.mark.django_db


def _endpoints(case):
    evidence = case.evidence.get()
    return [
        ("get", "/api/v1/cases/", None),
        ("get", f"/api/v1/cases/{case.pk}/", None),
        ("get", f"/api/v1/cases/{case.pk}/comments/", None),
        (
            "post",
            f"/api/v1/cases/{case.pk}/transitions/",
            {"action": "claim", "expected_version": case.version},
        ),
        ("post", f"/api/v1/cases/{case.pk}/comments/", {"body": "note"}),
        ("post", "/api/v1/cases/claim-next/", {}),
        (
            "post",
            f"/api/v1/cases/{case.pk}/evidence/{evidence.pk}/resolve/",
            {"expected_version": case.version, "resolution": "false_positive", "note": "x"},
        ),
        ("post", "/api/v1/customers", {"customers": [{"external_id": "W-1", "name": "W"}]}),
        ("get", f"/api/v1/customers/{case.customer.external_id}", None),
        ("post", f"/api/v1/customers/{case.customer.external_id}/offboard", {"reason": "x"}),
        ("post", f"/api/v1/customers/{case.customer.external_id}/reinstate", {"reason": "x"}),
    ]


def test_anonymous_gets_401_everywhere(api_as):
    case = screening_case()
    for method, url, body in _endpoints(case):
        response = getattr(api_as(), method)(url, body, format="json")
        assert response.status_code in (401, 403), url
        assert "error" in response.json()


def test_outsider_gets_403_everywhere(api_as, outsider):
    case = screening_case()
    for method, url, body in _endpoints(case):
        response = getattr(api_as(outsider), method)(url, body, format="json")
        assert response.status_code == 403, url


def test_the_walk_covers_every_case_endpoint():
    from django.urls import resolve

    from cases.api.urls import urlpatterns

    case = screening_case()
    walked = {resolve(url.split("?")[0]).url_name for _m, url, _b in _endpoints(case)}
    assert walked == {p.name for p in urlpatterns}


def test_auditor_reads_everything_and_writes_nothing(api_as, auditor):
    case = screening_case()
    before = sealed_ledger().count()
    for method, url, body in _endpoints(case):
        response = getattr(api_as(auditor), method)(url, body, format="json")
        assert response.status_code == (200 if method == "get" else 403), url
    assert sealed_ledger().count() == before
    case.refresh_from_db()
    assert case.state == CaseState.NEW and case.version == 1


def test_integration_client_lists_and_reads_but_cannot_write(api_as, integration_client):
    _client, token = integration_client
    case = screening_case()
    client = api_as(token=token)
    assert client.get("/api/v1/cases/").json()["count"] == 1
    assert client.get(f"/api/v1/cases/{case.pk}/").json()["reference"] == case.reference
    response = client.post(
        f"/api/v1/cases/{case.pk}/transitions/",
        {"action": "claim", "expected_version": 1},
        format="json",
    )
    assert response.status_code == 403


def test_analyst_works_a_case_through_the_api(api_as, analyst, approver):
    case = monitoring_case()
    client = api_as(analyst)
    url = f"/api/v1/cases/{case.pk}/transitions/"
    body = client.post(url, {"action": "claim", "expected_version": 1}, format="json").json()
    assert body["state"] == "assigned" and body["assignee"] == analyst.username
    body = client.post(
        url, {"action": "start", "expected_version": body["version"]}, format="json"
    ).json()
    body = client.post(
        url,
        {"action": "escalate", "expected_version": body["version"], "reason": "Structuring"},
        format="json",
    ).json()
    assert body["state"] == "escalated"
    response = client.post(
        url,
        {
            "action": "resolve",
            "expected_version": body["version"],
            "disposition": "no_further_action",
        },
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "rationale": ["A rationale for the disposition is required."]
    }
    body = client.post(
        url,
        {
            "action": "resolve",
            "expected_version": body["version"],
            "disposition": "no_further_action",
            "rationale": "Payroll.",
        },
        format="json",
    ).json()
    assert body["state"] == "pending_approval"
    response = api_as(approver).post(
        url, {"action": "approve", "expected_version": body["version"]}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["state"] == "closed" and response.json()["decided_by"] == "t_approver"
    kinds = [d["kind"] for d in response.json()["decisions"]]
    assert kinds == ["escalate", "submit", "approve"]


def test_stale_version_is_409(api_as, analyst):
    case = screening_case()
    client = api_as(analyst)
    url = f"/api/v1/cases/{case.pk}/transitions/"
    assert (
        client.post(url, {"action": "claim", "expected_version": 1}, format="json").status_code
        == 200
    )
    response = client.post(url, {"action": "start", "expected_version": 1}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"


def test_four_eyes_refusal_is_403_with_its_own_code(api_as, approver):
    case = screening_case()
    case = services.case_claim(case=case, actor_user=approver, expected_version=1)
    case = services.case_start(case=case, actor_user=approver, expected_version=case.version)
    case = services.case_resolve(
        case=case,
        actor_user=approver,
        expected_version=case.version,
        disposition="true_match",
        rationale="Same person.",
    )
    response = api_as(approver).post(
        f"/api/v1/cases/{case.pk}/transitions/",
        {"action": "approve", "expected_version": case.version},
        format="json",
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "four_eyes"


def test_transition_input_is_validated(api_as, analyst):
    case = screening_case()
    url = f"/api/v1/cases/{case.pk}/transitions/"
    response = api_as(analyst).post(
        url, {"action": "fly", "expected_version": "x", "extra": 1}, format="json"
    )
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"extra"}
    response = api_as(analyst).post(url, {"action": "fly", "expected_version": "x"}, format="json")
    assert set(response.json()["error"]["fields"]) == {"action", "expected_version"}


def test_comments_api(api_as, analyst):
    case = screening_case()
    client = api_as(analyst)
    url = f"/api/v1/cases/{case.pk}/comments/"
    response = client.post(url, {"body": "Called the branch."}, format="json")
    assert response.status_code == 201 and response.json()["author"] == analyst.username
    assert [c["body"] for c in client.get(url).json()] == ["Called the branch."]
    assert client.post(url, {"body": ""}, format="json").status_code == 400
    assert sealed_ledger().filter(object_type="cases.casecomment").count() == 1


def test_claim_next_api(api_as, analyst):
    case = screening_case()
    client = api_as(analyst)
    response = client.post("/api/v1/cases/claim-next/", {}, format="json")
    assert response.status_code == 200 and response.json()["id"] == case.pk
    assert client.post("/api/v1/cases/claim-next/", {}, format="json").status_code == 204
    assert (
        client.post("/api/v1/cases/claim-next/", {"source": "nope"}, format="json").status_code
        == 400
    )


def test_match_resolve_api(api_as, analyst):
    case = screening_case()
    case = services.case_claim(case=case, actor_user=analyst, expected_version=1)
    evidence = case.evidence.get()
    response = api_as(analyst).post(
        f"/api/v1/cases/{case.pk}/evidence/{evidence.pk}/resolve/",
        {"expected_version": case.version, "resolution": "true_match", "note": "Same DOB."},
        format="json",
    )
    assert response.status_code == 200 and response.json()["resolution"] == "true_match"


def test_list_filters_search_and_sort(api_as, analyst):
    petrov = screening_case(
        customer=CustomerFactory(name="Ivan Petrov"), priority=60, entity_uid="OFAC-1"
    )
    other = monitoring_case(rule_code="VEL-02", priority=90)
    client = api_as(analyst)

    def refs(query):
        return [c["reference"] for c in client.get(f"/api/v1/cases/?{query}").json()["results"]]

    assert refs("") == [other.reference, petrov.reference]  # priority first
    assert refs("ordering=priority") == [petrov.reference, other.reference]
    assert refs("q=petrov") == [petrov.reference]
    assert refs("entity=OFAC-1") == [petrov.reference]
    assert refs("rule=VEL-02") == [other.reference]
    assert refs("source=monitoring") == [other.reference]
    assert refs("customer=" + petrov.customer.external_id) == [petrov.reference]
    assert refs("age=0-7") == [other.reference, petrov.reference]
    assert refs("age=8-30") == []
    assert refs("status=closed") == []
    services.case_claim(case=other, actor_user=analyst, expected_version=other.version)
    assert refs("assignee=me") == [other.reference]
    assert refs("assignee=none") == [petrov.reference]
    assert refs("state=assigned") == [other.reference]
    response = client.get("/api/v1/cases/?age=forever")
    assert response.status_code == 400 and "age" in response.json()["error"]["fields"]


def test_list_query_count_does_not_grow_with_page_size(api_as, analyst):
    for _ in range(3):
        screening_case()
    client = api_as(analyst)
    client.get("/api/v1/cases/?page_size=2")  # warm the role cache and session

    def count(page_size):
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(f"/api/v1/cases/?page_size={page_size}").status_code == 200
        return len(ctx.captured_queries)

    small = count(1)
    for _ in range(6):
        monitoring_case()
    assert count(9) == small


def test_openapi_schema_documents_the_case_endpoints(api_as, admin_user):
    response = api_as(admin_user).get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    import yaml  # drf-spectacular renders YAML by default

    schema = yaml.safe_load(response.content) if response.content[:1] != b"{" else response.json()
    paths = schema["paths"]
    for path in [
        "/api/v1/cases/",
        "/api/v1/cases/{id}/",
        "/api/v1/cases/{id}/transitions/",
        "/api/v1/cases/{id}/comments/",
        "/api/v1/cases/claim-next/",
    ]:
        assert path in paths, path
    transition = paths["/api/v1/cases/{id}/transitions/"]["post"]
    assert "requestBody" in transition and "409" in transition["responses"]
    params = {p["name"] for p in paths["/api/v1/cases/"]["get"]["parameters"]}
    assert {"q", "state", "source", "entity", "rule", "age", "ordering", "page"} <= params


@pytest.mark.parametrize(
    "query",
    [
        "q=%00",
        "customer=a%00b",
        "ordering=password",
        "page_size=-1",
        "state=bogus",
        "overdue=maybe",
        "q=%F0%AF%A7%99%C2%83",
        "priority_min=1e999",
        "entity=" + "x" * 5000,
    ],
)
def test_hostile_list_queries_are_refused_or_harmless(api_as, portal_as, analyst, query):
    screening_case()
    response = api_as(analyst).get(f"/api/v1/cases/?{query}")
    assert response.status_code in (200, 400), response.content[:300]
    if response.status_code == 400:
        assert response.json()["error"]["fields"]
    page = portal_as(analyst).get(f"/cases/?{query}")
    assert page.status_code == 200


def test_malformed_ids_get_a_json_404(api_as, analyst):
    for url in [
        "/api/v1/cases/null,null/",
        "/api/v1/cases/12x/comments/",
        "/api/v1/cases/99999999/",
        "/api/v1/cases/%C2%B9/",  # "¹": isdigit() is true, int() refuses it
        "/api/v1/cases/%C2%B9/comments/",
    ]:
        response = api_as(analyst).get(url)
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
