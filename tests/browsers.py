"""Headless Chromium for the browser tests: one way to launch it, log a context in, and
open a committed store's pages on the live server (tests/*/test_*_browser.py)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import connections

from tests.e2e.axe import add_axe

CHROMIUM = shutil.which("chromium")
# Debian's chromium as the project runs it: no sandbox (root in a container), no GPU, and
# nothing that reaches for the network or updates by itself.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-dev-shm-usage",
]


def chromium_launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def log_in(context, user, host: str) -> None:
    """The browser context carries `user`'s session on `host` (a host-only cookie)."""
    from django.test import Client

    client = Client(HTTP_HOST=host)
    client.force_login(user)
    context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "domain": host,
                "path": "/",
            }
        ]
    )


@contextmanager
def committed_store(name: str, **fields) -> Iterator[tuple]:
    """A seller and their store, committed (the live server's threads must see them), able
    to take charges, with `fields` set on the store row; dropped afterwards with its ledger."""
    from payments.platform.models import FeeLedgerEntry
    from tenants.models import Store
    from tenants.services import store_create
    from tests.conftest import make_seller
    from tests.live import unique

    owner = make_seller(f"{unique('alice')}@example.com")
    store = store_create(owner=owner, name=name, subdomain=unique("alice"))
    Store.objects.filter(pk=store.pk).update(can_take_charges=True, **fields)
    store.refresh_from_db()
    try:
        yield owner, store
    finally:
        FeeLedgerEntry.objects.filter(store_id=store.pk).delete()
        Store.objects.get(pk=store.pk).delete(force_drop=True)


@contextmanager
def store_pages(
    live_server, owner, store, django_settings, monkeypatch, *, viewport: dict
) -> Iterator[Callable]:
    """open_page(viewport=…, logged_in=False) → a Chromium page on `store` at the live
    server, axe loaded; after the test, no page may have had a JavaScript error."""
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls the test makes
    # meanwhile are plain blocking calls, which is fine here.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    # Chromium refuses cookies for Domain=.localhost: host-only cookies for these tests.
    django_settings.SESSION_COOKIE_DOMAIN = None
    django_settings.CSRF_COOKIE_DOMAIN = None
    port = live_server.url.rsplit(":", 1)[1]
    errors: list[str] = []
    with sync_playwright() as p:
        browser = chromium_launch(p)

        def open_page(viewport: dict = viewport, *, logged_in: bool = False):
            context = browser.new_context(base_url=f"http://{store.host}:{port}", viewport=viewport)
            add_axe(context)
            if logged_in:
                log_in(context, owner, store.host)
            page = context.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            return page

        yield open_page
        connections.close_all()
        browser.close()
    assert errors == []
