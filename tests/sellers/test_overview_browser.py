"""Alice's overview in headless Chromium, with a month of sales and views and her Stripe
balance from the stand-in: screenshots in test-artifacts/layout/ (overview-*.png), and
axe finds nothing serious at a laptop's width or a phone's."""

from __future__ import annotations

import random
import re
import shutil
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from catalog.models import ProductReferrerDay, ProductViewDay
from payments.models import DownloadGrant, Purchase
from tests.conftest import store_client
from tests.e2e.axe import assert_accessible
from tests.factories import product_with_file
from tests.payments.conftest import _standin_server, connect_store, standin  # noqa: F401
from tests.sellers.test_layout_browser import (  # noqa: F401
    LAPTOP,
    PHONE,
    SHOTS,
    browser_for,
    committed_alice,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not shutil.which("chromium"), reason="needs chromium"),
]


def _paid_through_stripe(store, standin, product, attempt: str) -> None:  # noqa: F811
    """Bob pays on the stand-in's Checkout; the thank-you page fulfils (fees included)."""
    client = store_client(store)
    response = client.post(f"/buy/{product.slug}/", {"attempt": attempt})
    session_id = re.search(r"/hosted/checkout/(cs_[A-Za-z0-9_]+)", response["Location"]).group(1)
    standin.call("POST", f"/sessions/{session_id}/pay", {"email": "bob@example.com"})
    assert client.get(f"/thanks/?session_id={session_id}").status_code == 200


def _a_month_of_numbers(store) -> None:
    rng = random.Random(13)
    today = timezone.localdate()
    guides = [
        product_with_file(store, title="A Field Guide to Ferns", price=1999),
        product_with_file(store, title="Mosses of the Pacific Northwest", price=1200),
        product_with_file(store, title="Lichen Identification Workbook", price=900),
    ]
    sites = ["news.ycombinator.com", "reddit.com", "duckduckgo.com", "mastodon.social"]
    with schema_context(store.schema_name):
        views, sources, sales = [], [], []
        for weight, product in zip((60, 35, 15), guides, strict=True):
            for back in range(30):
                day = today - timedelta(days=back)
                n = max(0, int(weight * (1 + back % 7 / 10) + rng.randint(-8, 8)))
                views.append(ProductViewDay(product=product, day=day, views=n))
                site = sites[(back + weight) % len(sites)]
                sources.append(
                    ProductReferrerDay(
                        product=product, day=day, kind="site", source=site, views=n // 3
                    )
                )
                sources.append(
                    ProductReferrerDay(
                        product=product, day=day, kind="utm", source="newsletter", views=n // 6
                    )
                )
                for _ in range(rng.randint(0, 2) if weight > 15 else rng.randint(0, 1)):
                    fee = 30 + product.price * 5 // 100
                    stripe_fee = (product.price * 29 + 500) // 1000 + 30
                    sales.append(
                        Purchase(
                            product=product,
                            buyer_email=f"buyer{len(sales)}@example.com",
                            amount=product.price,
                            currency="usd",
                            platform_fee=fee,
                            fee_percent="5.00",
                            fee_fixed=30,
                            checkout_session_id=f"cs_shot_{uuid.uuid4().hex}",
                            charge_id=f"ch_shot_{uuid.uuid4().hex[:20]}",
                            stripe_fee=stripe_fee,
                            seller_net=product.price - fee - stripe_fee,
                            settlement_currency="usd",
                            created_at=timezone.now()
                            - timedelta(days=back, hours=rng.randint(0, 9)),
                        )
                    )
        ProductViewDay.objects.bulk_create(views)
        ProductReferrerDay.objects.bulk_create(sources)
        made = Purchase.objects.bulk_create(sales)
        DownloadGrant.objects.bulk_create(
            DownloadGrant(purchase=p, salt=uuid.uuid4().hex, token_hash=uuid.uuid4().hex * 2)
            for p in made
        )
    return guides


def test_the_overview_screenshot_at_1280_and_on_a_phone(browser_for, standin, request):  # noqa: F811
    from payments.platform.models import FeeLedgerEntry

    store, open_page = browser_for
    # The ledger keeps its rows (PROTECT); the test's store goes, so they go first.
    request.addfinalizer(lambda: FeeLedgerEntry.objects.filter(store_id=store.pk).delete())
    connect_store(store, standin)
    guides = _a_month_of_numbers(store)
    _paid_through_stripe(store, standin, guides[0], "shot" + "0" * 28)
    _paid_through_stripe(store, standin, guides[1], "shot" + "1" * 28)
    account = store.stripe_account.stripe_account_id
    standin.call("POST", f"/accounts/{account}/available")
    standin.call("POST", f"/accounts/{account}/payouts", {"amount": 2000})

    page = open_page(LAPTOP, logged_in=True)
    page.goto("/dashboard/?period=30")
    page.wait_for_load_state("load")
    assert page.locator(".periods a[aria-current=page]").inner_text() == "30 days"
    assert page.locator("table.overview-products tbody tr").count() == 3
    assert page.locator("svg.sparkline").count() == 3
    assert "Paid" in page.locator(".overview-grid").inner_text()
    overflow = page.evaluate("document.documentElement.scrollWidth - innerWidth")
    assert overflow <= 0
    page.screenshot(path=str(SHOTS / "overview-1280.png"), full_page=True)
    assert_accessible(page, "overview-1280", report_dir=SHOTS)

    page.click(".periods a:has-text('7 days')")
    page.wait_for_load_state("load")
    assert page.locator(".periods a[aria-current=page]").inner_text() == "7 days"
    assert_accessible(page, "overview-7-days", report_dir=SHOTS)

    phone = open_page(PHONE, logged_in=True)
    phone.goto("/dashboard/?period=90")
    phone.wait_for_load_state("load")
    assert phone.evaluate("document.documentElement.scrollWidth - innerWidth") <= 0
    phone.screenshot(path=str(SHOTS / "overview-phone.png"), full_page=True)
    assert_accessible(phone, "overview-phone", report_dir=SHOTS)
