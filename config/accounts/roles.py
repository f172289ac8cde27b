"""Vigil's roles, as Django groups, and the checks every view and endpoint declares."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db import models

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Role(models.TextChoices):
    ANALYST = "analyst", "Analyst"
    APPROVER = "approver", "Approver"
    AUDITOR = "auditor", "Auditor"
    ADMIN = "admin", "Administrator"
    INTEGRATION = "integration", "Integration client"


READ_ROLES = frozenset({Role.ANALYST, Role.APPROVER, Role.AUDITOR, Role.ADMIN})
WORK_ROLES = frozenset({Role.ANALYST, Role.APPROVER, Role.ADMIN})
APPROVE_ROLES = frozenset({Role.APPROVER, Role.ADMIN})
ADMIN_ROLES = frozenset({Role.ADMIN})
PORTAL_ROLES = READ_ROLES


def user_roles(user) -> frozenset[str]:
    """The roles of a user (cached on the user object for the request)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return frozenset()
    cached = getattr(user, "_vigil_roles", None)
    if cached is None:
        cached = frozenset(user.groups.values_list("name", flat=True)) & frozenset(Role.values)
        if user.is_superuser and Role.AUDITOR not in cached:
            cached = cached | {Role.ADMIN}
        user._vigil_roles = cached
    return cached


def has_role(user, *roles: str) -> bool:
    return bool(user_roles(user) & set(roles))


def can_write(user, write_roles=WORK_ROLES) -> bool:
    """Auditors never write, whatever other role they may also hold."""
    roles = user_roles(user)
    return Role.AUDITOR not in roles and bool(roles & set(write_roles))


def role_required(*roles: str, write: bool = False):
    """Portal view decorator: the user needs one of `roles`; for unsafe methods (or when
    `write=True`) the user must also be allowed to write."""
    allowed = frozenset(roles or READ_ROLES)

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            user = request.user
            if not user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not has_role(user, *allowed):
                raise PermissionDenied("Your role does not give access to this page.")
            if (write or request.method not in SAFE_METHODS) and not can_write(user, allowed):
                raise PermissionDenied("Your role is read-only.")
            return view(request, *args, **kwargs)

        wrapped.vigil_roles = allowed
        wrapped.vigil_write = write
        return wrapped

    return decorator


class RoleRequiredMixin:
    """Class-based portal views: `allowed_roles` may read, `write_roles` may post."""

    allowed_roles: frozenset[str] = READ_ROLES
    write_roles: frozenset[str] = WORK_ROLES

    def dispatch(self, request, *args, **kwargs):
        user = request.user
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not has_role(user, *self.allowed_roles):
            raise PermissionDenied("Your role does not give access to this page.")
        if request.method not in SAFE_METHODS and not can_write(user, self.write_roles):
            raise PermissionDenied("Your role is read-only.")
        return super().dispatch(request, *args, **kwargs)
