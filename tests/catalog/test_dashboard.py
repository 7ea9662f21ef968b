"""Alice manages her products from her store's dashboard."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from catalog.hooks import register_product_stats
from catalog.models import Product
from tests.catalog.conftest import stored_files
from tests.catalog.factories import ProductFactory
from tests.catalog.pdfs import good_pdf, image_bytes, upload
from tests.conftest import store_client

BASE = "/dashboard/products/"


def form(**overrides) -> dict:
    data = {
        "title": "A Field Guide to Ferns",
        "description": "Everything about *ferns*.",
        "price": "12.50",
        "currency": "usd",
        "download_limit": "",
        "file": upload(good_pdf(pages=5), "Field guide.pdf"),
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def only_product(store) -> Product:
    with schema_context(store.schema_name):
        return Product.objects.get()


def test_alice_sees_her_products_with_status_and_empty_sales(alice, alice_store):
    with schema_context(alice_store.schema_name):
        ProductFactory(title="Ferns")
        ProductFactory(title="Mosses", status=Product.Status.DRAFT)
        ProductFactory(title="Lichens", status=Product.Status.ARCHIVED)
    response = store_client(alice_store, alice).get(BASE)
    assert response.status_code == 200
    assert response.context["stats_by_product"] == {}
    html = response.content.decode()
    assert "Ferns" in html and "Mosses" in html and "Lichens" not in html
    assert "Archived products (1)" in html
    archived = store_client(alice_store, alice).get(BASE + "?show=archived").content.decode()
    assert "Lichens" in archived and "Ferns" not in archived


def test_sales_figures_come_from_the_registered_provider(alice, alice_store):
    with schema_context(alice_store.schema_name):
        product = ProductFactory(title="Ferns")
    previous = register_product_stats(lambda ids: {product.pk: {"sales": 3, "revenue": 3750}})
    try:
        response = store_client(alice_store, alice).get(BASE)
    finally:
        register_product_stats(previous)
    assert response.context["stats_by_product"] == {product.pk: {"sales": 3, "revenue": 3750}}
    assert "$37.50" in response.content.decode()


def test_the_product_list_costs_the_same_queries_for_1_or_30_products(alice, alice_store):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = store_client(alice_store, alice)
    counts = []
    for batch in (1, 29):
        with schema_context(alice_store.schema_name):
            ProductFactory.create_batch(batch)
        client.get(BASE)
        with CaptureQueriesContext(connection) as captured:
            assert client.get(BASE).status_code == 200
        counts.append(len(captured.captured_queries))
    assert counts[0] == counts[1]


def test_alice_creates_a_draft_with_a_pdf(alice, alice_store, media_root):
    client = store_client(alice_store, alice)
    assert client.get(BASE + "new/").status_code == 200
    response = client.post(BASE + "new/", form())
    product = only_product(alice_store)
    assert response.status_code == 302
    assert response["Location"] == f"{BASE}{product.uid}/"
    assert product.status == Product.Status.DRAFT
    assert product.file_name == "Field guide.pdf"
    assert product.page_count == 5
    assert stored_files(media_root) == [f"tenants/{alice_store.schema_name}/{product.file.name}"]
    page = client.get(response["Location"]).content.decode()
    assert "is saved as a draft" in page
    assert "Field guide.pdf" in page


def test_the_create_page_loads_the_upload_script_and_no_inline_script(alice, alice_store):
    response = store_client(alice_store, alice).get(BASE + "new/")
    html = response.content.decode()
    assert '<script src="/static/js/upload.js" defer></script>' in html
    assert "<script>" not in html
    assert "data-upload" in html and "data-progress" in html
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert 'data-max-bytes="209715200"' in html


def test_alice_edits_a_product_and_its_address_stays(alice, alice_store):
    client = store_client(alice_store, alice)
    client.post(BASE + "new/", form())
    product = only_product(alice_store)
    response = client.post(
        f"{BASE}{product.uid}/",
        form(
            title="Mosses", price="9", file=None, cover=upload(image_bytes(), "c.png", "image/png")
        ),
    )
    assert response.status_code == 302
    edited = only_product(alice_store)
    assert (edited.title, edited.price, edited.slug) == ("Mosses", 900, product.slug)
    assert edited.cover_is_custom


def test_alice_replaces_the_pdf_and_both_versions_are_kept(alice, alice_store, media_root):
    client = store_client(alice_store, alice)
    client.post(BASE + "new/", form())
    product = only_product(alice_store)
    assert client.get(f"{BASE}{product.uid}/file/").status_code == 200
    response = client.post(
        f"{BASE}{product.uid}/file/", {"file": upload(good_pdf(pages=8), "v2.pdf")}
    )
    assert response.status_code == 302
    with schema_context(alice_store.schema_name):
        assert Product.objects.get().page_count == 8
        assert product.versions.count() == 2
    assert len(stored_files(media_root)) == 2
    page = client.get(f"{BASE}{product.uid}/").content.decode()
    assert "Versions" in page and "v2.pdf" in page


def test_publishing_without_stripe_says_why(alice, alice_store):
    client = store_client(alice_store, alice)
    client.post(BASE + "new/", form())
    product = only_product(alice_store)
    response = client.post(f"{BASE}{product.uid}/publish/", follow=True)
    assert "Not published yet." in response.content.decode()
    assert "Connect a Stripe account" in response.content.decode()
    assert only_product(alice_store).status == Product.Status.DRAFT


def test_alice_publishes_unpublishes_archives_and_restores(alice, alice_charging):
    client = store_client(alice_charging, alice)
    client.post(BASE + "new/", form())
    uid = only_product(alice_charging).uid
    steps = [
        ("publish", Product.Status.PUBLISHED),
        ("unpublish", Product.Status.DRAFT),
        ("archive", Product.Status.ARCHIVED),
        ("unpublish", Product.Status.DRAFT),
    ]
    for action, status in steps:
        assert client.post(f"{BASE}{uid}/{action}/").status_code == 302
        assert only_product(alice_charging).status == status


def test_alice_duplicates_and_deletes(alice, alice_store, django_capture_on_commit_callbacks):
    client = store_client(alice_store, alice)
    client.post(BASE + "new/", form())
    original = only_product(alice_store)
    response = client.post(f"{BASE}{original.uid}/duplicate/")
    with schema_context(alice_store.schema_name):
        copy = Product.objects.exclude(pk=original.pk).get()
    assert response["Location"] == f"{BASE}{copy.uid}/"
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"{BASE}{copy.uid}/delete/").status_code == 302
    with schema_context(alice_store.schema_name):
        assert list(Product.objects.values_list("pk", flat=True)) == [original.pk]


def test_a_product_with_sales_is_not_deleted(alice, alice_store):
    with schema_context(alice_store.schema_name):
        product = ProductFactory()
    previous = register_product_stats(lambda ids: {product.pk: {"sales": 1, "revenue": 1250}})
    try:
        response = store_client(alice_store, alice).post(
            f"{BASE}{product.uid}/delete/", follow=True
        )
    finally:
        register_product_stats(previous)
    assert "Archive it instead" in response.content.decode()
    with schema_context(alice_store.schema_name):
        assert Product.objects.filter(pk=product.pk).exists()


@pytest.mark.parametrize("action", ["publish", "unpublish", "archive", "duplicate", "delete"])
def test_actions_are_post_only(alice, alice_store, action):
    with schema_context(alice_store.schema_name):
        product = ProductFactory()
    response = store_client(alice_store, alice).get(f"{BASE}{product.uid}/{action}/")
    assert response.status_code == 405


def test_a_platform_admin_may_look_but_not_change(alice_store, django_user_model):
    admin = django_user_model.objects.create_superuser("admin@example.com", "pw-admin-123456")
    with schema_context(alice_store.schema_name):
        product = ProductFactory()
    client = store_client(alice_store, admin)
    page = client.get(f"{BASE}{product.uid}/")
    assert page.status_code == 200
    assert "read-only" in page.content.decode()
    assert "/publish/" not in page.content.decode()
    assert client.post(f"{BASE}{product.uid}/archive/").status_code == 403
    assert client.post(BASE + "new/", form()).status_code == 403
    with schema_context(alice_store.schema_name):
        assert Product.objects.get().status == Product.Status.PUBLISHED


def test_an_anonymous_visitor_is_sent_to_log_in(alice_store):
    from tenants.decorators import main_site_url

    response = store_client(alice_store).get(BASE)
    assert response.status_code == 302
    assert response["Location"].startswith(main_site_url("/"))  # logging in happens there
    assert "alice.localhost" in response["Location"]  # …and comes back here
