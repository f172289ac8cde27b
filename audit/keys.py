"""The digest signing key, as configured in settings (never stored in the database)."""

from __future__ import annotations

import functools

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from audit.signing import SigningKey, load_signing_key


@functools.lru_cache(maxsize=4)
def _load(inline: str, path: str, var_dir: str) -> SigningKey:
    return load_signing_key(
        environ={"AUDIT_SIGNING_KEY": inline, "AUDIT_SIGNING_KEY_FILE": path}, dev_dir=var_dir
    )


def signing_key() -> SigningKey:
    """The configured key; production refuses the generated development key."""
    key = _load(settings.AUDIT_SIGNING_KEY, settings.AUDIT_SIGNING_KEY_FILE,
                str(settings.VAR_DIR))
    if key.is_dev_key and getattr(settings, "PRODUCTION", False):
        raise ImproperlyConfigured(
            "AUDIT_SIGNING_KEY or AUDIT_SIGNING_KEY_FILE is required in production"
        )
    return key
