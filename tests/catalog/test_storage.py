"""Where product files land, on both backends, and what names can never reach.

Local disk: MEDIA_ROOT/tenants/<schema>/… . S3: the same keys in one bucket, through a
real moto_server over HTTP (tests/s3.py).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.exceptions import ImproperlyConfigured, SuspiciousFileOperation
from django.core.files.base import ContentFile
from django_tenants.utils import schema_context

from catalog.models import Product
from catalog.services import product_create, product_delete
from catalog.storage import StoreS3Storage, private_storage
from tests.catalog.conftest import stored_files
from tests.catalog.pdfs import good_pdf, javascript_pdf, upload
from tests.conftest import store_client

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
TRAVERSALS = [
    "../escape.pdf",
    "products/../../other/x.pdf",
    "/etc/passwd",
    "..\\..\\x.pdf",
    "a\x00.pdf",
]


def create(title: str = "Ferns", data: bytes | None = None) -> Product:
    return product_create(
        title=title,
        description="",
        price_text="5",
        currency="usd",
        file=upload(data if data is not None else good_pdf()),
    )


# --- Local disk ------------------------------------------------------------------------


def test_on_disk_a_pdf_lands_under_the_stores_own_folder(alice_store, media_root):
    with schema_context(alice_store.schema_name):
        product = create()
    assert re.fullmatch(f"products/{UUID}.pdf", product.file.name)
    path = media_root / "tenants" / alice_store.schema_name / product.file.name
    assert path.read_bytes() == good_pdf()


def test_on_disk_a_name_read_in_mallorys_schema_resolves_under_mallorys_folder(
    alice_store, mallory_store, media_root
):
    with schema_context(alice_store.schema_name):
        product = create()
    with schema_context(mallory_store.schema_name):
        storage = private_storage()
        assert storage.path(product.file.name).startswith(
            str(media_root / "tenants" / mallory_store.schema_name)
        )
        assert not storage.exists(product.file.name)
        with pytest.raises(FileNotFoundError):
            storage.open(product.file.name)


@pytest.mark.parametrize("name", TRAVERSALS)
def test_on_disk_path_traversal_names_are_refused(in_alice, name):
    with pytest.raises(SuspiciousFileOperation):
        private_storage().path(name)
    with pytest.raises((SuspiciousFileOperation, ValueError)):
        private_storage().save(name, ContentFile(b"x"))


def test_store_files_are_unreachable_from_the_public_schema(db):
    with pytest.raises(ImproperlyConfigured):
        private_storage().path("products/x.pdf")


def test_on_disk_the_seller_downloads_the_file_streamed_with_its_name(alice, alice_store):
    with schema_context(alice_store.schema_name):
        product = create()
    response = store_client(alice_store, alice).get(
        f"/dashboard/products/{product.uid}/file/download/"
    )
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == good_pdf()
    assert response["Content-Disposition"] == (
        "attachment; filename=\"ferns.pdf\"; filename*=UTF-8''ferns.pdf"
    )


# --- S3 (moto_server over HTTP) --------------------------------------------------------


def test_on_s3_a_pdf_lands_under_the_stores_prefix(alice_store, s3):
    assert isinstance(private_storage(), StoreS3Storage)
    with schema_context(alice_store.schema_name):
        product = create()
    key = f"tenants/{alice_store.schema_name}/{product.file.name}"
    assert re.fullmatch(f"tenants/{alice_store.schema_name}/products/{UUID}.pdf", key)
    assert s3.keys(prefix=f"tenants/{alice_store.schema_name}/") == [key]
    assert s3.read(key) == good_pdf()


def test_on_s3_a_name_read_in_mallorys_schema_lands_under_mallorys_prefix(
    alice_store, mallory_store, s3
):
    with schema_context(alice_store.schema_name):
        product = create()
    with schema_context(mallory_store.schema_name):
        storage = private_storage()
        assert not storage.exists(product.file.name)
        saved = storage.save("products/probe.pdf", ContentFile(b"%PDF-probe"))
    assert s3.keys(prefix=f"tenants/{mallory_store.schema_name}/") == [
        f"tenants/{mallory_store.schema_name}/{saved}"
    ]


@pytest.mark.parametrize("name", TRAVERSALS)
def test_on_s3_path_traversal_names_are_refused(in_alice, s3, name):
    before = s3.keys()
    with pytest.raises((SuspiciousFileOperation, ValueError)):
        private_storage().save(name, ContentFile(b"x"))
    with pytest.raises(SuspiciousFileOperation):
        private_storage().url(name)
    assert s3.keys() == before


def test_on_s3_a_refused_pdf_leaves_no_object_and_no_row(alice_store, s3):
    before = s3.keys()
    with schema_context(alice_store.schema_name):
        with pytest.raises(Exception, match="JavaScript"):
            create(data=javascript_pdf())
        assert Product.objects.count() == 0
    assert s3.keys() == before


def test_on_s3_deleting_a_product_without_sales_removes_its_objects(
    alice_store, s3, django_capture_on_commit_callbacks
):
    with schema_context(alice_store.schema_name):
        with django_capture_on_commit_callbacks(execute=True):
            product = create()
        keys = s3.keys(prefix=f"tenants/{alice_store.schema_name}/")
        # The PDF, the cover and its WebP copies at 280, 560 and its own 600 pixels.
        assert len(keys) == 5 and sum(k.endswith(".webp") for k in keys) == 3, keys
        with django_capture_on_commit_callbacks(execute=True):
            product_delete(product=product, has_sales=False)
    assert s3.keys(prefix=f"tenants/{alice_store.schema_name}/") == []


def test_on_s3_delivery_is_a_short_presigned_url_with_the_download_name(alice_store, s3):
    with schema_context(alice_store.schema_name):
        product = create()
        response = private_storage().deliver(
            product.file.name, filename="Fern guide – 2nd ed.pdf", content_type="application/pdf"
        )
    assert response.status_code == 302
    url = urlsplit(response["Location"])
    assert url.path == f"/{s3.bucket}/tenants/{alice_store.schema_name}/{product.file.name}"
    query = parse_qs(url.query)
    disposition = query["response-content-disposition"][0]
    assert disposition.startswith('attachment; filename="Fern guide _ 2nd ed.pdf"')
    assert "filename*=UTF-8''Fern%20guide%20%E2%80%93%202nd%20ed.pdf" in disposition
    assert query["response-content-type"] == ["application/pdf"]
    assert 0 < int(query["X-Amz-Expires"][0]) <= 600
    assert "X-Amz-Signature" in query


def test_on_s3_the_presigned_url_really_serves_the_pdf(alice_store, s3):
    import urllib.request

    with schema_context(alice_store.schema_name):
        product = create()
        response = private_storage().deliver(
            product.file.name, filename="ferns.pdf", content_type="application/pdf"
        )
    with urllib.request.urlopen(response["Location"]) as fetched:
        assert fetched.read() == good_pdf()
        assert fetched.headers["Content-Disposition"].startswith("attachment;")


def test_on_s3_covers_are_served_from_the_bucket(
    alice_store, s3, django_capture_on_commit_callbacks
):
    with schema_context(alice_store.schema_name), django_capture_on_commit_callbacks(execute=True):
        create()
    with schema_context(alice_store.schema_name):
        product = Product.objects.get()
    # A new product is a draft: its cover is its owner's to see.
    response = store_client(alice_store, alice_store.owner).get(product.cover_url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"\x89PNG")


def test_local_and_s3_tests_do_not_share_files(media_root, s3, alice_store):
    with schema_context(alice_store.schema_name):
        create()
    assert stored_files(media_root) == []
