"""`Authorization: Bearer <token>` for integration clients."""

from __future__ import annotations

import hmac

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from config.accounts.models import TOKEN_PREFIX, ApiClient, hash_token


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        parts = header.split()
        if parts[0] != self.keyword:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header.")
        token = parts[1]
        pieces = token.split("_", 2)
        if len(pieces) != 3 or pieces[0] != TOKEN_PREFIX:
            raise exceptions.AuthenticationFailed("Invalid token.")
        client = ApiClient.objects.select_related("user").filter(key=pieces[1]).first()
        if client is None or not hmac.compare_digest(client.token_hash, hash_token(token)):
            raise exceptions.AuthenticationFailed("Invalid token.")
        if client.revoked_at is not None:
            raise exceptions.AuthenticationFailed("Token revoked.")
        if not client.user.is_active:
            raise exceptions.AuthenticationFailed("Client disabled.")
        now = timezone.now()
        if client.last_used_at is None or (now - client.last_used_at).total_seconds() > 60:
            ApiClient.objects.filter(pk=client.pk).update(last_used_at=now)
        user = client.user
        user._vigil_api_client = client
        return user, client

    def authenticate_header(self, request):
        return self.keyword


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """Documents the bearer token in the OpenAPI schema."""

    target_class = "config.accounts.auth.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer",
                "description": "Integration client token: `Authorization: Bearer vgl_...`"}
