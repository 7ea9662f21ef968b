"""Mallory owns store `mallory`. Whatever she knows of Alice's products — uid, slug,
storage key, cover URL — she can neither read, change, publish, delete nor fetch them."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django_tenants.utils import schema_context

from catalog.models import Product
from catalog.services import product_create, product_publish
from catalog.storage import private_storage
from tests.catalog.pdfs import good_pdf, upload
from tests.conftest import store_client

BASE = "/dashboard/products/"
ACTIONS = ["publish", "unpublish", "archive", "duplicate", "delete"]


@pytest.fixture
def alices_product(alice_charging, django_capture_on_commit_callbacks) -> Product:
    with schema_context(alice_charging.schema_name):
        with django_capture_on_commit_callbacks(execute=True):
            product = product_create(
                title="Alice's secret recipes",
                description="Only for buyers.",
                price_text="20",
                currency="usd",
                file=upload(good_pdf(title="Alice's secret recipes"), "recipes.pdf"),
            )
        product = product_publish(product=product, store=alice_charging)
        product.refresh_from_db()
        return product


@pytest.fixture
def mallorys_client(mallory, mallory_store):
    return store_client(mallory_store, mallory)


def alice_unchanged(alice_store, product: Product) -> None:
    with schema_context(alice_store.schema_name):
        fresh = Product.objects.get(pk=product.pk)
        assert fresh.status == Product.Status.PUBLISHED
        assert fresh.title == product.title
        assert Product.objects.count() == 1


def test_on_her_own_domain_alices_uid_is_not_found(alices_product, alice_store, mallorys_client):
    uid = alices_product.uid
    assert mallorys_client.get(f"{BASE}{uid}/").status_code == 404
    assert mallorys_client.get(f"{BASE}{uid}/file/").status_code == 404
    assert mallorys_client.get(f"{BASE}{uid}/file/download/").status_code == 404
    edit = mallorys_client.post(
        f"{BASE}{uid}/", {"title": "pwned", "price": "1", "currency": "usd"}
    )
    assert edit.status_code == 404
    replace = mallorys_client.post(f"{BASE}{uid}/file/", {"file": upload(good_pdf(pages=2))})
    assert replace.status_code == 404
    for action in ACTIONS:
        assert mallorys_client.post(f"{BASE}{uid}/{action}/").status_code == 404, action
    alice_unchanged(alice_store, alices_product)


def test_on_her_own_domain_alices_slug_and_cover_are_not_found(
    alices_product, mallory_store, mallorys_client
):
    assert alices_product.cover_url
    assert mallorys_client.get(f"/p/{alices_product.slug}/").status_code == 404
    assert mallorys_client.get(alices_product.cover_url).status_code == 404
    assert b"secret recipes" not in mallorys_client.get("/").content
    assert b"secret recipes" not in mallorys_client.get(BASE).content


def test_in_her_schema_alices_storage_keys_resolve_to_nothing(alices_product, mallory_store):
    with schema_context(mallory_store.schema_name):
        storage = private_storage()
        for name in (alices_product.file.name, alices_product.cover.name):
            assert not storage.exists(name)
            with pytest.raises(FileNotFoundError):
                storage.open(name)
        # Even a product row in her schema naming Alice's key reaches only her own prefix.
        forged = Product.objects.create(
            title="Forged", slug="forged", price=100, file=alices_product.file.name
        )
        assert forged.file.name == alices_product.file.name
        assert not storage.exists(forged.file.name)
        with pytest.raises(FileNotFoundError):
            storage.deliver(forged.file.name, filename="x.pdf", content_type="application/pdf")


@pytest.mark.parametrize("prefix", ["../", "../../", "tenants/"])
def test_a_path_cannot_climb_into_alices_folder(alices_product, alice_store, mallory_store, prefix):
    from django.core.exceptions import SuspiciousFileOperation

    climbing = f"{prefix}{alice_store.schema_name}/{alices_product.file.name}"
    with schema_context(mallory_store.schema_name):
        storage = private_storage()
        if prefix.startswith(".."):
            with pytest.raises(SuspiciousFileOperation):
                storage.open(climbing)
        else:
            # "tenants/<alice>/…" is just a name inside Mallory's own prefix.
            assert storage.path(climbing).count("/tenants/") == 2
            assert not storage.exists(climbing)
        with pytest.raises((SuspiciousFileOperation, ValueError)):
            storage.save(f"../../{alice_store.schema_name}/products/x.pdf", ContentFile(b"x"))


def test_on_alices_domain_mallory_gets_403_everywhere(alices_product, alice_store, mallory):
    client = store_client(alice_store, mallory)
    uid = alices_product.uid
    for path in (
        BASE,
        f"{BASE}new/",
        f"{BASE}{uid}/",
        f"{BASE}{uid}/file/",
        f"{BASE}{uid}/file/download/",
    ):
        response = client.get(path)
        assert response.status_code == 403, path
        assert b"secret recipes" not in response.content
    assert client.post(f"{BASE}new/", {"title": "x"}).status_code == 403
    assert client.post(f"{BASE}{uid}/", {"title": "pwned"}).status_code == 403
    for action in ACTIONS:
        assert client.post(f"{BASE}{uid}/{action}/").status_code == 403, action
    alice_unchanged(alice_store, alices_product)


def test_on_alices_domain_mallory_sees_only_what_any_buyer_sees(
    alices_product, alice_store, mallory
):
    client = store_client(alice_store, mallory)
    assert client.get(f"/p/{alices_product.slug}/").status_code == 200
    # The PDF itself is not reachable from the storefront; only payments' grants deliver it.
    html = client.get(f"/p/{alices_product.slug}/").content.decode()
    assert alices_product.file.name not in html
    assert "/media/" not in html
