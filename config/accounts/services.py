"""Users, roles and API clients."""

from __future__ import annotations

import structlog
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from config.accounts.models import ApiClient, new_token
from config.accounts.roles import Role

logger = structlog.get_logger("vigil.accounts")

DEMO_USERS = {
    # username: (role, password) — demo only, printed by `make run`.
    "analyst": (Role.ANALYST, "vigil-analyst-demo"),
    "analyst2": (Role.ANALYST, "vigil-analyst2-demo"),
    "approver": (Role.APPROVER, "vigil-approver-demo"),
    "auditor": (Role.AUDITOR, "vigil-auditor-demo"),
    "admin": (Role.ADMIN, "vigil-admin-demo"),
}


def roles_ensure() -> None:
    """Create the role groups (idempotent)."""
    for role in Role.values:
        Group.objects.get_or_create(name=role)


@transaction.atomic
def user_create_with_role(*, username: str, role: str, password: str | None) -> User:
    """Create or update a user holding exactly `role`."""
    roles_ensure()
    user, _ = User.objects.get_or_create(username=username)
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.is_staff = role == Role.ADMIN
    user.is_superuser = False
    user.save()
    user.groups.set([Group.objects.get(name=role)])
    audit_record(action="user.role_set", object_type="auth.user", object_id=str(user.pk),
                 data={"username": username, "role": role})
    return user


def demo_users_create() -> list[tuple[str, str, str]]:
    created = []
    for username, (role, password) in DEMO_USERS.items():
        user_create_with_role(username=username, role=role, password=password)
        created.append((username, role, password))
    return created


@transaction.atomic
def api_client_create(*, name: str) -> tuple[ApiClient, str]:
    """Create an integration client; returns the token, shown only once."""
    if ApiClient.objects.filter(name=name).exists():
        raise ValueError(f"An API client named {name!r} already exists")
    user = user_create_with_role(username=f"api:{name}"[:150], role=Role.INTEGRATION,
                                 password=None)
    token, key, token_hash = new_token()
    client = ApiClient.objects.create(name=name, user=user, key=key, token_hash=token_hash)
    audit_record(action="api_client.create", object_type="accounts.apiclient",
                 object_id=str(client.pk), data={"name": name, "key": key})
    return client, token


@transaction.atomic
def api_client_revoke(*, name: str) -> ApiClient:
    client = ApiClient.objects.select_for_update().get(name=name)
    if client.revoked_at is None:
        client.revoked_at = timezone.now()
        client.save(update_fields=["revoked_at"])
        audit_record(action="api_client.revoke", object_type="accounts.apiclient",
                     object_id=str(client.pk), data={"name": name})
    return client


def _failure_key(username: str, ip: str) -> str:
    return f"login-failures:{username.lower()[:150]}:{ip}"


def login_is_locked(*, username: str, ip: str) -> bool:
    return cache.get(_failure_key(username, ip), 0) >= settings.LOGIN_MAX_FAILURES


def login_failure_record(*, username: str, ip: str) -> int:
    """Count a failed login for (username, ip); locks out after LOGIN_MAX_FAILURES."""
    key = _failure_key(username, ip)
    cache.add(key, 0, timeout=settings.LOGIN_LOCKOUT_SECONDS)
    try:
        failures = cache.incr(key)
    except ValueError:
        cache.set(key, 1, timeout=settings.LOGIN_LOCKOUT_SECONDS)
        failures = 1
    logger.warning("login.failed", username=username[:150], ip=ip, failures=failures)
    with transaction.atomic():
        audit_record(action="login.failed", object_type="auth.user", object_id=username[:64],
                     data={"ip": ip, "failures": failures,
                           "locked": failures >= settings.LOGIN_MAX_FAILURES})
    return failures


def login_failures_clear(*, username: str, ip: str) -> None:
    cache.delete(_failure_key(username, ip))
