"""API access: roles per view and the integration clients' rate limit.

Kept apart from config.api because DRF imports the permission classes while
`rest_framework.views` itself is still being imported."""

from __future__ import annotations

from rest_framework import exceptions, permissions, throttling

from config.accounts.roles import SAFE_METHODS, Role, can_write, user_roles


class RolePermission(permissions.BasePermission):
    """Every API view declares `read_roles` and `write_roles`; a view that declares
    neither is closed. Auditors never pass a write check."""

    message = "Your role does not allow this operation."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not user or not user.is_authenticated:
            raise exceptions.NotAuthenticated()
        if request.method in SAFE_METHODS:
            allowed = getattr(view, "read_roles", None)
            return bool(allowed) and bool(user_roles(user) & set(allowed))
        allowed = getattr(view, "write_roles", None)
        return bool(allowed) and can_write(user, allowed)


class IntegrationRateThrottle(throttling.SimpleRateThrottle):
    """Per-client rate limit for integration clients; portal users are not throttled."""

    scope = "integration"

    def get_cache_key(self, request, view):
        user = request.user
        if not user or not user.is_authenticated or Role.INTEGRATION not in user_roles(user):
            return None
        return self.cache_format % {"scope": self.scope, "ident": user.pk}
