"""A pay-what-you-want product page on a phone (390 × 844), in headless Chromium: title,
"$5.00+", the amount field and Buy are on the first screen; junk typed into the field
comes back with a message beside it and the text kept; a fair amount goes to the Stripe
stand-in's Checkout page, which asks for the country when Stripe Tax is on. The page is
the cached one anonymous visitors get. Screenshots: test-artifacts/layout/pwyw-*.png."""

from __future__ import annotations

import re

import pytest
from django_tenants.utils import schema_context

from catalog.models import Product
from payments import services
from payments.platform.models import FeeLedgerEntry
from tenants.services import store_update_settings
from tests.e2e.axe import assert_accessible
from tests.factories import product_with_file
from tests.sellers.test_layout_browser import (  # noqa: F401 (fixtures)
    PHONE,
    SHOTS,
    _box_within,
    browser_for,
    committed_alice,
    pytestmark,
)


@pytest.fixture
def ledger_forgotten(committed_alice):  # noqa: F811 (the fixture imported above)
    """The sale's fee-ledger row protects the store: remove it before the store goes."""
    yield
    FeeLedgerEntry.objects.filter(store=committed_alice[1]).delete()


def test_on_a_phone_the_pwyw_page_shows_the_amount_and_buy_and_keeps_what_was_typed(
    ledger_forgotten,
    browser_for,  # noqa: F811 (the fixture imported above)
    standin,
):
    store, open_page = browser_for
    row = services.connect_account_claim(store=store, email="owner@example.com", country="US")
    standin.call("POST", f"/accounts/{row.stripe_account_id}/complete", {"outcome": "complete"})
    services.connect_refresh(store=store)
    store_update_settings(store=store, tax_enabled=True)
    product = product_with_file(store, title="A Field Guide to Ferns", price=500)
    with schema_context(store.schema_name):
        Product.objects.filter(pk=product.pk).update(
            pay_what_you_want=True,
            suggested_price=1200,
            description="Forty species, photographed and explained. " * 12,
        )
    page = open_page(PHONE)
    page.goto(product.get_absolute_url())
    page.wait_for_load_state("load")
    assert page.locator(".buybox .price").inner_text().strip() == "$5.00+"
    assert page.input_value("#amount") == "12.00"
    for selector in ("h1", ".buybox .price", "#amount", ".buybox button[type=submit]"):
        box = page.locator(selector).bounding_box()
        assert box and _box_within(box, PHONE["width"], PHONE["height"]), (selector, box)
    page.screenshot(path=str(SHOTS / "pwyw-phone-product.png"))
    assert_accessible(page, "pwyw-phone-product", report_dir=SHOTS)

    page.fill("#amount", "4,5O")
    page.click(".buybox button[type=submit]")
    page.wait_for_selector("#amount-error")
    assert "is not a number" in page.inner_text("#amount-error")
    assert page.input_value("#amount") == "4,5O"
    page.screenshot(path=str(SHOTS / "pwyw-phone-refused.png"))
    assert_accessible(page, "pwyw-phone-refused", report_dir=SHOTS)

    page.fill("#amount", "7,50")
    page.click(".buybox button[type=submit]")
    page.wait_for_url(re.compile(r"/hosted/checkout/cs_"))
    assert "$7.50" in page.content() and "Calculated from your address" in page.content()
    page.select_option("#country", "DE")
    page.fill("input[name=email]", "bob@example.com")
    page.screenshot(path=str(SHOTS / "pwyw-phone-checkout.png"), full_page=True)
    page.click("button.primary")
    page.wait_for_url(re.compile(r"/thanks/\?session_id=cs_"))
    # 7 % German VAT on e-books, on top of the $7.50 Bob chose (the fee is on $7.50).
    assert "VAT (DE, 7%) $0.53 = $8.03" in page.content()
    page.screenshot(path=str(SHOTS / "pwyw-phone-thanks.png"), full_page=True)
