"""Roles: each sees and may do exactly what it should, in the portal and the API."""

import pytest
from django.urls import reverse

from config.accounts.models import ApiClient
from config.accounts.services import api_client_revoke
from tests.conftest import sealed_ledger

pytestmark = pytest.mark.django_db

SECTIONS = ["cases:index", "screening:index", "lists:index", "monitoring:index",
            "enrichment:index", "audit:index"]


@pytest.mark.parametrize("role_fixture", ["analyst", "approver", "auditor", "admin_user"])
def test_portal_roles_see_every_section(role_fixture, request, portal_as):
    user = request.getfixturevalue(role_fixture)
    client = portal_as(user)
    home = client.get(reverse("home"))
    assert home.status_code == 200
    for name in SECTIONS:
        assert reverse(name) in home.content.decode()
        assert client.get(reverse(name)).status_code == 200


def test_auditor_home_says_read_only_and_has_no_admin_link(auditor, portal_as):
    body = portal_as(auditor).get(reverse("home")).content.decode()
    assert "read-only" in body
    assert reverse("admin:index") not in body


def test_auditor_cannot_use_django_admin(auditor, portal_as):
    response = portal_as(auditor).get(reverse("admin:index"))
    assert response.status_code == 302 and "login" in response["Location"]


def test_anonymous_is_sent_to_login(client):
    response = client.get(reverse("cases:index"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_user_without_role_is_refused(outsider, portal_as):
    assert portal_as(outsider).get(reverse("home")).status_code == 403


def test_integration_client_cannot_log_in_to_portal(integration_client, client):
    api_client, _ = integration_client
    user = api_client.user
    user.set_password("integration-Pa55word!x")
    user.save()
    response = client.post(reverse("login"), {"username": user.username,
                                              "password": "integration-Pa55word!x"})
    assert response.status_code == 200
    assert "no access to the portal" in response.content.decode()


def test_login_with_real_form_and_lockout_after_repeated_failures(analyst, client, settings):
    settings.LOGIN_MAX_FAILURES = 3
    for _ in range(3):
        bad = client.post(reverse("login"), {"username": "t_analyst", "password": "wrong"})
        assert bad.status_code == 200
    locked = client.post(reverse("login"), {"username": "t_analyst",
                                            "password": "t_analyst-Pa55word!x"})
    assert "Too many failed attempts" in locked.content.decode()
    assert sealed_ledger().filter(action="login.failed").count() == 3
    other = client.post(reverse("login"), {"username": "t_analyst2x", "password": "nope"})
    assert "Too many failed attempts" not in other.content.decode()


def test_login_succeeds_with_right_password(analyst, client):
    response = client.post(reverse("login"), {"username": "t_analyst",
                                              "password": "t_analyst-Pa55word!x"})
    assert response.status_code == 302
    assert client.get(reverse("home")).status_code == 200


def test_bearer_token_authenticates_and_is_stored_hashed(integration_client, api_as):
    api_client, token = integration_client
    assert token not in ApiClient.objects.get(pk=api_client.pk).token_hash
    response = api_as(token=token).get("/api/v1/me")
    assert response.status_code == 200
    assert response.json()["api_client"] == "t-integration"
    assert response.json()["roles"] == ["integration"]
    assert api_as(token=token + "x").get("/api/v1/me").status_code == 401


def test_revoked_token_is_refused(integration_client, api_as):
    api_client, token = integration_client
    api_client_revoke(name=api_client.name)
    response = api_as(token=token).get("/api/v1/me")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


@pytest.mark.parametrize("header", ["Bearer", "Bearer a b", "Bearer nope", "Bearer vgl_x_y"])
def test_malformed_bearer_headers_get_401_in_error_format(header, client):
    response = client.get("/api/v1/me", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert set(response.json()["error"]) == {"code", "message", "fields"}
