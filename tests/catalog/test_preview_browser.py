"""The product page with a free preview, and the dashboard card that chooses its pages, in
headless Chromium (axe-checked). Screenshots go to test-artifacts/layout/."""

from __future__ import annotations

from django.utils import timezone
from django_tenants.utils import schema_context

from catalog.models import Product
from catalog.services import product_cover_render, product_set_preview
from tests.e2e.axe import assert_accessible
from tests.factories import pdf_bytes, product_with_file
from tests.sellers.test_layout_browser import (  # noqa: F401 - fixtures
    LAPTOP,
    PHONE,
    SHOTS,
    browser_for,
    committed_alice,
    pytestmark,
)


def test_the_product_page_shows_the_preview_pages_and_links_the_preview_pdf(browser_for):  # noqa: F811
    store, open_page = browser_for
    product = product_with_file(
        store, title="A Field Guide to Ferns", price=1900, data=pdf_bytes(pages=8)
    )
    with schema_context(store.schema_name):
        Product.objects.filter(pk=product.pk).update(
            page_count=8,
            description="Forty species, photographed and explained.",
            published_at=timezone.now(),
        )
        product_cover_render(product_id=product.pk)
        product.refresh_from_db()
        # Committed at once here (no test transaction): the task runs eagerly, as Celery would.
        product = product_set_preview(product=product, pages_text="1, 3, 6")
        product.refresh_from_db()
        assert product.preview_state == Product.PreviewState.READY
        images = product.preview_images
        preview_url = product.preview_url

    page = open_page(LAPTOP)
    page.goto(product.get_absolute_url())
    page.wait_for_load_state("load")
    shown = page.locator(".preview-pages img")
    assert shown.count() == 3
    for i, image in enumerate(images):
        element = shown.nth(i)
        element.scroll_into_view_if_needed()
        element.evaluate("img => img.decode()")
        assert element.get_attribute("src") == image["url"]
        assert element.evaluate("img => img.naturalWidth") == 900
        assert element.get_attribute("alt") == f"Page {image['page']} of 8"
    link = page.get_by_role("link", name="Open the free preview (PDF, 3 pages)")
    assert link.get_attribute("href") == preview_url
    fetched = page.evaluate(
        """async url => { const r = await fetch(url); const b = new Uint8Array(await r.arrayBuffer());
           return [r.status, r.headers.get("content-type"), String.fromCharCode(...b.slice(0, 5))]; }""",
        preview_url,
    )
    assert fetched == [200, "application/pdf", "%PDF-"]
    page.screenshot(path=str(SHOTS / "product-preview.png"), full_page=True)
    assert_accessible(page, "product-preview", report_dir=SHOTS)

    phone = open_page(PHONE)
    phone.goto(product.get_absolute_url())
    phone.locator(".look-inside").scroll_into_view_if_needed()
    phone.screenshot(path=str(SHOTS / "phone-product-preview.png"), full_page=True)
    box = phone.locator(".preview-pages").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    owner = open_page(LAPTOP, logged_in=True)
    owner.goto(f"/dashboard/products/{product.uid}/")
    owner.wait_for_load_state("load")
    field = owner.get_by_label("Preview pages")
    assert field.input_value() == "1, 3, 6"
    field.fill("2, 9")
    owner.get_by_role("button", name="Save preview pages").click()
    owner.wait_for_load_state("load")
    assert "This PDF has 8 pages: page 9 is not one of them." in owner.content()
    assert owner.get_by_label("Preview pages").input_value() == "2, 9"
    owner.locator("#preview").screenshot(path=str(SHOTS / "dashboard-preview-error.png"))
    assert_accessible(owner, "dashboard-preview-error", report_dir=SHOTS)
