"""What Lighthouse and axe read on the storefront, the product page and the product forms:
meta descriptions, which covers load first, help texts a screen reader can find, headings."""

from __future__ import annotations

import uuid

from django_tenants.utils import schema_context

from catalog.models import Product
from tenants.models import Store
from tests.catalog.factories import ProductFactory
from tests.conftest import store_client
from tests.markup import (
    assert_headings_do_not_skip,
    assert_help_texts_are_announced,
    by_id,
    find,
    meta_description,
    parse,
)

LANDMARKS = {"header", "nav", "main", "aside", "footer"}


def with_cover(product: Product) -> Product:
    Product.objects.filter(pk=product.pk).update(
        cover=f"covers/{uuid.uuid4()}.png", cover_state=Product.CoverState.READY
    )
    product.refresh_from_db()
    return product


def test_the_storefront_describes_itself_with_the_stores_description(alice_store):
    Store.objects.filter(pk=alice_store.pk).update(
        description='Guides to ferns & mosses. "Quoted" <script>alert(1)</script>'
    )
    response = store_client(alice_store).get("/")
    assert meta_description(response.content) == (
        'Guides to ferns & mosses. "Quoted" <script>alert(1)</script>'
    )
    assert b"<script>alert(1)" not in response.content  # escaped, in the tag and the page


def test_a_store_without_a_description_still_has_one(alice_store):
    assert meta_description(store_client(alice_store).get("/").content) == (
        "Alice's Guides: PDFs to download, paid securely by card."
    )


def test_the_product_page_describes_the_product_in_short_plain_text(alice_store):
    description = (
        "## Ferns\n\nEverything about **ferns** and [mosses](https://example.com): "
        "<img src=x onerror=alert(1)> " + "forty species, photographed and explained, " * 8
    )
    with schema_context(alice_store.schema_name):
        product = ProductFactory(description=description)
    summary = meta_description(store_client(alice_store).get(product.get_absolute_url()).content)
    assert summary.startswith("Ferns Everything about ferns and mosses: forty species,")
    assert len(summary) <= 160 and summary.endswith("…")
    assert "<" not in summary and "*" not in summary and "onerror" not in summary


def test_the_first_row_of_covers_loads_at_once_and_a_phones_first_row_comes_first(alice_store):
    with schema_context(alice_store.schema_name):
        for _ in range(6):
            with_cover(ProductFactory())
    images = find(store_client(alice_store).get("/").content, "img")
    assert len(images) == 6
    assert [img.attrs.get("loading") for img in images] == [None] * 4 + ["lazy"] * 2
    # A phone shows 2 cards a row, and its largest paint is either of them.
    assert [img.attrs.get("fetchpriority") for img in images] == ["high"] * 2 + [None] * 4


def test_the_product_pages_cover_is_fetched_first(alice_store):
    with schema_context(alice_store.schema_name):
        product = with_cover(ProductFactory())
    (img,) = find(store_client(alice_store).get(product.get_absolute_url()).content, "img")
    assert img.attrs.get("fetchpriority") == "high" and "loading" not in img.attrs
    assert img.attrs["alt"] == f"Cover of {product.title}"


def test_the_test_mode_banner_sits_in_a_labelled_landmark(alice_store, settings):
    settings.STRIPE_SECRET_KEY = "sk_test_x"
    html = store_client(alice_store).get("/").content
    (banner,) = [e for e in parse(html) if e.classes == {"testmode"}]
    assert banner.tag == "aside" and banner.attrs["aria-label"] == "Test mode"
    # Nothing but landmarks at the top of the body (axe `region`).
    body = next(e for e in parse(html) if e.tag == "body")
    tops = [e for e in body.inner if not any(e in p.inner for p in body.inner)]
    assert {e.tag for e in tops} - {"script"} <= LANDMARKS, [e.tag for e in tops]


def test_product_forms_give_every_help_text_the_id_its_field_points_at(alice, alice_store):
    client = store_client(alice_store, alice)
    create = client.get("/dashboard/products/new/").content
    assert assert_help_texts_are_announced(create) >= 3
    assert "Leave empty for unlimited" in by_id(create, "id_download_limit_helptext").text
    with schema_context(alice_store.schema_name):
        product = ProductFactory(status=Product.Status.DRAFT)
    edit = client.get(f"/dashboard/products/{product.uid}/").content
    assert assert_help_texts_are_announced(edit) >= 3
    assert by_id(edit, "id_cover_helptext") is not None


def test_the_product_edit_page_does_not_skip_heading_levels(alice, alice_store):
    with schema_context(alice_store.schema_name):
        product = ProductFactory(status=Product.Status.DRAFT)
    html = store_client(alice_store, alice).get(f"/dashboard/products/{product.uid}/").content
    assert_headings_do_not_skip(html)
