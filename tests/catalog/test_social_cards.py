"""A shared link to a product or a store shows a card: Open Graph and Twitter tags with the
title, a short description and the cover as an absolute URL on the store's own host."""

from __future__ import annotations

from django_tenants.utils import schema_context

from tenants.models import Domain, Store
from tests.catalog.factories import ProductFactory
from tests.conftest import store_client
from tests.markup import parse


def _tags(content: bytes) -> dict[str, str]:
    tags = {}
    for element in parse(content):
        if element.tag == "meta":
            key = element.attrs.get("property") or element.attrs.get("name")
            if key and key.startswith(("og:", "twitter:")):
                assert key not in tags, f"{key} twice"
                tags[key] = element.attrs.get("content", "")
    return tags


def test_a_product_page_carries_a_card_with_its_cover(alice_store):
    with schema_context(alice_store.schema_name):
        product = ProductFactory(title='Ferns & "Mosses"', description="All about **ferns**.")
    response = store_client(alice_store).get(product.get_absolute_url())
    tags = _tags(response.content)
    origin = f"http://{alice_store.host}"
    assert tags["og:type"] == "product"
    assert tags["og:title"] == tags["twitter:title"] == 'Ferns & "Mosses"'
    assert tags["og:description"] == tags["twitter:description"] == "All about ferns."
    assert tags["og:site_name"] == "Alice's Guides"
    assert tags["og:url"] == origin + product.get_absolute_url()
    assert tags["og:image"] == tags["twitter:image"] == origin + product.cover_url
    assert tags["og:image"].startswith("http://alice.localhost")
    assert tags["twitter:card"] == "summary_large_image"


def test_a_product_without_a_cover_gets_a_small_card(alice_store):
    with schema_context(alice_store.schema_name):
        product = ProductFactory(title="No Cover Yet", description="", cover="")
    tags = _tags(store_client(alice_store).get(product.get_absolute_url()).content)
    assert tags["og:description"] == "No Cover Yet"
    assert "og:image" not in tags and tags["twitter:card"] == "summary"


def test_the_storefront_card_uses_the_store_and_its_first_cover(alice_store):
    Store.objects.filter(pk=alice_store.pk).update(description="Guides to <ferns> & mosses")
    with schema_context(alice_store.schema_name):
        covered = ProductFactory(title="Covered")
        ProductFactory(title="No cover", cover="")  # newer: first on the page
    tags = _tags(store_client(alice_store).get("/").content)
    assert tags["og:title"] == "Alice's Guides"
    assert tags["og:description"] == "Guides to <ferns> & mosses"
    assert tags["og:url"] == f"http://{alice_store.host}/"
    assert tags["og:image"] == f"http://{alice_store.host}{covered.cover_url}"


def test_a_verified_custom_domain_gets_its_own_absolute_urls(alice_store):
    from django.utils import timezone

    Domain.objects.create(
        tenant=alice_store,
        domain="books.alice.example",
        is_primary=False,
        is_custom=True,
        verified_at=timezone.now(),
    )
    with schema_context(alice_store.schema_name):
        product = ProductFactory(title="Ferns")
    response = store_client(alice_store).get(
        product.get_absolute_url(), HTTP_HOST="books.alice.example"
    )
    assert response.status_code == 200
    tags = _tags(response.content)
    assert tags["og:image"] == "http://books.alice.example" + product.cover_url
