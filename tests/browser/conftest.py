"""Playwright against pytest-django's live server, with Debian's chromium."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; Django's ORM calls made by the
# test itself are still synchronous and safe here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def chromium():
    sync_api = pytest.importorskip("playwright.sync_api")
    executable = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(executable):
        pytest.skip("Chromium is not installed")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def demo_users(transactional_db):
    """The demo users with their real passwords (username -> password)."""
    from config.accounts.services import DEMO_USERS, demo_users_create

    demo_users_create()
    return {username: password for username, (_role, password) in DEMO_USERS.items()}


@pytest.fixture
def login(chromium, live_server, demo_users):
    """login(username) -> a Playwright page logged in through the real login form."""
    contexts = []

    def make(username: str):
        context = chromium.new_context(viewport={"width": 1360, "height": 900})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto(f"{live_server.url}/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", demo_users[username])
        page.click("button[type=submit]")
        page.wait_for_selector("header nav")
        return page

    yield make
    for context in contexts:
        context.close()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Speed knob only: the real login form still checks the real password.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
