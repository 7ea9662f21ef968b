"""Layouts measured in headless Chromium (issues #12 and #13): the product page on a phone
shows title, price and Buy without scrolling; the sales list's buttons fit at 1280 px; the
accent-colour picker shows its colour. Screenshots go to test-artifacts/layout/."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from catalog.models import Product
from payments.models import DownloadGrant, Purchase
from tenants.models import Store
from tests.browsers import committed_store, store_pages
from tests.e2e.axe import assert_accessible
from tests.factories import product_with_file
from tests.live import unique

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not shutil.which("chromium"), reason="needs chromium"),
]

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "layout"
PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1280, "height": 800}


@pytest.fixture
def committed_alice(transactional_db):
    """(owner, store): Alice's committed store (other browser tests import it from here)."""
    description = "Guides to ferns, mosses and lichens."
    with committed_store("Alice's Field Guides", description=description) as (owner, store):
        yield owner, store


@pytest.fixture
def browser_for(live_server, committed_alice, settings, monkeypatch):
    """(Alice's store, open_page(viewport, logged_in=False)) → a page on it."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    owner, store = committed_alice
    with store_pages(live_server, owner, store, settings, monkeypatch, viewport=LAPTOP) as op:
        yield store, op


def _box_within(box: dict, width: float, height: float) -> bool:
    return (
        box["x"] >= 0
        and box["y"] >= 0
        and box["x"] + box["width"] <= width
        and box["y"] + box["height"] <= height
    )


def test_on_a_phone_the_product_page_shows_title_price_and_buy_without_scrolling(browser_for):
    from catalog.services import product_cover_render

    store, open_page = browser_for
    product = product_with_file(store, title="A Field Guide to Ferns", price=1900)
    with schema_context(store.schema_name):
        Product.objects.filter(pk=product.pk).update(
            description="Forty species, photographed and explained. " * 12,
            published_at=timezone.now(),
        )
        product_cover_render(product_id=product.pk)
        assert Product.objects.get(pk=product.pk).cover_key  # a real cover, as sellers have
    page = open_page(PHONE)
    page.goto(product.get_absolute_url())
    page.wait_for_load_state("load")
    assert page.evaluate("window.scrollY") == 0
    for selector in ("h1", ".buybox .price", ".buybox button[type=submit]"):
        box = page.locator(selector).bounding_box()
        assert box and _box_within(box, PHONE["width"], PHONE["height"]), (selector, box)
    assert page.locator(".buybox button[type=submit]").inner_text().strip() == "Buy now"
    # The cover is still there, below (or beside) what a buyer needs first.
    cover = page.locator(".product-layout .cover img").bounding_box()
    assert cover and cover["width"] > 0
    buybox = page.locator(".buybox").bounding_box()
    prose = page.locator(".prose").bounding_box()
    assert buybox["y"] + buybox["height"] <= cover["y"] <= prose["y"]
    page.screenshot(path=str(SHOTS / "phone-product.png"))
    page.screenshot(path=str(SHOTS / "phone-product-full.png"), full_page=True)
    assert_accessible(page, "phone-product", report_dir=SHOTS)
    # On a desktop the two columns stay: the cover on the left, the buy box on the right.
    wide = open_page(LAPTOP)
    wide.goto(product.get_absolute_url())
    cover = wide.locator(".product-layout .cover").bounding_box()
    buy = wide.locator(".buybox").bounding_box()
    assert cover["x"] + cover["width"] <= buy["x"]


def test_the_sales_lists_buttons_fit_at_1280(browser_for):
    store, open_page = browser_for
    product = product_with_file(
        store, title="A Very Long Title For A Field Guide To Ferns And Mosses", download_limit=5
    )
    with schema_context(store.schema_name):
        for n in range(3):
            sale = Purchase.objects.create(
                product=product,
                buyer_email=f"christopher.vandenberghe{n}@universityofexample.edu",
                amount=1200,
                currency="usd",
                platform_fee=90,
                fee_percent="5.00",
                fee_fixed=30,
                checkout_session_id=f"cs_test_{unique('s')}",
                payment_intent_id=f"pi_{unique('p')}",
                charge_id=f"ch_{n}",
            )
            DownloadGrant.objects.create(
                purchase=sale,
                salt=f"salt{n}",
                token_hash=unique("h"),
                download_count=2,
                download_limit=5,
            )
    page = open_page(LAPTOP, logged_in=True)
    page.goto("/dashboard/sales/")
    page.wait_for_load_state("load")
    wrap = page.locator(".table-wrap").bounding_box()
    # Refund… (it opens the refund form), Resend receipt, Reset downloads, 3 times.
    buttons = page.locator(".table-wrap .actions summary, .table-wrap .actions > form button")
    assert buttons.count() == 9
    for i in range(buttons.count()):
        box = buttons.nth(i).bounding_box()
        assert box, i
        assert box["x"] >= wrap["x"] and box["x"] + box["width"] <= wrap["x"] + wrap["width"], (
            buttons.nth(i).inner_text(),
            box,
            wrap,
        )
        assert box["x"] + box["width"] <= LAPTOP["width"]
    # Nothing to scroll sideways: the table fits its box.
    overflow = page.evaluate(
        "(() => { const w = document.querySelector('.table-wrap');"
        " return w.scrollWidth - w.clientWidth; })()"
    )
    assert overflow <= 0
    page.screenshot(path=str(SHOTS / "sales-1280.png"), full_page=True)
    assert_accessible(page, "sales-1280", report_dir=SHOTS)
    # The refund form (amount, reason, note) opens in its row and stays in the table's box.
    page.locator(".table-wrap .actions summary").first.click()
    form = page.locator(".refund-form form").first
    assert form.locator("input[name=amount]").input_value() == "12.00"
    box = form.bounding_box()
    wrap = page.locator(".table-wrap").bounding_box()
    assert box and box["x"] + box["width"] <= LAPTOP["width"], box
    # Open, it still fits the table's box: nothing cut off, nothing to scroll sideways.
    assert box["x"] >= wrap["x"] and box["x"] + box["width"] <= wrap["x"] + wrap["width"], (
        box,
        wrap,
    )
    for field in ("input[name=amount]", "select[name=reason]", "textarea[name=note]"):
        inner = form.locator(field).bounding_box()
        assert inner and inner["x"] + inner["width"] <= box["x"] + box["width"] + 1, field
    overflow = page.evaluate(
        "(() => { const w = document.querySelector('.table-wrap');"
        " return w.scrollWidth - w.clientWidth; })()"
    )
    assert overflow <= 0
    page.screenshot(path=str(SHOTS / "sales-refund-form.png"), full_page=True)
    assert_accessible(page, "sales-refund-form", report_dir=SHOTS)


def test_the_accent_colour_picker_shows_its_colour(browser_for):
    store, open_page = browser_for
    Store.objects.filter(pk=store.pk).update(accent_color="#e11d48")
    page = open_page(LAPTOP, logged_in=True)
    page.goto("/dashboard/settings/")
    page.wait_for_load_state("load")
    picker = page.locator("input[type=color]")
    box = picker.bounding_box()
    assert box["height"] >= 36 and box["width"] >= 44, box
    # The swatch is drawn in the chosen colour: sample the picker's middle.
    page.screenshot(path=str(SHOTS / "accent-picker.png"), full_page=True)
    shot = picker.screenshot()
    from io import BytesIO

    from PIL import Image

    image = Image.open(BytesIO(shot)).convert("RGB")
    w, h = image.size
    assert image.getpixel((w // 2, h // 2)) == (0xE1, 0x1D, 0x48), image.getpixel((w // 2, h // 2))
    assert_accessible(page, "accent-picker", report_dir=SHOTS)


def test_a_bundles_page_and_its_dashboard_form_are_accessible(browser_for):
    """Issue #12: the bundle's product page says what it includes and saves (Buy still in
    the first screen on a phone); the seller's bundle form passes axe."""
    from catalog.bundles import bundle_items_set

    store, open_page = browser_for
    ferns = product_with_file(store, title="Ferns", price=1200)
    mosses = product_with_file(store, title="Mosses", price=1700)
    bundle = product_with_file(store, title="Forest Floor Bundle", price=2000, status="draft")
    with schema_context(store.schema_name):
        from catalog.models import FileSlot, ProductFile

        FileSlot.objects.filter(product=bundle).delete()
        ProductFile.objects.filter(product=bundle).delete()
        Product.objects.filter(pk=bundle.pk).update(file="", file_name="")
        bundle.refresh_from_db()
        bundle_items_set(bundle=bundle, item_uids=[str(ferns.uid), str(mosses.uid)])
        Product.objects.filter(pk=bundle.pk).update(status="published", published_at=timezone.now())
    page = open_page(PHONE)
    page.goto(bundle.get_absolute_url())
    page.wait_for_load_state("load")
    assert "you save $9.00" in page.locator(".buybox").inner_text()
    assert page.locator(".bundle-offer li").count() == 2
    for selector in ("h1", ".buybox .price", ".buybox button[type=submit]"):
        box = page.locator(selector).bounding_box()
        assert box and _box_within(box, PHONE["width"], PHONE["height"]), (selector, box)
    page.screenshot(path=str(SHOTS / "phone-bundle.png"), full_page=True)
    assert_accessible(page, "phone-bundle", report_dir=SHOTS)
    form = open_page(LAPTOP, logged_in=True)
    form.goto("/dashboard/products/bundles/new/")
    form.wait_for_load_state("load")
    assert form.locator("input[name=items]").count() == 2  # a bundle never lists bundles
    form.screenshot(path=str(SHOTS / "bundle-form.png"), full_page=True)
    assert_accessible(form, "bundle-form", report_dir=SHOTS)
