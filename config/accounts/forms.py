from django import forms
from django.contrib.auth.forms import AuthenticationForm

from config.accounts.roles import PORTAL_ROLES, has_role
from config.accounts.services import (
    login_failure_record,
    login_failures_clear,
    login_is_locked,
)


class PortalLoginForm(AuthenticationForm):
    """Username/password login, throttled per user and address, portal roles only."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "locked": "Too many failed attempts. Try again later or contact an administrator.",
        "no_portal": "This account has no access to the portal.",
    }

    def _ip(self) -> str:
        return (self.request.META.get("REMOTE_ADDR") or "unknown") if self.request else "unknown"

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        if login_is_locked(username=username, ip=self._ip()):
            raise forms.ValidationError(self.error_messages["locked"], code="locked")
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            login_failure_record(username=username, ip=self._ip())
            raise
        login_failures_clear(username=username, ip=self._ip())
        return cleaned

    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        if not has_role(user, *PORTAL_ROLES):
            raise forms.ValidationError(self.error_messages["no_portal"], code="no_portal")
