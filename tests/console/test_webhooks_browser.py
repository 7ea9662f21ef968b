"""The webhook inbox in Chromium: an ignored event reads as ignored (no red anywhere on its
row), a failed one as failed. Screenshot: test-artifacts/layout/console-webhooks.png."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.db import connections

from sellers.models import User
from tests.browsers import chromium_launch, log_in
from tests.e2e.axe import add_axe, assert_accessible
from tests.live import unique

from .conftest import stripe_event

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not shutil.which("chromium"), reason="needs chromium"),
]

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "layout"
RED = "rgb(185, 28, 28)"  # --bad


def test_ignored_events_are_not_shown_in_red(live_server, transactional_db, settings, monkeypatch):
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    settings.SESSION_COOKIE_DOMAIN = None
    settings.CSRF_COOKIE_DOMAIN = None
    admin = User.objects.create_superuser(f"{unique('olivia')}@example.com", "pw-Long-enough-1")
    stripe_event(
        status="ignored", event_type="charge.succeeded", error="No handler for charge.succeeded."
    )
    stripe_event(status="failed", event_type="charge.refunded", error="KeyError: 'charge'")
    stripe_event(status="done", event_type="checkout.session.completed")
    port = live_server.url.rsplit(":", 1)[1]
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as p:
            browser = chromium_launch(p)
            context = browser.new_context(
                base_url=f"http://{settings.PLATFORM_DOMAIN}:{port}",
                viewport={"width": 1280, "height": 800},
            )
            add_axe(context)
            log_in(context, admin, settings.PLATFORM_DOMAIN)
            page = context.new_page()
            page.goto("/console/webhooks/")
            ignored = page.locator("tr", has=page.locator("code", has_text="charge.succeeded"))
            colours = ignored.evaluate(
                "row => [...row.querySelectorAll('*')]"
                ".filter(e => e.textContent.trim())"
                ".map(e => getComputedStyle(e).color)"
            )
            assert RED not in colours, colours
            assert ignored.locator(".badge").inner_text() == "Ignored"
            assert "No handler for charge.succeeded." in ignored.inner_text()
            failed = page.locator("tr", has=page.locator("code", has_text="charge.refunded"))
            summary = failed.locator(".error-cell summary")
            assert summary.evaluate("e => getComputedStyle(e).color") == RED
            page.screenshot(path=str(SHOTS / "console-webhooks.png"), full_page=True)
            assert_accessible(page, "console-webhooks", report_dir=SHOTS)
            browser.close()
    finally:
        connections.close_all()
