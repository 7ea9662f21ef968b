from __future__ import annotations

from django.core.management import call_command

from catalog.models import Product
from tenants.models import Store
from tests.conftest import store_client
from tests.factories import in_schema


def test_the_demo_is_a_connected_store_with_published_pdfs_and_seeding_twice_adds_nothing(
    db, standin
):
    call_command("seed_demo")
    call_command("seed_demo")
    store = Store.objects.get(subdomain="demo")
    assert store.can_take_charges and store.owner.email == "demo@example.com"
    with in_schema(store):
        assert Product.objects.published().count() == 3
        assert all(p.page_count > 1 and p.file for p in Product.objects.all())
    page = store_client(store).get("/").content.decode()
    assert (
        "The Sourdough Handbook" in page and "Buy now" not in page
    )  # the list; buying is per product
    product_page = store_client(store).get("/p/the-sourdough-handbook/").content.decode()
    assert "Buy now" in product_page
