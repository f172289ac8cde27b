"""Speed knobs for the case tests only (the behaviour under test is unchanged)."""

import pytest


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # The shared role fixtures hash a password per user; PBKDF2 dominates test setup time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
