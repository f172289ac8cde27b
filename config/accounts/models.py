"""Integration clients of the API: named, token-authenticated, revocable."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models

TOKEN_PREFIX = "vgl"


def hash_token(secret: str) -> str:
    # Tokens are 256-bit random values, so a plain SHA-256 is a safe one-way store.
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_token() -> tuple[str, str, str]:
    """(token shown once, lookup key, hash to store)."""
    key = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    token = f"{TOKEN_PREFIX}_{key}_{secret}"
    return token, key, hash_token(token)


class ApiClient(models.Model):
    """An integration that calls the API with a bearer token. It acts as its own user in
    the `integration` group (API only: it cannot log in to the portal)."""

    name = models.CharField(max_length=100, unique=True)
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                related_name="api_client")
    key = models.CharField(max_length=16, unique=True)
    token_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
