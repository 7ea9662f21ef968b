"""A product with two files, seen in headless Chromium: the seller's product page lists
both, the buyer's thank-you page and library give a link to each; axe finds nothing.
Screenshots go to test-artifacts/files/."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.db import connections

from payments.services import library_link_create
from tenants.models import Store
from tests.conftest import make_seller
from tests.e2e.axe import add_axe, assert_accessible
from tests.factories import add_file, in_schema, product_with_file, purchase
from tests.live import unique

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not shutil.which("chromium"), reason="needs chromium"),
]

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "files"
LAPTOP = {"width": 1280, "height": 900}


@pytest.fixture
def committed_alice(transactional_db):
    from payments.platform.models import FeeLedgerEntry
    from tenants.services import store_create

    owner = make_seller(f"{unique('alice')}@example.com")
    store = store_create(owner=owner, name="Alice's Workbooks", subdomain=unique("alice"))
    Store.objects.filter(pk=store.pk).update(can_take_charges=True)
    store.refresh_from_db()
    yield owner, store
    FeeLedgerEntry.objects.filter(store_id=store.pk).delete()
    Store.objects.get(pk=store.pk).delete(force_drop=True)


@pytest.fixture
def browser_for(live_server, committed_alice, settings, monkeypatch):
    from django.test import Client
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    settings.SESSION_COOKIE_DOMAIN = None
    settings.CSRF_COOKIE_DOMAIN = None
    owner, store = committed_alice
    port = live_server.url.rsplit(":", 1)[1]
    SHOTS.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])

        def open_page(*, logged_in: bool = False):
            context = browser.new_context(base_url=f"http://{store.host}:{port}", viewport=LAPTOP)
            add_axe(context)
            if logged_in:
                client = Client(HTTP_HOST=store.host)
                client.force_login(owner)
                context.add_cookies(
                    [
                        {
                            "name": settings.SESSION_COOKIE_NAME,
                            "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                            "domain": store.host,
                            "path": "/",
                        }
                    ]
                )
            page = context.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            return page

        yield store, open_page
        connections.close_all()
        browser.close()
    assert errors == []


def test_two_files_in_the_dashboard_and_two_links_for_the_buyer(browser_for):
    store, open_page = browser_for
    product = product_with_file(store, title="Algebra Workbook", download_limit=3)
    add_file(store, product, name="Answers", download_limit=1)
    bought = purchase(store, product, email="bob@example.com")
    with in_schema(store):
        library_token = library_link_create(email="bob@example.com")

    seller = open_page(logged_in=True)
    seller.goto(f"/dashboard/products/{product.uid}/")
    seller.wait_for_load_state("load")
    items = seller.locator("#files .file-item h3")
    assert items.all_inner_texts() == ["Algebra Workbook", "Answers"]
    seller.screenshot(path=str(SHOTS / "dashboard-product-two-files.png"), full_page=True)
    assert_accessible(seller, "dashboard-product-two-files", report_dir=SHOTS)

    buyer = open_page()
    buyer.goto(f"/thanks/?session_id={bought.checkout_session_id}")
    buyer.wait_for_load_state("load")
    links = buyer.locator(".download-list a")
    assert links.all_inner_texts() == ["Download “Algebra Workbook”", "Download “Answers”"]
    buyer.screenshot(path=str(SHOTS / "thanks-two-links.png"), full_page=True)
    assert_accessible(buyer, "thanks-two-links", report_dir=SHOTS)

    buyer.goto(f"/library/{library_token}/")
    buyer.wait_for_load_state("load")
    assert buyer.locator(".download-list a").all_inner_texts() == ["Algebra Workbook", "Answers"]
    buyer.screenshot(path=str(SHOTS / "library-two-links.png"), full_page=True)
    assert_accessible(buyer, "library-two-links", report_dir=SHOTS)
