"""Lists API: who may read, what each endpoint returns, the admin-only refresh trigger."""

from __future__ import annotations

import pytest

from screening.lists.services import list_import
from tests.conftest import sealed_ledger

pytestmark = pytest.mark.django_db


@pytest.fixture
def un_versions(un_small):
    old = list_import(source="un", path=un_small[0]).version
    new = list_import(source="un", path=un_small[1]).version
    return old, new


def test_anonymous_and_outsider_are_refused(api_as, outsider):
    assert api_as().get("/api/v1/lists/").status_code == 401
    assert api_as(outsider).get("/api/v1/lists/").status_code == 403
    assert api_as(outsider).get("/api/v1/lists/entities/?q=x").status_code == 403


@pytest.mark.parametrize("role", ["analyst", "approver", "auditor", "admin_user"])
def test_every_read_role_lists_sources_with_freshness(request, api_as, un_versions, role):
    user = request.getfixturevalue(role)
    response = api_as(user).get("/api/v1/lists/")
    assert response.status_code == 200
    (un,) = [s for s in response.json() if s["code"] == "un"]
    assert un["active_version"]["id"] == un_versions[1].pk
    assert (
        un["active_version"]["entity_count"] == un_versions[1].entity_count > 40
        and un["last_error"] == ""
    )


def test_integration_client_reads_versions_and_delta(api_as, integration_client, un_versions):
    _client, token = integration_client
    api = api_as(token=token)
    versions = api.get("/api/v1/lists/un/versions/").json()
    assert [v["id"] for v in versions["results"]] == [un_versions[1].pk, un_versions[0].pk]
    delta = api.get(f"/api/v1/lists/un/versions/{un_versions[1].pk}/delta").json()
    assert delta["counts"]["added"] == 4 and delta["counts"]["removed"] == 1
    assert delta["previous_version_id"] == un_versions[0].pk
    added = api.get(f"/api/v1/lists/un/versions/{un_versions[1].pk}/delta?kind=added").json()
    assert added["count"] == 4 and all(c["kind"] == "added" for c in added["results"])
    assert all(c["new_entity"]["primary_name"] for c in added["results"])


def test_delta_of_unknown_version_or_list_is_404(api_as, analyst, un_versions):
    api = api_as(analyst)
    assert api.get("/api/v1/lists/un/versions/999999/delta").status_code == 404
    assert api.get(f"/api/v1/lists/eu/versions/{un_versions[1].pk}/delta").status_code == 404
    assert api.get("/api/v1/lists/xx/versions/").status_code == 404


def test_entity_search_and_detail_as_one_record(api_as, analyst, un_versions):
    api = api_as(analyst)
    found = api.get("/api/v1/lists/entities/?q=allied democratic").json()
    assert found["count"] >= 1
    adf = [e for e in found["results"] if e["uid"] == "6908402"][0]
    assert adf["version_id"] == un_versions[1].pk  # the active version only
    detail = api.get(f"/api/v1/lists/entities/{adf['id']}/").json()
    assert detail["primary_name"] == "ADF" and detail["programs"] == ["DRC"]
    assert {"name": "NALU", "kind": "fka", "script": "Latn"} in detail["names"]
    # Accents and case do not matter; the uid finds the entity too.
    assert api.get("/api/v1/lists/entities/?q=DEMOCRATIQUES ALLIEES").json()["count"] >= 1
    assert api.get("/api/v1/lists/entities/?q=6908402").json()["count"] == 1
    assert api.get("/api/v1/lists/entities/999999/").status_code == 404


def test_bad_search_parameters_are_400_with_field_errors(api_as, analyst):
    response = api_as(analyst).get("/api/v1/lists/entities/?list=nope&type=ghost")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"list", "type"}


def test_refresh_trigger_is_admin_only_and_audited(
    api_as, auditor, analyst, admin_user, monkeypatch
):
    queued: list[str] = []
    monkeypatch.setattr("screening.lists.tasks.lists_refresh_source.delay", queued.append)
    from screening.lists.services import list_source_ensure

    list_source_ensure(code="un")
    assert api_as(auditor).post("/api/v1/lists/un/refresh/").status_code == 403
    assert api_as(analyst).post("/api/v1/lists/un/refresh/").status_code == 403
    with pytest.MonkeyPatch.context():
        response = api_as(admin_user).post("/api/v1/lists/un/refresh/")
    assert response.status_code == 202
    assert sealed_ledger().filter(action="lists.refresh_requested").count() == 1


def test_no_write_endpoints_for_lists(api_as, admin_user, un_versions):
    api = api_as(admin_user)
    assert api.post("/api/v1/lists/", {}).status_code in (403, 405)
    assert api.delete(f"/api/v1/lists/un/versions/{un_versions[0].pk}/").status_code in (403, 405)
